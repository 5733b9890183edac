"""Who took part: the Participant, a declined consent, their answers about themselves."""

import uuid

from django.db import models
from django.db.models import Q


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

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="participants"
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session_key = models.CharField(max_length=64, blank=True, db_index=True)
    recruiter_pid = models.CharField(max_length=200, blank=True)
    recruiter_study_id = models.CharField(max_length=200, blank=True)
    recruiter_session_id = models.CharField(max_length=200, blank=True)
    question = models.ForeignKey(
        "elicitation.Question",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="participants",
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

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="declines"
    )
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
