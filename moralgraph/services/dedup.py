"""Deduplication: participants' cards become canonical Values.

Each submitted card first becomes a value of its own (its wording, its embedding).
Then the cards already placed that are nearest to it by embedding (at most
``DEDUP_TOP_K`` at or above ``DEDUP_MIN_SIMILARITY``, at most
``DEDUP_MEMBERS_PER_VALUE`` of any one value) go to the LLM judge one pair at a time;
every value the judge calls the same is united with the card's, union-find style: the
card's value and every matching cluster merge into the largest of them. So a card
costs at most ``DEDUP_TOP_K`` judge calls however large the study grows, where the
reference compared batches in one ever-larger prompt.

Every merge is a ValueMerge row (the cards that moved, the judge's model, prompt version
and reason) plus new CardMapping rows; the old mappings are kept, marked undone.
``split_merge`` undoes a merge: the cards go back to the value they came from.

All functions here expect the caller to hold the study lock (moralgraph.locks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from elicitation import llm
from elicitation.models import Study, ValuesCard, WiserJudgment
from moralgraph import selectors, vectors
from moralgraph.models import CardMapping, UpgradeHypothesis, Value, ValueMerge

logger = logging.getLogger(__name__)

EMBED_BATCH = 64


def top_k() -> int:
    return settings.DEDUP_TOP_K


def min_similarity() -> float:
    # Tuned on bench/dedup.py with the local hashed embedding, where nine in ten pairs of
    # paraphrases sit above 0.45 and unrelated cards around 0.25. A model embedding
    # spreads differently: set DEDUP_MIN_SIMILARITY with it.
    return settings.DEDUP_MIN_SIMILARITY


def members_per_value() -> int:
    # A second member of a near value gets judged when the first is refused: paraphrase
    # is not transitive for a judge, and the cluster's other wording may be closer.
    return settings.DEDUP_MEMBERS_PER_VALUE


def max_attempts() -> int:
    return settings.RECONCILE_MAX_ATTEMPTS


@dataclass
class DedupStats:
    embedded: int = 0
    placed: int = 0
    failed: int = 0
    merges: int = 0
    new_values: int = 0
    judge_calls: int = 0
    failures: list[str] = field(default_factory=list)


def card_payload(card) -> dict:
    """A card or a value as the LLM stages see it."""
    return {
        "title": card.title,
        "description": card.description,
        "policies": list(card.policies or []),
    }


def _text(obj) -> str:
    return vectors.card_text(obj.title, obj.description, list(obj.policies or []))


def _unit(vector) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


# --- Embeddings -----------------------------------------------------------------------


def embed_cards(study: Study, cards: list[ValuesCard]) -> int:
    """Embed cards that have no vector yet, in batches; returns how many were embedded.

    Each card is written with a conditional UPDATE, so two passes over the same cards
    store one vector. A batch that fails permanently is retried card by card, and only
    the card that cannot be embedded is marked failed.
    """
    model = llm.embedding_model_name()
    # A vector from another model is not comparable with the study's: embed again.
    todo = [card for card in cards if card.embedded_at is None or card.embedding_model != model]
    stale = Q(embedded_at=None) | ~Q(embedding_model=model)
    done = 0
    for start in range(0, len(todo), EMBED_BATCH):
        batch = todo[start : start + EMBED_BATCH]
        try:
            vecs = llm.embed([_text(card) for card in batch], study=study)
        except llm.LLMError as error:
            if error.retryable:
                raise
            if len(batch) == 1:
                mark_failed(batch[0].pk, f"embedding failed: {error}")
            else:
                for card in batch:
                    done += embed_cards(study, [card])
            continue
        now = timezone.now()
        for card, vec in zip(batch, vecs, strict=True):
            blob = vectors.to_bytes(vec)
            done += ValuesCard.objects.filter(stale, pk=card.pk).update(
                embedding=blob, embedding_model=model, embedded_at=now
            )
            card.embedding, card.embedding_model, card.embedded_at = blob, model, now
    return done


def ensure_value_embeddings(study: Study) -> int:
    """Embed active values that have no vector (imported ones), so new cards can match
    them."""
    missing = list(selectors.active_values(study).filter(embedding=None))
    if not missing:
        return 0
    vecs = llm.embed([_text(value) for value in missing], study=study)
    for value, vec in zip(missing, vecs, strict=True):
        Value.objects.filter(pk=value.pk, embedding=None).update(embedding=vectors.to_bytes(vec))
    return len(missing)


class ClusterIndex:
    """The members of a study's active values and their vectors, in memory for a pass.

    A member is a card mapped to the value, or the value itself when no card of it has
    a vector (an imported value). Candidates for a new card are the values of its most
    similar members, each value represented by its member nearest to the card: with
    union-find semantics a card that duplicates any member duplicates the value, and
    the nearest member is the one most likely to be a paraphrase.

    Kept in step with our own writes; nobody else writes values while we hold the study
    lock, so it never goes stale within a pass.
    """

    def __init__(self, dimensions: int = vectors.DIMENSIONS):
        self._members: list[tuple[str, int]] = []  # ("card", card id) or ("value", value id)
        self._matrix = np.zeros((256, dimensions), dtype=np.float32)
        self._root = np.zeros(256, dtype=np.int64)  # the active value a member counts toward
        self._alive = np.zeros(256, dtype=bool)

    @classmethod
    def load(cls, study: Study) -> ClusterIndex:
        cards = list(
            CardMapping.objects.filter(
                undone_at=None,
                value__study=study,
                value__is_active=True,
                card__embedding_model=llm.embedding_model_name(),
            )
            .exclude(card__embedding=None)
            .order_by("card_id")
            .values_list("card_id", "value_id", "card__embedding")
            .iterator()
        )
        with_cards = {value_id for _, value_id, _ in cards}
        bare = [
            (value_id, blob)
            for value_id, blob in selectors.active_values(study)
            .exclude(embedding=None)
            .values_list("id", "embedding")
            .iterator()
            if value_id not in with_cards
        ]
        blobs = [row[2] for row in cards] + [row[1] for row in bare]
        index = cls(vectors.from_bytes(blobs[0]).shape[0] if blobs else vectors.DIMENSIONS)
        for card_id, value_id, blob in cards:
            index.add(("card", card_id), value_id, vectors.from_bytes(blob))
        for value_id, blob in bare:
            index.add(("value", value_id), value_id, vectors.from_bytes(blob))
        return index

    def __len__(self) -> int:
        return int(self._alive[: len(self._members)].sum())

    def add(self, member: tuple[str, int], value_id: int, vector) -> None:
        vector = _unit(vector)
        if vector.shape[0] != self._matrix.shape[1]:
            if self._members:
                # Embedded by another model: findable only through its cards.
                logger.warning("%s %s has a vector of another size: not indexed", *member)
                return
            self._matrix = np.zeros((self._matrix.shape[0], vector.shape[0]), dtype=np.float32)
        row = len(self._members)
        if row == self._matrix.shape[0]:
            self._matrix = np.vstack([self._matrix, np.zeros_like(self._matrix)])
            self._root = np.concatenate([self._root, np.zeros_like(self._root)])
            self._alive = np.concatenate([self._alive, np.zeros_like(self._alive)])
        self._members.append(member)
        self._matrix[row] = vector
        self._root[row] = value_id
        self._alive[row] = True

    def move(self, source_id: int, target_id: int) -> None:
        """A merge: every member of ``source_id`` now counts toward ``target_id``."""
        n = len(self._members)
        self._root[:n][self._root[:n] == source_id] = target_id

    def nearest(
        self, vector, *, k: int, threshold: float, per_value: int = 1
    ) -> list[tuple[int, tuple, float]]:
        """The members most similar to ``vector``, at or above ``threshold``: (value id,
        member, cosine), best first (ties: older member first), at most ``per_value``
        members of one value and ``k`` in all."""
        n = len(self._members)
        if n == 0 or k <= 0:
            return []
        query = _unit(vector)
        if not query.any():
            return []
        sims = np.round(self._matrix[:n] @ query, 6)
        rows = np.flatnonzero(self._alive[:n] & (sims >= threshold))
        # Stable sort on -similarity keeps insertion (= age) order among ties.
        rows = rows[np.argsort(-sims[rows], kind="stable")]
        found: list[tuple[int, tuple, float]] = []
        seen: dict[int, int] = {}
        for row in rows:
            value_id = int(self._root[row])
            if seen.get(value_id, 0) < per_value:
                seen[value_id] = seen.get(value_id, 0) + 1
                found.append((value_id, self._members[row], float(sims[row])))
                if len(found) == k:
                    break
        return found


# --- Placing cards ---------------------------------------------------------------------


def place_pending_cards(
    study: Study,
    stats: DedupStats,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> DedupStats:
    """Embed the study's pending cards, then place each one, oldest first."""
    pending = list(selectors.unembedded_cards(study, llm.embedding_model_name()))
    if progress:
        progress("embed", 0, len(pending))
    stats.embedded += embed_cards(study, pending)
    if progress:
        progress("embed", len(pending), len(pending))
    ensure_value_embeddings(study)
    index = ClusterIndex.load(study)
    tried: set[int] = set()
    # Cards submitted while the pass runs join it: loop until none is left.
    while True:
        pending_ids = selectors.pending_cards(study).values_list("pk", flat=True)
        batch = [pk for pk in pending_ids if pk not in tried]
        if not batch:
            return stats
        total = len(tried) + len(batch)
        for card_id in batch:
            tried.add(card_id)
            place_card(study=study, card_id=card_id, index=index, stats=stats)
            if progress:
                progress("dedup", len(tried), total)


