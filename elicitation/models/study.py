"""A Study and the Questions it asks."""

import secrets

from django.db import models

from elicitation import llm


def _completion_code() -> str:
    return secrets.token_hex(4).upper()


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
    demographic_fields = models.JSONField(
        default=list,
        blank=True,
        help_text='Items asked in "About you", from: political_affiliation, age_band, '
        "sex, country, other. Empty means all.",
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
