"""Consent: somebody declined (agreeing starts a participant: participants.participant_start)."""

from __future__ import annotations

from django.utils import timezone

from elicitation.models import ConsentDecline, Participant, Study
from elicitation.services.participants import RECRUITER_ID_MAX

DECLINED = "declined_consent"


def consent_decline(
    *,
    study: Study,
    recruiter_pid: str = "",
    recruiter_study_id: str = "",
    recruiter_session_id: str = "",
) -> ConsentDecline:
    """Somebody declined: the fact, and nothing else about them, except the recruiter id
    they came with, if any, as a screened-out participant (no question, no answers), so
    that the recruiter's approval list can settle their return with the screen-out code.
    A recruiter id that already took part is left as it is."""
    decline = ConsentDecline.objects.create(study=study)
    pid = recruiter_pid.strip()[:RECRUITER_ID_MAX]
    if pid:
        Participant.objects.get_or_create(
            study=study,
            recruiter_pid=pid,
            defaults={
                "recruiter_study_id": recruiter_study_id.strip()[:RECRUITER_ID_MAX],
                "recruiter_session_id": recruiter_session_id.strip()[:RECRUITER_ID_MAX],
                "screened_out_at": timezone.now(),
                "screen_out_reason": DECLINED,
                "completion_code": study.no_consent_code,
            },
        )
    return decline
