"""Merging values and splitting a merge apart again.

A merge moves every card of one value to another (a ValueMerge row, new CardMappings, the
old ones kept as undone); the value left without cards leaves the graph, and its stories
are no longer drawn. A split undoes one merge: its cards go back to the value they came
from. Both re-choose the wording and re-centre the vector of the values they touch.
"""

from __future__ import annotations

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from elicitation.llm import embeddings
from elicitation.models import Study, ValuesCard, WiserJudgment
from moralgraph import locks, selectors
from moralgraph.locks import StudyBusy
from moralgraph.models import AuditEntry, CardMapping, UpgradeHypothesis, Value, ValueMerge
from moralgraph.services import scoring
from moralgraph.services.clusters import unit


def split_merge(*, merge: ValueMerge, actor=None, reason: str = "") -> list[int]:
    """Undo a dedup merge (a researcher's "split"): the cards go back to the value they
    came from, and scores recompute. With an ``actor``, the split is in the study's audit
    log. Raises StudyBusy if a reconcile pass holds the study."""
    with locks.study_lock(merge.study_id, wait=False) as acquired:
        if not acquired:
            raise StudyBusy(str(merge.study_id))
        with transaction.atomic():
            moved = undo_merge(merge=merge)
            if moved and actor is not None:
                audit(
                    study_id=merge.study_id,
                    actor=actor,
                    action=AuditEntry.Action.SPLIT,
                    target=merge,
                    reason=reason,
                    details={
                        "cards": moved,
                        "from_value": merge.from_value_id,
                        "into_value": merge.into_value_id,
                    },
                )
    if moved:
        scoring.note_graph_changed(study_id=merge.study_id)
    return moved


def merge_by_hand(
    *, study: Study, source: Value, target: Value, actor, reason: str = ""
) -> ValueMerge:
    """A researcher's merge of two values (the roots of the values given): every card of
    the first moves to the second, the log says who, when and why, and scores recompute.
    Raises StudyBusy if a reconcile pass holds the study, ValueError for a value that is
    not the study's or two that are one already."""
    with locks.study_lock(study.pk, wait=False) as acquired:
        if not acquired:
            raise StudyBusy(str(study.pk))
        with transaction.atomic():
            roots = selectors.value_roots(study)
            source_id, target_id = (roots.get(v.pk, v.pk) for v in (source, target))
            values = Value.objects.select_for_update().filter(
                pk__in=[source_id, target_id], study=study, is_active=True
            )
            by_id = {v.pk: v for v in values}
            if source_id == target_id or len(by_id) != 2:
                raise ValueError("merge two different values of this study that are in the graph")
            source, target = by_id[source_id], by_id[target_id]
            merge = merge_values(
                study=study,
                source=source,
                target=target,
                decided_by="researcher",  # who: the audit entry
                similarity=_similarity(source, target),
                reason=reason,
            )
            audit(
                study_id=study.pk,
                actor=actor,
                action=AuditEntry.Action.MERGE,
                target=merge,
                reason=reason,
                details={"cards": merge.card_ids, "from_value": source.pk, "into_value": target.pk},
            )
    # Judged or not, what participants see changed: score again.
    scoring.note_graph_changed(study_id=study.pk)
    return merge


def audit(*, study_id: int, actor, action: str, target, reason: str, details: dict) -> AuditEntry:
    """One line of the study's audit log."""
    return AuditEntry.objects.create(
        study_id=study_id,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=getattr(actor, "get_username", lambda: "")()[:150],
        action=action,
        target_type=type(target).__name__.lower(),
        target_id=str(target.pk),
        reason=reason,
        details=details,
    )


def _similarity(a: Value, b: Value) -> float | None:
    if a.embedding is None or b.embedding is None:
        return None
    va, vb = embeddings.from_bytes(a.embedding), embeddings.from_bytes(b.embedding)
    if va.shape != vb.shape:
        return None
    return round(float(unit(va) @ unit(vb)), 4)


