"""A Study and the Questions it asks."""

import secrets
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from elicitation import llm
from elicitation.models.participant import DemographicItem


def _completion_code() -> str:
    return secrets.token_hex(4).upper()


def _default_group_answers() -> list[str]:
    return ["democrat", "republican"]


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    consent_text = models.TextField(
        default="This study asks you to talk with an AI interviewer about how an AI "
        "should answer a hard question, and to judge other people's answers. Your "
        "answers are stored without your name and published for research."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    estimated_minutes = models.PositiveSmallIntegerField(default=15)
    licence = models.CharField(max_length=100, default="CC-BY-4.0")

    # Which steps run, and how much of each. The defaults follow the paper's study.
    demographics_enabled = models.BooleanField(default=True)
    # Which "About you" item defines the groups that bridging compares, and which of its
    # answers are groups; any other answer, or none, leaves a participant unlabelled.
    group_item_key = models.CharField(
        max_length=40,
        blank=True,
        default="political_affiliation",
        help_text="Key of the About-you item whose answers define groups; blank for none.",
    )
    group_answers = models.JSONField(
        default=_default_group_answers,
        blank=True,
        help_text='The answers of that item that form groups, e.g. ["democrat", "republican"].',
    )
    interview_min_turns = models.PositiveSmallIntegerField(
        default=3, help_text="Participant messages before the card can be drafted."
    )
    selection_enabled = models.BooleanField(default=True)
    selection_count = models.PositiveSmallIntegerField(default=6)
    min_selections = models.PositiveSmallIntegerField(default=0)
    judgments_enabled = models.BooleanField(default=True)
    judgment_count = models.PositiveSmallIntegerField(default=3)
    survey_enabled = models.BooleanField(default=True)

    # Limits that keep one participant (or a script) from running up the LLM bill.
    message_max_chars = models.PositiveIntegerField(default=2000)
    messages_per_minute = models.PositiveSmallIntegerField(default=6)
    messages_per_hour_study = models.PositiveIntegerField(default=3000)

    # Recruiter hand-off (Prolific and the like).
    completion_url = models.URLField(blank=True, help_text="Where to send finished participants.")
    completion_code = models.CharField(max_length=40, default=_completion_code)
    no_consent_code = models.CharField(max_length=40, blank=True)

    # Per-stage model overrides; blank uses the LLM_*_MODEL settings.
    interview_model = models.CharField(max_length=200, blank=True)
    articulate_model = models.CharField(max_length=200, blank=True)
    dedup_model = models.CharField(max_length=200, blank=True)
    hypothesis_model = models.CharField(max_length=200, blank=True)
    response_model = models.CharField(max_length=200, blank=True)
    # Upgrade stories are the dearest LLM work: at most this many story calls (each
    # writes a few pairs' stories) per submitted card, the most informative pairs first.
    story_budget = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Upgrade-story LLM calls per submitted card (0: write no new stories).",
    )

    # Reconciliation bookkeeping: when the graph's inputs last changed and were scored.
    graph_changed_at = models.DateTimeField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding:
            DemographicItem.create_defaults(self)

    def clean(self) -> None:
        answers = self.group_answers
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise ValidationError({"group_answers": 'A list of answers, e.g. ["democrat"].'})
        if self.pk is None or not self.group_item_key:
            return  # a new study gets the default items, which the defaults fit
        item = self.demographic_items.filter(key=self.group_item_key).first()
        if item is None or not item.is_choice:
            raise ValidationError({"group_item_key": "Not one of this study's choice items."})
        unknown = sorted(set(answers) - set(item.choice_values()))
        if unknown:
            raise ValidationError(
                {"group_answers": f"Not answers of {item.key}: {', '.join(unknown)}."}
            )

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    def model_for(self, stage: str) -> str:
        """The litellm model for an LLM stage: the study's override, else the setting."""
        return llm.model_for(stage, self)


class Question(models.Model):
    """A user message to an AI that needs a values-laden answer (the reference's case)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(max_length=80, help_text="Short stable name, e.g. abortion.")
    title = models.CharField(max_length=200)
    text = models.TextField(help_text="Shown as the message a user sent to an AI.")
    seed_message = models.TextField(blank=True, help_text="The interviewer's opening line.")
    position = models.PositiveSmallIntegerField(default=0)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)

    class Meta:
        ordering = ["study", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="question_key_unique"),
        ]

    def __str__(self) -> str:
        return self.title
