"""The demo's graph review after a first few dozen judgments: every judged value is
ranked (by the pairwise model's strength) even before any edge is kept, and each
context's leader is named by its title."""

import itertools

import pytest

from elicitation.demo import load_demo_study
from moralgraph.models import UpgradeHypothesis
from moralgraph.research import review
from moralgraph.services import scoring
from tests.moralgraph.support import judge

pytestmark = pytest.mark.django_db


def test_the_demo_review_is_not_empty_after_89_judgments():
    study = load_demo_study()
    stories = list(UpgradeHypothesis.objects.filter(study=study).order_by("pk"))
    # 89 judgments spread over the demo's stories, split as early judgments are: no
    # pair has a clear majority yet, so no edge is kept.
    verdicts = itertools.cycle(["upgrade", "no_upgrade", "not_sure"])
    for story in itertools.islice(itertools.cycle(stories), 89):
        judge(study, story, [next(verdicts)], [None])
    snapshot = scoring.score_study(study=study)
    assert snapshot.judgment_count == 89
    laid_out = review.graph_review(study, snapshot)

    assert laid_out.kept_edges == 0
    judged = {str(v) for s in stories for v in (s.from_value_id, s.to_value_id)}
    assert laid_out.values_ranked == len(judged)
    contexts = [c for q in laid_out.questions for c in q.contexts]
    assert contexts and all(c.ranks for c in contexts)
    for context in contexts:
        assert all(r.value is not None for r in context.ranks)
        scores = [r.score for r in context.ranks]
        assert scores == sorted(scores, reverse=True)
        if context.winner is not None:
            assert context.winner.value is not None  # named by its title, not "Value 7"
