"""Adaptive elicitation: which pairs the next participants judge, and when a context is done.

README: "Adaptive elicitation". Pure: the draw service (moralgraph.services.draws) turns
stories into ``Candidate``s and the latest snapshot into ``ContextState``s; the bench
(bench/adaptive.py) does the same with simulated contexts, through the same functions.

How a pair is chosen, one pick at a time (no pair twice for one participant):

- with probability ``uniform_share`` (a study setting, 20 % by default), uniformly among
  every candidate of the participant's question's contexts, settled or not, so that the
  estimates rest on a sample no policy chose;
- otherwise by **Thompson sampling on the bootstrap**: a context that is not settled is
  picked (``contested`` and ``insufficient`` ones at full weight, a ``confident`` one
  that is not settled yet at ``CONFIDENT_WEIGHT``, a settled one never), then a pair
  with the probability that the pair is a bootstrap replicate's top two (pick a
  replicate, take its best value and its likeliest challenger, the second best in that
  replicate). That is the pair whose votes can most change which value is on top.
  A context without a fit yet (no decisive vote) favours its least-shown pairs (weight
  1 / (1 + times shown)); when none of a context's top-two pairs has a story, pairs
  sharing a value with them stand in (the service asks reconciliation to write the
  missing story meanwhile). When no context
  can take an adaptive pick, the pick is uniform, and is recorded as such.

The stopping rule: a context is **settled** once it has been ``confident``, with the
same winner, at the last ``stable_rescorings`` scorings in a row (``next_streak``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moralgraph.graph.pairwise import ContextFit, PairwiseParams
from moralgraph.graph.status import CONFIDENT, INSUFFICIENT, context_status

UNIFORM, ADAPTIVE = "uniform", "adaptive"
POLICIES = (UNIFORM, ADAPTIVE)
# An adaptive pick's weight for a context confident at its last scoring but not settled
# yet: it needs a few more looks to prove stable, not the most information.
CONFIDENT_WEIGHT = 0.5
# When no top-two pair of a context has a story, a pair sharing one value with a top-two
# pair gets this share of that pair's weight.
NEIGHBOUR_WEIGHT = 0.5


@dataclass(frozen=True)
class ContextState:
    """What the draw knows about one context from the latest scoring."""

    context_id: str
    status: str = INSUFFICIENT
    settled: bool = False
    # (top, second, share): how often two values are a bootstrap replicate's top two.
    duels: tuple[tuple[str, str, float], ...] = ()

    @property
    def weight(self) -> float:
        """This context's share of an adaptive pick, before normalising."""
        if self.settled:
            return 0.0
        return CONFIDENT_WEIGHT if self.status == CONFIDENT else 1.0


@dataclass(frozen=True)
class Candidate:
    """A pair that can be shown: ``key`` says which candidates are the same pair (a
    participant judges a pair once, in whichever context); ``item`` is the caller's."""

    key: Hashable
    context_id: str
    value_a: str
    value_b: str
    item: Any = field(default=None, compare=False)
    shown: int = 0  # how often the pair was drawn before, in either direction


@dataclass(frozen=True)
class Pick:
    candidate: Candidate
    policy: str  # uniform | adaptive


def pair_weights(candidates: Sequence[Candidate], state: ContextState | None) -> list[float]:
    """Each candidate's weight within its context (summing to 1 unless all are 0)."""
    if not candidates:
        return []
    if state is None or not state.duels:
        # Nothing known yet: the least-shown pairs first (sparse edges need votes most).
        weights = [1.0 / (1 + c.shown) for c in candidates]
        return [w / sum(weights) for w in weights]
    exact: dict[frozenset, float] = {}
    for top, second, share in state.duels:
        key = frozenset((top, second))
        exact[key] = exact.get(key, 0.0) + share
    weights = [exact.get(frozenset((c.value_a, c.value_b)), 0.0) for c in candidates]
    if sum(weights) <= 0:
        # No top-two pair has a story: favour pairs that share a value with one.
        touching: dict[str, float] = {}
        for pair, share in exact.items():
            for value in pair:
                touching[value] = touching.get(value, 0.0) + share
        weights = [
            NEIGHBOUR_WEIGHT * (touching.get(c.value_a, 0.0) + touching.get(c.value_b, 0.0))
            for c in candidates
        ]
    if sum(weights) <= 0:
        weights = [1.0] * len(candidates)
    total = sum(weights)
    return [w / total for w in weights]


