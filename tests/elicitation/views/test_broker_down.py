"""With the broker unreachable, submitting a card and a judgment still succeeds: the rows
are committed, the failed sends are logged, and the sweep queues the work later."""

import socket
from unittest import mock

import pytest
from kombu import Producer

from config.celery import app
from elicitation.models import JudgmentAssignment, Participant, ValuesCard, WiserJudgment
from moralgraph.services import sweep
from tests.helpers import card_data, fresh, to_card, url

# Real commits: the work is queued in on_commit callbacks, after the transaction.
pytestmark = pytest.mark.django_db(transaction=True)
Step = Participant.Step


class Broker:
    """Switch the Celery app of this process between a loopback port nobody listens on
    and the test run's broker. (Celery reads CELERY_BROKER_URL from the environment
    before its own settings; kombu keeps one connection pool per URL for the whole
    process, so only the closed port's pool is ever closed here.)"""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.saved = app._pool, app.amqp._producer_pool
        self.down_pool = None

    def _use(self, url: str) -> None:
        self.monkeypatch.setenv("CELERY_BROKER_URL", url)
        app._pool = app.amqp._producer_pool = None  # looked up again for the new URL

    def down(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self._use(f"redis://127.0.0.1:{port}/0")
        self.down_pool = app.pool
        assert f":{port}/" in app.connection_for_write().as_uri()

    def up(self, url: str) -> None:
        self.close_down_pool()
        self._use(url)

    def close_down_pool(self) -> None:
        if self.down_pool is not None:
            self.down_pool.force_close_all()
            self.down_pool = None


@pytest.fixture
def broker(monkeypatch):
    broker = Broker(monkeypatch)
    yield broker
    broker.close_down_pool()
    app._pool, app.amqp._producer_pool = broker.saved


def test_a_card_and_a_judgment_succeed_with_the_broker_down(client, graph_study, broker,
                                                            caplog, settings):  # fmt: skip
    study = graph_study
    participant = to_card(client, study)
    broker.down()

    response = client.post(url(study, "card"), card_data("submit"))
    assert response.status_code == 302
    assert response["Location"].endswith("/selection/")
    card = ValuesCard.objects.get(participant=participant)
    assert card.status == ValuesCard.Status.SUBMITTED
    assert "could not queue moralgraph.tasks.process_card" in caplog.text

    assert client.post(url(study, "selection"), {}).status_code == 302
    first = JudgmentAssignment.objects.filter(participant=participant).order_by("position")[0]
    response = client.post(
        url(study, "judgments"), {"hypothesis": first.hypothesis_id, "verdict": "upgrade"}
    )
    assert response.status_code == 302
    assert WiserJudgment.objects.filter(participant=participant).count() == 1
    assert "could not queue moralgraph.tasks.judgment_recorded" in caplog.text
    assert fresh(participant).step in (Step.JUDGMENTS, Step.SURVEY)

    # The broker is back: the sweep finds the card that was never processed.
    broker.up(settings.CELERY_BROKER_URL)
    settings.RECONCILE_SWEEP_SECONDS = 0
    sent = []

    def _publish(producer, body, priority, content_type, content_encoding, headers, *a, **kw):
        sent.append((headers["task"], headers["argsrepr"]))

    with mock.patch.object(Producer, "_publish", _publish):
        queued = sweep.sweep()
    assert study.pk in queued["reconcile"]
    assert ("moralgraph.tasks.reconcile_study", f"({study.pk},)") in sent
