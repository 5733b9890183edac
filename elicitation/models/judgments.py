"""What a participant was shown and chose: Impressions, Selections, WiserJudgments."""

from django.db import models
from django.utils import timezone


class Impression(models.Model):
    """A Value shown to a participant in the selection step."""

    participant = models.ForeignKey(
        "elicitation.Participant", on_delete=models.CASCADE, related_name="impressions"
    )
    value = models.ForeignKey(
        "moralgraph.Value", on_delete=models.CASCADE, related_name="impressions"
    )
    question = models.ForeignKey(
        "elicitation.Question", on_delete=models.CASCADE, related_name="impressions"
    )
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
        "elicitation.Participant", on_delete=models.CASCADE, related_name="selections"
    )
    value = models.ForeignKey(
        "moralgraph.Value", on_delete=models.CASCADE, related_name="selections"
    )
    question = models.ForeignKey(
        "elicitation.Question", on_delete=models.CASCADE, related_name="selections"
    )
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

    participant = models.ForeignKey(
        "elicitation.Participant", on_delete=models.CASCADE, related_name="judgments"
    )
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
        "elicitation.Participant", on_delete=models.CASCADE, related_name="judgment_assignments"
    )
    hypothesis = models.ForeignKey(
        "moralgraph.UpgradeHypothesis", on_delete=models.CASCADE, related_name="assignments"
    )
    position = models.PositiveSmallIntegerField(default=0)
    # How the pair was drawn ("uniform" or "adaptive") and its context's status then.
    policy = models.CharField(max_length=12, blank=True)
    context_status = models.CharField(max_length=14, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["participant", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "hypothesis"], name="judgment_assignment_unique"
            ),
        ]
