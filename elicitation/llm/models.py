"""The log of model calls: one ``LLMCall`` row per call through the gateway.

It lives with the gateway that writes it, in the ``elicitation`` app's table;
``elicitation.models`` imports it so that Django finds it there.
"""

from django.db import models


class LLMCall(models.Model):
    """One call through the gateway, successful or not: what it cost and how long it took."""

    stage = models.CharField(max_length=20, db_index=True)
    model = models.CharField(max_length=200)
    prompt_name = models.CharField(max_length=100, blank=True)
    prompt_version = models.CharField(max_length=16, blank=True)
    study = models.ForeignKey(
        "elicitation.Study",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="llm_calls",
    )
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=1)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # The participant app's table, as before the model moved into this package.
        app_label = "elicitation"
        verbose_name = "LLM call"
        ordering = ["-created_at"]
