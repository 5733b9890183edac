"""Consent: somebody declined (agreeing starts a participant: participants.participant_start)."""

from __future__ import annotations

from elicitation.models import ConsentDecline, Study


def consent_decline(*, study: Study) -> ConsentDecline:
    """Somebody declined: the fact, and nothing else about them."""
    return ConsentDecline.objects.create(study=study)
