"""One reply stream per participant: a second one (a reload, another tab, a reconnect)
ends the first, whose page is told why instead of reconnecting."""

import asyncio

import pytest
from django.test import AsyncClient

from elicitation.models import Message
from elicitation.views.interview import SUPERSEDED
from tests.helpers import HTMX, events, make_study, say, to_interview, url


async def _chunks(response):
    async for chunk in response.streaming_content:
        yield chunk.decode() if isinstance(chunk, bytes) else chunk


@pytest.mark.django_db(transaction=True)
def test_a_second_stream_ends_the_first_and_shows_the_reply(client, settings):
    settings.OFFLINE_STREAM_DELAY_MS = 20  # long enough to open a second stream meanwhile
    study = make_study()
    to_interview(client, study)
    say(client, study, "The AI should listen first.", **HTMX)
    reply = Message.objects.get(status=Message.Status.PENDING)
    path = url(study, "interview", "reply", reply.pk)

    async def go():
        first_client, second_client = AsyncClient(), AsyncClient()
        first_client.cookies = second_client.cookies = client.cookies
        first = _chunks(await first_client.get(path))
        seen = ""
        while "event: token" not in seen:
            seen += await anext(first)
        second = _chunks(await second_client.get(path))
        second_body = await anext(second)  # opened: it is the participant's stream now
        first_rest = "".join([chunk async for chunk in first])
        second_body += "".join([chunk async for chunk in second])
        return seen + first_rest, second_body

    first_body, second_body = asyncio.run(go())
    assert events(first_body)[-1] == ("failed", SUPERSEDED)
    # The page reconnects by itself, a few times with backoff; the browser's own
    # reconnection, if it ever happens, waits five seconds.
    assert second_body.startswith(": stream open\nretry: 5000\n\n")
    assert events(second_body)[-1] == ("done", "")
    reply.refresh_from_db()
    assert reply.status == Message.Status.COMPLETE  # the writing went on to the end
    assert reply.content.startswith("Thank you.")
