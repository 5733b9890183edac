"""Limits on what the public can make the LLM do, so nobody runs up the bill and a flood
of scripted sessions cannot starve the participants already taking part.

Per study, all counted in the database (LLMRequest and Participant rows, not a
per-process cache), so they hold across every web worker:

- **Sign-ups per address**: at most ``signups_per_address_hour`` new participants from
  one network address in an hour (test participants are exempt). Only a keyed hash of
  the address is stored (``address_hash``), never the address.
- **Per participant**: ``messages_per_minute``, and an hourly allowance of
  ``LLM_ALLOWANCE_PER_PARTICIPANT`` requests (never more than the study's whole budget).
- **Per study**: ``messages_per_hour_study`` requests in any hour, for everyone.

**The reservation rule.** A participant in the steps that call the LLM (about you up to
their card: not finished, screened out or abandoned; the counted rule decides who is
abandoned) *holds* a reservation: whatever of their hourly allowance they have not used
is kept for them. A newcomer is admitted only if the study's hourly budget can cover
what was used in the last hour, every holder's unused allowance, and the newcomer's
own. So however many sessions a flood opens, those already inside can always use their
allowance; the flood is turned away at the door (429, Retry-After) instead. The
reservation ends when the participant submits their card (the later steps call no
LLM), finishes, is screened out or is abandoned.

**Failed calls are given back.** A timeout, rate limit or error from the model deletes
the request that counted it, so a failure costs the participant nothing of their
allowance (``release``, ``release_reply``).

A request over any limit is refused before any LLM call is made.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from elicitation import selectors
from elicitation.models import LLMRequest, Message, Participant, Study

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)

Step = Participant.Step
# The steps whose participants may still call the LLM: they hold a reservation.
HOLDING_STEPS = (Step.ABOUT, Step.QUESTION, Step.INTERVIEW, Step.CARD)
# A study turned away for lack of budget: try again once some of the hour has passed.
FULL_RETRY_AFTER = 300


class RateLimited(Exception):
    """Refused: too many LLM requests. ``message`` is shown to the participant."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class SignupRefused(RateLimited):
    """Refused at the door: no participant is created. ``message`` is shown as it is."""


def _retry_after(oldest, window: timedelta, now) -> int:
    return max(1, int((oldest + window - now).total_seconds()) + 1)


# ---------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------


