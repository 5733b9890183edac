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
        url(study, "card", "revise"), card_data("revise", request="rename it to Quiet Presence")
    )
    assert 'value="Quiet Presence"' in response.content.decode()
    assert ValuesCard.objects.get(participant=participant).title == "Quiet Presence"


def test_an_empty_revision_request_is_an_inline_error(client):
    study = make_study()
    to_card(client, study)
    response = client.post(url(study, "card", "revise"), card_data("revise", request=""))
    assert response.status_code == 400
    assert b"Say what you would like changed." in response.content


def test_a_failed_revision_is_a_friendly_error(client, monkeypatch):
    study = make_study()
    to_card(client, study)
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "revise:timeout")
    response = client.post(
        url(study, "card", "revise"), card_data("revise", request="remove the first")
    )
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
        double = client.post(url(study, "card"), card_data("submit"))
    # No values or stories yet: selection and judgments are skipped.
    assert response["Location"] == url(study, "survey")
    assert double["Location"] == url(study, "survey")  # a double click: once, moved on
    card = ValuesCard.objects.get(participant=participant)
    assert card.status == ValuesCard.Status.SUBMITTED and card.title == "Patient Listening"


def test_after_submit_the_card_is_read_only_and_says_so(client):
    study = make_study()
    to_card(client, study)
    with mock.patch("elicitation.queue.enqueue"):
        client.post(url(study, "card"), card_data("submit"))
    page = client.get(url(study, "card"))
    html = page.content.decode()
    assert page.status_code == 200 and "It can no longer be changed" in html
    assert "Patient Listening" in html and 'name="title"' not in html
    assert f'href="{url(study, "survey")}"' in html
    # Edits sent after the submit (another tab, the back button) are refused out loud.
    for action in ("save", "submit", "revise"):
        late = client.post(url(study, "card"), card_data(action, title="Changed After Submit"))
        assert late.status_code == 409
        assert "these changes were not saved" in late.content.decode()
    # The revise button's own address too (a tab still open on the card).
    late = client.post(
        url(study, "card", "revise"), card_data("revise", title="Changed After Submit")
    )
    assert late.status_code == 409 and "these changes were not saved" in late.content.decode()
    assert ValuesCard.objects.get().title == "Patient Listening"


def test_the_card_title_needs_two_to_five_words_to_submit(client):
    study = make_study()
    participant = to_card(client, study)
    for title in ("Listening", "One Two Three Four Five Six"):
        response = client.post(url(study, "card"), card_data("submit", title=title))
        assert response.status_code == 400
        assert "2 to 5 words" in response.content.decode()
        assert f'value="{title}"' in response.content.decode()  # kept, to fix
    assert fresh(participant).step == Step.CARD


# --- No lost edits ------------------------------------------------------------------------


def test_back_to_the_conversation_keeps_the_edited_card(client):
    study = make_study()
    participant = to_card(client, study)
    edited = card_data("back", title="Quiet", policies=["MOMENTS of silence", "", "PEOPLE"])
    response = client.post(url(study, "card"), edited)
    assert response["Location"] == url(study, "interview")
    card = ValuesCard.objects.get(participant=participant)
    assert card.title == "Quiet" and card.policies == ["MOMENTS of silence", "PEOPLE"]
    assert 'value="Quiet"' in client.get(url(study, "card")).content.decode()


def test_a_new_draft_is_offered_beside_the_edited_card_and_the_participant_chooses(client):
    study = make_study(messages_per_minute=20)
    participant = to_card(client, study)
    client.post(url(study, "card"), card_data("back"))
    say(client, study, "Her faith and her hopes for the future matter to me too.")
    assert client.post(url(study, "interview", "card"))["Location"] == url(study, "card")
    html = client.get(url(study, "card")).content.decode()
    card = ValuesCard.objects.get(participant=participant)
    assert card.title == "Patient Listening"  # the participant's, untouched
    assert 'value="Patient Listening"' in html
    assert "A new draft from what you said since" in html
    assert card.proposal["title"] in html
    assert "Use the new draft" in html and "Keep mine" in html

    response = client.post(url(study, "card"), card_data("keep-mine"))
    assert "A new draft" not in response.content.decode()
    card.refresh_from_db()
    assert card.title == "Patient Listening" and card.proposal == {}

    client.post(url(study, "card"), card_data("back"))
    say(client, study, "And the people at her church who would not judge her.")
    client.post(url(study, "interview", "card"))
    offered = ValuesCard.objects.get(participant=participant).proposal
    response = client.post(url(study, "card"), card_data("use-proposal"))
    assert f'value="{offered["title"]}"' in response.content.decode()
    card.refresh_from_db()
    assert (card.title, card.policies, card.proposal) == (
        offered["title"],
        offered["policies"],
        {},
    )


def test_a_refused_revision_keeps_the_request_typed(client):
    study = make_study(messages_per_minute=5)
    to_card(client, study)  # three messages and the draft: four of five
    asked = "add something about listening to her family"
    first = client.post(url(study, "card", "revise"), card_data("revise", request=asked))
    assert first.status_code == 200
    limited = client.post(
        url(study, "card", "revise"), card_data("revise", request=asked + " again")
    )
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert f">{asked} again</textarea>" in limited.content.decode()
    too_long = "x" * 1001
    refused = client.post(url(study, "card", "revise"), card_data("revise", request=too_long))
    assert refused.status_code == 400 and f">{too_long}</textarea>" in refused.content.decode()


def test_the_revise_button_posts_to_its_own_address(client):
    study = make_study()
    to_card(client, study)
    html = client.get(url(study, "card")).content.decode()
    assert f'value="revise" formaction="{url(study, "card", "revise")}"' in html
    # A page from before (no formaction): the same form is sent on, method and body kept.
    handed = client.post(url(study, "card"), card_data("revise", request="shorter please"))
    assert handed.status_code == 307 and handed["Location"] == url(study, "card", "revise")
    # Opened as a page (a reload of the address): the card.
    assert client.get(url(study, "card", "revise"))["Location"] == url(study, "card")


def test_long_text_is_not_cut_by_the_page(client):
    study = make_study()
    to_card(client, study)
    html = client.get(url(study, "card")).content.decode()
    # A browser's maxlength cuts a paste silently; the limits are said instead.
    assert " maxlength=" not in html and "data-maxlength" in html
    long = "D" * 1200
    response = client.post(url(study, "card"), card_data("save", description=long))
    assert response.status_code == 400
    html = response.content.decode()
    assert "under 1000 characters" in html and long in html


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
    assert [call.args for call in send_task.call_args_list] == [
        ("moralgraph.tasks.process_card",),
        ("moralgraph.tasks.screen_card",),  # the pre-screen, refused alike
    ]
    card = ValuesCard.objects.get(participant=participant)
    assert card.status == ValuesCard.Status.SUBMITTED
    assert fresh(participant).step == Step.SURVEY
    assert "could not queue moralgraph.tasks.process_card" in caplog.text
