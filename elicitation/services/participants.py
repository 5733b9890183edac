"""Arriving and moving on: the participant row, the lock every step action takes, and
entering a step (with what it shows drawn on the way in).

Every action that moves a participant on locks their row and checks that they are on
the step it belongs to, so a double click, a reload or a back button runs it once; the
second request finds the participant elsewhere and gets StepMismatch (views redirect to
the current step). LLM calls happen outside transactions: no row stays locked while a
model thinks.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from elicitation import journey, selectors
from elicitation.models import Participant, Study

Step = Participant.Step

RECRUITER_ID_MAX = 200


class StepMismatch(Exception):
    """The participant is not on the step this action belongs to (any more)."""

    def __init__(self, participant: Participant):
        super().__init__(f"participant is on step {participant.step}")
        self.participant = participant


class JourneyError(Exception):
    """An action refused for a reason to show the participant as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(Exception):
    """An id that is not this participant's (another session's message, an unshown story)."""


def lock(participant: Participant, *steps: str) -> Participant:
    """Re-read and lock the participant; raise StepMismatch unless on one of ``steps``."""
    locked = Participant.objects.select_for_update(of=("self",)).select_related("study", "question")
    locked = locked.get(pk=participant.pk)
    if locked.step not in steps:
        raise StepMismatch(locked)
    return locked


@transaction.atomic
def participant_start(
    *,
    study: Study,
    session_key: str,
    recruiter_pid: str = "",
    recruiter_study_id: str = "",
    recruiter_session_id: str = "",
) -> Participant:
    """Create the participant who just agreed, or return the one they already are.

    The study row is locked so that starts happen one at a time: question assignment
    stays balanced, and a double click on "I agree" (or the same recruiter id in two
    tabs) never makes a second participant.
    """
    Study.objects.select_for_update().filter(pk=study.pk).first()
    recruiter_pid = recruiter_pid.strip()[:RECRUITER_ID_MAX]
    existing = selectors.participant_by_recruiter_pid(study, recruiter_pid)
    if existing is None and session_key and not recruiter_pid:
        existing = (
            Participant.objects.filter(study=study, session_key=session_key, recruiter_pid="")
            .order_by("-created_at")
            .first()
        )
    if existing is not None:
        if session_key and existing.session_key != session_key:
            existing.session_key = session_key
            existing.save(update_fields=["session_key", "updated_at"])
        return existing
    question = selectors.least_filled_question(study)
    if question is None:
        raise JourneyError("This study has no questions yet. Please come back later.")
    participant = Participant.objects.create(
        study=study,
        session_key=session_key,
        recruiter_pid=recruiter_pid,
        recruiter_study_id=recruiter_study_id.strip()[:RECRUITER_ID_MAX],
        recruiter_session_id=recruiter_session_id.strip()[:RECRUITER_ID_MAX],
        question=question,
        consented_at=timezone.now(),
        step=Step.QUESTION,  # replaced by enter below
    )
    enter(participant, journey.first_step(study))
    return participant


def participant_resume(*, participant: Participant, session_key: str) -> Participant:
    """Tie a returning participant (found by recruiter id) to this browser session."""
    if session_key and participant.session_key != session_key:
        Participant.objects.filter(pk=participant.pk).update(session_key=session_key)
        participant.session_key = session_key
    return participant


def enter(participant: Participant, step: str) -> None:
    """Put the participant on ``step``. A step that shows a draw (values to select from,
    stories to judge) is skipped when nothing could be drawn. Inside a transaction."""
    while not journey.draw_step(participant, step):
        step = journey.next_step(participant.study, step)
    fields = ["step", "updated_at"]
    if step == Step.DONE and participant.completed_at is None:
        participant.completed_at = timezone.now()
        fields.append("completed_at")
    participant.step = step
    participant.save(update_fields=fields)


def advance(participant: Participant) -> None:
    """On to the next step this study runs (inside the transaction holding the lock)."""
    enter(participant, journey.next_step(participant.study, participant.step))
