"""Our scoring (moralgraph.graph.default): abstention, folding, bridging, winners."""

import math

import pytest

from moralgraph.graph import compat_score, default_score, wilson_interval
from tests.moralgraph.graph.samples import COMPAT_ROWS, bridging_judgments, make_judgments


def _edge(result, context_id, from_id, to_id):
    context = next(c for c in result["contexts"] if c["context_id"] == context_id)
    return next(e for e in context["edges"] if (e["from_id"], e["to_id"]) == (from_id, to_id))


def _context(result, context_id):
    return next(c for c in result["contexts"] if c["context_id"] == context_id)


def test_default_not_sure_is_not_evidence_against():
    rows = [("x", "y", "k", "upgrade")] * 2 + [("x", "y", "k", "not_sure")] * 3
    # 2 for, 1 against, 10 unsure: the reference's wL = 2/13 < 0.33 drops it; we keep 2/3.
    rows += [("p", "q", "k", "upgrade")] * 2 + [("p", "q", "k", "no_upgrade")]
    rows += [("p", "q", "k", "not_sure")] * 10
    result = default_score(make_judgments(rows))

    edge = _edge(result, "k", "x", "y")
    assert edge["counts"] == {"upgrade": 2, "no_upgrade": 0, "not_sure": 3}
    assert (edge["decisive"], edge["wiser_share"], edge["kept"]) == (2, 1.0, True)
    edge = _edge(result, "k", "p", "q")
    assert (edge["decisive"], edge["wiser_share"], edge["kept"]) == (3, 2 / 3, True)
    compat = compat_score(make_judgments(rows))
    assert ("p", "q") not in [(e["sourceValueId"], e["wiserValueId"]) for e in compat["edges"]]


def test_default_folds_both_directions_and_gives_a_wilson_interval():
    # Shown x->y: 2 upgrades (for y), 1 no_upgrade (for x). Shown y->x: 1 no_upgrade, which
    # keeps y. So y gets 3 of 4 decisive votes and the edge points x -> y.
    rows = [
        ("x", "y", "k", "upgrade"),
        ("x", "y", "k", "upgrade"),
        ("x", "y", "k", "no_upgrade"),
        ("y", "x", "k", "no_upgrade"),
    ]
    edge = _edge(default_score(make_judgments(rows)), "k", "x", "y")

    assert edge["counts"] == {"upgrade": 3, "no_upgrade": 1, "not_sure": 0}
    assert edge["by_direction"] == {
        "forward": {"upgrade": 2, "no_upgrade": 1, "not_sure": 0},
        "reverse": {"upgrade": 0, "no_upgrade": 1, "not_sure": 0},
    }
    # Wilson, p = 3/4, n = 4, z^2 = 3.8416: denominator 1 + 3.8416/4 = 1.9604,
    # centre (0.75 + 3.8416/8)/1.9604 = 1.2302/1.9604,
    # half width 1.96 * sqrt(0.75 * 0.25/4 + 3.8416/64)/1.9604 = 1.96 * sqrt(0.1069)/1.9604,
    # so [0.30064, 0.95441].
    low = (1.2302 - 1.96 * math.sqrt(0.1069)) / 1.9604
    high = (1.2302 + 1.96 * math.sqrt(0.1069)) / 1.9604
    assert edge["interval"] == [pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12)]
    assert edge["interval"] == [pytest.approx(0.30064, abs=1e-5), pytest.approx(0.95441, abs=1e-5)]


def test_default_flags_an_edge_carried_by_one_group():
    result = default_score(bridging_judgments())

    edge = _edge(result, "split", "x", "y")
    assert (edge["decisive"], edge["wiser_share"], edge["kept"]) == (6, 4 / 6, True)
    assert edge["groups"] == {
        "L": {"decisive": 3, "wiser_share": 1.0},
        "R": {"decisive": 2, "wiser_share": 0.0},
    }
    assert (edge["bridging"], edge["bridged"], edge["carried_by"]) == (0.0, False, ["L"])

    winner = _context(result, "split")["winner"]
    assert winner["value_id"] == "y"
    assert (winner["wins"], winner["decisive"]) == (4, 6)
    assert winner["carried_by"] == ["L"]
    assert winner["carried_by_one_group"] is True
    assert winner["bridged"] is False


def test_default_bridges_an_edge_both_groups_hold():
    result = default_score(bridging_judgments())

    edge = _edge(result, "shared", "x", "y")
    assert edge["counts"] == {"upgrade": 4, "no_upgrade": 2, "not_sure": 0}
    assert edge["groups"]["I"] == {"decisive": 1, "wiser_share": 0.0}
    assert edge["groups"]["R"] == {"decisive": 3, "wiser_share": 2 / 3}
    assert (edge["bridging"], edge["bridged"], edge["carried_by"]) == (2 / 3, True, [])

    winner = _context(result, "shared")["winner"]
    assert (winner["value_id"], winner["bridged"], winner["carried_by_one_group"]) == (
        "y",
        True,
        False,
    )


def test_default_picks_a_winner_per_context():
    # c1: a -> b -> c, so c is wisest there; c2: the reverse, so a is.
    rows = [("a", "b", "c1", "upgrade")] * 3 + [("b", "c", "c1", "upgrade")] * 3
    rows += [("c", "b", "c2", "upgrade")] * 3 + [("b", "a", "c2", "upgrade")] * 3
    rows += [("a", "d", "c3", "not_sure")] * 3
    result = default_score(make_judgments(rows))

    assert [c["context_id"] for c in result["contexts"]] == ["c1", "c2", "c3"]
    c1, c2, c3 = result["contexts"]
    assert [r["value_id"] for r in c1["ranks"]] == ["c", "b", "a"]
    assert c1["winner"]["value_id"] == "c"
    assert c1["winner"]["margin"] == pytest.approx(
        c1["ranks"][0]["pagerank"] - c1["ranks"][1]["pagerank"]
    )
    # c's one comparison, with b, went its way 3 votes to 0.
    assert (c1["winner"]["wins"], c1["winner"]["decisive"]) == (3, 3)
    assert c1["winner"]["confidence"] == pytest.approx(wilson_interval(3, 3)[0])
    assert c2["winner"]["value_id"] == "a"
    # Nothing decisive in c3: no kept edge, no ranks, no winner.
    assert (c3["ranks"], c3["winner"]) == ([], None)
    values = {v["id"]: v for v in result["values"]}
    assert values["c"]["contexts_won"] == ["c1"]
    assert values["a"]["contexts_won"] == ["c2"]
    assert values["d"] == {"id": "d", "contexts_won": [], "best_pagerank": None}
    assert values["c"]["best_pagerank"] == c1["winner"]["pagerank"]


def test_default_ranks_sum_to_one_in_every_context():
    result = default_score(make_judgments(COMPAT_ROWS))
    for context in result["contexts"]:
        assert sum(r["pagerank"] for r in context["ranks"]) == pytest.approx(1.0, abs=1e-12)


def test_default_skips_a_value_judged_against_itself():
    result = default_score(make_judgments([("x", "x", "k", "upgrade")] * 3))

    assert result["contexts"] == []
    assert result["values"] == [{"id": "x", "contexts_won": [], "best_pagerank": None}]
