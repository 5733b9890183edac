"""The periodic sweep: what a lost message or a dead worker left behind, queued again.

Work is handed to Celery after commit by ``elicitation.queue``, which logs and drops a
message the broker refused; this sweep is what makes that safe. It is cheap when there
is nothing to do, and every task it queues is idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from elicitation.queue import enqueue
from elicitation.services import lifecycle
from moralgraph import selectors
from moralgraph.services.exports.jobs import stalled_jobs
from moralgraph.services.simulation import fail_abandoned_runs

logger = logging.getLogger(__name__)


def sweep() -> dict[str, list[int]]:
    """Queue reconciliation left pending for a sweep period, scoring left undone, and
    export jobs nobody is running; mark idle participants abandoned and move studies on
    by their quotas (services.lifecycle); returns the ids queued or moved, by kind."""
    stale = timedelta(seconds=settings.RECONCILE_SWEEP_SECONDS)
    reconcile = list(selectors.studies_needing_work(stale_after=stale).values_list("pk", flat=True))
    for study_id in reconcile:
        enqueue("moralgraph.tasks.reconcile_study", study_id)
    score = list(selectors.studies_needing_score().values_list("pk", flat=True))
    for study_id in score:
        enqueue("moralgraph.tasks.score_study", study_id)
    exports = stalled_jobs()
    for job_id in exports:
        enqueue("moralgraph.tasks.run_export", job_id)
    moved = lifecycle.sweep_lifecycle()
    simulations = fail_abandoned_runs()
    if simulations:
        logger.warning("sweep: simulation runs %s stopped without finishing", simulations)
    if reconcile or score or exports or moved["closing"] or moved["closed"]:
        logger.info(
            "sweep: reconcile %s, score %s, exports %s, closing %s, closed %s",
            reconcile,
            score,
            exports,
            moved["closing"],
            moved["closed"],
        )
    return {"reconcile": reconcile, "score": score, "exports": exports, **moved}
