"""Scoring math in moralgraph.graph: compat against hand-worked figures, default semantics."""

import json
import math
import random
from fractions import Fraction

import pytest

from moralgraph.graph import (
    COMPAT_PARAMS,
    DEFAULT_PARAMS,
    Judgment,
    compat_score,
    default_score,
    input_hash,
    score,
    weighted_pagerank,
    wilson_interval,
)


def _judgments(rows):
    return [Judgment(*row) for row in rows]


# Five values, two contexts, 19 judgments. Each pair is there for a reason:
#   a->b  2 upgrades (one per context)       kept
#   a->c  3 upgrades, 1 no_upgrade           kept
#   b->c  2 upgrades, 1 not_sure             kept
#   c->d  1 upgrade                          killed by markedWiser < 2
#   d->e and e->d, 2 upgrades each way       killed by wiserLikelihood < 0.33
#   b->e  2 upgrades, 1 no_upgrade, 1 unsure killed by entropy > 1.69
#   e->a  1 not_sure                         its reverse (a, e) has a zero denominator
COMPAT_ROWS = [
    ("a", "b", "c1", "upgrade"),
    ("a", "b", "c2", "upgrade"),
    ("a", "c", "c1", "upgrade"),
    ("a", "c", "c1", "upgrade"),
    ("a", "c", "c1", "upgrade"),
    ("a", "c", "c1", "no_upgrade"),
    ("b", "c", "c2", "upgrade"),
    ("b", "c", "c2", "upgrade"),
    ("b", "c", "c2", "not_sure"),
    ("c", "d", "c1", "upgrade"),
    ("d", "e", "c2", "upgrade"),
    ("d", "e", "c2", "upgrade"),
    ("e", "d", "c2", "upgrade"),
    ("e", "d", "c2", "upgrade"),
    ("b", "e", "c1", "upgrade"),
    ("b", "e", "c1", "upgrade"),
    ("b", "e", "c1", "no_upgrade"),
    ("b", "e", "c1", "not_sure"),
    ("e", "a", "c2", "not_sure"),
]


def _h(*counts):
    """Entropy in bits of the counts, for expectations written as counts."""
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c)


# (source, wiser): (markedWiser, markedNotWiser, markedLessWise, markedUnsure, impressions),
# contexts, wiserLikelihood, entropy, kept. The reverse pair of every judgment gets an
# impression, and a markedLessWise when the judgment was an upgrade.
COMPAT_EXPECTED = {
    # wL = 2/2 = 1; entropy over (2, 2) of 4: 2 * (1/2 * 1) = 1 bit
    ("a", "b"): ((2, 0, 0, 0, 2), ["c1", "c2"], 1.0, 1.0, True),
    # wL = 3/4; entropy over (3, 1, 4) of 8: 3/8 log2(8/3) + 1/8 * 3 + 1/2 * 1 = 1.4056
    ("a", "c"): ((3, 1, 0, 0, 4), ["c1"], 0.75, 3 / 8 * math.log2(8 / 3) + 3 / 8 + 1 / 2, True),
    # only an impression: denominator 0, so wL = 0 by definition; entropy of (1) = 0
    ("a", "e"): ((0, 0, 0, 0, 1), ["c2"], 0.0, 0.0, False),
    # wL = (0 - 2)/2 = -1; entropy over (2, 2) = 1
    ("b", "a"): ((0, 0, 2, 0, 2), ["c1", "c2"], -1.0, 1.0, False),
    # wL = 2/3; entropy over (2, 1, 3) of 6: 1/3 log2 3 + 1/6 log2 6 + 1/2 = 1.4591
    ("b", "c"): (
        (2, 0, 0, 1, 3),
        ["c2"],
        2 / 3,
        math.log2(3) / 3 + math.log2(6) / 6 + 1 / 2,
        True,
    ),
    # wL = 2/4 = 0.5 passes; entropy over (2, 1, 1, 4) of 8: 2/4 + 3/8 + 3/8 + 1/2 = 1.75 > 1.69
    ("b", "e"): ((2, 1, 0, 1, 4), ["c1"], 0.5, 1.75, False),
    # wL = -3/3; entropy over (3, 4) of 7
    ("c", "a"): ((0, 0, 3, 0, 4), ["c1"], -1.0, _h(3, 4), False),
    # wL = -2/2; entropy over (2, 3) of 5
    ("c", "b"): ((0, 0, 2, 0, 3), ["c2"], -1.0, _h(2, 3), False),
    # wL = 1 and entropy 1 pass, but markedWiser = 1 < 2
    ("c", "d"): ((1, 0, 0, 0, 1), ["c1"], 1.0, 1.0, False),
    ("d", "c"): ((0, 0, 1, 0, 1), ["c1"], -1.0, 1.0, False),
    # markedWiser = 2 passes; wL = (2 - 2)/4 = 0 < 0.33; entropy over (2, 2, 4) of 8 = 1.5
    ("d", "e"): ((2, 0, 2, 0, 4), ["c2"], 0.0, 1.5, False),
    # wL = 0/1; entropy over (1, 1) = 1
    ("e", "a"): ((0, 0, 0, 1, 1), ["c2"], 0.0, 1.0, False),
    # wL = -2/2; entropy over (2, 4) of 6
    ("e", "b"): ((0, 0, 2, 0, 4), ["c1"], -1.0, _h(2, 4), False),
    ("e", "d"): ((2, 0, 2, 0, 4), ["c2"], 0.0, 1.5, False),
}


