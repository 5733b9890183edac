"""The participant side of a study: who took part, what they said, what they chose.

Nouns follow the method (see MGE.md): a Study asks Questions; a Participant is
interviewed (Interview, Message) and articulates a ValuesCard; then sees Values
(Impression), picks the wise ones (Selection) and judges upgrade stories
(WiserJudgment). The canonical Values, Contexts and stories live in moralgraph.
"""

import secrets
import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from elicitation import llm

# Defined with the gateway that writes it; imported here so that Django registers it in
# this app and `from elicitation.models import LLMCall` keeps working.
from elicitation.llm.models import LLMCall  # noqa: F401


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


class Participant(models.Model):
    """An anonymous participant: a browser session, optionally a recruiter's id.

    Never an email or a name. The recruiter id (PROLIFIC_PID or pid) exists only so
    that a returning participant resumes instead of starting over; exports omit it.
    """

    class Step(models.TextChoices):
        ABOUT = "about", "About you"
        QUESTION = "question", "The question"
        INTERVIEW = "interview", "Interview"
        CARD = "card", "Your card"
        SELECTION = "selection", "Which are wise?"
        JUDGMENTS = "judgments", "Wiser or not?"
        SURVEY = "survey", "Last questions"
        DONE = "done", "Done"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session_key = models.CharField(max_length=64, blank=True, db_index=True)
    recruiter_pid = models.CharField(max_length=200, blank=True)
    recruiter_study_id = models.CharField(max_length=200, blank=True)
    recruiter_session_id = models.CharField(max_length=200, blank=True)
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.PROTECT, related_name="participants"
    )
    step = models.CharField(max_length=20, choices=Step.choices, default=Step.ABOUT)
    consented_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The same recruiter id never creates a second participant in a study.
            models.UniqueConstraint(
                fields=["study", "recruiter_pid"],
                condition=~Q(recruiter_pid=""),
                name="participant_recruiter_pid_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"participant {str(self.public_id)[:8]}"

    @property
    def political_group(self) -> str | None:
        demographics = getattr(self, "demographics", None)
        if demographics is None or not demographics.political_affiliation:
            return None
        return demographics.political_affiliation


class ConsentDecline(models.Model):
    """That somebody declined, and nothing else about them."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="declines")
    created_at = models.DateTimeField(auto_now_add=True)


class Demographics(models.Model):
    class Politics(models.TextChoices):
        DEMOCRAT = "democrat", "Democrat"
        REPUBLICAN = "republican", "Republican"
        INDEPENDENT = "independent", "Independent"
        OTHER = "other", "Other"
        PREFER_NOT = "prefer_not", "Prefer not to say"

    class AgeBand(models.TextChoices):
        A18 = "18-24", "18–24"
        A25 = "25-34", "25–34"
        A35 = "35-44", "35–44"
        A45 = "45-54", "45–54"
        A55 = "55-64", "55–64"
        A65 = "65+", "65 or over"
        PREFER_NOT = "prefer_not", "Prefer not to say"

    participant = models.OneToOneField(
        Participant, on_delete=models.CASCADE, related_name="demographics"
    )
    political_affiliation = models.CharField(max_length=20, choices=Politics.choices, blank=True)
    age_band = models.CharField(max_length=20, choices=AgeBand.choices, blank=True)
    sex = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=80, blank=True)
    other = models.TextField(blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "demographics"


class Interview(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CARD = "card", "Card drafted"
        DONE = "done", "Card submitted"

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="interviews"
    )
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="interviews")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When contexts were last extracted from this transcript (reconciliation).
    contexts_extracted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "question"], name="interview_per_question_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"interview {self.pk} ({self.question})"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "Participant"
        ASSISTANT = "assistant", "Interviewer"

    class Status(models.TextChoices):
        COMPLETE = "complete", "Complete"
        # An assistant reply that is owed but not yet generated: the stream claims it.
        PENDING = "pending", "Pending"
        STREAMING = "streaming", "Streaming"
        INTERRUPTED = "interrupted", "Interrupted"
        FAILED = "failed", "Failed"

    interview = models.ForeignKey(Interview, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.COMPLETE)
    # A key the page sends with each message, so a double submit stores it once.
    client_token = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["interview", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["interview", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["interview", "client_token"],
                condition=~Q(client_token=""),
                name="message_client_token_unique",
            ),
        ]


class ValuesCard(models.Model):
    """What one participant articulated. Never rewritten by reconciliation: the card's
    canonical Value is a separate, reversible record (moralgraph.CardMapping)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"

    class Quality(models.TextChoices):
        OK = "ok", "OK"
        INVALID = "invalid", "Invalid"

    class Reconcile(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cards")
    participant = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.CASCADE, related_name="cards"
    )
    interview = models.ForeignKey(
        Interview, null=True, blank=True, on_delete=models.CASCADE, related_name="cards"
    )
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.SET_NULL, related_name="cards"
    )
    title = models.CharField(max_length=120)
    description = models.TextField()
    instructions_detailed = models.TextField(blank=True, help_text="Imported cards only.")
    policies = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    quality = models.CharField(max_length=10, choices=Quality.choices, default=Quality.OK)
    edited_by_participant = models.BooleanField(default=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # Reconciliation state, claimed by conditional UPDATEs so tasks stay idempotent.
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True)
    embedded_at = models.DateTimeField(null=True, blank=True)
    reconcile_status = models.CharField(
        max_length=10, choices=Reconcile.choices, default=Reconcile.PENDING
    )
    reconcile_error = models.TextField(blank=True)
    reconcile_attempts = models.PositiveSmallIntegerField(default=0)
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["interview"],
                condition=Q(status="submitted"),
                name="one_submitted_card_per_interview",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Impression(models.Model):
    """A Value shown to a participant in the selection step."""

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="impressions"
    )
    value = models.ForeignKey(
        "moralgraph.Value", on_delete=models.CASCADE, related_name="impressions"
    )
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="impressions")
    draw_id = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=20, blank=True, help_text="Why the draw picked it.")
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "value", "question"], name="impression_unique"
            ),
        ]


