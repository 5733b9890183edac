"""Limits on what a participant can make the LLM do, so nobody runs up the bill.

Two windows, both set per study: ``messages_per_minute`` for one participant and
``messages_per_hour_study`` for everyone in the study together. They count LLMRequest
rows in the database rather than a per-process cache, so they hold across every web
worker. A request over either limit is refused before any LLM call is made.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from elicitation.models import LLMRequest, Participant

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


class RateLimited(Exception):
    """Refused: too many LLM requests. ``message`` is shown to the participant."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def _retry_after(oldest, window: timedelta, now) -> int:
    return max(1, int((oldest + window - now).total_seconds()) + 1)


def check(*, participant: Participant) -> None:
    """Raise RateLimited if ``participant`` may not start another LLM request now."""
    study = participant.study
    now = timezone.now()
    mine = LLMRequest.objects.filter(participant=participant, created_at__gte=now - MINUTE)
    if study.messages_per_minute and mine.count() >= study.messages_per_minute:
        oldest = mine.order_by("created_at").values_list("created_at", flat=True).first()
        raise RateLimited(
            "You're sending messages faster than the interviewer can keep up. "
            "Please wait a moment and try again.",
            retry_after=_retry_after(oldest, MINUTE, now),
        )
    everyone = LLMRequest.objects.filter(study_id=participant.study_id, created_at__gte=now - HOUR)
    if study.messages_per_hour_study and everyone.count() >= study.messages_per_hour_study:
        oldest = everyone.order_by("created_at").values_list("created_at", flat=True).first()
        raise RateLimited(
            "The interviewer is very busy right now. Your conversation is saved: "
            "please try again in a few minutes.",
            retry_after=_retry_after(oldest, HOUR, now),
        )


def consume(*, participant: Participant, kind: str) -> LLMRequest:
    """Check the limits and count one request, or raise RateLimited.

    The participant's row is locked for the check, so that two quick submits from the
    same participant cannot both slip under the limit.
    """
    with transaction.atomic():
        Participant.objects.select_for_update().filter(pk=participant.pk).first()
        check(participant=participant)
        return LLMRequest.objects.create(
            study_id=participant.study_id, participant=participant, kind=kind
        )
