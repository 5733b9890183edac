"""Arriving and moving on: the participant row, the lock every step action takes, and
entering a step (with what it shows drawn on the way in).

Every action that moves a participant on locks their row and checks that they are on
the step it belongs to, so a double click, a reload or a back button runs it once; the
second request finds the participant elsewhere and gets StepMismatch (views redirect to
the current step). LLM calls happen outside transactions: no row stays locked while a
model thinks.

A participant belongs to the browser session that started them. A recruiter id is not a
password (it is in every link the recruiter sends, and guessable): continuing in another
browser takes the participant's resume code, shown in the first one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from elicitation import journey, ratelimit, selectors
from elicitation.models import Participant, ResumeAttempt, Study
from elicitation.services import lifecycle

Step = Participant.Step

RECRUITER_ID_MAX = 200

# Eight characters from 31 that cannot be mistaken for one another (no 0/O, 1/I/L):
# about 40 bits, typed in a few seconds, never guessed within the limits below.
RESUME_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RESUME_CODE_LENGTH = 8
# Wrong codes allowed in an hour: from one browser session, from one address, and for
# one participant (whoever types them).
RESUME_WRONG_PER_SESSION = 5
RESUME_WRONG_PER_ADDRESS = 20
RESUME_WRONG_PER_PARTICIPANT = 10
RESUME_WINDOW = timedelta(hours=1)


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


class AlreadyStarted(Exception):
    """This recruiter id belongs to a participant who started in another browser."""

    def __init__(self, participant: Participant):
        super().__init__(f"{participant} started in another browser")
        self.participant = participant


class WrongResumeCode(Exception):
    """The code typed is not this participant's; ``message`` says what to do."""

    def __init__(self, message: str, *, retry_after: int = 0):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # seconds, when guessing is paused


def lock(participant: Participant, *steps: str) -> Participant:
    """Re-read and lock the participant; raise StepMismatch unless on one of ``steps``."""
    locked = selectors.participant_for_update(participant.pk)
    # The study and the question as this request read them (the lock is on the
    # participant): joining them again costs every POST more CPU than the row itself.
    locked.study = participant.study
    question = Participant._meta.get_field("question")
    if question.is_cached(participant) and locked.question_id == participant.question_id:
        locked.question = participant.question
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
    address: str = "",
    is_test: bool = False,
) -> Participant:
    """Create the participant who just agreed, or return the one this session already is.

    Starts of one browser, or of one recruiter id, run one at a time (``_one_start_at_a_
    time``): a double click on "I agree" never makes a second participant. Other people's
    starts run side by side: the study row is locked only near a sign-up limit
    (ratelimit.admit), and questions stay balanced to within the starts of one moment.
    A recruiter id that another browser started with raises AlreadyStarted: that
    participant is continued only with their resume code (``participant_resume``).
    ``is_test``: came by the study's test link (or is staff walking a pilot): kept, never
    counted, and not weighed in the question balance.
    A newcomer over the study's sign-up limits (per address, or no budget left to
    reserve their LLM allowance) raises ratelimit.SignupRefused: no row is created.
    """
    recruiter_pid = recruiter_pid.strip()[:RECRUITER_ID_MAX]
    _one_start_at_a_time(study, recruiter_pid or f"session:{session_key}")
    existing = selectors.participant_by_recruiter_pid(study, recruiter_pid)
    if existing is not None and not (session_key and existing.session_key == session_key):
        raise AlreadyStarted(existing)
    if existing is None and session_key and not recruiter_pid:
        existing = (
            Participant.objects.filter(study=study, session_key=session_key, recruiter_pid="")
            .order_by("-created_at")
            .first()
        )
    if existing is not None:
        return existing
    question = selectors.least_filled_question(study)
    if question is None:
        raise JourneyError("This study has no questions yet. Please come back later.")
    hashed = ratelimit.admit(study=study, address=address, is_test=is_test)
    participant = Participant.objects.create(
        study=study,
        session_key=session_key,
        recruiter_pid=recruiter_pid,
        recruiter_study_id=recruiter_study_id.strip()[:RECRUITER_ID_MAX],
        recruiter_session_id=recruiter_session_id.strip()[:RECRUITER_ID_MAX],
        question=question,
        is_test=is_test,
        last_seen_at=timezone.now(),
        consented_at=timezone.now(),
        step=Step.QUESTION,  # replaced by enter below
        address_hash=hashed,
    )
    enter(participant, journey.first_step(study))
    return participant


def _one_start_at_a_time(study: Study, who: str) -> None:
    """Hold, until the transaction ends, a lock on starting ``who`` in ``study``.

    A PostgreSQL advisory lock on the pair: the study row lock this replaces put every
    start of a study in one queue, each holding a pooled connection while it waited,
    and 500 people arriving within seconds waited seconds each (bench/load.py). SQLite
    (the demo) runs one write at a time anyway."""
    if connection.vendor != "postgresql":
        Study.objects.select_for_update().filter(pk=study.pk).first()
        return
    digest = hashlib.blake2b(f"mge.start:{study.pk}:{who}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)]
        )


# ---------------------------------------------------------------------------------------
# The resume code
# ---------------------------------------------------------------------------------------