def merge_values(
    *,
    study: Study,
    source: Value,
    target: Value,
    decided_by: str,
    model: str = "",
    prompt_version: str = "",
    similarity: float | None = None,
    reason: str = "",
) -> ValueMerge:
    """Move every card of ``source`` to ``target``; ``source`` leaves the graph. Call in a
    transaction."""
    now = timezone.now()
    mappings = list(
        CardMapping.objects.select_for_update().filter(value=source, undone_at=None).order_by("id")
    )
    merge = ValueMerge.objects.create(
        study=study,
        into_value=target,
        from_value=source,
        card_ids=[m.card_id for m in mappings],
        decided_by=decided_by,
        model=model[:200],
        prompt_version=prompt_version[:16],
        similarity=similarity,
        reason=reason,
        created_at=now,
    )
    CardMapping.objects.filter(pk__in=[m.pk for m in mappings]).update(undone_at=now)
    CardMapping.objects.bulk_create(
        CardMapping(
            card_id=m.card_id, value=target, merge=merge, mapped_by=decided_by, reason=reason
        )
        for m in mappings
    )
    Value.objects.filter(pk=source.pk).update(is_active=False)
    source.is_active = False
    # Stories with the merged-away value are no longer drawn; judged ones stay, and their
    # judgments now count toward the target (scoring resolves merges).
    retired = UpgradeHypothesis.objects.filter(
        Q(from_value=source) | Q(to_value=source), is_active=True
    )
    judged = WiserJudgment.objects.filter(hypothesis__in=retired).exists()
    retired.update(is_active=False)
    refresh_value(target)
    if judged:
        Study.objects.filter(pk=study.pk).update(graph_changed_at=now)
    return merge


def undo_merge(*, merge: ValueMerge) -> list[int]:
    """Undo a merge: its cards that are still in the merged cluster go back to the value
    they came from, which rejoins the graph. Returns the card ids moved. Idempotent.
    Call in a transaction, holding the study lock."""
    merge = ValueMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at is not None or merge.from_value_id is None:
        return []
    now = timezone.now()
    root = selectors.root_of(merge.into_value_id)
    mappings = list(
        CardMapping.objects.select_for_update().filter(
            card_id__in=merge.card_ids, value_id=root, undone_at=None
        )
    )
    CardMapping.objects.filter(pk__in=[m.pk for m in mappings]).update(undone_at=now)
    reason = f"split of merge {merge.pk}"
    CardMapping.objects.bulk_create(
        CardMapping(
            card_id=m.card_id, value_id=merge.from_value_id, mapped_by="admin", reason=reason
        )
        for m in mappings
    )
    ValueMerge.objects.filter(pk=merge.pk).update(undone_at=now)
    source = Value.objects.get(pk=merge.from_value_id)
    if selectors.root_of(source.pk) == source.pk:
        Value.objects.filter(pk=source.pk).update(is_active=True)
        # Stories retired by the merge come back once both their values are in the graph.
        UpgradeHypothesis.objects.filter(
            Q(from_value=source) | Q(to_value=source),
            is_active=False,
            from_value__is_active=True,
            to_value__is_active=True,
            context__duplicate_of=None,
        ).update(is_active=True)
    refresh_value(source)
    refresh_value(Value.objects.get(pk=root))
    Study.objects.filter(pk=merge.study_id).update(graph_changed_at=now)
    return [m.card_id for m in mappings]


def refresh_value(value: Value) -> None:
    """Re-choose a value's wording among its cards and re-centre its vector.

    The wording is the card most similar to the others (the medoid), so it stays a
    participant's own words; the vector is the mean of the cards', so that new cards
    are compared with the whole cluster rather than one member.
    """
    cards = list(
        ValuesCard.objects.filter(
            mappings__value=value,
            mappings__undone_at=None,
            embedded_at__isnull=False,
            hidden_at=None,  # a hidden card never words its value
        ).order_by("id")
    )
    if not cards:
        return
    matrix = np.vstack([unit(embeddings.from_bytes(card.embedding)) for card in cards])
    centrality = (matrix @ matrix.T).sum(axis=1)
    medoid = cards[int(np.argmax(np.round(centrality, 6)))]
    fields = {"embedding": embeddings.to_bytes(unit(matrix.mean(axis=0)))}
    if value.wording_source == Value.Wording.CARD:
        fields.update(
            title=medoid.title,
            description=medoid.description,
            policies=list(medoid.policies or []),
            representative_card=medoid,
        )
    Value.objects.filter(pk=value.pk).update(updated_at=timezone.now(), **fields)
    for name, item in fields.items():
        setattr(value, name, item)
