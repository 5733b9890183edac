"""The ValuesCard a participant articulates."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from elicitation import cards


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

    study = models.ForeignKey("elicitation.Study", on_delete=models.CASCADE, related_name="cards")
    participant = models.ForeignKey(
        "elicitation.Participant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="cards",
    )
    interview = models.ForeignKey(
        "elicitation.Interview",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="cards",
    )
    question = models.ForeignKey(
        "elicitation.Question",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cards",
    )
    title = models.CharField(max_length=cards.TITLE_MAX_CHARS)
    description = models.TextField()
    instructions_detailed = models.TextField(blank=True, help_text="Imported cards only.")
    policies = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    quality = models.CharField(max_length=10, choices=Quality.choices, default=Quality.OK)
    edited_by_participant = models.BooleanField(default=False)
    # A newer draft from the conversation, offered beside the card (never written over
    # it) until the participant keeps theirs or takes this one: {title, description,
    # policies}, or empty.
    proposal = models.JSONField(default=dict, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Moderation: a hidden card leaves selection, stories, scoring and exports (kept).
    hidden_reason = models.CharField(max_length=30, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    # The LLM pre-screen's note when it thinks the card is junk; never hides by itself.
    screen_flag = models.CharField(max_length=300, blank=True)
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
