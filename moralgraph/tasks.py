"""Thin Celery tasks of the graph side: take ids, call a service, retry what is transient.

Every task is idempotent: the services claim their rows with conditional UPDATEs and
the study lock, so a message delivered twice (late acks redeliver the message of a
worker that died) finds nothing left to do. The beat schedule runs ``sweep_studies``,
which re-enqueues whatever a lost message or a dead worker left behind.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from elicitation.llm import LLMError
from elicitation.models import Study
from moralgraph import scoring, selectors, services
from moralgraph.locks import StudyBusy

logger = logging.getLogger(__name__)

# Another pass holds the study: look again soon; it will usually have done our work.
BUSY_RETRY_SECONDS = 15
MAX_RETRIES = 12


def _backoff(retries: int) -> int:
    """Seconds before retry number ``retries`` after a transient LLM error."""
    return min(30 * 2**retries, 30 * 60)


def _retry(task, error: Exception):
    return task.retry(exc=error, countdown=_backoff(task.request.retries))


@shared_task(bind=True, max_retries=MAX_RETRIES)
def process_card(self, card_id: int) -> None:
    """A card was submitted: place it in the graph (with the rest of its study's work)."""
    try:
        services.reconcile_card(card_id=card_id)
    except StudyBusy:
        # A pass over a large study can hold it for minutes, longer than a retry budget
        # should last: look again later with a fresh message. The pass usually places
        # the card meanwhile, and then the next look finds it done and stops.
        process_card.apply_async((card_id,), countdown=BUSY_RETRY_SECONDS)
    except LLMError as error:
        if not error.retryable:
            raise
        raise _retry(self, error) from error


@shared_task(bind=True, max_retries=MAX_RETRIES)
def reconcile_study(self, study_id: int) -> dict | None:
    """Every reconciliation step for one study (the command without --sync, the sweep)."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return None
    try:
        return services.reconcile_study(study=study, wait=False).as_dict()
    except StudyBusy:
        # Whoever holds the study is doing this work; what it misses, the sweep finds.
        logger.info("study %s is being reconciled already", study_id)
        return None
    except LLMError as error:
        if not error.retryable:
            raise
        raise _retry(self, error) from error


@shared_task
def judgment_recorded(study_id: int) -> None:
    """A wiser judgment was stored: the graph changed; score it after a quiet spell."""
    services.note_graph_changed(study_id=study_id)


def schedule_score(study_id: int, countdown: int | None = None) -> None:
    if countdown is None:
        countdown = settings.SCORE_DEBOUNCE_SECONDS
    score_study.apply_async((study_id,), countdown=countdown)


@shared_task
def score_study(study_id: int) -> int | None:
    """Score a study if its graph changed since it was last scored. Judgments arriving in
    a burst schedule many of these; the first one to run scores them all and the rest
    find nothing new."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None or not _score_due(study):
        return None
    return scoring.score_study(study=study).pk


def _score_due(study: Study) -> bool:
    if study.graph_changed_at is None:
        return False
    if study.scored_at is not None and study.scored_at >= study.graph_changed_at:
        return False  # already scored after the change
    # Under a steady stream of judgments, score at most once per debounce period: the
    # task scheduled by the latest change comes later and picks it up.
    recent = timezone.now() - timedelta(seconds=settings.SCORE_DEBOUNCE_SECONDS)
    return not (study.scored_at is not None and study.scored_at > recent)


@shared_task
def sweep_studies() -> dict:
    """Beat: re-enqueue reconciliation left pending for a sweep period, scoring left
    undone, and export jobs whose worker died. Cheap when there is nothing to do."""
    stale = timedelta(seconds=settings.RECONCILE_SWEEP_SECONDS)
    reconcile = list(selectors.studies_needing_work(stale_after=stale).values_list("pk", flat=True))
    for study_id in reconcile:
        reconcile_study.delay(study_id)
    score = list(selectors.studies_needing_score().values_list("pk", flat=True))
    for study_id in score:
        score_study.delay(study_id)
    from moralgraph.export_tasks import run_export
    from moralgraph.exports.jobs import stalled_jobs

    exports = stalled_jobs()
    for job_id in exports:
        run_export.delay(job_id)
    if reconcile or score or exports:
        logger.info("sweep: reconcile %s, score %s, exports %s", reconcile, score, exports)
    return {"reconcile": reconcile, "score": score, "exports": exports}
