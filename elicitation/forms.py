"""Forms of the participant journey: parsing and messages to show, nothing stored here."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from elicitation import cards
from elicitation.models import SURVEY_ITEMS, DemographicItem, Study, WiserJudgment
from elicitation.services import interview


def _blank_first(choices):
    return [("", "—"), *choices]


def _item_field(item: DemographicItem) -> forms.Field:
    """The form field for one of the study's "About you" items; every one is optional."""
    common = {"label": item.label, "help_text": item.help_text, "required": False}
    Kind = DemographicItem.Kind
    if item.kind == Kind.RADIO:
        return forms.ChoiceField(choices=item.choices, widget=forms.RadioSelect, **common)
    if item.kind == Kind.SELECT:
        return forms.ChoiceField(choices=_blank_first(item.choices), **common)
    max_length = DemographicItem.MAX_CHARS[item.kind]
    if item.kind == Kind.LONG_TEXT:
        return forms.CharField(
            max_length=max_length, widget=forms.Textarea(attrs={"rows": 3}), **common
        )
    return forms.CharField(max_length=max_length, **common)


class DemographicsForm(forms.Form):
    """ "About you": the study's own items (DemographicItem), in its order."""

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        for item in study.demographic_items.all():
            self.fields[item.key] = _item_field(item)


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
QUESTIONS = {item.key: item.question for item in SURVEY_ITEMS}


def _likert(key: str) -> forms.TypedChoiceField:
    """A skippable 1-5 item."""
    return forms.TypedChoiceField(
        label=QUESTIONS[key],
        choices=LIKERT,
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.RadioSelect,
    )


class SurveyForm(forms.Form):
    """The paper's closing items. "learned" and "respect" ask about other people's
    values: they are left out for a participant who saw none."""

    represented = _likert("represented")
    clarified = _likert("clarified")
    learned = _likert("learned")
    respect = _likert("respect")
    trust = _likert("trust")
    comment = forms.CharField(
        label="Anything else you'd like to tell us?",
        required=False,
        max_length=cards.COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    ITEMS = tuple(item.key for item in SURVEY_ITEMS if item.scale == "1-5")

    def __init__(self, *args, saw_others: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not saw_others:
            for item in SURVEY_ITEMS:
                if item.needs_others:
                    del self.fields[item.key]


YES_NO = [("yes", "Yes"), ("no", "No")]


class FollowUpForm(forms.Form):
    """The follow-up's question about the card the page showed: the paper's yes or no,
    then how fair, from 1 to 5 (optional)."""

    card = forms.IntegerField(widget=forms.HiddenInput, required=False)
    fair = forms.TypedChoiceField(
        label=QUESTIONS["fair"],
        choices=YES_NO,
        coerce=lambda answer: answer == "yes",
        widget=forms.RadioSelect,
        error_messages={
            "required": "Please answer yes or no.",
            "invalid_choice": "Please answer yes or no.",
        },
    )
    fair_position = forms.TypedChoiceField(
        label="And how fair is it?",
        choices=LIKERT,
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Please choose a number from 1 to 5."},
    )