def draw_pairs(
    candidates: Sequence[Candidate],
    states: Mapping[str, ContextState],
    *,
    count: int,
    uniform_share: float,
    rng: random.Random,
) -> list[Pick]:
    """Up to ``count`` picks of different pairs (see the module docstring)."""
    if not 0 <= uniform_share <= 1:
        raise ValueError("uniform_share must be between 0 and 1")
    left = list(candidates)
    picks: list[Pick] = []
    while left and len(picks) < count:
        chosen = None
        if rng.random() >= uniform_share:
            chosen = _adaptive(left, states, rng)
        policy = ADAPTIVE
        if chosen is None:
            chosen, policy = left[rng.randrange(len(left))], UNIFORM
        picks.append(Pick(chosen, policy))
        left = [c for c in left if c.key != chosen.key]
    return picks


def _adaptive(
    left: Sequence[Candidate], states: Mapping[str, ContextState], rng: random.Random
) -> Candidate | None:
    by_context: dict[str, list[Candidate]] = {}
    for candidate in left:
        by_context.setdefault(candidate.context_id, []).append(candidate)
    weighted: list[Candidate] = []
    weights: list[float] = []
    for context_id in sorted(by_context):
        state = states.get(context_id)
        weight = state.weight if state is not None else 1.0
        if weight <= 0:
            continue
        group = by_context[context_id]
        for candidate, share in zip(group, pair_weights(group, state), strict=True):
            if share > 0:
                weighted.append(candidate)
                weights.append(weight * share)
    if not weighted:
        return None
    return rng.choices(weighted, weights=weights, k=1)[0]


def state_of(fit: ContextFit | None, status: str, *, settled: bool = False) -> ContextState:
    """A context's state for the draw, from its fit and status."""
    if fit is None:
        return ContextState(context_id="", status=status, settled=settled)
    return ContextState(fit.context_id, status, settled, fit.duels)


def next_streak(previous, status: str, winner: str | None) -> int:
    """Scorings in a row at which a context was confident with the same winner.

    ``previous`` is the context's state at the scoring before (payload.AdaptiveState,
    or anything with ``streak`` and ``winner``), None for none.
    """
    if status != CONFIDENT or winner is None:
        return 0
    if previous is not None and previous.winner == winner:
        return previous.streak + 1
    return 1


def is_settled(streak: int, stable_rescorings: int) -> bool:
    return streak >= max(stable_rescorings, 1)


# ---------------------------------------------------------------------------------------
# The policy as a draw of the calibration simulation (graph/calibration.py)
# ---------------------------------------------------------------------------------------


def simulation_draw(
    uniform_share: float, params: PairwiseParams | None = None
) -> Callable[[np.random.Generator, int, int, ContextFit | None], tuple[np.ndarray, np.ndarray]]:
    """The adaptive policy as calibration.run_context's ``draw``: one simulated context,
    every pair with a story, participants of three judgments (three different pairs),
    a random direction. The context is never settled while it is simulated."""

    def draw(rng: np.random.Generator, n_values: int, count: int, fit: ContextFit | None):
        ids = [f"v{k:02d}" for k in range(n_values)]
        first, second = np.triu_indices(n_values, 1)
        candidates = [
            Candidate((a, b), "c", ids[a], ids[b], (a, b))
            for a, b in zip(first.tolist(), second.tolist(), strict=True)
        ]
        status = context_status(fit, params).status if fit is not None else INSUFFICIENT
        states = {"c": ContextState("c", status, False, fit.duels if fit else ())}
        local = random.Random(int(rng.integers(2**63)))
        froms, tos = [], []
        for _ in range(-(-count // 3)):
            for pick in draw_pairs(
                candidates, states, count=3, uniform_share=uniform_share, rng=local
            ):
                a, b = pick.candidate.item
                froms.append(a)
                tos.append(b)
        froms, tos = np.array(froms[:count]), np.array(tos[:count])
        flip = rng.random(len(froms)) < 0.5
        return np.where(flip, tos, froms), np.where(flip, froms, tos)

    return draw
