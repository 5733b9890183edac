"""Thin Celery tasks of the graph side: each takes ids and calls one service.

Every task is idempotent: the services claim their rows with conditional UPDATEs and
the study lock, so a message delivered twice (late acks redeliver the message of a
worker that died) finds nothing left to do. A transient LLM error is retried by Celery
(``autoretry_for`` with exponential backoff); a permanent one is the service's to record.
Tasks are sent by name through ``elicitation.queue``, never imported by a service. The
beat schedule runs ``sweep_studies``, which re-enqueues whatever a lost message or a
dead worker left behind.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from celery import Task, shared_task

from elicitation.llm import LLMError
from elicitation.models import Study
from elicitation.queue import enqueue
from moralgraph.locks import StudyBusy
from moralgraph.services import reconcile, scoring, screening, simulation, sweep
from moralgraph.services.exports import jobs

logger = logging.getLogger(__name__)

# Another pass holds the study: look again soon; it will usually have done our work.
BUSY_RETRY_SECONDS = 15

# One retry policy for every task that calls an LLM: 30 s, 60 s, ... at most 30 minutes.
RETRY = {
    "max_retries": 12,
    "retry_backoff": 30,
    "retry_backoff_max": 30 * 60,
    "retry_jitter": False,
}


class TransientError(Exception):
    """A retryable LLM error, raised again under this name for Celery to retry."""


@contextmanager
def _transient_llm_errors():
    # Only some LLMErrors are worth retrying; Celery picks what to retry by type.
    try:
        yield
    except LLMError as error:
        if error.retryable:
            raise TransientError(str(error)) from error
        raise


@shared_task(autoretry_for=(TransientError,), **RETRY)
def process_card(card_id: int) -> None:
    """A card was submitted: place it in the graph (with the rest of its study's work)."""
    try:
        with _transient_llm_errors():
            reconcile.reconcile_card(card_id=card_id)
    except StudyBusy:
        # A pass over a large study can hold it for minutes, longer than a retry budget
        # should last: look again later with a fresh message. The pass usually places
        # the card meanwhile, and then the next look finds it done and stops.
        enqueue("moralgraph.tasks.process_card", card_id, countdown=BUSY_RETRY_SECONDS)


@shared_task(autoretry_for=(TransientError,), **RETRY)
def screen_card(card_id: int) -> str | None:
    """A card was submitted: the pre-screen may flag it for the moderation page. A
    permanent LLM error leaves it unflagged (the flag only helps; a researcher still sees
    every card)."""
    try:
        with _transient_llm_errors():
            return screening.screen_card(card_id=card_id)
    except LLMError as error:
        logger.warning("pre-screen of card %s failed: %s", card_id, error)
        return None


@shared_task(autoretry_for=(TransientError,), **RETRY)
def reconcile_study(study_id: int) -> dict | None:
    """Every reconciliation step for one study (the command without --sync, the sweep)."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return None
    try:
        with _transient_llm_errors():
            return reconcile.reconcile_study(study=study, wait=False).as_dict()
    except StudyBusy:
        # Whoever holds the study is doing this work; what it misses, the sweep finds.
        logger.info("study %s is being reconciled already", study_id)
        return None


@shared_task
def judgment_recorded(study_id: int) -> None:
    """A wiser judgment was stored: the graph changed; score it after a quiet spell."""
    scoring.note_graph_changed(study_id=study_id)


@shared_task
def score_study(study_id: int) -> int | None:
    """Score a study if its graph changed since it was last scored. Judgments arriving in
    a burst schedule many of these; the first one to run scores them all and the rest
    find nothing new."""
    snapshot = scoring.score_if_due(study_id=study_id)
    return None if snapshot is None else snapshot.pk


class _ExportTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Out of retries (or a permanent error): the job must not stay pending forever.
        jobs.give_up(args[0], exc)


@shared_task(base=_ExportTask, autoretry_for=(TransientError,), **{**RETRY, "max_retries": 8})
def run_export(job_id: int) -> str | None:
    """Build an export job's file (moralgraph.services.exports.jobs)."""
    with _transient_llm_errors():
        job = jobs.run_export_job(job_id)
    return None if job is None else job.status


@shared_task
def sweep_studies() -> dict:
    """Beat: re-enqueue reconciliation left pending for a sweep period, scoring left
    undone, and export jobs whose message was lost or whose worker died."""
    return sweep.sweep()


@shared_task
def run_simulation(run_id: int) -> int | None:
    """A simulated pilot started from the study's simulate page. Idempotent: the run is
    claimed from "queued", so a redelivered message finds it taken and does nothing."""
    run = simulation.simulation_start(run_id=run_id)
    return run.pk if run is not None else None
