"""Fixtures of the graph side's tests."""

import pytest

from config.celery import app


@pytest.fixture
def queued(monkeypatch):
    """What elicitation.queue would send to Celery, as (task name, args, countdown), instead
    of sending it. Work queued on commit shows up only once the transaction commits."""
    sent = []

    def send_task(name, args=(), countdown=None, **options):
        sent.append((name, tuple(args), countdown))

    monkeypatch.setattr(app, "send_task", send_task)
    return sent
