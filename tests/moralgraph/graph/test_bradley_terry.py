import choix
import numpy as np
import pytest

from moralgraph.graph.bradley_terry import fit_strengths


def random_comparisons(seed, n=12, density=0.5):
    rng = np.random.default_rng(seed)
    pair_i, pair_j = np.triu_indices(n, 1)
    keep = rng.random(len(pair_i)) < density
    pair_i, pair_j = pair_i[keep], pair_j[keep]
    return pair_i, pair_j, rng.poisson(2, len(pair_i)), rng.poisson(1, len(pair_i))


def as_choix_data(pair_i, pair_j, wins_i, wins_j):
    data = [[a, b] for a, b, c in zip(pair_i, pair_j, wins_i, strict=True) for _ in range(c)]
    return data + [[b, a] for a, b, c in zip(pair_i, pair_j, wins_j, strict=True) for _ in range(c)]


@pytest.mark.parametrize("solver", ["dense", "cg"])
@pytest.mark.parametrize("prior", [0.5, 0.05])
def test_it_matches_choix_map_estimate(solver, prior):
    pair_i, pair_j, wins_i, wins_j = random_comparisons(1)
    expected = choix.opt_pairwise(
        12, as_choix_data(pair_i, pair_j, wins_i, wins_j), alpha=prior, tol=1e-12
    )
    got = fit_strengths(12, pair_i, pair_j, wins_i, wins_j, prior=prior, solver=solver)
    assert got.shape == (1, 12)
    np.testing.assert_allclose(got[0], expected, atol=1e-6)


def test_batched_rows_equal_separate_fits():
    pair_i, pair_j, wins_i, wins_j = random_comparisons(2, n=8)
    weights = np.random.default_rng(3).poisson(1.0, (5, len(pair_i)))
    together = fit_strengths(8, pair_i, pair_j, wins_i * weights, wins_j * weights, prior=0.5)
    for row in range(5):
        alone = fit_strengths(
            8, pair_i, pair_j, wins_i * weights[row], wins_j * weights[row], prior=0.5
        )
        np.testing.assert_allclose(together[row], alone[0], atol=1e-8)


def test_a_warm_start_reaches_the_same_optimum():
    pair_i, pair_j, wins_i, wins_j = random_comparisons(4)
    cold = fit_strengths(12, pair_i, pair_j, wins_i, wins_j, prior=0.5)
    warm = fit_strengths(12, pair_i, pair_j, wins_i, wins_j, prior=0.5, init=np.full(12, 3.0))
    np.testing.assert_allclose(cold, warm, atol=1e-8)


def test_one_win_does_not_crown_a_value():
    strengths = fit_strengths(2, [0], [1], [1], [0], prior=0.5)[0]
    p_win = 1 / (1 + np.exp(-(strengths[0] - strengths[1])))
    assert 0.6 < p_win < 0.7


def test_extreme_data_stays_finite():
    strengths = fit_strengths(3, [0, 1], [1, 2], [500, 0], [0, 500], prior=0.01)
    assert np.isfinite(strengths).all()
    assert strengths[0, 0] > 0 > strengths[0, 1] and strengths[0, 2] > 0


def test_it_needs_a_positive_prior():
    with pytest.raises(ValueError, match="prior"):
        fit_strengths(2, [0], [1], [1], [0], prior=0.0)
