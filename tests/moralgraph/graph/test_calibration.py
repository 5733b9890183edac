import numpy as np

from moralgraph.graph.calibration import (
    ContextRun,
    SimulationSettings,
    run_context,
    summarise,
    true_strengths,
    uniform_draw,
)
from moralgraph.graph.pairwise import PairwiseParams

SETTINGS = SimulationSettings(cap=600)


def run(strengths, seed=1, **kwargs):
    return run_context(
        np.asarray(strengths, dtype=float),
        rng=np.random.default_rng(seed),
        study_seed=seed,
        context_id="simulated",
        params=PairwiseParams(resamples=100),
        settings=kwargs.pop("settings", SETTINGS),
        **kwargs,
    )


def test_a_clear_context_settles_on_the_true_best():
    result = run([0.0, 3.0, -1.0, -0.5, 0.5, -2.0, 1.0, -1.5])
    assert result.settled_at is not None and result.settled_at <= 600
    assert result.correct is True


def test_a_run_is_reproducible_for_a_seed():
    strengths = [0.3, 0.2, -1.0, 0.1, 0.25, -0.4, 0.0, 0.28]
    assert run(strengths, seed=4) == run(strengths, seed=4)


def test_a_settled_context_needs_its_winner_at_consecutive_looks():
    strengths = [0.0, 3.0, -1.0, -0.5, 0.5, -2.0, 1.0, -1.5]
    first = run(strengths)
    stable = run(strengths, settings=SimulationSettings(cap=600, stable_looks=3))
    assert stable.settled_at >= first.settled_at + 2 * SETTINGS.rescore_every


def test_a_tie_between_equal_values_is_not_settled_within_the_cap():
    result = run([0.0] * 8, settings=SimulationSettings(cap=150))
    assert result == ContextRun(values=8, near_tie=False, settled_at=None, correct=None)


def test_near_ties_have_their_top_two_within_the_gap():
    rng = np.random.default_rng(2)
    for near_tie in (True, False):
        for _ in range(20):
            strengths = np.sort(true_strengths(rng, SimulationSettings(), near_tie))[::-1]
            assert 8 <= len(strengths) <= 15
            assert bool(strengths[0] - strengths[1] < 0.1) == near_tie


def test_each_participant_judges_three_different_pairs():
    a, b = uniform_draw(np.random.default_rng(3), 8, 300)
    assert len(a) == 300 and (a != b).all()
    pairs = np.minimum(a, b) * 8 + np.maximum(a, b)
    assert all(len(set(block)) == 3 for block in pairs.reshape(-1, 3))
    assert 0.4 < (a < b).mean() < 0.6


def test_summarise_counts_calls_and_near_ties():
    runs = [
        ContextRun(10, False, 300, True),
        ContextRun(10, False, 600, False),
        ContextRun(10, False, None, None),
        ContextRun(12, True, 900, True),
        ContextRun(12, True, None, None),
    ]
    result = summarise(runs, SimulationSettings(cap=2000))
    assert (result.confident, result.near_ties) == (3, 2)
    assert result.calibration == 2 / 3
    assert result.false_confident_near_ties == 0.5
    assert result.judgments_to_settle == 600
