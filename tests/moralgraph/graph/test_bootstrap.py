import numpy as np

from moralgraph.graph import bootstrap


def test_a_context_seed_depends_on_study_seed_and_context_only():
    seed = bootstrap.context_seed(7, "When parenting")
    assert seed == bootstrap.context_seed(7, "When parenting")
    assert seed != bootstrap.context_seed(8, "When parenting")
    assert seed != bootstrap.context_seed(7, "When grieving")


def test_poisson_weights_have_mean_and_variance_one():
    keys = bootstrap.participant_keys(str(p) for p in range(2000))
    weights = bootstrap.poisson_weights(11, keys, 200)
    assert weights.shape == (200, 2000)
    assert abs(weights.mean() - 1) < 0.01
    assert abs(weights.var() - 1) < 0.02
    assert abs((weights == 0).mean() - np.exp(-1)) < 0.01


def test_a_participants_weights_do_not_depend_on_who_else_took_part():
    keys = bootstrap.participant_keys(["ann", "bob", "cat"])
    alone = bootstrap.poisson_weights(5, keys[1:2], 50)
    together = bootstrap.poisson_weights(5, keys, 50)
    np.testing.assert_array_equal(alone[:, 0], together[:, 1])


def test_another_seed_gives_other_weights():
    keys = bootstrap.participant_keys(str(p) for p in range(100))
    first = bootstrap.poisson_weights(5, keys, 20)
    assert not np.array_equal(first, bootstrap.poisson_weights(6, keys, 20))


def test_tied_values_share_the_credit_for_the_top():
    strengths = np.array([[1.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    np.testing.assert_allclose(bootstrap.winner_shares(strengths), [0.75, 0.25, 0.0])
