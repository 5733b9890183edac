"""The reference's scoring (moralgraph.graph.compat) against hand-worked figures."""

import math
from fractions import Fraction

import pytest

from moralgraph.graph import COMPAT_PARAMS, compat_score
from tests.moralgraph.graph.samples import COMPAT_ROWS, make_judgments


def _h(*counts):
    """Entropy in bits of the counts, for expectations written as counts."""
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c)


# (source, wiser): (markedWiser, markedNotWiser, markedLessWise, markedUnsure, impressions),
# contexts, wiserLikelihood, entropy, kept. The reverse pair of every judgment gets an
# impression, and a markedLessWise when the judgment was an upgrade.


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
    result = compat_score(make_judgments(COMPAT_ROWS))

    # The reference's pair-map order: judged pairs as first met, then new reverse pairs.
    assert [(e["sourceValueId"], e["wiserValueId"]) for e in result["all_pairs"]] == [
        *[("a", "b"), ("a", "c"), ("b", "c"), ("c", "d"), ("d", "e"), ("e", "d")],
        *[("b", "e"), ("e", "a"), ("b", "a"), ("c", "a"), ("c", "b"), ("d", "c")],
        *[("e", "b"), ("a", "e")],
    ]
    assert sorted(COMPAT_EXPECTED) == sorted(
        (e["sourceValueId"], e["wiserValueId"]) for e in result["all_pairs"]
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
    result = compat_score(make_judgments(COMPAT_ROWS))

    expected = {"a": Fraction(1, 20), "b": Fraction(13, 175), "c": Fraction(1839, 14000)}
    assert [v["id"] for v in result["values"]] == ["a", "b", "c"]
    for value in result["values"]:
        assert value["pageRank"] == pytest.approx(float(expected[value["id"]]), abs=1e-12)
    # Rank on c is not redistributed, so the total falls short of 1.
    assert sum(v["pageRank"] for v in result["values"]) < 0.26


def test_compat_thresholds_are_params():
    result = compat_score(make_judgments(COMPAT_ROWS), {"min_marked_wiser": 1})

    assert ("c", "d") in [(e["sourceValueId"], e["wiserValueId"]) for e in result["edges"]]
    assert result["params"] == {**COMPAT_PARAMS, "min_marked_wiser": 1}


def test_compat_of_nothing_is_empty():
    result = compat_score([])

    assert (result["edges"], result["all_pairs"], result["values"]) == ([], [], [])


def test_a_pairs_contexts_come_in_the_order_first_seen():
    rows = [("a", "b", "c9", "upgrade"), ("a", "b", "c1", "upgrade"), ("b", "a", "c5", "upgrade")]
    result = compat_score(make_judgments(rows))

    by_pair = {(e["sourceValueId"], e["wiserValueId"]): e for e in result["all_pairs"]}
    # Forward judgments first, then the contexts the reverse pass adds.
    assert by_pair[("a", "b")]["contexts"] == ["c9", "c1", "c5"]
    assert by_pair[("b", "a")]["contexts"] == ["c5", "c9", "c1"]
