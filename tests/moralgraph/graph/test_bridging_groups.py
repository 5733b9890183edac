from moralgraph.graph import Judgment
from moralgraph.graph.bridging_groups import (
    BRIDGES,
    DIVIDES,
    UNKNOWN,
    cross_group_agreement,
    winner_bridging,
)

GROUPS = ("democrat", "republican")


def votes(winner, loser, count, group, context="c", prefix=None):
    prefix = prefix or f"{group}-{winner}-{loser}-"
    return [
        Judgment(loser, winner, context, "upgrade", group, f"{prefix}{k}") for k in range(count)
    ]


def test_it_bridges_when_the_winner_holds_in_every_group_with_enough_votes():
    judgments = votes("w", "a", 8, "democrat") + votes("a", "w", 3, "democrat")
    judgments += votes("w", "b", 10, "republican")
    result = winner_bridging(judgments, "w", GROUPS)
    assert result.status == BRIDGES
    assert [(g.group, g.wins, g.losses, g.holds) for g in result.groups] == [
        ("democrat", 8, 3, True),
        ("republican", 10, 0, True),
    ]
    assert result.reason == "holds in every group: democrat 8–3, republican 10–0"


def test_a_one_one_group_is_unknown():
    judgments = votes("w", "a", 12, "democrat")
    judgments += votes("w", "a", 1, "republican") + votes("a", "w", 1, "republican")
    result = winner_bridging(judgments, "w", GROUPS)
    assert result.status == UNKNOWN
    assert result.unknown_in == ("republican",)
    republican = result.groups[1]
    assert (republican.decisive, republican.holds, republican.missing) == (2, None, 8)
    assert "republican (2 of 10, needs 8 more)" in result.reason


def test_it_divides_when_a_group_with_enough_votes_disagrees():
    judgments = votes("w", "a", 12, "democrat")
    judgments += votes("a", "w", 7, "republican") + votes("w", "a", 5, "republican")
    result = winner_bridging(judgments, "w", GROUPS)
    assert result.status == DIVIDES
    assert result.divides_in == ("republican",)
    assert result.reason == "fails among republican (5–7)"


def test_an_even_split_with_enough_votes_does_not_hold():
    judgments = votes("w", "a", 12, "democrat")
    judgments += votes("a", "w", 5, "republican") + votes("w", "a", 5, "republican")
    assert winner_bridging(judgments, "w", GROUPS).status == DIVIDES


def test_unlabelled_judgments_never_form_a_group():
    judgments = votes("w", "a", 12, "democrat") + votes("w", "a", 12, "republican")
    judgments += votes("a", "w", 30, None) + votes("a", "w", 30, "independent")
    result = winner_bridging(judgments, "w", GROUPS)
    assert [g.group for g in result.groups] == ["democrat", "republican"]
    assert result.status == BRIDGES
    assert (result.unlabelled, result.judgments) == (60, 84)
    assert result.unlabelled_share == 60 / 84


def test_not_sure_and_other_pairs_do_not_count_for_the_winner():
    judgments = votes("w", "a", 10, "democrat") + votes("w", "a", 10, "republican")
    judgments += [Judgment("a", "w", "c", "not_sure", "democrat", "d-unsure")]
    judgments += votes("b", "a", 20, "republican")
    result = winner_bridging(judgments, "w", GROUPS)
    assert [g.decisive for g in result.groups] == [10, 10]


def test_without_a_winner_or_groups_it_is_unknown():
    judgments = votes("w", "a", 12, "democrat")
    assert winner_bridging(judgments, None, GROUPS).status == UNKNOWN
    no_groups = winner_bridging(judgments, "w", ())
    assert no_groups.status == UNKNOWN and no_groups.reason == "the study defines no groups"
    assert no_groups.unlabelled == 12


def test_cross_group_agreement_counts_pairs_with_enough_votes_in_both_groups():
    judgments = []
    # Agree: both groups' majorities say y over x.
    judgments += votes("y", "x", 10, "democrat", "c1") + votes("y", "x", 7, "republican", "c1")
    judgments += votes("x", "y", 3, "republican", "c1")
    # Disagree: the groups' majorities point opposite ways, in another context.
    judgments += votes("y", "x", 10, "democrat", "c2") + votes("x", "y", 10, "republican", "c2")
    # Too few republican votes: left out; unlabelled votes never count.
    judgments += votes("z", "x", 10, "democrat", "c1") + votes("z", "x", 9, "republican", "c1")
    judgments += votes("z", "x", 50, None, "c1")
    result = cross_group_agreement(judgments, GROUPS)
    assert (result.edges, result.agree, result.share) == (2, 1, 0.5)


def test_cross_group_agreement_without_enough_data_has_no_share():
    result = cross_group_agreement(votes("y", "x", 3, "democrat"), GROUPS)
    assert (result.edges, result.agree, result.share) == (0, 0, None)
