"""The forms of a study's setup page (/research/new/ and /research/<slug>/settings/):
the study's fields, its questions (a formset: add, remove, reorder), its groups and
quotas, and the alignment target's thresholds; and the members page's forms.

They validate only: setup_views hands what they clean to services.studies, which writes.
"""

from __future__ import annotations

import dataclasses

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from elicitation import llm
from elicitation.models import DemographicItem, Question, Study, StudyMember
from moralgraph.graph.pairwise import PairwiseParams

# The study's fields the form edits as they are; groups, quotas and thresholds are
# built from fields of their own below.
STUDY_FIELDS = (
    "title",
    "slug",
    "description",
    "consent_text",
    "estimated_minutes",
    "demographics_enabled",
    "interview_min_turns",
    "selection_enabled",
    "selection_count",
    "min_selections",
    "judgments_enabled",
    "judgment_count",
    "survey_enabled",
    "message_max_chars",
    "messages_per_minute",
    "messages_per_hour_study",
    "signups_per_address_hour",
    "inactive_minutes",
    "completion_url",
    "completion_code",
    "no_consent_code",
    "recruiter_id_required",
    "is_public",
    "max_completed",
    "interview_model",
    "articulate_model",
    "dedup_model",
    "hypothesis_model",
    "response_model",
    "budget_cap_usd",
    "story_budget",
    "uniform_share",
    "stable_rescorings",
    "close_when_settled",
)
MODEL_FIELDS = tuple(name for name in STUDY_FIELDS if name.endswith("_model"))
PAIRWISE_PREFIX = "pairwise_"
# The settings page's sections, in order: (title, field names).
SECTIONS = (
    ("The study", ("title", "slug", "description", "consent_text", "estimated_minutes")),
    (
        "Steps",
        (
            "demographics_enabled",
            "interview_min_turns",
            "selection_enabled",
            "selection_count",
            "min_selections",
            "judgments_enabled",
            "judgment_count",
            "survey_enabled",
        ),
    ),
    (
        "Limits",
        (
            "message_max_chars",
            "messages_per_minute",
            "messages_per_hour_study",
            "signups_per_address_hour",
            "inactive_minutes",
        ),
    ),
    (
        "Recruiting",
        (
            "completion_url",
            "completion_code",
            "no_consent_code",
            "recruiter_id_required",
            "is_public",
            "max_completed",
        ),
    ),
    ("Models and spend", (*MODEL_FIELDS, "budget_cap_usd", "story_budget")),
    ("Adaptive elicitation", ("uniform_share", "stable_rescorings", "close_when_settled")),
)


def deployment_pairwise() -> PairwiseParams:
    """The deployment's thresholds (settings.PAIRWISE_PARAMS over the code's defaults)."""
    return PairwiseParams.from_mapping(getattr(settings, "PAIRWISE_PARAMS", None))


def _stage_labels(field: str) -> str:
    return ", ".join(stage.label for stage in llm.STAGES if stage.study_field == field)


def _choice_items(study: Study) -> list[dict]:
    """The study's choice items as {key, label, choices}; a new study's are the defaults
    it will be given."""
    if study.pk is None:
        items = [dict(item) for item in DemographicItem.DEFAULTS]
    else:
        items = [
            {"key": item.key, "label": item.label, "kind": item.kind, "choices": item.choices}
            for item in study.demographic_items.all()
        ]
    return [
        {"key": i["key"], "label": i["label"], "choices": [tuple(c) for c in i["choices"]]}
        for i in items
        if i.get("kind", DemographicItem.Kind.RADIO) in DemographicItem.CHOICE_KINDS
    ]


