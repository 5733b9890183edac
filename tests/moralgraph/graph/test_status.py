from hypothesis import given, settings
from hypothesis import strategies as st

from moralgraph.graph import Judgment
from moralgraph.graph.pairwise import PairwiseParams, fit_context
from moralgraph.graph.status import (
    CONFIDENT,
    CONTESTED,
    INSUFFICIENT,
    Needed,
    context_status,
    dpo_edges,
)
from moralgraph.graph.votes import context_votes

PARAMS = PairwiseParams()


def fit(rows, params=PARAMS):
    judgments = [Judgment(f, t, "c", v, None, p) for f, t, v, p in rows]
    return fit_context(context_votes(judgments, "c"), study_seed=1, params=params)


def wins(winner, loser, count, people):
    return [(loser, winner, "upgrade", f"{people}{k}") for k in range(count)]


def dominant_context():
    """`top` beats each of five others 8 times, from 40 different people."""
    rows = []
    for other in "bcdef":
        rows += wins("top", other, 8, f"{other}-")
    return rows


def test_a_clear_winner_with_enough_votes_is_confident():
    status = context_status(fit(dominant_context()))
    assert status.status == CONFIDENT
    assert status.winner == "top" and status.winner_probability >= PARAMS.confident_probability
    assert (status.decisive, status.participants) == (40, 40)
    assert status.needed == Needed(0, ())


def test_four_of_four_is_insufficient():
    status = context_status(fit(wins("b", "a", 4, "p")))
    assert status.status == INSUFFICIENT
    assert status.winner == "b"
    assert "4 decisive votes involve it (needs 10)" in status.reason
    assert "they come from 4 people (needs 5)" in status.reason
    assert status.needed.judgments >= 6
    assert status.needed.pairs == (("b", "a"),)
    assert "needs about" in status.reason


def test_a_winner_that_loses_a_head_to_head_is_never_confident():
    # `top` leads on its many wins, but loses 1-2 to `rival`, who loses to everyone else.
    rows = dominant_context()
    rows += wins("rival", "top", 2, "r-") + wins("top", "rival", 1, "t-")
    for other in "bcdef":
        rows += wins(other, "rival", 6, f"rival-{other}-")
    fitted = fit(rows)
    assert fitted.leader == "top"
    status = context_status(fitted)
    assert status.status == CONTESTED
    assert status.challenger == "rival"
    assert [(h.other_id, h.wins, h.losses) for h in status.losses] == [("rival", 1, 2)]
    assert "1–2 against rival" in status.reason
    assert ("top", "rival") in status.needed.pairs


def test_a_close_second_makes_the_context_contested_with_both_shown():
    rows = wins("a", "b", 11, "x") + wins("b", "a", 9, "y")
    status = context_status(fit(rows))
    assert status.status == CONTESTED
    assert {status.winner, status.challenger} == {"a", "b"}
    assert status.challenger_probability >= PARAMS.challenger_probability
    h = status.head_to_head
    assert (h.value_id, h.other_id) == (status.winner, status.challenger)
    assert {(h.wins, h.losses)} <= {(11, 9), (9, 11)}
    assert "head-to-head" in status.reason


def test_no_decisive_vote_leaves_no_winner():
    status = context_status(fit([("a", "b", "not_sure", "p1")]))
    assert status.status == INSUFFICIENT and status.winner is None
    assert status.reason.startswith("no decisive vote yet")
    assert status.needed.judgments >= PARAMS.min_winner_votes


def test_needed_says_it_in_words():
    assert str(Needed(14, (("a", "b"), ("a", "c"), ("a", "d")))) == (
        "needs about 14 more judgments on these 3 pairs"
    )
    assert str(Needed(3, (("a", "b"),))) == "needs about 3 more judgments on this pair"


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from("abc"),
        st.sampled_from("abc"),
        st.sampled_from(["upgrade", "no_upgrade", "not_sure"]),
        st.integers(0, 30).map(lambda k: f"p{k}"),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=30, deadline=None)
@given(rows=rows_strategy)
def test_a_confident_winner_never_loses_a_head_to_head(rows):
    params = PairwiseParams(resamples=50, confident_probability=0.6)
    fitted = fit(rows, params)
    status = context_status(fitted, params)
    assert status.status in (CONFIDENT, CONTESTED, INSUFFICIENT)
    if status.status == CONFIDENT:
        for _, won, lost, _ in fitted.head_to_heads(status.winner):
            assert not (won + lost >= 3 and lost > won)
        assert status.decisive >= params.min_winner_votes
    else:
        assert status.needed.judgments > 0


def test_dpo_keeps_a_stable_edge_with_enough_votes_and_people():
    (edge,) = dpo_edges(fit(wins("b", "a", 6, "p")))
    assert (edge.from_id, edge.to_id, edge.wiser_votes, edge.other_votes) == ("a", "b", 6, 0)
    assert edge.kept and edge.reason == "" and edge.stability >= 0.8


def test_dpo_says_why_an_edge_is_excluded():
    (few,) = dpo_edges(fit(wins("b", "a", 4, "p")))
    assert not few.kept and few.reason == "4 decisive votes (needs 5)"
    (two_people,) = dpo_edges(fit([("a", "b", "upgrade", f"p{k % 2}") for k in range(6)]))
    assert not two_people.kept and two_people.reason == "2 people (needs 3)"
    (tied,) = dpo_edges(fit(wins("b", "a", 3, "p") + wins("a", "b", 3, "q")))
    assert not tied.kept and tied.stability is None and "votes tied 3–3" in tied.reason
    (shaky,) = dpo_edges(fit(wins("b", "a", 4, "p") + wins("a", "b", 2, "q")))
    assert not shaky.kept and "of resamples (needs 80%)" in shaky.reason
    assert shaky.stability < 0.8
