"""A whole reconcile pass, its report, the lock, and putting failed cards back."""

import threading

import pytest
from django.utils import timezone

from elicitation.models import LLMCall, ValuesCard
from moralgraph import locks
from moralgraph.locks import StudyBusy
from moralgraph.models import (
    Context,
    HypothesisRun,
    UpgradeHypothesis,
    Value,
)
from moralgraph.services import reconcile
from tests.factories import (
    InterviewFactory,
    ParticipantFactory,
    StudyFactory,
    ValuesCardFactory,
)
from tests.moralgraph.support import CARDS, make_study, snapshot_state

pytestmark = pytest.mark.django_db


def test_a_pass_runs_every_step_and_reports_it():
    study = make_study()

    report = reconcile.reconcile_study(study=study)

    assert report.cards_embedded == 4
    assert report.cards_placed == 4
    assert report.merges == 1
    assert report.new_values == 3
    assert Value.objects.filter(study=study, is_active=True).count() == 3
    assert report.contexts_created == Context.objects.filter(study=study).count() > 0
    assert report.interviews_read == 4
    assert report.hypotheses == UpgradeHypothesis.objects.filter(study=study).count() > 0
    assert report.llm_calls == LLMCall.objects.filter(study=study).count()
    story_calls = LLMCall.objects.filter(study=study, stage="hypothesis").count()
    assert report.llm_calls_by_stage == {
        "dedup": report.judge_calls,
        "contexts": 1 + 4,
        "hypothesis": story_calls,
    }
    assert report.llm_calls == (
        report.judge_calls + 1 + 4 + story_calls
    )  # dedup + question contexts + interview contexts + stories (no context was a duplicate)
    # A call writes several stories, and the calls stay within the budget (1 per card).
    assert 0 < story_calls <= 4 < report.hypotheses
    assert report.llm_cost == 0
    assert 0 < report.calls_per_card <= 4
    # Every story pairs values of the question, in one of its contexts.
    for story in UpgradeHypothesis.objects.filter(study=study):
        assert story.from_value.is_active and story.to_value.is_active
        assert story.context.questions.filter(pk=study.questions.get().pk).exists()


def test_a_second_pass_changes_nothing():
    study = make_study()
    reconcile.reconcile_study(study=study)
    before = snapshot_state(study)
    calls = LLMCall.objects.count()

    report = reconcile.reconcile_study(study=study)

    assert snapshot_state(study) == before
    assert LLMCall.objects.count() == calls
    assert report.llm_calls == 0
    assert HypothesisRun.objects.filter(study=study).count() == 1


def test_a_card_submitted_later_only_adds_to_the_graph():
    study = make_study(CARDS[:3])
    reconcile.reconcile_study(study=study)
    before = snapshot_state(study)

    make_more = CARDS[3]
    interview = InterviewFactory(
        participant=ParticipantFactory(study=study), question=study.questions.get()
    )
    ValuesCardFactory(
        interview=interview,
        title=make_more[0],
        policies=make_more[1],
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now(),
    )
    report = reconcile.reconcile_study(study=study)

    after = snapshot_state(study)
    assert set(before["stories"]) < set(after["stories"])
    assert set(before["values"]) < set(after["values"])
    assert report.cards_placed == 1


def test_a_study_held_by_another_process_is_busy():
    study = StudyFactory()
    held, release = threading.Event(), threading.Event()

    def hold():
        with locks.study_lock(study.pk):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(StudyBusy):
            reconcile.reconcile_study(study=study, wait=False)
    finally:
        release.set()
        thread.join()
    reconcile.reconcile_study(study=study, wait=False)


def test_retrying_failed_cards_queues_them_again(django_capture_on_commit_callbacks):
    study = make_study(CARDS[:2])
    failed = ValuesCard.objects.filter(study=study).first()
    ValuesCard.objects.filter(pk=failed.pk).update(
        reconcile_status=ValuesCard.Reconcile.FAILED, reconcile_error="boom", reconcile_attempts=5
    )

    with django_capture_on_commit_callbacks() as callbacks:
        count = reconcile.retry_failed_cards(ValuesCard.objects.filter(study=study))

    assert count == 1
    assert len(callbacks) == 1
    failed.refresh_from_db()
    assert failed.reconcile_status == ValuesCard.Reconcile.PENDING
    assert (failed.reconcile_error, failed.reconcile_attempts) == ("", 0)
