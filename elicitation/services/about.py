"""About you: the optional demographics."""

from __future__ import annotations

from django.db import transaction

from elicitation.models import Demographics, Participant
from elicitation.services import participants

Step = Participant.Step


@transaction.atomic
def demographics_save(
    *,
    participant: Participant,
    political_affiliation: str = "",
    age_band: str = "",
    sex: str = "",
    country: str = "",
    other: str = "",
) -> Participant:
    """Store the "About you" answers (every one may be blank) and move on."""
    participant = participants.lock(participant, Step.ABOUT)
    Demographics.objects.update_or_create(
        participant=participant,
        defaults={
            "political_affiliation": political_affiliation,
            "age_band": age_band,
            "sex": sex[:40],
            "country": country[:80],
            "other": other[:2000],
        },
    )
    participants.advance(participant)
    return participant
