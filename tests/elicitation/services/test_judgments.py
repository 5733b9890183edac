"""services.judgments: verdicts on the upgrade stories drawn."""

from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from elicitation import selectors
from elicitation.models import JudgmentAssignment, Participant, WiserJudgment
from elicitation.services import judgments, participants
from tests import factories
from tests.helpers import advance_to, fresh

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_reaching_the_judgments_draws_stories_on_distinct_pairs(selecting):
    participant, _ = selecting
    participant = advance_to(participant, Step.JUDGMENTS)
    assignments = JudgmentAssignment.objects.filter(participant=participant)
    assert assignments.count() == 3
    pairs = {
        WiserJudgment.make_pair_key(a.hypothesis.from_value_id, a.hypothesis.to_value_id)
        for a in assignments
    }
    assert len(pairs) == 3


def test_a_judgment_is_recorded_once_and_enqueues_the_score(
    selecting, django_capture_on_commit_callbacks
):
    participant = advance_to(selecting[0], Step.JUDGMENTS)
    first = selectors.open_assignments(participant)[0]
    with mock.patch("elicitation.queue.enqueue") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            judgment = judgments.judgment_record(
                participant=participant,
                hypothesis_id=first.hypothesis_id,
                verdict="no_upgrade",
                reason="Not really <b>wiser</b>",
                reason_private=True,
            )
        enqueue.assert_called_once_with(
            "moralgraph.tasks.judgment_recorded", participant.study_id, countdown=None
        )
    again = judgments.judgment_record(
        participant=participant, hypothesis_id=first.hypothesis_id, verdict="upgrade"
    )
    assert again.pk == judgment.pk and again.verdict == "no_upgrade"
    assert judgment.reason_private and judgment.reason == "Not really <b>wiser</b>"


def test_judging_a_story_not_drawn_for_you_is_not_found(selecting):
    participant = advance_to(selecting[0], Step.JUDGMENTS)
    drawn = set(
        JudgmentAssignment.objects.filter(participant=participant).values_list(
            "hypothesis_id", flat=True
        )
    )
    other = factories.UpgradeHypothesisFactory(study=participant.study)
    assert other.pk not in drawn
    with pytest.raises(participants.NotFound):
        judgments.judgment_record(
            participant=participant, hypothesis_id=other.pk, verdict="upgrade"
        )


def test_an_unknown_verdict_is_refused(selecting):
    participant = advance_to(selecting[0], Step.JUDGMENTS)
    first = selectors.open_assignments(participant)[0]
    with pytest.raises(ValidationError):
        judgments.judgment_record(
            participant=participant, hypothesis_id=first.hypothesis_id, verdict="maybe"
        )


def test_the_last_judgment_moves_on_to_the_survey(selecting):
    participant = advance_to(selecting[0], Step.SURVEY)
    assert WiserJudgment.objects.filter(participant=participant).count() == 3


def test_what_is_left_to_judge_comes_in_the_drawn_order_not_the_saved_one(selecting):
    participant = advance_to(selecting[0], Step.JUDGMENTS)
    drawn = list(JudgmentAssignment.objects.filter(participant=participant).order_by("id"))
    for position, assignment in enumerate(reversed(drawn)):
        JudgmentAssignment.objects.filter(pk=assignment.pk).update(position=position)
    left, total = selectors.assignments_left(participant)
    assert [a.pk for a in left] == [a.pk for a in reversed(drawn)] and total == 3


def test_judgments_finish_moves_on_when_the_drawn_stories_are_gone(selecting):
    participant = advance_to(selecting[0], Step.JUDGMENTS)
    JudgmentAssignment.objects.filter(participant=participant).delete()
    judgments.judgments_finish(participant=participant)
    assert fresh(participant).step == Step.SURVEY


def test_what_is_left_to_judge_and_the_total_follow_each_verdict(selecting):
    participant = advance_to(selecting[0], Step.JUDGMENTS)
    drawn = selectors.open_assignments(participant)
    assert selectors.assignments_left(participant) == (drawn, 3)
    assert selectors.has_open_assignments(participant)
    for n, assignment in enumerate(drawn, 1):
        judgments.judgment_record(
            participant=participant,
            hypothesis_id=assignment.hypothesis_id,
            verdict="upgrade",
        )
        left, total = selectors.assignments_left(participant)
        assert [a.pk for a in left] == [a.pk for a in drawn[n:]] and total == 3
        assert selectors.has_open_assignments(participant) == (n < 3)
    assert fresh(participant).step == Step.SURVEY
