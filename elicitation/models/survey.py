"""The closing survey and the later follow-up."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class SurveyAnswer(models.Model):
    """The in-app closing survey (1 to 5), and the later follow-up on fairness."""

    _scale = [MinValueValidator(1), MaxValueValidator(5)]

    participant = models.OneToOneField(
        "elicitation.Participant", on_delete=models.CASCADE, related_name="survey"
    )
    represented = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    clarified = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    learned = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    trust = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    fair_position = models.PositiveSmallIntegerField(null=True, blank=True, validators=_scale)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
