"""The graph review's reads (moralgraph.research.review): the snapshot picked, each mode
laid out, and the story shown for each edge."""

import pytest

from moralgraph.models import GraphSnapshot, UpgradeHypothesis
from moralgraph.research import review
from moralgraph.services import scoring
from tests.moralgraph.support import card_value, judge

pytestmark = pytest.mark.django_db


def test_the_picked_snapshot_is_the_latest_unless_one_is_asked_for(graph_study):
    study, *_ = graph_study
    first = scoring.score_study(study=study)
    compat = scoring.score_study(study=study, mode="compat")

    assert review.pick_snapshot(study) == GraphSnapshot.latest_for(study) == first
    assert review.pick_snapshot(study, mode="compat") == compat
    assert review.pick_snapshot(study, mode="bogus") == first  # default scoring
    assert review.pick_snapshot(study, snapshot_id=str(compat.pk)) == compat
    assert review.pick_snapshot(study, snapshot_id="nope") is None


def test_compat_scoring_is_one_pooled_ranking_under_no_question(graph_study):
    study, question, context, (a, b, c) = graph_study
    snapshot = scoring.score_study(study=study, mode="compat")

    laid_out = review.graph_review(study, snapshot)
    assert laid_out.compat
    [pooled_question] = laid_out.questions
    assert pooled_question.question is None
    [pooled] = pooled_question.contexts
    assert pooled.text == "All contexts, pooled (the reference's scoring)"
    assert pooled.compared == len(snapshot.results["all_pairs"])
    edges = {(e.from_value, e.to_value): e for e in pooled.edges}
    assert set(edges) == {(a, b), (a, c)}
    assert edges[(a, b)].contexts == [context.text]
    assert edges[(a, b)].story is None  # a pooled edge belongs to no one context
    assert pooled.winner.value in (b, c) and pooled.winner.confidence is None


def test_an_edge_told_only_the_other_way_shows_that_story_marked(staff, graph_study):
    study, question, context, (a, b, c) = graph_study
    # Everyone keeps B when shown the story "B -> New": the edge points New -> B, and the
    # only story of the pair is told the other way.
    _, new = card_value(study, question, "Quiet Company")
    story = UpgradeHypothesis.objects.create(
        study=study, from_value=b, to_value=new, context=context, story="From B to New."
    )
    judge(study, story, ["no_upgrade"] * 3, [None] * 3)
    snapshot = scoring.score_study(study=study)

    [ctx] = review.graph_review(study, snapshot).questions[0].contexts
    edge = next(e for e in ctx.edges if e.from_value == new)
    assert edge.to_value == b
    assert (edge.story.text, edge.story.reverse) == ("From B to New.", True)
    page = staff.get("/research/graph/review/").content.decode()
    assert "Strongest story, told the other way round" in page
