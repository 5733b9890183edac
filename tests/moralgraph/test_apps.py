"""moralgraph's app config: it gives the participant side its draws and listens for
submitted cards and recorded judgments (elicitation never imports moralgraph)."""

from unittest import mock

import pytest
from django.apps import apps

from elicitation import journey, signals
from elicitation.models import Participant, ValuesCard, WiserJudgment
from moralgraph.services import draws

Step = Participant.Step


def test_the_app_config_registers_the_step_drawers(monkeypatch):
    monkeypatch.setattr(journey, "_drawers", {})
    apps.get_app_config("moralgraph").ready()
    assert journey._drawers == {
        Step.SELECTION: draws.draw_selection,
        Step.JUDGMENTS: draws.draw_judgments,
    }


def test_it_is_registered_when_django_starts():
    assert journey._drawers[Step.SELECTION] is draws.draw_selection
    assert journey._drawers[Step.JUDGMENTS] is draws.draw_judgments


def _uids(signal) -> list[str]:
    return [lookup_key[0] for lookup_key, *_ in signal.receivers]


def test_ready_twice_connects_each_receiver_once():
    apps.get_app_config("moralgraph").ready()
    assert _uids(signals.card_submitted).count("moralgraph.process_card") == 1
    assert _uids(signals.card_submitted).count("moralgraph.screen_card") == 1
    assert _uids(signals.judgment_recorded).count("moralgraph.judgment_recorded") == 1


@pytest.mark.django_db
def test_a_submitted_card_queues_process_card_on_commit(django_capture_on_commit_callbacks):
    with (
        mock.patch("elicitation.queue.enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        signals.card_submitted.send(sender=ValuesCard, card_id=41, study_id=7)
        enqueue.assert_not_called()  # nothing before the commit
    assert enqueue.call_args_list == [
        mock.call("moralgraph.tasks.process_card", 41, countdown=None),
        mock.call("moralgraph.tasks.screen_card", 41, countdown=None),  # the pre-screen
    ]


@pytest.mark.django_db
def test_the_pre_screen_can_be_turned_off(settings, django_capture_on_commit_callbacks):
    settings.LLM_SCREEN_CARDS = False
    with (
        mock.patch("elicitation.queue.enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        signals.card_submitted.send(sender=ValuesCard, card_id=41, study_id=7)
    enqueue.assert_called_once_with("moralgraph.tasks.process_card", 41, countdown=None)


@pytest.mark.django_db
def test_a_recorded_judgment_queues_judgment_recorded_on_commit(
    django_capture_on_commit_callbacks,
):
    with (
        mock.patch("elicitation.queue.enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        signals.judgment_recorded.send(sender=WiserJudgment, study_id=7)
    enqueue.assert_called_once_with("moralgraph.tasks.judgment_recorded", 7, countdown=None)


def test_the_queued_task_names_exist():
    from config.celery import app
    from moralgraph import tasks  # noqa: F401 - registers the tasks with the app

    assert {"moralgraph.tasks.process_card", "moralgraph.tasks.judgment_recorded"} <= set(app.tasks)
