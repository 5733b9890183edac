import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moralgraph.graph import Judgment
from moralgraph.graph.pairwise import PairwiseParams, as_plain, fit_context, score_contexts
from moralgraph.graph.votes import context_votes

PARAMS = PairwiseParams(resamples=100)


def fit(rows, context="c", study_seed=1, params=PARAMS):
    judgments = [Judgment(f, t, context, v, None, p) for f, t, v, p in rows]
    return fit_context(context_votes(judgments, context), study_seed=study_seed, params=params)


def test_an_upgrade_is_a_win_for_the_wiser_candidate():
    result = fit([("a", "b", "upgrade", "p1")])
    assert result.leader == "b"
    assert (result.value("b").wins, result.value("a").losses) == (1, 1)


def test_a_no_upgrade_is_a_win_for_the_source():
    result = fit([("a", "b", "no_upgrade", "p1")])
    assert result.leader == "a"
    assert result.pairs[0].wins_a == 1


def test_not_sure_is_counted_but_moves_nothing():
    result = fit([("a", "b", "not_sure", "p1"), ("b", "a", "not_sure", "p2")])
    assert result.leader is None
    assert result.judgments == 2 and result.decisive == 0
    assert result.pairs[0].not_sure == 2
    assert [v.strength for v in result.values] == [0.0, 0.0]


def test_both_directions_of_a_story_fold_into_one_pair():
    result = fit([("a", "b", "upgrade", "p1"), ("b", "a", "no_upgrade", "p2")])
    (pair,) = result.pairs
    assert (pair.value_a, pair.value_b, pair.wins_a, pair.wins_b) == ("a", "b", 0, 2)
    assert pair.participants == 2


def test_a_value_judged_against_itself_is_left_out():
    result = fit([("a", "a", "upgrade", "p1"), ("a", "b", "upgrade", "p1")])
    assert result.judgments == 1


def test_intervals_hold_the_strength():
    rows = [("a", "b", "upgrade", f"p{k}") for k in range(6)]
    rows += [("b", "c", "upgrade", f"q{k}") for k in range(4)]
    for value in fit(rows).values:
        assert value.low <= value.strength <= value.high


def test_the_bootstrap_is_reproducible_for_a_seed_whatever_the_input_order():
    rows = [("a", "b", "upgrade", f"p{k}") for k in range(5)]
    rows += [("b", "c", "no_upgrade", f"p{k}") for k in range(3)]
    rows += [("c", "a", "upgrade", "p9"), ("a", "c", "not_sure", "p8")]
    first = fit(rows)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    again = fit(shuffled)
    assert first == again
    np.testing.assert_array_equal(first.replicates, again.replicates)
    other = fit(rows, study_seed=2)
    assert not np.array_equal(first.replicates, other.replicates)


def test_a_context_id_changes_the_seed():
    rows = [("a", "b", "upgrade", f"p{k}") for k in range(5)]
    assert fit(rows, context="c1").seed != fit(rows, context="c2").seed


def test_score_contexts_refits_only_changed_contexts():
    rows = [("a", "b", "c1", "upgrade", None, "p1"), ("a", "b", "c2", "upgrade", None, "p2")]
    judgments = [Judgment(*row) for row in rows]
    first = score_contexts(judgments, study_seed=1, params=PARAMS)
    more = judgments + [Judgment("b", "c", "c2", "upgrade", None, "p3")]
    second = score_contexts(more, study_seed=1, params=PARAMS, previous=first)
    assert second["c1"] is first["c1"]
    assert second["c2"] is not first["c2"]
    assert second["c2"].judgments == 2
    # Groups are not part of a fit: relabelling one keeps the fit.
    regrouped = [Judgment("a", "b", "c1", "upgrade", "democrat", "p1"), *more[1:]]
    assert (
        score_contexts(regrouped, study_seed=1, params=PARAMS, previous=second)["c1"]
        is (first["c1"])
    )


def test_anonymous_judgments_count_as_their_own_participants():
    rows = [("a", "b", "upgrade", None), ("a", "b", "upgrade", None)]
    result = fit(rows)
    assert result.participants == 2 and result.pairs[0].participants == 2


def test_unknown_parameters_are_refused():
    with pytest.raises(ValueError, match="unknown pairwise parameters"):
        PairwiseParams.from_mapping({"prior": 1.0, "threshold": 0.8})
    assert PairwiseParams.from_mapping({"prior": 1.0}).prior == 1.0


VALUES = ["a", "b", "c", "d"]
rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(VALUES),
        st.sampled_from(VALUES),
        st.sampled_from(["upgrade", "no_upgrade", "not_sure"]),
        st.sampled_from([f"p{k}" for k in range(6)]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(rows=rows_strategy, permutation=st.permutations(VALUES))
def test_relabelling_values_permutes_the_results(rows, permutation):
    rename = dict(zip(VALUES, [f"x{v}" for v in permutation], strict=True))
    before = fit(rows)
    after = fit([(rename[f], rename[t], v, p) for f, t, v, p in rows])
    for value in before.values:
        moved = after.value(rename[value.value_id])
        assert moved.strength == pytest.approx(value.strength, abs=1e-6)
        assert moved.winner_probability == pytest.approx(value.winner_probability, abs=1e-6)
        assert (moved.low, moved.high) == pytest.approx((value.low, value.high), abs=1e-6)
        assert (moved.wins, moved.losses) == (value.wins, value.losses)
    if before.leader is not None:
        runner_up = max(
            (v.strength for v in before.values if v.value_id != before.leader), default=-1e9
        )
        if before.value(before.leader).strength - runner_up > 1e-6:
            assert after.leader == rename[before.leader]


@settings(max_examples=40, deadline=None)
@given(
    rows=rows_strategy,
    votes=st.lists(st.sampled_from(VALUES), min_size=1, max_size=3),
)
def test_a_participant_who_agrees_with_the_leader_never_lowers_its_probability(rows, votes):
    before = fit(rows)
    leader = before.leader
    others = [v for v in votes if v != leader]
    if leader is None or not others:
        return
    agreeing = [(other, leader, "upgrade", "newcomer") for other in others]
    after = fit(rows + agreeing)
    assert after.value(leader).winner_probability >= (
        before.value(leader).winner_probability - 0.02
    )


def test_a_fit_turns_into_plain_json():
    result = fit([("a", "b", "upgrade", "p1"), ("b", "c", "upgrade", "p2")])
    plain = as_plain(result)
    assert "replicates" not in plain
    assert plain["values"][0]["value_id"] == "a"
    assert json.loads(json.dumps(plain)) == plain
