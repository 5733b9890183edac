"""Drafting and revising the card wait on the model without holding a server thread:
the views await the async gateway, other requests are served meanwhile, and a refusal
keeps what was typed."""

import asyncio
import time
from unittest import mock

import pytest
from django.test import AsyncClient, Client

from elicitation import llm
from elicitation.models import Participant, ValuesCard
from tests.helpers import ANSWERS, card_data, fresh, make_study, say, to_card, to_interview, url

Step = Participant.Step

DRAFT = {
    "title": "Unhurried Listening",
    "description": "Letting her take her time.",
    "policies": ["PAUSES she takes", "WORDS she chooses", "PEOPLE she mentions"],
}


def _sync_call_refused(**kwargs):
    raise AssertionError("the sync gateway was called inside a request")


def _fake_model(calls: list, *, answer=DRAFT):
    async def astructured(**kwargs):
        calls.append(kwargs["stage"])
        return answer

    return astructured


@pytest.mark.django_db
def test_see_my_card_awaits_the_async_gateway_and_never_the_sync_one(client):
    study = make_study()
    participant = to_interview(client, study)
    for text in ANSWERS:
        say(client, study, text)
    calls = []
    with (
        mock.patch.object(llm, "structured", _sync_call_refused),
        mock.patch.object(llm, "astructured", _fake_model(calls)),
    ):
        response = client.post(url(study, "interview", "card"))
    assert response.status_code == 302 and response["Location"] == url(study, "card")
    assert calls == ["articulate"]
    assert ValuesCard.objects.get(participant=participant).title == DRAFT["title"]
    assert fresh(participant).step == Step.CARD


@pytest.mark.django_db
def test_a_revision_awaits_the_async_gateway_and_saves_the_edits_first(client):
    study = make_study()
    participant = to_card(client, study)
    calls, seen = [], []

    async def astructured(**kwargs):
        calls.append(kwargs["stage"])
        seen.append(kwargs["payload"]["card"]["title"])  # the card as typed, edits in
        return DRAFT

    with (
        mock.patch.object(llm, "structured", _sync_call_refused),
        mock.patch.object(llm, "astructured", astructured),
    ):
        response = client.post(
            url(study, "card", "revise"),
            card_data("revise", title="My Own Words", request="shorter please"),
        )
    assert response.status_code == 200
    assert calls == ["revise"] and seen == ["My Own Words"]
    assert ValuesCard.objects.get(participant=participant).title == DRAFT["title"]
    assert f'value="{DRAFT["title"]}"' in response.content.decode()


@pytest.mark.django_db
def test_a_revision_the_model_fails_keeps_the_card_and_the_request_as_typed(client, settings):
    settings.LLM_OFFLINE_LATENCY_SECONDS = {}
    study = make_study()
    participant = to_card(client, study)

    async def astructured(**kwargs):
        raise llm.LLMError(
            "down", stage="revise", model="m", retryable=True, user_message="Please try again."
        )

    with mock.patch.object(llm, "astructured", astructured):
        response = client.post(
            url(study, "card", "revise"),
            card_data("revise", title="Edited Title Here", request="add her family"),
        )
    assert response.status_code == 503
    html = response.content.decode()
    assert "Please try again." in html
    assert "add her family</textarea>" in html  # the request, still in its box
    assert 'value="Edited Title Here"' in html
    # The edits were saved before the model was asked: nothing typed is lost.
    assert ValuesCard.objects.get(participant=participant).title == "Edited Title Here"


@pytest.mark.django_db(transaction=True)
def test_two_drafts_wait_on_the_model_side_by_side(settings):
    # With the sync gateway each draft held its thread (and a database connection) for
    # the model's whole wait; two drafts at once took twice as long as one.
    settings.LLM_OFFLINE_LATENCY_SECONDS = {"articulate": 2.0}
    study = make_study()
    clients = []
    for _ in range(2):
        one = Client()
        to_interview(one, study)
        for text in ANSWERS:
            say(one, study, text)
        clients.append(one)

    async def draft(one):
        async_client = AsyncClient()
        async_client.cookies = one.cookies
        return await async_client.post(url(study, "interview", "card"))

    async def both():
        began = time.perf_counter()
        responses = await asyncio.gather(*(draft(one) for one in clients))
        return responses, time.perf_counter() - began

    responses, seconds = asyncio.run(both())
    assert [r.status_code for r in responses] == [302, 302]
    assert ValuesCard.objects.count() == 2
    # One after the other would be 4 s and more; side by side, 2 s and the overheads.
    assert 2.0 <= seconds < 3.6


@pytest.mark.django_db
def test_the_buttons_say_that_the_model_is_working(client):
    study = make_study()
    to_card(client, study)
    html = client.get(url(study, "card")).content.decode()
    assert 'hx-disabled-elt="find button"' in html
    assert "Changing your card" in html
