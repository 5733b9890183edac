"""A study's lifecycle: draft -> pilot -> live -> closing -> closed (Study.TRANSITIONS has
the allowed moves), its quotas, and the participants who went quiet.

A study moves by hand (the research pages' buttons) or by itself: to closing when its
maximum of completed participants is reached or every group's quota is full, and from
closing to closed once nobody is left inside (no unfinished participant who has not
abandoned). Every move sends ``study_status_changed``, which moralgraph writes to the
study's audit log, so an automatic move is as visible as one by hand.

Quotas count only counted, completed participants (selectors.counted_participants): a
test participant never fills a quota.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from config.postgresql.base import repeatable
from elicitation import selectors, signals
from elicitation.models import Participant, Study

Status = Study.Status


class TransitionError(Exception):
    """A move the lifecycle does not allow; ``message`` says why, for a researcher."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@transaction.atomic
def transition(study: Study, to: str, *, reason: str = "", actor=None) -> Study:
    """Move ``study`` to status ``to``; raises TransitionError for a move not allowed.

    The study row is locked, so two moves (a researcher's and a quota's) never both apply
    to the same old status. ``closed_at`` is set on closing the study for good.
    """
    if to not in Status.values:
        raise TransitionError(f"{to!r} is not a status.")
    locked = Study.objects.select_for_update().get(pk=study.pk)
    old = locked.status
    if not locked.can_move_to(to):
        raise TransitionError(
            f"A {locked.get_status_display().lower()} study cannot move to "
            f"{Status(to).label.lower()}."
        )
    locked.status = to
    locked.closed_at = timezone.now() if to == Status.CLOSED else None
    locked.save(update_fields=["status", "closed_at", "updated_at"])
    signals.study_status_changed.send(
        sender=Study, study_id=locked.pk, old=old, new=to, reason=reason, actor=actor
    )
    study.status, study.closed_at = locked.status, locked.closed_at
    return study


# ---------------------------------------------------------------------------------------
# Quotas
# ---------------------------------------------------------------------------------------


def completed(study: Study):
    """Counted participants who finished: what quotas count."""
    return selectors.counted_participants(study).filter(completed_at__isnull=False)


def group_quotas(study: Study) -> dict[str, int]:
    """The study's quotas on its groups: {group answer: completed participants}; a quota
    on an answer that is not one of the study's groups, or not a whole number, is none."""
    if not study.group_quotas:
        return {}  # the common case, asked after every completion: no query
    groups = {answer for answer, _ in selectors.study_groups(study)}
    quotas = {}
    for answer, quota in (study.group_quotas or {}).items():
        if answer in groups and isinstance(quota, int) and not isinstance(quota, bool):
            quotas[answer] = max(quota, 0)
    return quotas


def completed_per_group(study: Study) -> dict[str, int]:
    if not study.group_item_key:
        return {}
    rows = (
        completed(study)
        .annotate(answer=KeyTextTransform(study.group_item_key, "demographics__answers"))
        .values_list("answer", flat=True)
    )
    counts: dict[str, int] = {}
    for answer in rows:
        if answer:
            counts[answer] = counts.get(answer, 0) + 1
    return counts


def group_full(study: Study, answer: str) -> bool:
    """Whether the group ``answer`` has as many completed participants as its quota."""
    quota = group_quotas(study).get(answer)
    return quota is not None and completed_per_group(study).get(answer, 0) >= quota


def quota_reached(study: Study) -> str:
    """Why the study has enough participants ("" when it has not): its maximum of
    completed participants, or every one of its groups' quotas full. A group without a
    quota has no limit, so some group without one keeps the study open."""
    if study.max_completed is not None and completed(study).count() >= study.max_completed:
        return f"{study.max_completed} completed participants reached"
    quotas = group_quotas(study)
    # The groups only when there are quotas (the common case has none: no query).
    groups = [answer for answer, _ in selectors.study_groups(study)] if quotas else []
    if quotas and groups and all(g in quotas for g in groups):
        done = completed_per_group(study)
        if all(done.get(g, 0) >= quotas[g] for g in groups):
            return "every group's quota is full"
    return ""


def check_quotas(study: Study) -> bool:
    """Move a live study whose quotas are reached to closing; True if it moved."""
    study.refresh_from_db(fields=["status", "max_completed", "group_quotas"])
    if study.status != Status.LIVE:
        return False
    reason = quota_reached(study)
    if not reason:
        return False
    try:
        transition(study, Status.CLOSING, reason=f"Automatic: {reason}.")
    except TransitionError:  # moved meanwhile by someone else
        return False
    return True


def inside(study: Study):
    """Participants still inside the study: unfinished, not screened out, not abandoned."""
    return Participant.objects.filter(
        study=study,
        completed_at__isnull=True,
        screened_out_at__isnull=True,
        abandoned_at__isnull=True,
    )


def close_if_done(study: Study, *, refresh: bool = True) -> bool:
    """Move a closing study with nobody left inside to closed; True if it moved.
    ``refresh=False``: the caller has just read the study's status."""
    if refresh:
        study.refresh_from_db(fields=["status"])
    if study.status != Status.CLOSING or inside(study).exists():
        return False
    try:
        transition(study, Status.CLOSED, reason="Automatic: the last participant finished.")
    except TransitionError:
        return False
    return True


def after_completion(study: Study) -> None:
    """A participant just finished: the quotas may be reached, the study may be done."""
    check_quotas(study)  # reads the study's status afresh (or moves it)
    close_if_done(study, refresh=False)


# ---------------------------------------------------------------------------------------
# Participants who went quiet
# ---------------------------------------------------------------------------------------

SEEN_EVERY = timedelta(minutes=1)


def note_seen(participant: Participant) -> None:
    """Record that the participant is here (at most once a minute: one cheap UPDATE), and
    take back an "abandoned" mark: they came back."""
    now = timezone.now()
    if (
        participant.abandoned_at is None
        and participant.last_seen_at is not None
        and now - participant.last_seen_at < SEEN_EVERY
    ):
        return
    # An UPDATE, not save(): updated_at stays the time of the participant's last action.
    # Running it twice changes nothing, so a request cut by a database restart after it
    # may still run again (repeatable; elicitation.http.ReconnectMiddleware).
    with connection.execute_wrapper(repeatable):
        Participant.objects.filter(pk=participant.pk).update(last_seen_at=now, abandoned_at=None)
    participant.last_seen_at, participant.abandoned_at = now, None


def mark_abandoned(*, now=None) -> int:
    """Mark unfinished participants idle past their study's ``inactive_minutes`` (last
    seen, else last changed) as abandoned; they stay stored. Returns how many."""
    now = now or timezone.now()
    marked = 0
    for study in Study.objects.exclude(status__in=[Status.DRAFT, Status.CLOSED]).only(
        "pk", "inactive_minutes"
    ):
        cutoff = now - timedelta(minutes=study.inactive_minutes)
        marked += (
            inside(study)
            .filter(
                Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True, updated_at__lt=cutoff)
            )
            .update(abandoned_at=now)
        )
    return marked


def sweep_lifecycle() -> dict[str, list[int]]:
    """The periodic sweep's lifecycle step: mark the idle as abandoned, move live studies
    past their quotas to closing and closing studies with nobody inside to closed."""
    mark_abandoned()
    closing = [s.pk for s in Study.objects.filter(status=Status.LIVE) if check_quotas(s)]
    closed = [s.pk for s in Study.objects.filter(status=Status.CLOSING) if close_if_done(s)]
    return {"closing": closing, "closed": closed}
