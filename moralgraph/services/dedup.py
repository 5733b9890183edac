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
Merging and splitting values is moralgraph.services.merges.

All functions here expect the caller to hold the study lock (moralgraph.locks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from elicitation import llm
from elicitation.llm import embeddings
from elicitation.models import Study, ValuesCard
from moralgraph import selectors
from moralgraph.models import CardMapping, Value
from moralgraph.services.clusters import ClusterIndex
from moralgraph.services.merges import merge_values

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
    return embeddings.card_text(obj.title, obj.description, list(obj.policies or []))


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
            blob = embeddings.to_bytes(vec)
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
        Value.objects.filter(pk=value.pk, embedding=None).update(embedding=embeddings.to_bytes(vec))
    return len(missing)


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

    vector = embeddings.from_bytes(card.embedding)
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
    roots = selectors.value_roots(study)  # one query, not one per pair
    pairs = set()
    for a, b in selectors.split_pairs(study):
        ra, rb = roots.get(a, a), roots.get(b, b)
        pairs.add((min(ra, rb), max(ra, rb)))
    return pairs
