"""moralgraph.graph.adaptive: the pairs the next participants judge, and the stopping rule."""

import math
import random

import numpy as np

from moralgraph.graph import Judgment
from moralgraph.graph.adaptive import (
    ADAPTIVE,
    UNIFORM,
    Candidate,
    ContextState,
    draw_pairs,
    is_settled,
    next_streak,
    pair_weights,
    simulation_draw,
)
from moralgraph.graph.calibration import SimulationSettings, run_context, true_strengths
from moralgraph.graph.pairwise import PairwiseParams, as_plain, fit_context, fit_from_plain
from moralgraph.graph.payload import AdaptiveState
from moralgraph.graph.status import CONFIDENT, CONTESTED, INSUFFICIENT, context_status
from moralgraph.graph.votes import context_votes


def candidates(context_id, values, prefix=""):
    """Every pair of ``values`` in one context."""
    return [
        Candidate(f"{prefix}{a}-{b}", context_id, a, b)
        for n, a in enumerate(values)
        for b in values[n + 1 :]
    ]


def test_the_uniform_share_holds_over_many_draws():
    pool = candidates("c", list("abcdef"))
    states = {"c": ContextState("c", CONTESTED, duels=(("a", "b", 0.7), ("b", "a", 0.3)))}
    rng = random.Random(7)
    picks = [
        p
        for _ in range(2000)
        for p in draw_pairs(pool, states, count=3, uniform_share=0.2, rng=rng)
    ]
    share = sum(p.policy == UNIFORM for p in picks) / len(picks)
    # 6,000 picks: the share's standard error is 0.005; six of them is a safe bound.
    assert abs(share - 0.2) < 6 * math.sqrt(0.2 * 0.8 / len(picks))


def test_an_adaptive_pick_is_a_replicates_top_two():
    pool = candidates("c", list("abcdef"))
    states = {"c": ContextState("c", CONTESTED, duels=(("a", "b", 0.75), ("c", "a", 0.25)))}
    rng = random.Random(1)
    picks = [draw_pairs(pool, states, count=1, uniform_share=0.0, rng=rng)[0] for _ in range(2000)]
    assert {p.policy for p in picks} == {ADAPTIVE}
    pairs = [frozenset((p.candidate.value_a, p.candidate.value_b)) for p in picks]
    assert set(pairs) == {frozenset("ab"), frozenset("ac")}
    assert abs(pairs.count(frozenset("ab")) / len(pairs) - 0.75) < 0.05


def test_a_settled_context_is_drawn_only_in_the_uniform_share():
    pool = candidates("done", list("abcd"), "d") + candidates("open", list("wxyz"), "o")
    states = {
        "done": ContextState("done", CONFIDENT, settled=True, duels=(("a", "b", 1.0),)),
        "open": ContextState("open", INSUFFICIENT, duels=(("w", "x", 0.5), ("y", "z", 0.5))),
    }
    rng = random.Random(3)
    picks = [
        p for _ in range(500) for p in draw_pairs(pool, states, count=3, uniform_share=0.2, rng=rng)
    ]
    adaptive = [p for p in picks if p.policy == ADAPTIVE]
    assert adaptive and all(p.candidate.context_id == "open" for p in adaptive)
    assert any(p.candidate.context_id == "done" for p in picks if p.policy == UNIFORM)
    # Only settled contexts left: every pick is uniform, and says so.
    only = draw_pairs(pool[:6], states, count=3, uniform_share=0.0, rng=rng)
    assert len(only) == 3 and {p.policy for p in only} == {UNIFORM}


def test_a_pair_is_drawn_once_per_participant_whatever_the_context():
    pool = [Candidate("ab", "one", "a", "b"), Candidate("ab", "two", "a", "b")]
    pool += candidates("two", list("cde"))
    picks = draw_pairs(pool, {}, count=10, uniform_share=0.5, rng=random.Random(0))
    keys = [p.candidate.key for p in picks]
    assert len(keys) == len(set(keys)) == 4


def test_without_a_story_for_the_top_two_its_neighbours_stand_in():
    pool = [Candidate("ac", "c", "a", "c"), Candidate("cd", "c", "c", "d")]
    weights = pair_weights(pool, ContextState("c", CONTESTED, duels=(("a", "b", 1.0),)))
    assert weights == [1.0, 0.0]
    # An unscored context favours its least-shown pairs.
    assert pair_weights(pool, None) == [0.5, 0.5]
    fresh = [Candidate("ac", "c", "a", "c", shown=3), Candidate("cd", "c", "c", "d")]
    assert pair_weights(fresh, None) == [0.2, 0.8]


def test_a_context_is_settled_after_its_streak_of_confident_scorings():
    streak = 0
    entry = None
    for _ in range(3):
        streak = next_streak(entry, CONFIDENT, "a")
        entry = AdaptiveState("c", CONFIDENT, winner="a", streak=streak)
    assert streak == 3 and is_settled(streak, 3) and not is_settled(2, 3)
    # A new winner starts again; a scoring that is not confident resets it.
    assert next_streak(entry, CONFIDENT, "b") == 1
    assert next_streak(entry, CONTESTED, "a") == 0


def test_a_fit_keeps_what_the_draw_and_the_statuses_read_without_replicates():
    rows = [("a", "b", "upgrade", f"p{k}") for k in range(8)]
    rows += [("c", "b", "upgrade", f"q{k}") for k in range(5)]
    rows += [("a", "c", "no_upgrade", f"r{k}") for k in range(3)]
    judgments = [Judgment(f, t, "c", v, None, p) for f, t, v, p in rows]
    fit = fit_context(context_votes(judgments, "c"), study_seed=3)
    assert fit.leader == "b"
    assert sum(share for *_, share in fit.duels) == 1.0
    assert {fit.duels[0][0]} == {"b"} or fit.duels[0][0] in "bc"
    restored = fit_from_plain(as_plain(fit))
    assert restored.replicates is None and restored.duels == fit.duels
    assert context_status(restored) == context_status(fit)


def test_the_adaptive_draw_settles_a_clear_context_sooner_than_a_uniform_one():
    settings = SimulationSettings(cap=600)
    params = PairwiseParams(resamples=100)
    strengths = np.array([2.0, 0.8, 0.5, 0.2, 0.0, -0.3, -0.6, -1.0])
    runs = {}
    for name, draw in (("adaptive", simulation_draw(0.2, params)), ("uniform", None)):
        extra = {"draw": draw} if draw else {}
        runs[name] = run_context(
            strengths,
            rng=np.random.default_rng(5),
            study_seed=5,
            context_id="c",
            params=params,
            settings=settings,
            **extra,
        )
    assert runs["adaptive"].settled_at is not None and runs["adaptive"].correct
    assert runs["adaptive"].settled_at < (runs["uniform"].settled_at or settings.cap)
    assert len(true_strengths(np.random.default_rng(1), settings, True)) >= 8
