"""Every task is idempotent: run twice, the second run changes nothing. Transient errors
retry; permanent ones mark the card and let the rest of the study go on."""

import threading
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from elicitation import llm
from elicitation.models import LLMCall, Study, ValuesCard
from moralgraph import locks, tasks
from moralgraph.models import ExportJob, GraphSnapshot, UpgradeHypothesis, Value
from moralgraph.services.importers import import_reference
from tests.factories import (
    StudyFactory,
)
from tests.moralgraph.support import CARDS, REFERENCE, judged_study, make_study, snapshot_state

pytestmark = pytest.mark.django_db


def test_process_card_twice_is_process_card_once(queued):
    study = make_study()
    card = ValuesCard.objects.filter(study=study).order_by("id").first()

    tasks.process_card.apply(args=[card.pk]).get()
    first = snapshot_state(study)
    calls = LLMCall.objects.count()
    tasks.process_card.apply(args=[card.pk]).get()

    assert snapshot_state(study) == first
    assert LLMCall.objects.count() == calls
    card.refresh_from_db()
    assert card.reconcile_status == ValuesCard.Reconcile.DONE
    # The card's task did the study's pending work with it.
    assert not ValuesCard.objects.filter(study=study, reconcile_status="pending").exists()


def test_reconcile_study_twice_is_reconcile_study_once(queued):
    study = make_study()
    report = tasks.reconcile_study.apply(args=[study.pk]).get()
    first = snapshot_state(study)
    calls = LLMCall.objects.count()

    again = tasks.reconcile_study.apply(args=[study.pk]).get()

    assert report["cards_placed"] == 4
    assert again["cards_placed"] == 0 and again["llm_calls"] == 0
    assert snapshot_state(study) == first
    assert LLMCall.objects.count() == calls


def test_tasks_for_rows_that_are_gone_do_nothing(queued):
    assert tasks.process_card.apply(args=[10**9]).get() is None
    assert tasks.reconcile_study.apply(args=[10**9]).get() is None
    assert tasks.score_study.apply(args=[10**9]).get() is None


def test_judgment_recorded_marks_the_graph_changed_and_schedules_one_score(
    queued, settings, django_capture_on_commit_callbacks
):
    settings.SCORE_DEBOUNCE_SECONDS = 30
    study = judged_study()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.judgment_recorded.apply(args=[study.pk])
    study.refresh_from_db()
    changed = study.graph_changed_at
    assert changed is not None
    assert queued == [("moralgraph.tasks.score_study", (study.pk,), 30)]

    tasks.judgment_recorded.apply(args=[study.pk])
    study.refresh_from_db()
    assert study.graph_changed_at >= changed
    assert GraphSnapshot.objects.count() == 0  # scoring waits for the debounce


def test_score_study_scores_once_per_change(settings):
    settings.SCORE_DEBOUNCE_SECONDS = 0
    study = judged_study()
    Study.objects.filter(pk=study.pk).update(graph_changed_at=timezone.now())

    snapshot_id = tasks.score_study.apply(args=[study.pk]).get()
    again = tasks.score_study.apply(args=[study.pk]).get()

    assert snapshot_id == GraphSnapshot.objects.get().pk
    assert again is None  # already scored after the change
    study.refresh_from_db()
    assert study.scored_at >= study.graph_changed_at

    Study.objects.filter(pk=study.pk).update(graph_changed_at=timezone.now())
    assert tasks.score_study.apply(args=[study.pk]).get() == snapshot_id  # same inputs


def test_score_study_waits_under_a_stream_of_judgments(settings):
    settings.SCORE_DEBOUNCE_SECONDS = 60
    study = judged_study()
    now = timezone.now()
    Study.objects.filter(pk=study.pk).update(
        scored_at=now - timedelta(seconds=10), graph_changed_at=now
    )
    # Scored ten seconds ago: the task that the latest change scheduled will score it.
    assert tasks.score_study.apply(args=[study.pk]).get() is None
    Study.objects.filter(pk=study.pk).update(scored_at=now - timedelta(seconds=120))
    assert tasks.score_study.apply(args=[study.pk]).get() is not None


def test_a_study_that_never_changed_is_not_scored():
    study = StudyFactory()
    assert tasks.score_study.apply(args=[study.pk]).get() is None
    assert not GraphSnapshot.objects.exists()


def test_the_sweep_requeues_stale_work_and_scoring(queued, settings):
    settings.RECONCILE_SWEEP_SECONDS = 60
    stale = make_study(CARDS[:1])
    ValuesCard.objects.filter(study=stale).update(
        submitted_at=timezone.now() - timedelta(minutes=5)
    )
    fresh = make_study(CARDS[:1])  # its own task is on the way: left alone
    Study.objects.filter(pk__in=[stale.pk, fresh.pk]).update(status=Study.Status.DRAFT)
    changed = judged_study()
    Study.objects.filter(pk=changed.pk).update(graph_changed_at=timezone.now())

    result = tasks.sweep_studies.apply().get()
    again = tasks.sweep_studies.apply().get()

    assert (
        result
        == again
        == {
            "reconcile": [stale.pk],
            "score": [changed.pk],
            "exports": [],
            "closing": [],
            "closed": [],
        }
    )
    assert queued.count(("moralgraph.tasks.reconcile_study", (stale.pk,), None)) == 2


def test_the_sweep_gives_an_open_study_its_question_contexts(queued):
    study = make_study(CARDS[:1])
    ValuesCard.objects.filter(study=study).update(reconcile_status=ValuesCard.Reconcile.DONE)
    assert tasks.sweep_studies.apply().get()["reconcile"] == [study.pk]