def test_compat_counts_likelihood_entropy_and_kept_pairs_match_hand_arithmetic():
    result = compat_score(_judgments(COMPAT_ROWS))

    assert [(e["sourceValueId"], e["wiserValueId"]) for e in result["all_pairs"]] == sorted(
        COMPAT_EXPECTED
    )
    for pair in result["all_pairs"]:
        counts, contexts, likelihood, entropy, kept = COMPAT_EXPECTED[
            (pair["sourceValueId"], pair["wiserValueId"])
        ]
        assert pair["counts"] == dict(
            zip(
                ["markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions"],
                counts,
                strict=True,
            )
        )
        assert pair["contexts"] == contexts
        assert pair["summary"]["wiserLikelihood"] == pytest.approx(likelihood, abs=1e-12)
        assert pair["summary"]["entropy"] == pytest.approx(entropy, abs=1e-12)
        assert pair["kept"] is kept

    assert [(e["sourceValueId"], e["wiserValueId"]) for e in result["edges"]] == [
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
    ]
    assert all("kept" not in e for e in result["edges"])


def test_compat_pagerank_matches_hand_computation():
    # Kept: a->b (wL 1), a->c (wL 3/4), b->c (wL 2/3); N = 3, teleport (1 - 0.85)/3 = 1/20.
    # a's outgoing wL sum is 7/4, so a sends 4/7 of its flow to b and 3/7 to c; b sends all
    # of it to c; c keeps its rank (not redistributed). Nothing flows into a, so from round 1
    # on: a = 1/20; from round 2: b = 1/20 + 17/20 * 1/20 * 4/7 = 13/175; from round 3:
    # c = 1/20 + 17/20 * 1/20 * 3/7 + 17/20 * 13/175 = (700 + 255 + 884)/14000 = 1839/14000.
    result = compat_score(_judgments(COMPAT_ROWS))

    expected = {"a": Fraction(1, 20), "b": Fraction(13, 175), "c": Fraction(1839, 14000)}
    assert [v["id"] for v in result["values"]] == ["a", "b", "c"]
    for value in result["values"]:
        assert value["pageRank"] == pytest.approx(float(expected[value["id"]]), abs=1e-12)
    # Rank on c is not redistributed, so the total falls short of 1.
    assert sum(v["pageRank"] for v in result["values"]) < 0.26


def test_compat_thresholds_are_params():
    result = compat_score(_judgments(COMPAT_ROWS), {"min_marked_wiser": 1})

    assert ("c", "d") in [(e["sourceValueId"], e["wiserValueId"]) for e in result["edges"]]
    assert result["params"] == {**COMPAT_PARAMS, "min_marked_wiser": 1}


def test_compat_of_nothing_is_empty():
    result = compat_score([])

    assert (result["edges"], result["all_pairs"], result["values"]) == ([], [], [])


def test_it_gives_the_same_result_in_any_order():
    judgments = _judgments(COMPAT_ROWS) + _bridging_judgments()
    shuffled = judgments[:]
    random.Random(7).shuffle(shuffled)

    for mode in ("compat", "default"):
        assert json.dumps(score(judgments, mode)) == json.dumps(score(iter(shuffled), mode))


def test_input_hash_is_stable_and_sensitive():
    judgments = _judgments(COMPAT_ROWS)
    shuffled = judgments[::-1]
    flipped = [*judgments[:-1], Judgment("e", "a", "c2", "upgrade")]

    base = input_hash(judgments, COMPAT_PARAMS, "compat")
    assert len(base) == 64
    assert input_hash(shuffled, COMPAT_PARAMS, "compat") == base
    assert input_hash(judgments, {}, "compat") == base
    assert input_hash(flipped, COMPAT_PARAMS, "compat") != base
    assert input_hash(judgments, {"rounds": 99}, "compat") != base
    assert input_hash(judgments, {}, "default") != input_hash(judgments, {}, "compat")
    # A duplicated judgment is a second vote, so it changes the hash.
    assert input_hash([*judgments, judgments[0]], {}, "compat") != base
    assert score(judgments, "compat")["input_hash"] == base