# --- One card -------------------------------------------------------------------------


@dataclass
class _Match:
    value_id: int
    similarity: float
    reason: str


def mark_failed(card_id: int, reason: str) -> None:
    """Leave a card out of the graph with the reason shown in the admin; the rest of the
    study goes on."""
    ValuesCard.objects.filter(pk=card_id, reconcile_status=ValuesCard.Reconcile.PENDING).update(
        reconcile_status=ValuesCard.Reconcile.FAILED,
        reconcile_error=reason[:2000],
        reconciled_at=timezone.now(),
    )
    logger.warning("card %s not reconciled: %s", card_id, reason)


def place_card(*, study: Study, card_id: int, index: ClusterIndex, stats: DedupStats) -> str:
    """Give one pending card a value: its own, or (through merges) an existing one.

    Returns "placed", "failed" or "skipped" (not pending any more: someone else got
    there first). Raises a retryable LLMError for the task to retry later.
    """
    pending = ValuesCard.Reconcile.PENDING
    claimed = ValuesCard.objects.filter(
        pk=card_id, study=study, status=ValuesCard.Status.SUBMITTED, reconcile_status=pending
    ).update(reconcile_attempts=F("reconcile_attempts") + 1)
    if claimed != 1:
        return "skipped"
    card = ValuesCard.objects.get(pk=card_id)
    if card.quality == ValuesCard.Quality.INVALID:
        mark_failed(card.pk, "the card is marked invalid, so it is left out of the graph")
        stats.failed += 1
        return "failed"
    # Attempts count crashed and retried passes too, so a card that kills its worker
    # every time cannot block the study forever.
    if card.reconcile_attempts > max_attempts():
        last = card.reconcile_error or "no error recorded (the worker may have died)"
        mark_failed(card.pk, f"gave up after {max_attempts()} attempts; last: {last}")
        stats.failed += 1
        stats.failures.append(f"card {card.pk}: gave up")
        return "failed"
    if card.embedded_at is None or card.embedding_model != llm.embedding_model_name():
        stats.embedded += embed_cards(study, [card])
        card.refresh_from_db()
        if card.embedded_at is None:  # embedding failed permanently: already marked
            stats.failed += 1
            return "failed"

    vector = vectors.from_bytes(card.embedding)
    candidates = index.nearest(
        vector, k=top_k(), threshold=min_similarity(), per_value=members_per_value()
    )
    members = _wording(candidates)
    prompt = llm.load_prompt("moralgraph/dedup")
    matches: list[_Match] = []
    try:
        for value_id, member, similarity in candidates:
            if any(m.value_id == value_id for m in matches):
                continue  # already the same value: its other members add nothing
            reply = llm.structured(
                stage="dedup",
                prompt=prompt,
                payload={"a": card_payload(card), "b": card_payload(members[member])},
                study=study,
            )
            stats.judge_calls += 1
            if reply["same"]:
                reason = str(reply.get("reason", ""))
                if member[0] == "card":
                    reason = f"Same as card {member[1]}: {reason}"
                matches.append(_Match(value_id, similarity, reason))
    except llm.LLMError as error:
        if error.retryable:
            ValuesCard.objects.filter(pk=card.pk).update(
                reconcile_error=f"will retry: {error}"[:2000]
            )
            raise
        mark_failed(card.pk, f"dedup judge failed: {error}")
        stats.failed += 1
        stats.failures.append(f"card {card.pk}: {error}")
        return "failed"

    with transaction.atomic():
        done = ValuesCard.objects.filter(pk=card.pk, reconcile_status=pending).update(
            reconcile_status=ValuesCard.Reconcile.DONE,
            reconciled_at=timezone.now(),
            reconcile_error="",
        )
        if done != 1:
            return "skipped"
        own = Value.objects.create(
            study=study,
            title=card.title,
            description=card.description,
            policies=list(card.policies or []),
            wording_source=Value.Wording.CARD,
            representative_card=card,
            embedding=card.embedding,
        )
        CardMapping.objects.create(card=card, value=own, mapped_by="new")
        merged = _unite(
            study=study,
            own=own,
            matches=matches,
            model=llm.model_for("dedup", study),
            prompt_version=prompt.version,
            stats=stats,
        )
    stats.placed += 1
    index.add(("card", card.pk), own.pk, vector)
    if merged is None:
        stats.new_values += 1
    else:
        target, gone = merged
        for value_id in gone:
            index.move(value_id, target.pk)
    return "placed"