class StudyForm(forms.ModelForm):
    group_item_key = forms.ChoiceField(
        label="Group item",
        required=False,
        help_text="The About-you item whose answers define the groups bridging compares.",
    )

    class Meta:
        model = Study
        fields = STUDY_FIELDS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "consent_text": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        study = self.instance
        if study.pk is not None and study.status != Study.Status.DRAFT:
            # Links with this slug are out with participants and recruiters.
            self.fields["slug"].disabled = True
            self.fields["slug"].help_text = "Fixed once the study has left draft."
        else:
            self.fields["slug"].help_text = "Its address: /s/<slug>/ for participants."
        defaults = {stage.study_field: llm.model_for(stage.name) for stage in llm.STAGES}
        for name in MODEL_FIELDS:
            field = self.fields[name]
            field.label = f"Model: {_stage_labels(name)}"
            field.help_text = "A litellm model name; blank for the deployment's."
            field.widget.attrs["placeholder"] = defaults.get(name, "")
        self._group_fields(study)
        self._pairwise_fields(study)

    # --- Groups and quotas ----------------------------------------------------------

    def _group_fields(self, study: Study) -> None:
        self.items = _choice_items(study)
        self.fields["group_item_key"].choices = [("", "No groups")] + [
            (item["key"], f"{item['key']}: {item['label']}") for item in self.items
        ]
        self.fields["group_item_key"].initial = study.group_item_key
        quotas = study.group_quotas if isinstance(study.group_quotas, dict) else {}
        self.group_rows = []
        for i, item in enumerate(self.items):
            mine = item["key"] == study.group_item_key
            rows = []
            for j, (answer, label) in enumerate(item["choices"]):
                group, quota = f"group_{i}_{j}", f"quota_{i}_{j}"
                self.fields[group] = forms.BooleanField(
                    required=False, label=label, initial=mine and answer in study.group_answers
                )
                self.fields[quota] = forms.IntegerField(
                    required=False,
                    min_value=1,
                    label=f"Quota for {label}",
                    initial=quotas.get(answer) if mine else None,
                )
                rows.append({"answer": answer, "label": label, "group": group, "quota": quota})
            self.group_rows.append({"item": item, "rows": rows})

    def group_sections(self):
        """For the template: each choice item with its answers' bound fields."""
        return [
            {
                "item": section["item"],
                "rows": [
                    {**row, "group": self[row["group"]], "quota": self[row["quota"]]}
                    for row in section["rows"]
                ],
            }
            for section in self.group_rows
        ]

    def _clean_groups(self, data: dict) -> None:
        key = data.get("group_item_key", "")
        answers, quotas = [], {}
        for section in self.group_rows:
            chosen = section["item"]["key"] == key
            for row in section["rows"]:
                grouped, quota = data.get(row["group"]), data.get(row["quota"])
                if grouped and not chosen:
                    continue  # a box left ticked under another item: that item is not chosen
                if quota is not None and not (chosen and grouped):
                    self.add_error(
                        row["quota"],
                        f"A quota is only for a group answer: tick “{row['label']}” as a "
                        "group of the group item, or clear its quota.",
                    )
                if chosen and grouped:
                    answers.append(row["answer"])
                    if quota is not None:
                        quotas[row["answer"]] = quota
        if key and not answers:
            self.add_error("group_item_key", "Tick at least one of its answers as a group.")
        if not self.errors:
            self.instance.group_item_key, self.instance.group_answers = key, answers
            self.instance.group_quotas = quotas
        self.groups = {"group_item_key": key, "group_answers": answers, "group_quotas": quotas}

    # --- Thresholds -------------------------------------------------------------------

    def _pairwise_fields(self, study: Study) -> None:
        defaults = deployment_pairwise()
        stored = study.pairwise_params if isinstance(study.pairwise_params, dict) else {}
        self.pairwise_names = []
        for spec in dataclasses.fields(PairwiseParams):
            name = PAIRWISE_PREFIX + spec.name
            kind = forms.IntegerField if isinstance(spec.default, int) else forms.FloatField
            self.fields[name] = kind(
                required=False,
                min_value=0,
                label=spec.name.replace("_", " ").capitalize(),
                initial=stored.get(spec.name),
                widget=forms.NumberInput(
                    attrs={"placeholder": getattr(defaults, spec.name), "step": "any"}
                ),
            )
            self.pairwise_names.append(name)

    def pairwise_fields(self):
        return [self[name] for name in self.pairwise_names]

    def _clean_pairwise(self, data: dict) -> None:
        overrides = {
            name.removeprefix(PAIRWISE_PREFIX): data[name]
            for name in self.pairwise_names
            if data.get(name) is not None
        }
        for name, value in overrides.items():
            if ("probability" in name or "stability" in name) and value > 1:
                self.add_error(PAIRWISE_PREFIX + name, "A probability: between 0 and 1.")
        try:
            PairwiseParams.from_mapping(overrides)
        except (TypeError, ValueError) as error:
            self.add_error(None, f"Alignment-target thresholds: {error}")
        self.pairwise = overrides

    # --- The whole form -------------------------------------------------------------

    def clean(self):
        data = super().clean()
        count, least = data.get("selection_count"), data.get("min_selections")
        if count is not None and least is not None and least > count:
            self.add_error(
                "min_selections",
                f"At most the number of values shown ({count}): a participant cannot pick "
                "more than they see.",
            )
        if data.get("selection_enabled") and count == 0:
            self.add_error("selection_count", "Show at least one value, or turn the step off.")
        if data.get("judgments_enabled") and data.get("judgment_count") == 0:
            self.add_error("judgment_count", "Ask at least one judgment, or turn the step off.")
        if data.get("max_completed") == 0:
            self.add_error("max_completed", "At least 1, or blank for no maximum.")
        cap = data.get("budget_cap_usd")
        if cap is not None and cap <= 0:
            self.add_error("budget_cap_usd", "A positive amount, or blank for no cap.")
        share = data.get("uniform_share")
        if share is not None and not 0 <= share <= 1:
            self.add_error("uniform_share", "A share: between 0 and 1.")
        self._clean_groups(data)
        self._clean_pairwise(data)
        return data

    def setup_fields(self) -> dict:
        """What the service sets on the study: the cleaned fields (not the fixed slug),
        the groups, the quotas and the threshold overrides."""
        fields = {
            name: self.cleaned_data[name] for name in STUDY_FIELDS if not self.fields[name].disabled
        }
        return {**fields, **self.groups, "pairwise_params": self.pairwise}