def test_it_rejects_unknown_modes_params_and_verdicts():
    with pytest.raises(ValueError):
        score([], "pooled")
    with pytest.raises(ValueError):
        score([], "default", {"min_vote": 3})
    with pytest.raises(ValueError):
        Judgment("a", "b", "c", "wiser")


def test_judgment_ids_become_strings():
    judgment = Judgment(1, 2, 3, "upgrade", group=None, participant_id=42)

    assert (judgment.from_id, judgment.to_id, judgment.context_id) == ("1", "2", "3")
    assert judgment.participant_id == "42"


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
    result = default_score(_judgments(rows))

    edge = _edge(result, "k", "x", "y")
    assert edge["counts"] == {"upgrade": 2, "no_upgrade": 0, "not_sure": 3}
    assert (edge["decisive"], edge["wiser_share"], edge["kept"]) == (2, 1.0, True)
    edge = _edge(result, "k", "p", "q")
    assert (edge["decisive"], edge["wiser_share"], edge["kept"]) == (3, 2 / 3, True)
    compat = compat_score(_judgments(rows))
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
    edge = _edge(default_score(_judgments(rows)), "k", "x", "y")

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


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(2, 2)
    # p = 1, n = 2: centre (1 + 0.9604)/2.9208, half width 1.96 * sqrt(3.8416/16)/2.9208
    assert low == pytest.approx((1.9604 - 1.96 * 0.49) / 2.9208, abs=1e-12)
    assert high == 1.0


def _bridging_judgments():
    # Context "split": group L says y is wiser than x (3 votes), group R says no (2 votes),
    # one participant without a group says yes: pooled 4/6 keeps the edge, but L alone
    # carries it. Context "shared": L 2/2 and R 2/3 agree; I has one vote, too few to count.
    rows = [("x", "y", "split", "upgrade", "L", f"l{i}") for i in range(3)]
    rows += [("x", "y", "split", "no_upgrade", "R", f"r{i}") for i in range(2)]
    rows += [("x", "y", "split", "upgrade", None, "n0")]
    rows += [("x", "y", "shared", "upgrade", "L", f"l{i}") for i in range(2)]
    rows += [("y", "x", "shared", "no_upgrade", "R", f"r{i}") for i in range(2)]
    rows += [("x", "y", "shared", "no_upgrade", "R", "r2")]
    rows += [("x", "y", "shared", "no_upgrade", "I", "i0")]
    return _judgments(rows)


def test_default_flags_an_edge_carried_by_one_group():
    result = default_score(_bridging_judgments())

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
    result = default_score(_bridging_judgments())

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
    result = default_score(_judgments(rows))

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


def test_default_pagerank_spreads_dangling_rank():
    # x -> y, y dangling. Fixed point with d = 0.85 and N = 2:
    # x = 0.15/2 + 0.85 * y/2, y = 0.15/2 + 0.85 * x + 0.85 * y/2, x + y = 1,
    # so 1.425 x = 0.5: x = 20/57, y = 37/57.
    ranks = weighted_pagerank([("x", "y", 0.4)])
    assert ranks["x"] == pytest.approx(20 / 57, abs=1e-10)
    assert ranks["y"] == pytest.approx(37 / 57, abs=1e-10)

    result = default_score(_judgments(COMPAT_ROWS))
    for context in result["contexts"]:
        assert sum(r["pagerank"] for r in context["ranks"]) == pytest.approx(1.0, abs=1e-12)


def test_weighted_pagerank_agrees_with_networkx():
    nx = pytest.importorskip("networkx")
    reference = getattr(nx.algorithms.link_analysis.pagerank_alg, "_pagerank_python", None)
    if reference is None:
        pytest.skip("this networkx has no pure-Python pagerank")
    edges = [("a", "b", 0.3), ("a", "c", 0.9), ("b", "c", 0.5), ("c", "d", 0.2), ("e", "c", 1.0)]
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(edges)

    expected = reference(graph, alpha=0.85, tol=1e-14, max_iter=10_000)
    ranks = weighted_pagerank(edges)
    assert ranks == pytest.approx(expected, abs=1e-10)


def test_default_skips_a_value_judged_against_itself():
    result = default_score(_judgments([("x", "x", "k", "upgrade")] * 3))

    assert result["contexts"] == []
    assert result["values"] == [{"id": "x", "contexts_won": [], "best_pagerank": None}]


def test_results_are_json():
    judgments = _judgments(COMPAT_ROWS) + _bridging_judgments()

    for mode in ("compat", "default"):
        result = score(judgments, mode)
        assert result["mode"] == mode
        assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert score(judgments)["params"] == DEFAULT_PARAMS
