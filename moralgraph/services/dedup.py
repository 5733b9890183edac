"""Deduplication: participants' cards become canonical Values.

Each submitted card first becomes a value of its own (its wording, its embedding).
Retrieval (moralgraph.services.retrieval) finds up to ``DEDUP_TOP_K`` values it may
duplicate, by words and by embedding; if none passes, the card costs no call. Otherwise
one judge call (moralgraph.services.dedup_judge) decides which of them, if any, it is the
same value as; cards that arrive together share that call, up to ``DEDUP_BATCH_CARDS``
cards and ``2 * DEDUP_TOP_K`` values shown, and a card may be the same as an earlier card
of its batch. Every value the judge picks is united with the card's, union-find style:
they merge into the largest of them. So a card costs at most one call, however large
the study grows, where the reference compared batches in one ever-larger prompt.

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
from moralgraph.services import retrieval
from moralgraph.services.dedup_judge import Item, Judge, LLMJudge, Verdict, wording
from moralgraph.services.embedding import embed_cards, ensure_value_embeddings, mark_failed
from moralgraph.services.merges import merge_values
from moralgraph.services.retrieval import HybridIndex

logger = logging.getLogger(__name__)


def top_k() -> int:
    return settings.DEDUP_TOP_K


def min_similarity() -> float:
    # With the local hashed embedding, near copies sit above 0.45 but the same value in a
    # participant's own words (few shared words) at 0.2-0.35, among unrelated cards at
    # 0.1-0.3: a candidate costs nothing more than the card's one call, so the bar is
    # low. A model embedding spreads differently: set DEDUP_MIN_SIMILARITY with it.
    return settings.DEDUP_MIN_SIMILARITY


def min_overlap() -> float:
    # A card that keeps a fifth of its informative words (weighted by rarity) from one
    # member is worth a look, however far the embedding puts it: two copies of a value
    # may share no more words than two sibling values do, and the judge tells them apart.
    return settings.DEDUP_MIN_OVERLAP


def batch_cards() -> int:
    return settings.DEDUP_BATCH_CARDS


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
    # Each card's candidates, by card id, when the caller wants them (evaluations).
    candidates: dict[int, list[retrieval.Candidate]] | None = None


# --- Placing cards ---------------------------------------------------------------------


def place_pending_cards(
    study: Study,
    stats: DedupStats,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    judge: Judge | None = None,
) -> DedupStats:
    """Embed the study's pending cards, then place them oldest first, in batches that
    share one judge call (``judge``: the study's LLM unless given)."""
    pending = list(selectors.unembedded_cards(study, llm.embedding_model_name()))
    if progress:
        progress("embed", 0, len(pending))
    stats.embedded += embed_cards(study, pending)
    if progress:
        progress("embed", len(pending), len(pending))
    ensure_value_embeddings(study)
    index = HybridIndex.load(study)
    judge = judge or LLMJudge(study)
    tried: set[int] = set()
    # Cards submitted while the pass runs join it: loop until none is left.
    while True:
        pending_ids = selectors.pending_cards(study).values_list("pk", flat=True)
        ids = [pk for pk in pending_ids if pk not in tried]
        if not ids:
            return stats
        total = len(tried) + len(ids)
        batch = Batch(index, stats)
        for card_id in ids:
            tried.add(card_id)
            card = claim_card(study=study, card_id=card_id, stats=stats)
            if card is not None:
                item = batch.retrieve(card)
                if not batch.fits(item):
                    batch.place(study, judge)
                    batch = Batch(index, stats)
                    item = batch.retrieve(card)  # the batch just placed may be nearer
                batch.add(item)
            if progress:
                progress("dedup", len(tried), total)
        batch.place(study, judge)


def claim_card(*, study: Study, card_id: int, stats: DedupStats) -> ValuesCard | None:
    """Take a pending card for this pass, with its vector; None if it is not pending any
    more (someone else got there first) or is left out (marked failed)."""
    claimed = ValuesCard.objects.filter(
        pk=card_id,
        study=study,
        status=ValuesCard.Status.SUBMITTED,
        reconcile_status=ValuesCard.Reconcile.PENDING,
    ).update(reconcile_attempts=F("reconcile_attempts") + 1)
    if claimed != 1:
        return None
    card = ValuesCard.objects.get(pk=card_id)
    if card.quality == ValuesCard.Quality.INVALID:
        mark_failed(card.pk, "the card is marked invalid, so it is left out of the graph")
        stats.failed += 1
        return None
    # Attempts count crashed and retried passes too, so a card that kills its worker
    # every time cannot block the study forever.
    if card.reconcile_attempts > max_attempts():
        last = card.reconcile_error or "no error recorded (the worker may have died)"
        mark_failed(card.pk, f"gave up after {max_attempts()} attempts; last: {last}")
        stats.failed += 1
        stats.failures.append(f"card {card.pk}: gave up")
        return None
    if card.embedded_at is None or card.embedding_model != llm.embedding_model_name():
        stats.embedded += embed_cards(study, [card])
        card.refresh_from_db()
        if card.embedded_at is None:  # embedding failed permanently: already marked
            stats.failed += 1
            return None
    return card


class Batch:
    """Cards judged in one call. A card of the batch is findable by the later ones as a
    value of its own, id ``-card id``, until it is placed."""

    def __init__(self, index: HybridIndex, stats: DedupStats):
        self.index, self.stats = index, stats
        self.items: list[Item] = []
        self.shown: set[int] = set()

    def retrieve(self, card: ValuesCard) -> Item:
        tokens = retrieval.words(card.title, card.description, list(card.policies or []))
        vector = embeddings.from_bytes(card.embedding)
        candidates = self.index.search(
            vector, tokens, k=top_k(), min_similarity=min_similarity(), min_overlap=min_overlap()
        )
        return Item(card=card, vector=vector, tokens=tokens, candidates=candidates)

    def fits(self, item: Item) -> bool:
        if not self.items:
            return True
        shown = self.shown | {c.value_id for c in item.candidates}
        return len(self.items) < batch_cards() and len(shown) <= 2 * top_k()

    def add(self, item: Item) -> None:
        self.items.append(item)
        self.shown |= {c.value_id for c in item.candidates}
        if self.stats.candidates is not None:
            self.stats.candidates[item.card.pk] = item.candidates
        card = item.card
        self.index.add(
            ("card", card.pk),
            -card.pk,
            item.vector,
            title=card.title,
            description=card.description,
            policies=card.policies,
        )

    def asked(self) -> list[Item]:
        """The cards the judge is asked about (those with candidates), each with the
        wording its candidates are shown in."""
        asked = [item for item in self.items if item.candidates]
        rows = wording([c.member for item in asked for c in item.candidates])
        for item in asked:
            item.shown = [rows[c.member] for c in item.candidates]
        return asked

    def place(self, study: Study, judge: Judge) -> None:
        """Judge the batch (one call, or one per card if that call fails for good) and
        place its cards in order."""
        asked = self.asked()
        verdicts = _ask(study, judge, asked, self.stats) if asked else {}
        placed: dict[int, int] = {}
        for item in self.items:
            verdict = verdicts.get(item.card.pk, Verdict(()))
            if verdict is None or not _place(study, item, verdict, judge, self, placed):
                self.index.drop(("card", item.card.pk))


def _ask(study: Study, judge: Judge, items: list[Item], stats: DedupStats):
    stats.judge_calls += 1
    try:
        return judge(study, items)
    except llm.LLMError as error:
        if error.retryable:
            ValuesCard.objects.filter(pk__in=[i.card.pk for i in items]).update(
                reconcile_error=f"will retry: {error}"[:2000]
            )
            raise
        if len(items) > 1:  # find the card the judge cannot take; the others go on
            verdicts: dict[int, Verdict | None] = {}
            for item in items:
                verdicts.update(_ask(study, judge, [item], stats))
            return verdicts
        card_id = items[0].card.pk
        mark_failed(card_id, f"dedup judge failed: {error}")
        stats.failed += 1
        stats.failures.append(f"card {card_id}: {error}")
        return {card_id: None}


@dataclass
class _Match:
    value_id: int
    similarity: float
    reason: str


def _place(
    study: Study, item: Item, verdict: Verdict, judge: Judge, batch: Batch, placed: dict
) -> bool:
    """Give a card its own value, united with every value the judge matched. False if
    someone else placed it first."""
    card, stats = item.card, batch.stats
    matches = []
    for index in verdict.same_as:
        candidate = item.candidates[index]
        value_id = candidate.value_id
        if value_id < 0:  # an earlier card of the batch, by now in a value of its own
            value_id = placed.get(-value_id)
            if value_id is None:
                continue
        reason = verdict.reason
        if candidate.member[0] == "card":
            reason = f"Same as card {candidate.member[1]}: {reason}"
        matches.append(_Match(value_id, candidate.similarity, reason))

    with transaction.atomic():
        done = ValuesCard.objects.filter(
            pk=card.pk, reconcile_status=ValuesCard.Reconcile.PENDING
        ).update(
            reconcile_status=ValuesCard.Reconcile.DONE,
            reconciled_at=timezone.now(),
            reconcile_error="",
        )
        if done != 1:
            return False
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
        merged = _unite(study=study, own=own, matches=matches, judge=judge, stats=stats)
    stats.placed += 1
    placed[card.pk] = own.pk
    batch.index.move(-card.pk, own.pk)
    if merged is None:
        stats.new_values += 1
    else:
        target, gone = merged
        for value_id in gone:
            batch.index.move(value_id, target.pk)
    return True


def _unite(
    *, study: Study, own: Value, matches: list[_Match], judge: Judge, stats: DedupStats
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
    provenance = {
        "decided_by": judge.decided_by,
        "model": judge.model,
        "prompt_version": judge.prompt_version,
    }
    gone = [own.pk]
    merge_values(
        study=study,
        source=own,
        target=target,
        similarity=best[target.pk].similarity,
        reason=best[target.pk].reason,
        **provenance,
    )
    stats.merges += 1
    for other in others:
        if (min(other.pk, target.pk), max(other.pk, target.pk)) in forbidden:
            continue  # a researcher split these two apart: a third card must not rejoin them
        match = best[other.pk]
        merge_values(
            study=study,
            source=other,
            target=target,
            similarity=match.similarity,
            reason=f"Joined through card {own.representative_card_id}: {match.reason}",
            **provenance,
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