def normalise_code(code: str) -> str:
    """A code as typed ("k7qp-m3xd ") in the form it is checked ("K7QPM3XD")."""
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())[:32]


def format_code(code: str) -> str:
    """A code as shown: two groups of four, easier to read out and type."""
    code = normalise_code(code)
    return f"{code[:4]}-{code[4:]}" if len(code) > 4 else code


def _code_hash(participant: Participant, code: str) -> str:
    # Keyed with the site's secret and the participant's public id: a database dump
    # alone gives nothing to try codes against, and equal codes hash apart.
    value = f"{participant.public_id}:{normalise_code(code)}"
    return salted_hmac("mge.resume-code", value, algorithm="sha256").hexdigest()


def resume_code_issue(*, participant: Participant) -> str:
    """Give the participant a new resume code and return it (only its hash is kept; a
    code shown before stops working)."""
    code = "".join(secrets.choice(RESUME_ALPHABET) for _ in range(RESUME_CODE_LENGTH))
    participant.resume_code_hash = _code_hash(participant, code)
    Participant.objects.filter(pk=participant.pk).update(
        resume_code_hash=participant.resume_code_hash
    )
    return code


def resume_code_matches(participant: Participant, code: str) -> bool:
    if not participant.resume_code_hash or not normalise_code(code):
        return False
    return constant_time_compare(participant.resume_code_hash, _code_hash(participant, code))


def _wrong_since(participant: Participant, session_key: str, address: str):
    since = timezone.now() - RESUME_WINDOW
    wrong = ResumeAttempt.objects.filter(succeeded=False, created_at__gte=since)
    return {
        "session": wrong.filter(session_key=session_key).count() if session_key else 0,
        "address": wrong.filter(address=address).count() if address else 0,
        "participant": wrong.filter(participant=participant).count(),
        "oldest": wrong.filter(
            Q(participant=participant)
            | (Q(session_key=session_key) if session_key else Q(pk__in=[]))
            | (Q(address=address) if address else Q(pk__in=[]))
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first(),
    }


def _paused(counts: dict) -> bool:
    return (
        counts["session"] >= RESUME_WRONG_PER_SESSION
        or counts["address"] >= RESUME_WRONG_PER_ADDRESS
        or counts["participant"] >= RESUME_WRONG_PER_PARTICIPANT
    )


def participant_resume(
    *, participant: Participant, code: str, session_key: str, address: str = ""
) -> Participant:
    """Continue ``participant`` in this browser session if ``code`` is their resume code.

    Raises WrongResumeCode on a wrong code, and without checking it at all while too
    many wrong codes came from this session or address, or for this participant, in
    the last hour. Every attempt is recorded.
    """
    with transaction.atomic():
        # One attempt at a time per participant, so parallel guesses cannot outrun the count.
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        counts = _wrong_since(participant, session_key, address)
        if _paused(counts):
            oldest = counts["oldest"] or timezone.now()
            wait = max(60, int((oldest + RESUME_WINDOW - timezone.now()).total_seconds()))
            raise WrongResumeCode(
                "Too many wrong codes. Please wait an hour, or continue in the browser "
                "where you started.",
                retry_after=wait,
            )
        right = resume_code_matches(participant, code)
        ResumeAttempt.objects.create(
            study_id=participant.study_id,
            participant=participant,
            session_key=session_key[:64],
            address=address[:45],
            succeeded=right,
        )
        if right:
            if session_key and participant.session_key != session_key:
                participant.session_key = session_key
                participant.save(update_fields=["session_key", "updated_at"])
            return participant
    raise WrongResumeCode(
        "That is not the resume code for this id. It is shown at the top of every page "
        "in the browser where you started (8 letters and digits, like K7QP-M3XD)."
    )


def enter(participant: Participant, step: str) -> None:
    """Put the participant on ``step``. A step that shows a draw (values to select from,
    stories to judge) is skipped when nothing could be drawn, and noted as skipped so
    that progress leaves it out. Inside a transaction."""
    fields = ["step", "updated_at"]
    while not journey.draw_step(participant, step):
        if step not in participant.skipped_steps:
            participant.skipped_steps = [*participant.skipped_steps, step]
            if "skipped_steps" not in fields:
                fields.append("skipped_steps")
        step = journey.next_step(participant.study, step)
    finished = step == Step.DONE and participant.completed_at is None
    if finished:
        participant.completed_at = timezone.now()
        fields.append("completed_at")
    if step == Step.DONE and not participant.completion_code:
        # The participant's own code: the recruiter's approval list matches it to them.
        participant.completion_code = new_completion_code()
        fields.append("completion_code")
    participant.step = step
    participant.save(update_fields=fields)
    if finished:
        # Quotas may now be reached, or a closing study have its last one done.
        lifecycle.after_completion(participant.study)


def new_completion_code() -> str:
    """A completion code of one participant: 10 capitals and digits, easy to read out."""
    return secrets.token_hex(5).upper()


def advance(participant: Participant) -> None:
    """On to the next step this study runs (inside the transaction holding the lock)."""
    enter(participant, journey.next_step(participant.study, participant.step))
