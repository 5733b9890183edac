"""The background export job: progress, retries put back, failures, and a dead worker's lease."""

import hashlib
from pathlib import Path

import pytest

from elicitation import llm
from elicitation.models import LLMCall
from moralgraph.models import ExportJob
from moralgraph.services.exports import jobs
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

# The fixture's few judgments, scored with thresholds that let them train (conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


def test_the_export_job_builds_the_file_with_progress(study, settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path
    job = ExportJob.objects.create(study=study, format="bundle", mode="default")
    done = jobs.run_export_job(job.pk)
    assert done.status == ExportJob.Status.DONE
    assert done.total > 0 and done.progress == done.total
    path = Path(done.path)
    assert path.parent == tmp_path / "ref"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == done.sha256
    assert done.snapshot.mode == "default"
    assert done.finished_at is not None
    # A second delivery of the same message finds the job taken.
    assert jobs.run_export_job(job.pk) is None


def test_a_transient_failure_puts_the_job_back_for_a_retry(study, settings, tmp_path, monkeypatch):
    settings.EXPORT_ROOT = tmp_path

    def down(**kwargs):
        raise llm.LLMError("timeout", stage="response", model="offline", retryable=True)

    monkeypatch.setattr(llm, "structured", down)
    job = ExportJob.objects.create(study=study, format="sft-jsonl", mode="default")
    with pytest.raises(llm.LLMError):
        jobs.run_export_job(job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.PENDING and "timeout" in job.error
    monkeypatch.undo()
    assert jobs.run_export_job(job.pk).status == ExportJob.Status.DONE


def test_a_permanent_failure_fails_the_job(study, settings, tmp_path, monkeypatch):
    settings.EXPORT_ROOT = tmp_path

    def broken(**kwargs):
        raise llm.LLMError("bad key", stage="response", model="offline", retryable=False)

    monkeypatch.setattr(llm, "structured", broken)
    job = ExportJob.objects.create(study=study, format="dpo-jsonl", mode="default")
    with pytest.raises(llm.LLMError):
        jobs.run_export_job(job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and "bad key" in job.error


def test_a_job_for_a_format_without_training_data_needs_no_llm(study, settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path
    job = ExportJob.objects.create(study=study, format="reference-json", mode="compat")
    done = jobs.run_export_job(job.pk)
    assert done.status == ExportJob.Status.DONE and done.total == 0
    assert not LLMCall.objects.exists()


def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(
    study, settings, tmp_path, queued
):
    from datetime import timedelta

    from django.utils import timezone

    from moralgraph.tasks import sweep_studies

    settings.EXPORT_ROOT = tmp_path
    settings.EXPORT_LEASE_SECONDS = 600
    now = timezone.now()
    dead = ExportJob.objects.create(
        study=study,
        format="graph-json",
        status=ExportJob.Status.RUNNING,
        heartbeat_at=now - timedelta(seconds=601),
    )
    alive = ExportJob.objects.create(
        study=study,
        format="graph-json",
        status=ExportJob.Status.RUNNING,
        heartbeat_at=now - timedelta(seconds=30),
    )
    assert sweep_studies()["exports"] == [dead.pk]
    assert [q for q in queued if q[0] == "moralgraph.tasks.run_export"] == [
        ("moralgraph.tasks.run_export", (dead.pk,), None)
    ]
    # The job still being worked on is left alone; the dead one is finished.
    assert jobs.run_export_job(alive.pk) is None
    finished = jobs.run_export_job(dead.pk)
    assert finished.status == ExportJob.Status.DONE
    assert Path(finished.path).is_file()
    assert sweep_studies()["exports"] == []
