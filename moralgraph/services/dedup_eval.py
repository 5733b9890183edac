"""Evaluate dedup on labelled cards: what ``bench/dedup.py`` and ``manage.py dedup_eval``
measure, with the study's judge or with an oracle.

Cards with the same label are the same value. The cards are placed in order, as a
reconcile pass places them, in a scratch study the caller throws away. The figures:

- ``precision``, ``recall``: pairwise, over every pair of cards (placed together vs
  labelled together); ``own_wording_*`` the same over the pairs that involve a card
  marked as written in its own words;
- ``retrieval_recall_at_k``: of the cards whose value already had a card placed before
  them, the share shown a candidate that is one of that value's cards;
- ``llm_calls_per_card``: judge calls (one per batch) per card; ``cards_per_s``.

The oracle knows each card's label but may only pick among the candidates it is shown,
so with it the figures measure retrieval and batching, not a model's judgement.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from elicitation.models import Question, Study, ValuesCard
from moralgraph import locks, selectors
from moralgraph.models import CardMapping
from moralgraph.services import dedup
from moralgraph.services.dedup_judge import Item, Verdict


@dataclass
class LabelledCard:
    title: str
    description: str
    policies: list[str]
    label: str
    own_wording: bool = False
    id: str = ""


class OracleJudge:
    """Picks the candidates shown through a card of the same label; never a call."""

    decided_by = "oracle"
    model = "oracle"
    prompt_version = ""

    def __init__(self, label_of: dict[int, str]):
        self.label_of = label_of

    def __call__(self, study: Study, items: list[Item]) -> dict[int, Verdict]:
        verdicts = {}
        for item in items:
            label = self.label_of[item.card.pk]
            same = tuple(
                index
                for index, candidate in enumerate(item.candidates)
                if candidate.member[0] == "card" and self.label_of.get(candidate.member[1]) == label
            )
            verdicts[item.card.pk] = Verdict(same, "The labels say so." if same else "")
        return verdicts


def scratch_study(cards: Iterable[LabelledCard], *, slug: str) -> tuple[Study, dict[int, str]]:
    """A study holding the cards, submitted in order; returns it and each card's label."""
    study = Study.objects.create(slug=slug, title="Dedup evaluation (scratch)")
    question = Question.objects.create(study=study, key="q", title="Q", text="A question?")
    now = timezone.now()
    rows = [
        ValuesCard(
            study=study,
            question=question,
            status=ValuesCard.Status.SUBMITTED,
            submitted_at=now,
            title=card.title,
            description=card.description,
            policies=list(card.policies),
            external_id=card.id,
        )
        for card in cards
    ]
    created = ValuesCard.objects.bulk_create(rows)
    return study, {row.pk: card.label for row, card in zip(created, cards, strict=True)}


def pairwise(truth: list, found: list, keep: list[bool] | None = None) -> tuple[float, float]:
    """Pairwise precision and recall of a clustering; with ``keep``, only over the pairs
    that involve at least one kept card (all pairs minus the pairs of unkept cards)."""

    def pairs(counter: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    def counts(indexes) -> tuple[int, int, int]:
        t = [truth[i] for i in indexes]
        f = [found[i] for i in indexes]
        return pairs(Counter(zip(t, f, strict=True))), pairs(Counter(f)), pairs(Counter(t))

    together, predicted, actual = counts(range(len(truth)))
    if keep is not None:
        rest = counts([i for i, k in enumerate(keep) if not k])
        together, predicted, actual = together - rest[0], predicted - rest[1], actual - rest[2]
    return (together / predicted if predicted else 1.0, together / actual if actual else 1.0)


def run(cards: list[LabelledCard], *, slug: str, k: int | None = None, oracle: bool = True) -> dict:
    """Place ``cards`` in a new scratch study and measure; the caller rolls it back or
    throws the database away."""
    study, label_of = scratch_study(cards, slug=slug)
    stats = dedup.DedupStats(candidates={})
    judge = OracleJudge(label_of) if oracle else None
    started = time.monotonic()
    with locks.study_lock(study.pk), _top_k(k) if k else nullcontext():
        dedup.place_pending_cards(study, stats, judge=judge)
    wall = time.monotonic() - started
    return figures(study, cards, label_of, stats, wall)


@contextmanager
def _top_k(k: int):
    """DEDUP_TOP_K for one run (the command's --k), put back afterwards."""
    before = settings.DEDUP_TOP_K
    settings.DEDUP_TOP_K = k
    try:
        yield
    finally:
        settings.DEDUP_TOP_K = before


def figures(study, cards, label_of: dict[int, str], stats: dedup.DedupStats, wall: float) -> dict:
    ids = list(label_of)  # in the order placed: submitted together, so by id
    roots = selectors.value_roots(study)
    current = dict(
        CardMapping.objects.filter(card__study=study, undone_at=None).values_list(
            "card_id", "value_id"
        )
    )
    truth = [label_of[pk] for pk in ids]
    found = [roots.get(current.get(pk), current.get(pk)) or -pk for pk in ids]
    own = [card.own_wording for card in cards]
    precision, recall = pairwise(truth, found)
    own_precision, own_recall = pairwise(truth, found, own)
    seen: set[str] = set()
    reachable = hits = own_reachable = own_hits = 0
    for pk, own_wording in zip(ids, own, strict=True):
        label = label_of[pk]
        if label in seen:
            shown = (stats.candidates or {}).get(pk, [])
            hit = any(c.member[0] == "card" and label_of.get(c.member[1]) == label for c in shown)
            reachable, hits = reachable + 1, hits + hit
            own_reachable, own_hits = own_reachable + own_wording, own_hits + (hit and own_wording)
        seen.add(label)
    n = len(ids)
    return {
        "cards": n,
        "labels": len(set(truth)),
        "values_found": len(set(found)),
        "llm_calls": stats.judge_calls,
        "llm_calls_per_card": round(stats.judge_calls / n, 3) if n else 0.0,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "own_wording_cards": sum(own),
        "own_wording_precision": round(own_precision, 4),
        "own_wording_recall": round(own_recall, 4),
        "retrieval_recall_at_k": round(hits / reachable, 4) if reachable else 1.0,
        "own_wording_retrieval_recall_at_k": (
            round(own_hits / own_reachable, 4) if own_reachable else 1.0
        ),
        "cards_per_s": round(n / wall, 1) if wall else None,
        "failed_cards": stats.failed,
    }