def _wording(candidates: list[tuple[int, tuple, float]]) -> dict[tuple, object]:
    """The card or value row behind each candidate member, fetched in two queries."""
    card_ids = [m[1] for _, m, _ in candidates if m[0] == "card"]
    value_ids = [m[1] for _, m, _ in candidates if m[0] == "value"]
    rows: dict[tuple, object] = {
        ("card", c.pk): c for c in ValuesCard.objects.filter(pk__in=card_ids)
    }
    rows.update({("value", v.pk): v for v in Value.objects.filter(pk__in=value_ids)})
    return rows


def _unite(
    *,
    study: Study,
    own: Value,
    matches: list[_Match],
    model: str,
    prompt_version: str,
    stats: DedupStats,
) -> tuple[Value, list[int]] | None:
    """Union the card's value with every cluster the judge matched. Returns the value
    they now form and the ids that left the graph, or None if nothing matched."""
    best: dict[int, _Match] = {}
    for match in matches:
        root = selectors.root_of(match.value_id)
        if root not in best or match.similarity > best[root].similarity:
            best[root] = match
    roots = list(
        Value.objects.filter(pk__in=best, is_active=True).annotate(
            cards=Count("mappings", filter=Q(mappings__undone_at=None))
        )
    )
    if not roots:
        return None
    # The largest cluster absorbs the others: it is the one participants most likely saw.
    roots.sort(key=lambda v: (-v.cards, v.pk))
    target, others = roots[0], roots[1:]
    forbidden = _split_roots(study) if others else set()
    gone = [own.pk]
    merge_values(
        study=study,
        source=own,
        target=target,
        decided_by="llm",
        model=model,
        prompt_version=prompt_version,
        similarity=best[target.pk].similarity,
        reason=best[target.pk].reason,
    )
    stats.merges += 1
    for other in others:
        if (min(other.pk, target.pk), max(other.pk, target.pk)) in forbidden:
            continue  # an admin split these two apart: a third card must not rejoin them
        match = best[other.pk]
        merge_values(
            study=study,
            source=other,
            target=target,
            decided_by="llm",
            model=model,
            prompt_version=prompt_version,
            similarity=match.similarity,
            reason=f"Joined through card {own.representative_card_id}: {match.reason}",
        )
        stats.merges += 1
        gone.append(other.pk)
    target.refresh_from_db()
    return target, gone


def _split_roots(study: Study) -> set[tuple[int, int]]:
    pairs = set()
    for a, b in selectors.split_pairs(study):
        ra, rb = selectors.root_of(a), selectors.root_of(b)
        pairs.add((min(ra, rb), max(ra, rb)))
    return pairs


# --- Merge and split ------------------------------------------------------------------


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


def split_merge(*, merge: ValueMerge) -> list[int]:
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
            mappings__value=value, mappings__undone_at=None, embedded_at__isnull=False
        ).order_by("id")
    )
    if not cards:
        return
    matrix = np.vstack([_unit(vectors.from_bytes(card.embedding)) for card in cards])
    centrality = (matrix @ matrix.T).sum(axis=1)
    medoid = cards[int(np.argmax(np.round(centrality, 6)))]
    fields = {"embedding": vectors.to_bytes(_unit(matrix.mean(axis=0)))}
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
