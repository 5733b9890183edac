"""Upgrade hypotheses: stories of someone who came to see value B as wiser than A.

Per canonical context, the values of that context's questions (a value belongs to the
questions its cards answered) are paired, never all with all:

- near: each value with its ``HYPOTHESIS_NEIGHBOURS`` nearest by embedding, the pairs
  most likely to be a refinement of one another;
- co-selected: each value with the ``HYPOTHESIS_COSELECTED`` values that participants
  most often picked together with it as wise;
- deepening: each value with the one value that attends to most of what it attends to
  and more (its policy words are mostly contained in the other's, which has more).

Each pair gets two stories, A -> B and B -> A, as separate rows (the journey shows them
to different people to cancel framing). "forward" is the direction toward the value
that looks deeper. Runs are incremental: a story that exists (active or retired) is
never written again, and none is ever deleted.

Stories are the dearest LLM work, so a pass spends at most the study's story budget
(``Study.story_budget`` calls per submitted card, less what earlier runs spent), one
call writing the stories of up to ``HYPOTHESIS_BATCH_PAIRS`` pairs of one context, the
most informative pairs first: pairs nobody has judged yet, then pairs nearer the top of
the context's latest ranking. Pairs that adaptive elicitation asks for (a context that is
not settled wants its leader judged against its likeliest challengers, and no story has
them yet: services.adaptive) come before all of these. What the budget leaves out waits
for later cards.

All functions here expect the caller to hold the study lock (moralgraph.locks).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from elicitation import llm
from elicitation.llm import embeddings
from elicitation.models import Study, ValuesCard, WiserJudgment
from moralgraph import selectors
from moralgraph.models import Context, GraphSnapshot, HypothesisRun, UpgradeHypothesis, Value
from moralgraph.services import adaptive
from moralgraph.services.dedup_judge import card_payload

logger = logging.getLogger(__name__)

# Words too common in policies to say anything about what a value attends to.
_COMMON = frozenset(
    """
    about also and any are as at be been being but by can could for from has have her
    his how if in into is it its may might more most not of on or our over so such than
    that the their them then there these they this those to too under what when where
    which while who whom why will with would you your person people someone one ones own
    """.split()  # noqa: SIM905 - a word list reads better as text than as 70 literals
)


def neighbours() -> int:
    return settings.HYPOTHESIS_NEIGHBOURS


def coselected_partners() -> int:
    return settings.HYPOTHESIS_COSELECTED


def min_containment() -> float:
    return settings.HYPOTHESIS_MIN_CONTAINMENT


@dataclass
class HypothesisStats:
    planned: int = 0
    written: int = 0
    failures: int = 0
    contexts: int = 0
    deferred: int = 0  # stories the budget left for a later pass


def _policy_words(value: Value) -> frozenset[str]:
    words = re.findall(r"[a-z]+", " ".join(value.policies or []).lower())
    # A crude stem (plural s) is enough to see that one value contains another's words.
    return frozenset(
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in words
        if len(w) > 2 and w not in _COMMON
    )


def _containment(inner: frozenset[str], outer: frozenset[str]) -> float:
    return len(inner & outer) / len(inner) if inner else 0.0


def _orient(a: Value, b: Value, words: dict[int, frozenset[str]]) -> tuple[int, int]:
    """(from, to) with ``to`` the value that looks deeper: it contains more of the other
    than the other contains of it, else it has more policies, else it is newer."""
    a_in_b = _containment(words[a.pk], words[b.pk])
    b_in_a = _containment(words[b.pk], words[a.pk])
    key_a = (a_in_b < b_in_a, len(a.policies or []), a.pk)
    key_b = (b_in_a < a_in_b, len(b.policies or []), b.pk)
    return (a.pk, b.pk) if key_a < key_b else (b.pk, a.pk)


def candidate_pairs(
    values: list[Value], coselected: dict[tuple[int, int], int]
) -> dict[tuple[int, int], str]:
    """Ordered (from, to) pairs to write stories for, each with why it was chosen."""
    if len(values) < 2:
        return {}
    by_id = {v.pk: v for v in values}
    words = {v.pk: _policy_words(v) for v in values}
    found: dict[frozenset[int], str] = {}

    def add(a: int, b: int, why: str) -> None:
        if a != b:
            found.setdefault(frozenset((a, b)), why)

    embedded = [v for v in values if v.embedding is not None]
    if len(embedded) >= 2:
        matrix = np.vstack([embeddings.from_bytes(v.embedding) for v in embedded])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = matrix / np.where(norms > 0, norms, 1)
        sims = np.round(matrix @ matrix.T, 6)
        np.fill_diagonal(sims, -np.inf)
        for i, value in enumerate(embedded):
            order = sorted(range(len(embedded)), key=lambda j: (-sims[i, j], embedded[j].pk))
            for j in order[: neighbours()]:
                add(value.pk, embedded[j].pk, "near")

    partners: dict[int, list[tuple[int, int]]] = {}
    for (low, high), count in coselected.items():
        if low in by_id and high in by_id:
            partners.setdefault(low, []).append((count, high))
            partners.setdefault(high, []).append((count, low))
    for value_id, chosen in partners.items():
        for _count, other in sorted(chosen, key=lambda p: (-p[0], p[1]))[: coselected_partners()]:
            add(value_id, other, "co-selected")

    for value in values:
        inner = words[value.pk]
        best = None
        for other in values:
            if other.pk == value.pk or len(words[other.pk]) <= len(inner):
                continue
            share = _containment(inner, words[other.pk])
            if share >= min_containment() and (best is None or share > best[0]):
                best = (share, other.pk)
        if best is not None:
            add(value.pk, best[1], "deepening")

    pairs = {}
    for pair, why in found.items():
        a, b = sorted(pair)
        pairs[_orient(by_id[a], by_id[b], words)] = why
    return dict(sorted(pairs.items()))


def _failed_before(study: Study) -> set[tuple[int, int, int]]:
    """Stories the LLM refused for good in earlier runs: not asked again every pass."""
    failed = set()
    for stats in HypothesisRun.objects.filter(study=study).values_list("stats", flat=True):
        for row in (stats or {}).get("failed", []):
            failed.add(tuple(row[:3]))
    return failed


def batch_pairs() -> int:
    return settings.HYPOTHESIS_BATCH_PAIRS


def budget_left(study: Study) -> int:
    """Story calls the study may still make: its story budget per submitted card, times
    its submitted cards, less the calls its runs have made (refused ones cost too)."""
    cards = ValuesCard.objects.filter(study=study, status=ValuesCard.Status.SUBMITTED).count()
    used = HypothesisRun.objects.filter(study=study).aggregate(n=Sum("calls"))["n"] or 0
    return max(0, math.floor(float(study.story_budget) * cards + 1e-9) - used)


@dataclass
class _Pair:
    """A candidate pair in one context, with the stories it still lacks."""

    context: Context
    todo: list[tuple[int, int, str]]  # (from, to, direction)
    priority: tuple


def _priority(pair, why, context, ranks, judged) -> tuple:
    """Expected information first: pairs nobody has judged yet in any context, then pairs
    nearer the top of the context's latest ranking (an unranked value counts as below
    every ranked one), then by why they were chosen, then by id."""
    a, b = pair
    if why == REQUESTED:
        return (-1, 0, 0, 0, a, b)  # before every other pair: a live context waits for it
    place = ranks.get(context.pk, {})
    unranked = len(place)
    rank_a, rank_b = place.get(a, unranked), place.get(b, unranked)
    key = WiserJudgment.make_pair_key(a, b)
    return (key in judged, min(rank_a, rank_b), max(rank_a, rank_b), _WHY.index(why), a, b)


_WHY = ("deepening", "near", "co-selected")
REQUESTED = "requested"


def _requested(pairs, values: dict[int, Value]) -> list[tuple[int, int]]:
    """The wanted pairs of a context whose values are both active, oriented as stories."""
    words = {}
    oriented = []
    for a, b in pairs:
        if not (str(a).isdigit() and str(b).isdigit()):
            continue
        first, second = values.get(int(a)), values.get(int(b))
        if first is None or second is None or first.pk == second.pk:
            continue
        for v in (first, second):
            words.setdefault(v.pk, _policy_words(v))
        oriented.append(_orient(first, second, words))
    return oriented


def _ranks(study: Study) -> dict[int, dict[int, int]]:
    snapshot = GraphSnapshot.latest_for(study)
    if snapshot is None:
        return {}
    ranks = {}
    for scored in snapshot.payload.contexts:
        if scored.context_id.isdigit():
            ranks[int(scored.context_id)] = {
                int(r.value_id): i for i, r in enumerate(scored.ranks) if r.value_id.isdigit()
            }
    return ranks


def plan_stories(study: Study, stats: HypothesisStats) -> list[_Pair]:
    """Every candidate pair still missing a story, most informative first."""
    roots = selectors.value_roots(study)
    by_question = selectors.value_ids_by_question(study)
    hidden = selectors.moderated_value_ids(study)  # no new stories with a hidden value
    values = {v.pk: v for v in selectors.active_values(study) if v.pk not in hidden}
    failed = _failed_before(study)
    ranks = _ranks(study)
    judged = set(
        WiserJudgment.objects.filter(hypothesis__study=study).values_list("pair_key", flat=True)
    )
    coselections = {}
    plan: list[_Pair] = []
    # Pairs that a context which is not settled wants judged (adaptive elicitation).
    requested = adaptive.wanted_pairs(GraphSnapshot.latest_for(study))
    for context in selectors.canonical_contexts(study).prefetch_related("questions"):
        question_ids = [q.pk for q in context.questions.all()]
        ids = set().union(*(by_question.get(q, set()) for q in question_ids)) & set(values)
        if len(ids) < 2:
            continue
        stats.contexts += 1
        together: dict[tuple[int, int], int] = {}
        for question_id in question_ids:
            if question_id not in coselections:
                coselections[question_id] = selectors.coselected_pairs(question_id, roots)
            for pair, count in coselections[question_id].items():
                together[pair] = together.get(pair, 0) + count
        existing = selectors.existing_hypotheses(context)
        candidates = candidate_pairs([values[i] for i in sorted(ids)], together)
        for pair in _requested(requested.get(str(context.pk), []), values):
            candidates.pop(pair, None)
            candidates.pop(pair[::-1], None)
            candidates[pair] = REQUESTED
        for (a, b), why in candidates.items():
            todo = [
                (src, dst, direction)
                for src, dst, direction in (
                    (a, b, UpgradeHypothesis.Direction.FORWARD),
                    (b, a, UpgradeHypothesis.Direction.REVERSE),
                )
                if (src, dst) not in existing and (src, dst, context.pk) not in failed
            ]
            if todo:
                plan.append(_Pair(context, todo, _priority((a, b), why, context, ranks, judged)))
    plan.sort(key=lambda p: p.priority)
    return plan


def _calls(plan: list[_Pair], budget: int) -> list[list[_Pair]]:
    """The calls to make: the most informative pair's context first, with that context's
    next most informative pairs in the same call, until the budget is spent."""
    calls: list[list[_Pair]] = []
    left = list(plan)
    while left and len(calls) < budget:
        context = left[0].context
        batch = [p for p in left if p.context.pk == context.pk][: batch_pairs()]
        calls.append(batch)
        left = [p for p in left if p not in batch]
    return calls


def write_hypotheses(
    study: Study,
    *,
    stats: HypothesisStats | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> HypothesisStats:
    """Write the most informative missing stories the study's story budget allows, a
    few pairs of one context per call; the rest wait for a later pass."""
    stats = stats or HypothesisStats()
    plan = plan_stories(study, stats)
    stats.planned += sum(len(p.todo) for p in plan)
    calls = _calls(plan, budget_left(study)) if plan else []
    planned = sum(len(p.todo) for batch in calls for p in batch)
    stats.deferred += sum(len(p.todo) for p in plan) - planned
    if not calls:
        return stats
    writer = _Writer(study, stats)
    try:
        for batch in calls:
            items = [item for pair in batch for item in pair.todo]
            writer.write(batch[0].context, items)
            if progress:
                progress(writer.written + len(writer.refused), planned)
    finally:
        stats.written += writer.written
        HypothesisRun.objects.filter(pk=writer.run.pk).update(
            finished_at=timezone.now(),
            stats={
                "planned": planned,
                "written": writer.written,
                "failed": writer.refused,
                "calls": len(calls),
                "deferred": stats.deferred,
            },
        )
    return stats


class _Writer:
    """One run's calls to the story writer and the stories they bring."""

    def __init__(self, study: Study, stats: HypothesisStats):
        self.study, self.stats = study, stats
        self.values = {v.pk: v for v in selectors.active_values(study)}
        self.prompt = llm.load_prompt("moralgraph/hypothesis")
        self.model = llm.model_for("hypothesis", study)
        self.run = HypothesisRun.objects.create(
            study=study, model=self.model[:200], prompt_version=self.prompt.version
        )
        self.refused: list[list] = []
        self.written = 0

    def write(self, context: Context, items: list[tuple[int, int, str]]) -> None:
        """Ask for ``items`` of one context in one call, and keep what it brings together
        with the call's count: a worker killed in between leaves neither, and the next
        pass asks again. If the call fails for good, one call per story, so that only a
        story the model refuses is left out."""
        payload = {
            "context": context.text,
            "pairs": [
                {
                    "id": f"p{n}",
                    "from": card_payload(self.values[src]),
                    "to": card_payload(self.values[dst]),
                }
                for n, (src, dst, _) in enumerate(items, start=1)
            ],
        }
        try:
            reply = llm.structured(
                stage="hypothesis", prompt=self.prompt, payload=payload, study=self.study
            )
        except llm.LLMError as error:
            if error.retryable:
                raise
            self._count()
            if len(items) > 1:
                for item in items:
                    self.write(context, [item])
                return
            src, dst, _ = items[0]
            logger.warning("story %s->%s in %s failed: %s", src, dst, context.pk, error)
            self.refused.append([src, dst, context.pk, str(error)[:300]])
            self.stats.failures += 1
            return
        stories = {str(s.get("id")): s for s in reply.get("stories", [])}
        with transaction.atomic():
            self._count()
            for n, item in enumerate(items, start=1):
                if f"p{n}" in stories:
                    self._save(context, item, stories[f"p{n}"])
                else:  # asked again by the next pass
                    logger.warning("story %s->%s in %s: not in the reply", *item[:2], context.pk)

    def _count(self) -> None:
        HypothesisRun.objects.filter(pk=self.run.pk).update(calls=F("calls") + 1)

    def _save(self, context: Context, item: tuple[int, int, str], reply: dict) -> None:
        src, dst, direction = item
        try:
            with transaction.atomic():
                _, created = UpgradeHypothesis.objects.get_or_create(
                    from_value_id=src,
                    to_value_id=dst,
                    context=context,
                    defaults={
                        "study": self.study,
                        "story": reply["story"],
                        "mapping": reply.get("mapping", []),
                        "direction": direction,
                        "run": self.run,
                        "model": self.model[:200],
                        "prompt_version": self.prompt.version,
                    },
                )
        except IntegrityError:
            created = False  # written meanwhile by an import; keep that one
        self.written += int(created)
