"""Training responses (cache, generation, failures) and the background export job."""

import hashlib
from pathlib import Path

import pytest

from elicitation import llm
from elicitation.models import LLMCall
from moralgraph import training
from moralgraph.exports import jobs, load, needs
from moralgraph.importers import import_reference
from moralgraph.models import ExportJob, TrainingResponse

REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "reference"

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


@pytest.fixture
def wanted(study):
    return needs("dpo-jsonl", load(study=study, mode="default"))


def test_it_writes_each_missing_response_once_with_progress(study, wanted):
    seen = []
    written = training.generate(study=study, needs=wanted, progress=lambda *p: seen.append(p))
    assert set(written) == set(wanted)
    assert seen[0] == (0, len(wanted)) and seen[-1] == (len(wanted), len(wanted))
    assert TrainingResponse.objects.count() == len(wanted)
    row = TrainingResponse.objects.first()
    assert (row.model, row.prompt_version) == training.current_key(study)
    assert row.response

    calls = LLMCall.objects.filter(stage="response").count()
    again = training.generate(study=study, needs=wanted)
    assert LLMCall.objects.filter(stage="response").count() == calls
    assert {n: r.pk for n, r in again.items()} == {n: r.pk for n, r in written.items()}


def test_the_cache_is_keyed_by_model(study, wanted):
    training.generate(study=study, needs=wanted)
    study.response_model = "offline/response"  # the same provider under another name
    study.save()
    assert training.missing(study, wanted) == sorted(set(wanted))
    training.generate(study=study, needs=wanted)
    assert TrainingResponse.objects.count() == 2 * len(set(wanted))


def test_a_failed_call_keeps_what_was_written(study, wanted, monkeypatch):
    real = llm.structured
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise llm.LLMError("rate limited", stage="response", model="offline", retryable=True)
        return real(**kwargs)

    monkeypatch.setattr(llm, "structured", flaky)
    with pytest.raises(llm.LLMError):
        training.generate(study=study, needs=wanted)
    assert TrainingResponse.objects.count() == 2
    training.generate(study=study, needs=wanted)
    assert TrainingResponse.objects.count() == len(set(wanted))


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
    study, settings, tmp_path, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from moralgraph import export_tasks
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
    queued = []
    monkeypatch.setattr(export_tasks.run_export, "delay", queued.append)
    assert sweep_studies()["exports"] == [dead.pk]
    assert queued == [dead.pk]
    # The job still being worked on is left alone; the dead one is finished.
    assert jobs.run_export_job(alive.pk) is None
    finished = jobs.run_export_job(dead.pk)
    assert finished.status == ExportJob.Status.DONE
    assert Path(finished.path).is_file()
    assert sweep_studies()["exports"] == []
