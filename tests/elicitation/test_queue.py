"""elicitation.queue: a task is sent by name; a broker that refuses it never fails the caller."""

from unittest import mock

from kombu import Producer

from config.celery import app
from elicitation import queue


def test_it_sends_the_task_by_name_with_its_args_and_countdown():
    # Only the last step, the write to the broker, is replaced: the publish and its retry
    # policy run for real (kombu rejects a policy it does not know).
    published = []

    def _publish(producer, body, priority, content_type, content_encoding, headers, *a, **kw):
        published.append(headers)

    with mock.patch.object(Producer, "_publish", _publish):
        assert queue.enqueue("moralgraph.tasks.score_study", 7, countdown=30) is True
    [headers] = published
    assert headers["task"] == "moralgraph.tasks.score_study"
    assert headers["argsrepr"] == "(7,)"
    assert headers["eta"] is not None  # the countdown became an ETA


def test_a_refused_send_is_logged_not_raised(caplog):
    with mock.patch.object(app, "send_task", side_effect=ConnectionRefusedError("down")):
        assert queue.enqueue("moralgraph.tasks.score_study", 7) is False
    assert "the sweep will pick it up" in caplog.text
