"""The one way work is handed to Celery: by task name, after commit, never failing a request.

Tasks are sent by name so that no service imports a task module (the tasks import the
services, not the other way round). A broker that is down must not turn a saved card or
judgment into an error page: the row is committed, the periodic sweep finds work that was
never queued, so a failed send is logged and dropped here.
"""

from __future__ import annotations

import logging

from django.db import transaction

log = logging.getLogger(__name__)

# One quick retry: a broker that is down refuses the connection at once, so a participant
# never waits long. (kombu's ensure() takes no "timeout": passing one failed every send.)
_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}


def enqueue(task_name: str, *args, countdown: float | None = None) -> bool:
    """Send ``task_name(*args)`` now; return False (and log) when the broker refused it."""
    from config.celery import app

    try:
        app.send_task(
            task_name, args=args, countdown=countdown, retry=True, retry_policy=_PUBLISH_RETRY
        )
    except Exception:  # any broker failure is left to the sweep
        log.warning(
            "could not queue %s%r; the sweep will pick it up", task_name, args, exc_info=True
        )
        return False
    return True


def enqueue_on_commit(task_name: str, *args, countdown: float | None = None) -> None:
    """Send ``task_name(*args)`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: enqueue(task_name, *args, countdown=countdown))
