"""The Wilson interval and the bridging rule (moralgraph.graph.bridging)."""

import pytest

from moralgraph.graph import group_bridging, wilson_interval


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(2, 2)
    # p = 1, n = 2: centre (1 + 0.9604)/2.9208, half width 1.96 * sqrt(3.8416/16)/2.9208
    assert low == pytest.approx((1.9604 - 1.96 * 0.49) / 2.9208, abs=1e-12)
    assert high == 1.0


def test_bridging_needs_two_qualifying_groups_that_both_agree():
    # R has one decisive vote, too few to qualify: L alone carries the edge.
    assert group_bridging({"L": (3, 3), "R": (0, 1)}, 2) == (1.0, False, ["L"])
    assert group_bridging({"L": (2, 2), "R": (2, 3)}, 2) == (2 / 3, True, [])
    assert group_bridging({"L": (2, 2), "R": (0, 2)}, 2) == (0.0, False, ["L"])
    assert group_bridging({}, 2) == (None, False, [])