# --- Questions ---------------------------------------------------------------------------


class QuestionForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    key = forms.SlugField(max_length=80, help_text="Short stable name, e.g. abortion.")
    title = forms.CharField(max_length=200)
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown as the message a user sent to an AI.",
    )
    seed_message = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Seed message",
        help_text="The interviewer's opening line; blank for the default.",
    )


class BaseQuestionFormSet(forms.BaseFormSet):
    def __init__(self, *args, study: Study | None = None, **kwargs):
        self.study = study
        super().__init__(*args, **kwargs)

    def clean(self):
        if any(self.errors):
            return
        kept = self.ordered_forms
        keys: set[str] = set()
        for form in kept:
            key = form.cleaned_data["key"]
            if key in keys:
                form.add_error("key", f"Two questions have the key “{key}”: keys are unique.")
            keys.add(key)
        if not kept:
            raise ValidationError("A study needs at least one question.")
        mine = set(self.study.questions.values_list("pk", flat=True)) if self.study else set()
        problems = []
        for form in self.forms:
            pk = form.cleaned_data.get("id") if hasattr(form, "cleaned_data") else None
            if pk is not None and pk not in mine:
                raise ValidationError("A question of another study: reload the page.")
            if pk and self._should_delete_form(form):
                question = Question.objects.get(pk=pk)
                if question.interviews.exists() or question.participants.exists():
                    # A removed form's own errors are ignored: this is the formset's.
                    problems.append(
                        f"“{question.title}” has participants already: it cannot be removed "
                        "(their interviews would go with it)."
                    )
        if problems:
            raise ValidationError(problems)

    def questions(self) -> list[dict]:
        """The kept questions in their order, as the service takes them."""
        return [
            {
                "id": form.cleaned_data.get("id"),
                **{name: form.cleaned_data[name] for name in ("key", "title", "text")},
                "seed_message": form.cleaned_data.get("seed_message", ""),
            }
            for form in self.ordered_forms
        ]


QuestionFormSet = forms.formset_factory(
    QuestionForm, formset=BaseQuestionFormSet, extra=1, can_delete=True, can_order=True
)


def question_formset(data=None, *, study: Study | None = None) -> BaseQuestionFormSet:
    initial = (
        [
            {name: getattr(q, name) for name in ("id", "key", "title", "text", "seed_message")}
            for q in study.questions.all()
        ]
        if study is not None and study.pk
        else None
    )
    # One blank form at the end: how a question is added without JavaScript.
    return QuestionFormSet(data, initial=initial, prefix="questions", study=study)


# --- Members -----------------------------------------------------------------------------


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=StudyMember.Role.choices, initial=StudyMember.Role.VIEWER)

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise ValidationError(f"No active account is called “{name}”.")
        self.user = user
        return name


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=StudyMember.Role.choices)
