"""The card page: edit, revise, submit."""

from unittest import mock

import pytest
from django.test import Client

from elicitation.models import (
    Participant,
    ValuesCard,
)
from tests.helpers import (
    XSS,
    card_data,
    fresh,
    make_study,
    say,
    to_card,
    url,
)

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_the_card_page_shows_the_participants_own_draft(client):
    study = make_study()
    participant = to_card(client, study)
    other = Client()
    to_card(other, study)
    mine = ValuesCard.objects.get(participant=participant)
    html = client.get(url(study, "card")).content.decode()
    assert f'value="{mine.title}"' in html
    assert html.count('name="policies"') == len(mine.policies)


def test_adding_and_removing_policies_works_without_javascript(client):
    study = make_study()
    to_card(client, study)
    response = client.post(url(study, "card"), card_data("add"))
    assert response.content.decode().count('name="policies"') == 4
    response = client.post(url(study, "card"), card_data("remove-1"))
    html = response.content.decode()
    assert html.count('name="policies"') == 2
    assert "FEELINGS she names" not in html


def test_no_more_than_seven_policies(client):
    study = make_study()
    to_card(client, study)
    seven = [f"THING {i}" for i in range(7)]
    response = client.post(url(study, "card"), card_data("add", policies=seven))
    assert response.content.decode().count('name="policies"') == 7
    assert b"at most 7" in response.content


def test_saving_the_card(client):
    study = make_study()
    participant = to_card(client, study)
    response = client.post(url(study, "card"), card_data("save"))
    assert b"Saved." in response.content
    card = ValuesCard.objects.get(participant=participant)
    assert card.title == "Patient Listening" and card.edited_by_participant


def test_an_invalid_card_shows_errors_by_field(client):
    study = make_study()
    to_card(client, study)
    response = client.post(url(study, "card"), card_data("save", title="", policies=["ONE", "TWO"]))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Give your card a short title" in html
    assert "A card has 3 to 7 things you pay attention to; this one has 2." in html


def test_asking_the_interviewer_to_revise(client):
    study = make_study()
    participant = to_card(client, study)
    response = client.post(
        url(study, "card"), card_data("revise", request="rename it to Quiet Presence")
    )
    assert 'value="Quiet Presence"' in response.content.decode()
    assert ValuesCard.objects.get(participant=participant).title == "Quiet Presence"


def test_an_empty_revision_request_is_an_inline_error(client):
    study = make_study()
    to_card(client, study)
    response = client.post(url(study, "card"), card_data("revise", request=""))
    assert response.status_code == 400
    assert b"Say what you would like changed." in response.content


def test_a_failed_revision_is_a_friendly_error(client, monkeypatch):
    study = make_study()
    to_card(client, study)
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "revise:timeout")
    response = client.post(url(study, "card"), card_data("revise", request="remove the first"))
    assert response.status_code == 503
    assert b"please try again" in response.content


def test_html_in_the_card_is_shown_as_text(client):
    study = make_study()
    to_card(client, study)
    response = client.post(
        url(study, "card"), card_data("save", title=XSS, policies=[XSS, "B thing", "C thing"])
    )
    html = response.content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html


def test_going_back_to_talk_from_the_card(client):
    study = make_study()
    participant = to_card(client, study)
    assert client.get(url(study, "interview")).status_code == 200
    say(client, study, "One more thing: her faith matters to her.")
    assert fresh(participant).step == Step.INTERVIEW
    assert client.get(url(study, "card"))["Location"] == url(study, "interview")


def test_submitting_the_card_moves_on_and_the_back_button_is_safe(client):
    study = make_study()
    participant = to_card(client, study)
    with mock.patch("elicitation.queue.enqueue"):
        response = client.post(url(study, "card"), card_data("submit"))
        again = client.post(url(study, "card"), card_data("submit", title="Changed"))
    # No values or stories yet: selection and judgments are skipped.
    assert response["Location"] == url(study, "survey")
    assert again["Location"] == url(study, "survey")
    card = ValuesCard.objects.get(participant=participant)
    assert card.status == ValuesCard.Status.SUBMITTED and card.title == "Patient Listening"
    assert client.get(url(study, "card"))["Location"] == url(study, "survey")


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_is_logged_and_the_card_still_submits(client, caplog):
    # A real commit inside the request: the on-commit send runs there, as in production.
    from config.celery import app

    study = make_study()
    participant = to_card(client, study)
    refused = OSError("connection refused")
    with (
        mock.patch.object(app, "send_task", side_effect=refused) as send_task,
        caplog.at_level("WARNING", logger="elicitation.queue"),
    ):
        response = client.post(url(study, "card"), card_data("submit"))
    assert response.status_code == 302 and response["Location"] == url(study, "survey")
    send_task.assert_called_once()
    assert send_task.call_args.args == ("moralgraph.tasks.process_card",)
    card = ValuesCard.objects.get(participant=participant)
    assert card.status == ValuesCard.Status.SUBMITTED
    assert fresh(participant).step == Step.SURVEY
    assert "could not queue moralgraph.tasks.process_card" in caplog.text
