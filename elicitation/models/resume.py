"""Attempts to continue a participant in another browser with their resume code."""

from django.db import models


class ResumeAttempt(models.Model):
    """One resume code typed for a recruiter id, right or wrong. Wrong ones are counted
    per participant, per browser session and per address to stop guessing; a table
    rather than a cache so that the limit holds across every web process."""

    study = models.ForeignKey(
        "elicitation.Study", on_delete=models.CASCADE, related_name="resume_attempts"
    )
    participant = models.ForeignKey(
        "elicitation.Participant", on_delete=models.CASCADE, related_name="resume_attempts"
    )
    session_key = models.CharField(max_length=64, blank=True)
    address = models.CharField(max_length=45, blank=True)
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"resume attempt {self.pk} ({'right' if self.succeeded else 'wrong'})"
