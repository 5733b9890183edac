"""Moderation: a researcher hides a card or a value (off-topic, abusive, a joke, a
duplicate participant) and may unhide it again.

Nothing is deleted. A hidden card leaves the counted cards (elicitation.selectors) and no
longer supports the value it maps to: a value whose cards are all hidden leaves the graph
(moralgraph.selectors.moderated_value_ids, the one rule draws, stories, scoring and
exports read). A hidden value leaves the graph whatever its cards. Every change is a line
of the study's audit log (who, when, why), and the graph is rescored.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from elicitation.models import Moderation, ValuesCard
from moralgraph import selectors
from moralgraph.models import AuditEntry, CardMapping, Value
from moralgraph.services import scoring
from moralgraph.services.merges import audit, refresh_value

REASONS = dict(Moderation.choices)


def _check(reason: str) -> None:
    if reason not in REASONS:
        raise ValueError(f"choose a reason: {', '.join(REASONS)}")


def hide_card(*, card: ValuesCard, reason: str, actor, note: str = "") -> bool:
    """Hide a card; False when it already was (nothing logged twice). Raises ValueError
    for a reason that is not one of Moderation's."""
    _check(reason)
    with transaction.atomic():
        changed = ValuesCard.objects.filter(pk=card.pk, hidden_at=None).update(
            hidden_at=timezone.now(), hidden_reason=reason
        )
        if not changed:
            return False
        _log(card, AuditEntry.Action.HIDE, actor, reason, note, card.study_id)
        _rewrite_value_of(card)
    scoring.note_graph_changed(study_id=card.study_id)
    return True


def unhide_card(*, card: ValuesCard, actor, note: str = "") -> bool:
    """Show a hidden card again; False when it was not hidden."""
    with transaction.atomic():
        changed = ValuesCard.objects.filter(pk=card.pk, hidden_at__isnull=False).update(
            hidden_at=None, hidden_reason=""
        )
        if not changed:
            return False
        _log(card, AuditEntry.Action.UNHIDE, actor, "", note, card.study_id)
        _rewrite_value_of(card)
    scoring.note_graph_changed(study_id=card.study_id)
    return True


def hide_value(*, value: Value, reason: str, actor, note: str = "") -> bool:
    """Hide a value in the graph (not one merged away: hide the value it went into).
    False when it already was hidden. Raises ValueError."""
    _check(reason)
    if not value.is_active:
        raise ValueError("this value was merged into another; hide that one")
    with transaction.atomic():
        changed = Value.objects.filter(pk=value.pk, hidden_at=None).update(
            hidden_at=timezone.now(), hidden_reason=reason
        )
        if not changed:
            return False
        _log(value, AuditEntry.Action.HIDE, actor, reason, note, value.study_id)
    scoring.note_graph_changed(study_id=value.study_id)
    return True


def unhide_value(*, value: Value, actor, note: str = "") -> bool:
    """Show a hidden value again; False when it was not hidden."""
    with transaction.atomic():
        changed = Value.objects.filter(pk=value.pk, hidden_at__isnull=False).update(
            hidden_at=None, hidden_reason=""
        )
        if not changed:
            return False
        _log(value, AuditEntry.Action.UNHIDE, actor, "", note, value.study_id)
    scoring.note_graph_changed(study_id=value.study_id)
    return True


def _log(target, action: str, actor, reason: str, note: str, study_id: int) -> None:
    why = note.strip()[:2000] or REASONS.get(reason, "")
    audit(
        study_id=study_id,
        actor=actor,
        action=action,
        target=target,
        reason=why,
        details={"reason": reason, "title": target.title[:200]},
    )


def _rewrite_value_of(card: ValuesCard) -> None:
    """The value's wording is one of its cards' (the medoid): after a hide, never the
    hidden card's, after an unhide, perhaps that card's again."""
    mapping = CardMapping.objects.filter(card=card, undone_at=None).first()
    if mapping is not None:
        refresh_value(Value.objects.get(pk=selectors.root_of(mapping.value_id)))
