"""Forms of the participant journey: parsing and messages to show, nothing stored here."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from elicitation import cards
from elicitation.models import Demographics, Study, WiserJudgment
from elicitation.services import interview

DEMOGRAPHIC_FIELDS = ("political_affiliation", "age_band", "sex", "country", "other")

SEX_CHOICES = [
    ("", "—"),
    ("female", "Female"),
    ("male", "Male"),
    ("another", "Another way"),
    ("prefer_not", "Prefer not to say"),
]


def _blank_first(choices):
    return [("", "—"), *choices]


class DemographicsForm(forms.Form):
    """ "About you": every item may be left blank. Which items a study asks is its own
    setting (``Study.demographic_fields``, empty meaning all)."""

    political_affiliation = forms.ChoiceField(
        label="Which of these is closest to your political views?",
        choices=Demographics.Politics.choices,
        required=False,
        widget=forms.RadioSelect,
    )
    age_band = forms.ChoiceField(
        label="Your age", choices=_blank_first(Demographics.AgeBand.choices), required=False
    )
    sex = forms.ChoiceField(label="Your sex", choices=SEX_CHOICES, required=False)
    country = forms.CharField(label="Country you live in", max_length=80, required=False)
    other = forms.CharField(
        label="Anything else about you that shapes how you see these questions?",
        help_text="For example your faith, your work or your family. Optional.",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        wanted = [f for f in study.demographic_fields if f in DEMOGRAPHIC_FIELDS]
        for name in DEMOGRAPHIC_FIELDS:
            if wanted and name not in wanted:
                del self.fields[name]


class MessageForm(forms.Form):
    # Not required at the form level: interview.validate_message words the errors.
    content = forms.CharField(required=False, strip=False, widget=forms.Textarea)
    client_token = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study
        self.fields["content"].widget.attrs.update(
            {
                "rows": 3,
                "maxlength": interview.message_limit(study),
                "placeholder": "Write your answer…",
                "aria-label": "Your message to the interviewer",
            }
        )

    def clean_content(self):
        return interview.validate_message(study=self.study, content=self.cleaned_data["content"])


class CardForm:
    """The card editor: title, description and a list of policies posted under one name.

    Not a Django form because the number of policies changes as the participant adds
    and removes them; elicitation.cards holds the rules.
    """

    def __init__(self, *, title: str, description: str, policies: list[str], errors=None):
        self.title = title
        self.description = description
        self.policies = policies
        self.errors: dict[str, list[str]] = errors or {}

    @classmethod
    def from_card(cls, card) -> CardForm:
        return cls(title=card.title, description=card.description, policies=list(card.policies))

    @classmethod
    def from_post(cls, data) -> CardForm:
        return cls(
            title=data.get("title", ""),
            description=data.get("description", ""),
            policies=list(data.getlist("policies"))[: cards.MAX_POLICIES + 1],
        )

    def fields(self) -> dict:
        return {"title": self.title, "description": self.description, "policies": self.policies}

    def add_policy(self) -> None:
        if len(self.policies) < cards.MAX_POLICIES:
            self.policies.append("")
        else:
            self.errors["policies"] = [f"A card has at most {cards.MAX_POLICIES} of these."]

    def remove_policy(self, index: int) -> None:
        if 0 <= index < len(self.policies):
            del self.policies[index]

    def set_errors(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            self.errors = {
                key: [m for e in errs for m in e.messages] for key, errs in error.error_dict.items()
            }
        else:
            self.errors = {"card": error.messages}

    @property
    def max_policies(self) -> int:
        return cards.MAX_POLICIES

    @property
    def limits(self) -> dict:
        return cards.LIMITS


class SelectionForm(forms.Form):
    values = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, values, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["values"].choices = [(v.pk, v.title) for v in values]


class JudgmentForm(forms.Form):
    hypothesis = forms.IntegerField(widget=forms.HiddenInput)
    verdict = forms.ChoiceField(
        choices=WiserJudgment.Verdict.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Please choose Yes, No or Not sure."},
    )
    reason = forms.CharField(
        required=False, max_length=cards.REASON_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 2})
    )
    reason_private = forms.BooleanField(required=False)


LIKERT = [(i, str(i)) for i in range(1, 6)]


def _likert(label: str) -> forms.TypedChoiceField:
    """A skippable 1-5 item."""
    return forms.TypedChoiceField(
        label=label,
        choices=LIKERT,
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.RadioSelect,
    )


class SurveyForm(forms.Form):
    represented = _likert("The values I articulated express what I care about.")
    clarified = _likert("The process clarified what is important to me.")
    learned = _likert("I learned about other people's values.")
    trust = _likert("I would trust this process to shape an AI's behaviour.")
    comment = forms.CharField(
        label="Anything else you'd like to tell us?",
        required=False,
        max_length=cards.COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    ITEMS = ("represented", "clarified", "learned", "trust")


class FollowUpForm(forms.Form):
    """The follow-up's one question, about the card the page showed."""

    card = forms.IntegerField(widget=forms.HiddenInput, required=False)
    fair_position = forms.TypedChoiceField(
        label="Is the position of your value in the final graph fair?",
        choices=LIKERT,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Please choose a number from 1 to 5.",
            "invalid_choice": "Please choose a number from 1 to 5.",
        },
    )
