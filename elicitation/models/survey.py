"""The closing survey and the later follow-up, with the paper's items."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


@dataclass(frozen=True)
class SurveyItem:
    key: str  # the SurveyAnswer field
    question: str  # as the participant reads it
    label: str  # the legitimacy figure's name on the researcher's pages
    scale: str  # "1-5" or "yes-no"
    # Asked only of participants who saw other people's values (impressions or stories).
    needs_others: bool = False


# The paper's items, in the order asked: the closing survey, then the follow-up.
SURVEY_ITEMS = (
    SurveyItem(
        "represented",
        "Did the values you submitted and voted for express what you care about?",
        "Felt their values were represented",
        "1-5",
    ),
    SurveyItem(
        "clarified",
        "Did it help you clarify what was important to you?",
        "Found it clarified what is important to them",
        "1-5",
    ),
    SurveyItem(
        "learned",
        "Did you learn something about other people's values?",
        "Learned something about others' values",
        "1-5",
        needs_others=True,
    ),
    SurveyItem(
        "respect",
        "Based on what you saw of others' values, did you gain respect for the other participants?",
        "Gained respect for the other participants",
        "1-5",
        needs_others=True,
    ),
    SurveyItem(
        "trust",
        "Would you trust this process to decide how an AI should answer questions like this one?",
        "Would trust the process",
        "1-5",
    ),
    SurveyItem(
        "fair",
        "Is the position of your value in the final graph fair?",
        "Found their value's final position fair",
        "yes-no",
    ),
)


class SurveyAnswer(models.Model):
    """One survey response: the closing survey (1 to 5), the follow-up on fairness (yes or
    no, and how fair from 1 to 5), or a response imported from a study's survey export.

    An imported response has no participant (the export's recruiter ids are never
    stored); its ``import_key``, a hash of its answers and timestamp, makes a second
    import of the same file a no-op.
    """

    class Source(models.TextChoices):
        JOURNEY = "journey", "In the app"
        IMPORTED = "imported", "Imported"

    _scale = [MinValueValidator(1), MaxValueValidator(5)]

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="survey_answers"
    )
    participant = models.OneToOneField(
        "elicitation.Participant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="survey",
    )
    represented = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    clarified = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    learned = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    respect = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    trust = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    # The follow-up: the paper's yes / no, and the earlier 1-5 kept as a second item.
    fair = models.BooleanField(null=True, blank=True)
    fair_position = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    fair_answered_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.JOURNEY)
    import_key = models.CharField(max_length=64, blank=True, editable=False)
    # When the survey was answered, as the source says (an import's timestamp).
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "import_key"],
                condition=~Q(import_key=""),
                name="survey_answer_import_key_unique",
            ),
        ]

    def save(self, *args, **kwargs):
        if self.study_id is None and self.participant_id is not None:
            self.study_id = self.participant.study_id
        super().save(*args, **kwargs)

    @property
    def has_fair_answer(self) -> bool:
        return self.fair is not None or self.fair_position is not None
