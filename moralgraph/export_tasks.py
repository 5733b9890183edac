"""The export job's Celery task (thin: an id in, the service does the work)."""

from __future__ import annotations

from celery import shared_task

from elicitation.llm import LLMError
from moralgraph.exports import jobs

MAX_RETRIES = 8


@shared_task(bind=True, max_retries=MAX_RETRIES)
def run_export(self, job_id: int) -> str | None:
    try:
        job = jobs.run_export_job(job_id)
    except LLMError as error:
        if not error.retryable:
            raise
        if self.request.retries >= MAX_RETRIES:
            jobs.give_up(job_id, error)
            raise
        raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 1800)) from error
    return None if job is None else job.status