class Selection(models.Model):
    """A participant found this Value wise for the question."""

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="selections"
    )
    value = models.ForeignKey(
        "moralgraph.Value", on_delete=models.CASCADE, related_name="selections"
    )
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="selections")
    draw_id = models.CharField(max_length=64, blank=True)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "value", "question"], name="selection_unique"
            ),
        ]


class WiserJudgment(models.Model):
    """One participant's verdict on one upgrade story: an edge vote of the graph."""

    class Verdict(models.TextChoices):
        UPGRADE = "upgrade", "Yes, wiser"
        NO_UPGRADE = "no_upgrade", "No"
        NOT_SURE = "not_sure", "Not sure"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="judgments")
    hypothesis = models.ForeignKey(
        "moralgraph.UpgradeHypothesis", on_delete=models.PROTECT, related_name="judgments"
    )
    # "low:high" of the two value ids: a participant never judges the same pair twice,
    # in either direction, and the database holds that rule.
    pair_key = models.CharField(max_length=64)
    verdict = models.CharField(max_length=12, choices=Verdict.choices)
    reason = models.TextField(blank=True)
    reason_private = models.BooleanField(
        default=False, help_text="The participant asked that the reason stay out of exports."
    )
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "hypothesis"], name="one_judgment_per_hypothesis"
            ),
            models.UniqueConstraint(
                fields=["participant", "pair_key"], name="one_judgment_per_pair"
            ),
        ]

    @staticmethod
    def make_pair_key(value_a_id: int, value_b_id: int) -> str:
        low, high = sorted((int(value_a_id), int(value_b_id)))
        return f"{low}:{high}"


class JudgmentAssignment(models.Model):
    """An upgrade story drawn for a participant's "Wiser or not?" step.

    Drawn once, when the participant reaches the step, so that reloads show the same
    stories; it also counts how often each direction of a pair was shown, which is how
    the draw balances directions across participants.
    """

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="judgment_assignments"
    )
    hypothesis = models.ForeignKey(
        "moralgraph.UpgradeHypothesis", on_delete=models.CASCADE, related_name="assignments"
    )
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["participant", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "hypothesis"], name="judgment_assignment_unique"
            ),
        ]


class LLMRequest(models.Model):
    """One participant action that costs an LLM call (a message, a card draft, a
    revision). Counted by the rate limits; a table rather than a cache so that the
    limits hold across every web process."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="llm_requests")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="llm_requests"
    )
    kind = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "LLM request"
        indexes = [
            models.Index(fields=["participant", "created_at"]),
            models.Index(fields=["study", "created_at"]),
        ]


class SurveyAnswer(models.Model):
    """The in-app closing survey (1 to 5), and the later follow-up on fairness."""

    _scale = [MinValueValidator(1), MaxValueValidator(5)]

    participant = models.OneToOneField(Participant, on_delete=models.CASCADE, related_name="survey")
    represented = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    clarified = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    learned = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    trust = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    fair_position = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran a task, so the app can say whether one is alive."""

    name = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField()
