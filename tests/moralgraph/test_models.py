"""GraphSnapshot's readers: the one rule for the latest snapshot, a context's winner, and
where a value sits."""

from datetime import timedelta

import pytest
from django.utils import timezone

from moralgraph.models import Context, GraphSnapshot
from moralgraph.services import scoring
from tests import factories
from tests.moralgraph.support import card_value, judge

pytestmark = pytest.mark.django_db


def _snapshot(study, name, *, mode="default", as_of=None, minutes_ago=0):
    created = timezone.now() - timedelta(minutes=minutes_ago)
    return GraphSnapshot.objects.create(
        study=study, mode=mode, input_hash=name, as_of=as_of, created_at=created
    )


def test_the_latest_is_the_newest_over_every_judgment():
    study = factories.StudyFactory()
    _snapshot(study, "old", minutes_ago=30)
    newest = _snapshot(study, "new", minutes_ago=10)
    # A researcher's cut-off run made since holds fewer judgments: not the latest.
    _snapshot(study, "cut", as_of=timezone.now() - timedelta(days=3), minutes_ago=1)
    _snapshot(study, "compat", mode="compat")
    assert GraphSnapshot.latest_for(study) == newest
    assert GraphSnapshot.latest_for(study, "compat").input_hash == "compat"


def test_a_cut_off_after_the_run_counts_as_every_judgment():
    # The same inputs are stored once: the debounced score may find its snapshot already
    # made by an export whose cut-off lay in the future.
    study = factories.StudyFactory()
    _snapshot(study, "old", minutes_ago=30)
    complete = _snapshot(study, "future", as_of=timezone.now() + timedelta(days=1), minutes_ago=5)
    assert GraphSnapshot.latest_for(study) == complete


def test_only_cut_off_runs_give_the_newest_of_them():
    study = factories.StudyFactory()
    assert GraphSnapshot.latest_for(study) is None
    _snapshot(study, "a", as_of=timezone.now() - timedelta(days=9), minutes_ago=20)
    b = _snapshot(study, "b", as_of=timezone.now() - timedelta(days=8), minutes_ago=10)
    assert GraphSnapshot.latest_for(study) == b


def test_the_latest_key_follows_the_same_rule_in_one_query(django_assert_num_queries):
    study = factories.StudyFactory()
    with django_assert_num_queries(1):
        assert GraphSnapshot.latest_key_for(study) is None
    cut = _snapshot(study, "cut", as_of=timezone.now() - timedelta(days=3), minutes_ago=1)
    assert GraphSnapshot.latest_key_for(study) == (cut.pk, "cut")  # only a cut-off run: that one
    complete = _snapshot(study, "new", minutes_ago=10)
    with django_assert_num_queries(1):
        assert GraphSnapshot.latest_key_for(study) == (complete.pk, "new")
    with django_assert_num_queries(1):
        assert GraphSnapshot.latest_for(study) == complete


@pytest.fixture
def judged():
    """B beats A in one context of the question; a second context duplicates it."""
    study = factories.StudyFactory()
    question = factories.QuestionFactory(study=study)
    other = factories.QuestionFactory(study=study, key="other")
    context = Context.objects.create(study=study, text="When it matters")
    context.questions.add(question)
    twin = Context.objects.create(study=study, text="When it matters most", duplicate_of=context)
    _, a = card_value(study, question, "Plain Honesty")
    _, b = card_value(study, question, "Gentle Presence")
    story = factories.UpgradeHypothesisFactory(
        study=study, from_value=a, to_value=b, context=context
    )
    judge(study, story, ["upgrade"] * 3, [None] * 3)
    return study, question, other, context, twin, a, b


def test_the_winner_of_a_context_for_its_question(judged):
    study, question, other, context, twin, a, b = judged
    snapshot = scoring.score_study(study=study)

    winner = snapshot.winner_for(question, context)
    assert winner.value_id == str(b.pk) and (winner.wins, winner.decisive) == (3, 3)
    assert snapshot.winner_for(None, context.pk).value_id == str(b.pk)
    assert snapshot.winner_for(question, twin).value_id == str(b.pk)  # its duplicate
    assert snapshot.winner_for(other, context) is None  # not one of that question's
    assert snapshot.winner_for(question, 10**9) is None
    compat = scoring.score_study(study=study, mode="compat")
    # The reference's scoring pools contexts: one winner for all.
    assert compat.winner_for(question, twin).value_id == str(b.pk)
    assert compat.winner_for(other, context) is None


def test_where_a_value_sits(judged):
    study, question, other, context, twin, a, b = judged
    snapshot = scoring.score_study(study=study)

    low, high = snapshot.position_of(a), snapshot.position_of(b.pk)
    assert low.wiser == [str(b.pk)] and low.less_wise == [] and low.contexts_won == []
    assert high.less_wise == [str(a.pk)] and high.contexts_won == [str(context.pk)]
    [standing] = high.standings
    assert (standing.rank, standing.ranked, standing.winner_id) == (1, 2, str(b.pk))
    assert not snapshot.position_of(10**9).placed
