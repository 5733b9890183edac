"""Forms of the participant journey: parsing and messages to show, nothing stored here."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator

from elicitation import cards, http
from elicitation.models import SURVEY_ITEMS, DemographicItem, Study, WiserJudgment
from elicitation.services import interview

# A refused text is given back for editing up to this many times its limit (a long paste
# to shorten); beyond that it is not sent back at all (a refused megabyte is not echoed).
ECHO_FACTOR = 4


def _too_long_to_show(length: int, limit: int) -> str:
    return (
        f"This was {length:,} characters long, over the limit of {limit:,}, "
        "and too long to show here again."
    )


def _kept(value: str, limit: int | None) -> tuple[str, bool]:
    """What a refused text field shows again, and whether it was dropped as too long."""
    if limit and len(value) > ECHO_FACTOR * limit:
        return "", True
    return http.mark_control_characters(value), False


class TextField(forms.CharField):
    """Participant text: control characters (NUL included) are an inline error, with
    tabs and line breaks allowed; one message for all of them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]
        self.validators.append(http.forbid_control_characters)


# Django's own message repeats the value that was sent.
_INVALID_CHOICE = "Select a valid choice: one of those shown."


class ParticipantForm(forms.Form):
    """A journey form that, when refused, gives each refused text back for editing with
    its control characters made visible, and never echoes a huge one (nor a choice that
    was not offered: Django's message would repeat it)."""

    def echo_limit(self, name: str, field: forms.Field) -> int | None:
        return getattr(field, "max_length", None)

    def full_clean(self):
        for field in self.fields.values():
            if "%(value)s" in str(field.error_messages.get("invalid_choice", "")):
                field.error_messages["invalid_choice"] = _INVALID_CHOICE
        super().full_clean()
        if not self.is_bound or not self._errors:
            return
        data = self.data.copy()
        for name, field in self.fields.items():
            key = self.add_prefix(name)
            value = data.get(key)
            if name not in self._errors or not isinstance(value, str):
                continue
            limit = self.echo_limit(name, field)
            data[key], dropped = _kept(value, limit)
            if dropped:
                self._errors[name].append(_too_long_to_show(len(value), limit))
        self.data = data


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
        return TextField(max_length=max_length, widget=forms.Textarea(attrs={"rows": 3}), **common)
    return TextField(max_length=max_length, **common)


class DemographicsForm(ParticipantForm):
    """ "About you": the study's own items (DemographicItem), in its order."""

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        for item in study.demographic_items.all():
            self.fields[item.key] = _item_field(item)


class MessageForm(ParticipantForm):
    # Not required at the form level: interview.validate_message words the errors.
    content = TextField(required=False, strip=False, widget=forms.Textarea)
    client_token = TextField(required=False, max_length=64, widget=forms.HiddenInput)
    # Characters pasted, as the composer's script counted them; a bad count is none.
    pasted = TextField(required=False, max_length=12, widget=forms.HiddenInput)

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

    def clean_pasted(self) -> int:
        text = self.cleaned_data.get("pasted") or ""
        return max(0, int(text)) if text.isdigit() else 0

    def echo_limit(self, name: str, field: forms.Field) -> int | None:
        if name == "content":
            return interview.message_limit(self.study)
        return super().echo_limit(name, field)


class CardForm:
    """The card editor: title, description and a list of policies posted under one name.

    Not a Django form because the number of policies changes as the participant adds
    and removes them; elicitation.cards holds the rules.
    """

    def __init__(self, *, title: str, description: str, policies: list[str], errors=None):
        self.title = title
        self.description = description
        self.policies = policies
        self.revise_request = ""  # what the participant asked the card writer to change
        self.errors: dict[str, list[str]] = errors or {}

    @classmethod
    def from_card(cls, card) -> CardForm:
        return cls(title=card.title, description=card.description, policies=list(card.policies))

    @classmethod
    def from_post(cls, data) -> CardForm:
        """The posted card; ``errors`` already holds any text that cannot be taken
        (control characters, or far over its limit), given back fit for editing."""
        form = cls(
            title=data.get("title", ""),
            description=data.get("description", ""),
            policies=list(data.getlist("policies"))[: cards.MAX_POLICIES + 1],
        )
        form.revise_request = data.get("request", "")
        form._check_input()
        return form

    def _check_input(self) -> None:
        def check(key: str, value: str, limit: int) -> str:
            kept, dropped = _kept(value, limit)
            if dropped:
                self.errors.setdefault(key, []).append(_too_long_to_show(len(value), limit))
            elif kept != value and http.CONTROL_MESSAGE not in self.errors.get(key, []):
                self.errors.setdefault(key, []).append(http.CONTROL_MESSAGE)
            return kept

        self.title = check("title", self.title, cards.TITLE_MAX_CHARS)
        self.description = check("description", self.description, cards.DESCRIPTION_MAX_CHARS)
        self.policies = [check("policies", p, cards.POLICY_MAX_CHARS) for p in self.policies]
        self.revise_request = check("request", self.revise_request, cards.REVISE_REQUEST_MAX_CHARS)

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


class SelectionForm(ParticipantForm):
    values = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, values, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["values"].choices = [(v.pk, v.title) for v in values]


class JudgmentForm(ParticipantForm):
    hypothesis = forms.IntegerField(widget=forms.HiddenInput)
    verdict = forms.ChoiceField(
        choices=WiserJudgment.Verdict.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Please choose Yes, No or Not sure."},
    )
    reason = TextField(
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


class SurveyForm(ParticipantForm):
    """The paper's closing items. "learned" and "respect" ask about other people's
    values: they are left out for a participant who saw none."""

    represented = _likert("represented")
    clarified = _likert("clarified")
    learned = _likert("learned")
    respect = _likert("respect")
    trust = _likert("trust")
    comment = TextField(
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


class FollowUpForm(ParticipantForm):
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
