"""Exports as background jobs: an ExportJob row, a Celery task, progress as it goes.

``start_export`` records the job and enqueues it once the row is committed; the task
(moralgraph.tasks.run_export) calls ``run_export_job``, which claims the job with a
conditional UPDATE (a message delivered twice finds it taken), writes the training
responses the format needs (``progress`` counts them against ``total``), builds the file
under EXPORT_ROOT and records its path and SHA-256.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from elicitation.llm import LLMError
from elicitation.models import Study
from elicitation.queue import enqueue_on_commit
from moralgraph.models import ExportJob
from moralgraph.services.exports import Export, build_export, resolve_mode

logger = logging.getLogger(__name__)


def start_export(
    *, study: Study, fmt: str, mode: str | None = None, as_of: datetime | None = None
) -> ExportJob:
    """Record an export job and enqueue it after the surrounding transaction commits."""
    job = ExportJob.objects.create(
        study=study, format=fmt, mode=resolve_mode(fmt, mode), as_of=as_of
    )
    enqueue_on_commit("moralgraph.tasks.run_export", job.pk)
    return job


def write_export(export: Export, study: Study) -> Path:
    """Write the file under EXPORT_ROOT/<study>/, atomically (a reader never sees half)."""
    directory = Path(settings.EXPORT_ROOT) / study.slug
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / export.filename
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_bytes(export.content)
    partial.replace(path)
    return path


def run_export_job(job_id: int) -> ExportJob | None:
    """Build a pending job's export. Returns None if the job was not pending.

    A transient LLM error puts the job back to pending and re-raises, for the task to
    retry later; the responses already written stay cached. Any other error fails it.
    """
    claimed = (
        ExportJob.objects.filter(pk=job_id)
        .filter(_claimable())
        .update(status=ExportJob.Status.RUNNING, error="", heartbeat_at=timezone.now())
    )
    if claimed != 1:
        return None  # someone else got there first, or it is finished
    job = ExportJob.objects.select_related("study").get(pk=job_id)

    def progress(done: int, total: int) -> None:
        ExportJob.objects.filter(pk=job_id).update(
            progress=done, total=total, heartbeat_at=timezone.now()
        )

    try:
        export = build_export(
            study=job.study,
            fmt=job.format,
            mode=job.mode,
            as_of=job.as_of,
            generate=True,
            progress=progress,
        )
        path = write_export(export, job.study)
    except LLMError as error:
        status = ExportJob.Status.PENDING if error.retryable else ExportJob.Status.FAILED
        ExportJob.objects.filter(pk=job_id).update(status=status, error=str(error)[:2000])
        raise
    except Exception as error:
        logger.exception("export job %s failed", job_id)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportJob.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    ExportJob.objects.filter(pk=job_id).update(
        status=ExportJob.Status.DONE,
        snapshot=export.snapshot,
        path=str(path),
        sha256=export.sha256,
        # A training file with no rows is an honest result, not a failure: the exports
        # page shows why beside the download.
        error=f"No training examples: {export.note}." if export.note else "",
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def _claimable() -> Q:
    """Pending, or running with a heartbeat older than the lease: its worker died (the
    file is written atomically, so nothing half-built is left behind)."""
    lease = timezone.now() - timedelta(seconds=settings.EXPORT_LEASE_SECONDS)
    return Q(status=ExportJob.Status.PENDING) | Q(
        status=ExportJob.Status.RUNNING, heartbeat_at__lt=lease
    )


def stalled_jobs() -> list[int]:
    """Jobs nobody is running, for the sweep to enqueue again: running ones whose worker
    stopped beating, and pending ones never claimed a lease after they were made (their
    message was lost). A job put back to pending for a retry has a heartbeat: its retry
    is on the way."""
    lease = timezone.now() - timedelta(seconds=settings.EXPORT_LEASE_SECONDS)
    lost = Q(status=ExportJob.Status.PENDING, heartbeat_at=None, created_at__lt=lease)
    died = Q(status=ExportJob.Status.RUNNING, heartbeat_at__lt=lease)
    return list(ExportJob.objects.filter(lost | died).order_by("pk").values_list("pk", flat=True))


def give_up(job_id: int, error: Exception) -> None:
    """Fail a job whose transient errors outlasted the task's retries."""
    ExportJob.objects.filter(pk=job_id).exclude(status=ExportJob.Status.DONE).update(
        status=ExportJob.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
    )
