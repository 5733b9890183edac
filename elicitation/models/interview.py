"""The interview: its Messages, and the LLM requests a participant's actions cost."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Interview(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CARD = "card", "Card drafted"
        DONE = "done", "Card submitted"

    participant = models.ForeignKey(
        "elicitation.Participant", on_delete=models.CASCADE, related_name="interviews"
    )
    question = models.ForeignKey(
        "elicitation.Question", on_delete=models.CASCADE, related_name="interviews"
    )
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
    # Characters the participant pasted into the box for this message, as the composer's
    # script counted them (0 without JavaScript): the approval list flags pasted answers.
    pasted_chars = models.PositiveIntegerField(default=0)
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


class LLMRequest(models.Model):
    """One participant action that costs an LLM call (a message, a card draft, a
    revision). Counted by the rate limits; a table rather than a cache so that the
    limits hold across every web process."""

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="llm_requests"
    )
    participant = models.ForeignKey(
        "elicitation.Participant", on_delete=models.CASCADE, related_name="llm_requests"
    )
    kind = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "LLM request"
        indexes = [
            models.Index(fields=["participant", "created_at"]),
            models.Index(fields=["study", "created_at"]),
        ]