def test_a_busy_study_is_looked_at_again_soon(queued):
    study = make_study(CARDS[:1])
    card = ValuesCard.objects.get(study=study)
    held, release = threading.Event(), threading.Event()

    def hold():
        with locks.study_lock(study.pk):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        held.wait(10)
        result = tasks.process_card.apply(args=[card.pk], throw=True)
        # The study's own pass holds it: that pass does the work, the sweep the rest.
        assert tasks.reconcile_study.apply(args=[study.pk], throw=True).get() is None
    finally:
        release.set()
        thread.join()
    # A fresh message later, not a retry that would spend the retry budget.
    assert queued == [("moralgraph.tasks.process_card", (card.pk,), tasks.BUSY_RETRY_SECONDS)]
    assert result.state == "SUCCESS"
    card.refresh_from_db()
    assert card.reconcile_status == ValuesCard.Reconcile.PENDING


def test_a_transient_llm_error_is_retried_by_celery_with_backoff(queued, monkeypatch):
    study = make_study(CARDS[:2])
    card = ValuesCard.objects.filter(study=study).order_by("id").last()

    def structured(**kwargs):
        raise llm.LLMError("rate limited", stage=kwargs["stage"], model="x", retryable=True)

    monkeypatch.setattr(llm, "structured", structured)
    with pytest.raises(Retry) as first:
        tasks.process_card.apply(args=[card.pk], throw=True)
    assert first.value.when == 30
    assert isinstance(first.value.exc, tasks.TransientError)
    assert "rate limited" in str(first.value.exc)
    with pytest.raises(Retry) as fourth:
        tasks.process_card.apply(args=[card.pk], retries=3, throw=True)
    assert fourth.value.when == 240
    with pytest.raises(Retry) as late:
        tasks.process_card.apply(args=[card.pk], retries=11, throw=True)
    assert late.value.when == 30 * 60  # the cap
    # Out of retries, the error stands; the card stays pending for the sweep.
    with pytest.raises(tasks.TransientError):
        tasks.process_card.apply(args=[card.pk], retries=12, throw=True)
    card.refresh_from_db()
    assert card.reconcile_status == ValuesCard.Reconcile.PENDING
    assert queued == []


def test_a_permanent_llm_error_fails_one_card_and_the_study_goes_on(queued, monkeypatch):
    study = make_study()
    real = llm.structured

    def structured(*, stage, prompt, payload, study=None):
        titles = [card["title"] for card in payload.get("cards", [])]
        if stage == "dedup" and CARDS[1][0] in titles:
            raise llm.LLMError("bad request", stage=stage, model="x", retryable=False)
        return real(stage=stage, prompt=prompt, payload=payload, study=study)

    monkeypatch.setattr(llm, "structured", structured)
    report = tasks.reconcile_study.apply(args=[study.pk], throw=True).get()

    failed = ValuesCard.objects.get(study=study, title=CARDS[1][0])
    assert failed.reconcile_status == ValuesCard.Reconcile.FAILED
    assert "bad request" in failed.reconcile_error
    assert report["cards_placed"] == 3 and report["cards_failed"] == 1
    assert UpgradeHypothesis.objects.filter(study=study).exists()
    assert Value.objects.filter(study=study, is_active=True).count() == 3


# Thresholds that let the fixture train, so that responses are needed.
@pytest.mark.usefixtures("lenient_statuses")
def test_an_export_out_of_retries_fails_its_job(queued, monkeypatch, settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path
    study = import_reference(REFERENCE, study_slug="ref").study  # its SFT rows need the LLM
    job = ExportJob.objects.create(study=study, format="sft-jsonl", mode="default")

    def down(**kwargs):
        raise llm.LLMError("timeout", stage="response", model="x", retryable=True)

    monkeypatch.setattr(llm, "structured", down)
    with pytest.raises(Retry) as retry:
        tasks.run_export.apply(args=[job.pk], throw=True)
    assert retry.value.when == 30
    job.refresh_from_db()
    assert job.status == ExportJob.Status.PENDING  # back in line for the retry
    last = tasks.run_export.apply(args=[job.pk], retries=tasks.run_export.max_retries)
    assert last.state == "FAILURE" and isinstance(last.result, tasks.TransientError)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and "timeout" in job.error
    assert job.finished_at is not None


def test_the_sweep_queues_an_export_whose_message_was_lost(queued, settings):
    settings.EXPORT_LEASE_SECONDS = 600
    study = StudyFactory()
    old = timezone.now() - timedelta(seconds=601)
    lost = ExportJob.objects.create(study=study, format="csv", created_at=old)
    # Put back for a retry (it has a heartbeat): its retry is on the way.
    ExportJob.objects.create(study=study, format="csv", created_at=old, heartbeat_at=old)
    ExportJob.objects.create(study=study, format="csv")  # just made: its message is on the way

    assert tasks.sweep_studies.apply().get()["exports"] == [lost.pk]
    assert ("moralgraph.tasks.run_export", (lost.pk,), None) in queued


def test_the_sweep_marks_the_idle_abandoned_and_closes_a_study_left_empty(queued):
    from elicitation.models import Participant
    from moralgraph.models import AuditEntry

    study = StudyFactory(status=Study.Status.CLOSING, inactive_minutes=10)
    idle = Participant.objects.create(study=study)
    Participant.objects.filter(pk=idle.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=11)
    )
    result = tasks.sweep_studies.apply().get()
    assert result["closed"] == [study.pk]
    assert Participant.objects.get(pk=idle.pk).abandoned_at is not None
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED
    entry = AuditEntry.objects.get(study=study)
    assert entry.action == "status" and entry.actor is None
    assert entry.details == {"from": "closing", "to": "closed", "automatic": True}
