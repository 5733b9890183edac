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


# Thresholds for a fixture of a few dozen judgments, so that its leaders are confident and
# its edges give DPO pairs; the calibrated defaults need far more judgments.
LENIENT_STATUSES = {
    "confident_probability": 0.5,
    "min_winner_votes": 3,
    "min_winner_participants": 2,
    "dpo_stability": 0.5,
    "dpo_min_votes": 1,
    "dpo_min_participants": 1,
    "min_group_votes": 2,
}


@pytest.fixture
def lenient_statuses(settings):
    settings.PAIRWISE_PARAMS = LENIENT_STATUSES