def client_address(request) -> str:
    """The address the request came from: REMOTE_ADDR, or behind a proxy (BEHIND_PROXY)
    the last address in X-Forwarded-For, the one our proxy saw and appended (the
    addresses before it are whatever the client chose to send)."""
    if getattr(settings, "BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1][:45]
    return (request.META.get("REMOTE_ADDR", "") or "")[:45]


def address_hash(address: str) -> str:
    """A keyed hash of a network address: equal addresses match, and a database dump
    alone gives no address back (the key is the site's SECRET_KEY)."""
    if not address:
        return ""
    key = f"mge.address:{settings.SECRET_KEY}".encode()
    return hmac.new(key, address.strip().lower().encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------
# The allowance and its reservation
# ---------------------------------------------------------------------------------------


def allowance(study: Study) -> int:
    """LLM requests one participant may make in an hour (reserved while they hold)."""
    per_participant = settings.LLM_ALLOWANCE_PER_PARTICIPANT
    if study.messages_per_hour_study:
        return min(per_participant, study.messages_per_hour_study)
    return per_participant


def holders(study: Study):
    """Participants who hold a reservation: counted (abandoned ones are not; test ones
    are, their calls are real) and still in a step that calls the LLM."""
    return selectors.counted_participants(study, include_test=True).filter(
        step__in=HOLDING_STEPS, completed_at__isnull=True, screened_out_at__isnull=True
    )


def committed(study: Study, *, now=None) -> int:
    """Requests of the study's hourly budget used or promised: every request in the last
    hour, plus each holder's unused allowance."""
    now = now or timezone.now()
    share = allowance(study)
    recent = LLMRequest.objects.filter(study=study, created_at__gte=now - HOUR)
    holding = holders(study)
    used_by_holder = (
        recent.filter(participant__in=holding)
        .values("participant")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    unused = holding.count() * share - sum(min(n, share) for n in used_by_holder)
    return recent.count() + unused


# Starts that may run at the same moment in a study, and from one address. Further than
# this from every sign-up limit, a start is admitted without the study lock: those
# running beside it cannot carry the study past a limit. Nearer, starts take the lock
# and are counted one at a time.
ADMISSION_MARGIN = 50
ADDRESS_MARGIN = 5


def admit(*, study: Study, address: str = "", is_test: bool = False) -> str:
    """Check that ``study`` may admit a new participant from ``address``; return the
    address's hash to store on them. Raises SignupRefused. Call inside a transaction:
    near a limit it locks the study row, so that the last places are given one at a time."""
    hashed = address_hash(address)
    if is_test:
        return hashed  # the researcher's own test runs are never turned away
    if _refusal(study, hashed, margin=ADMISSION_MARGIN, address_margin=ADDRESS_MARGIN) is None:
        return hashed
    Study.objects.select_for_update().filter(pk=study.pk).first()
    if (refused := _refusal(study, hashed, margin=0, address_margin=0)) is not None:
        raise refused
    return hashed


def _refusal(
    study: Study, hashed: str, *, margin: int, address_margin: int
) -> SignupRefused | None:
    """Why a newcomer would be turned away were ``margin`` more starts (``address_margin``
    from their address) admitted first."""
    now = timezone.now()
    if hashed and study.signups_per_address_hour:
        recent = Participant.objects.filter(
            study=study, address_hash=hashed, is_test=False, created_at__gte=now - HOUR
        )
        if recent.count() + address_margin >= study.signups_per_address_hour:
            oldest = (
                recent.order_by("created_at").values_list("created_at", flat=True).first()
                if not address_margin  # near, not yet over: no wait to tell anyone
                else None
            )
            return SignupRefused(
                "Too many people have started this study from your network in the last "
                "hour. Please try again later.",
                retry_after=_retry_after(oldest or now, HOUR, now),
            )
    if study.messages_per_hour_study and (
        committed(study, now=now) + allowance(study) * (1 + margin) > study.messages_per_hour_study
    ):
        return SignupRefused(
            "This study is full for the moment: everyone taking part right now has "
            "the interviewer's time. Please try again in a few minutes.",
            retry_after=FULL_RETRY_AFTER,
        )
    return None


# ---------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------


def holds(participant: Participant) -> bool:
    """Whether ``participant`` (a row just read, best locked) is one of ``holders``."""
    return (
        participant.step in HOLDING_STEPS
        and participant.completed_at is None
        and participant.screened_out_at is None
        and participant.abandoned_at is None
    )


# The participant's requests in the last minute and hour, and the study's in the hour: one
# round trip, each count on its own index. SQL of our own, not the ORM's: this runs on
# every message, and building the same counts through querysets (three subqueries
# annotated on the participant) was 5-7 % of the web server's CPU under load
# (bench/load.py, profiled), more than the query itself.
_USAGE = (
    "SELECT"
    " (SELECT COUNT(*) FROM {t} WHERE {p} = %s AND {at} >= %s),"
    " (SELECT COUNT(*) FROM {t} WHERE {p} = %s AND {at} >= %s),"
    " (SELECT COUNT(*) FROM {t} WHERE {s} = %s AND {at} >= %s)"
)


def _usage(participant: Participant, now) -> tuple[int, int, int]:
    """(the participant's requests in the last minute, in the last hour; the study's)."""
    meta = LLMRequest._meta
    connection = transaction.get_connection()
    sql = _USAGE.format(
        t=connection.ops.quote_name(meta.db_table),
        p=connection.ops.quote_name(meta.get_field("participant").column),
        s=connection.ops.quote_name(meta.get_field("study").column),
        at=connection.ops.quote_name(meta.get_field("created_at").column),
    )
    minute_ago, hour_ago = (
        connection.ops.adapt_datetimefield_value(now - MINUTE),
        connection.ops.adapt_datetimefield_value(now - HOUR),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [participant.pk, minute_ago, participant.pk, hour_ago, participant.study_id, hour_ago],
        )
        minute, hour, everyone = cursor.fetchone()
    return minute, hour, everyone


def _oldest(**window):
    """When the oldest request in ``window`` was made (to say when to try again)."""
    requests = LLMRequest.objects.filter(**window).order_by("created_at")
    return requests.values_list("created_at", flat=True).first()


def check(*, participant: Participant) -> None:
    """Raise RateLimited if ``participant`` (their row as just locked) may not start
    another LLM request now."""
    study = participant.study
    now = timezone.now()
    minute, hour, everyone = _usage(participant, now)
    if study.messages_per_minute and minute >= study.messages_per_minute:
        oldest = _oldest(participant=participant, created_at__gte=now - MINUTE)
        raise RateLimited(
            "You're sending messages faster than the interviewer can keep up. "
            "Please wait a moment and try again.",
            retry_after=_retry_after(oldest, MINUTE, now),
        )
    if hour >= allowance(study):
        oldest = _oldest(participant=participant, created_at__gte=now - HOUR)
        raise RateLimited(
            "You have sent the interviewer a lot of messages in the last hour. Your "
            "conversation is saved: please take a break and try again later.",
            retry_after=_retry_after(oldest, HOUR, now),
        )
    budget = study.messages_per_hour_study
    # A holder spends from their own reservation; anyone else (a participant past their
    # card, one marked abandoned who came back) only from what no holder is promised.
    if budget and (everyone >= budget or (not holds(participant) and committed(study) >= budget)):
        oldest = _oldest(study_id=participant.study_id, created_at__gte=now - HOUR)
        raise RateLimited(
            "The interviewer is very busy right now. Your conversation is saved: "
            "please try again in a few minutes.",
            retry_after=_retry_after(oldest or now, HOUR, now),
        )


def consume(*, participant: Participant, kind: str, locked: bool = False) -> LLMRequest:
    """Check the limits and count one request, or raise RateLimited.

    The participant's row is locked for the check, so that two quick submits from the
    same participant cannot both slip under the limit. ``locked``: the caller already
    holds that lock in its open transaction (participants.lock), and a refusal rolls
    that transaction back, so no second lock or savepoint is taken.
    """
    if locked:
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("consume(locked=True) needs the caller's transaction")
        check(participant=participant)
        return LLMRequest.objects.create(
            study_id=participant.study_id, participant=participant, kind=kind
        )
    with transaction.atomic():
        locked = (
            Participant.objects.select_for_update().select_related("study").get(pk=participant.pk)
        )
        check(participant=locked)
        return LLMRequest.objects.create(
            study_id=participant.study_id, participant=participant, kind=kind
        )


def release(request: LLMRequest | None) -> None:
    """Give back a request whose model call failed (timeout, rate limit, error): it
    no longer counts against the participant's allowance or the study's budget."""
    if request is not None and request.pk:
        LLMRequest.objects.filter(pk=request.pk).delete()


def release_reply(reply_id: int) -> None:
    """Give back the request of an interview reply that failed: the participant's latest
    message or retry request. A participant has one reply owed at a time (message_send
    refuses a new message while one is being written), so the latest is this one's."""
    participant_id = (
        Message.objects.filter(pk=reply_id).values_list("interview__participant_id", flat=True)
    ).first()
    if participant_id is None:
        return
    latest = (
        LLMRequest.objects.filter(participant_id=participant_id, kind__in=("message", "retry"))
        .order_by("-created_at", "-pk")
        .first()
    )
    release(latest)
