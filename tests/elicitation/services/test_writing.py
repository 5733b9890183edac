"""The reply being written: one stream per participant, and a stream that follows a
reply written elsewhere reads the database less and less often, for a bounded time."""

import asyncio
from contextlib import suppress

import pytest
from asgiref.sync import async_to_sync

from elicitation.models import Message
from elicitation.services import interview as interview_service
from elicitation.services import writing
from tests.helpers import ANSWERS


def test_a_newer_stream_of_the_same_participant_supersedes_the_older():
    async def go():
        with writing.one_stream(7) as first:
            assert not first.is_set()
            with writing.one_stream(7) as second, writing.one_stream(8) as other:
                assert first.is_set()
                assert not second.is_set() and not other.is_set()
            assert 7 not in writing._streams  # the newest one left: none remains

    asyncio.run(go())


def test_a_superseded_stream_stops_waiting_for_chunks():
    async def slow():
        yield "a"
        await asyncio.sleep(30)
        yield "never"

    async def go():
        superseded = asyncio.Event()
        got = []
        with pytest.raises(writing.Superseded):
            async for chunk in writing.until(superseded, slow()):
                got.append(chunk)
                asyncio.get_running_loop().call_later(0.05, superseded.set)
        return got

    assert asyncio.run(go()) == ["a"]


@pytest.mark.django_db(transaction=True)
def test_following_a_stalled_reply_backs_off_and_gives_up(interviewing, monkeypatch):
    # A reply another process marked streaming and then left (a killed server): before,
    # a stream (or a reconnecting page) read it every 0.25 s while it grew, and kept on.
    monkeypatch.setattr(writing, "FOLLOW_FIRST_WAIT", 0.05)
    monkeypatch.setattr(writing, "FOLLOW_MAX_WAIT", 0.2)
    monkeypatch.setattr(writing, "FOLLOW_GIVE_UP", 0.8)
    exchange = interview_service.message_send(participant=interviewing, content=ANSWERS[0])
    Message.objects.filter(pk=exchange.reply.pk).update(
        status=Message.Status.STREAMING, content="Half a"
    )
    reads = []
    real_aget = Message.objects.aget

    async def counting_aget(**kwargs):
        reads.append(kwargs)
        return await real_aget(**kwargs)

    monkeypatch.setattr(Message.objects, "aget", counting_aget)

    async def go():
        texts = []
        with pytest.raises(Exception) as ended:
            async for text in writing._follow_saved(exchange.reply.pk):
                texts.append(text)
        return texts, ended.value

    texts, ended = async_to_sync(go)()
    assert texts == ["Half a"]
    assert "cut off" in ended.user_message
    # 0.8 s at 0.05 s steps growing by half to 0.2 s: about 7 reads, not 16.
    assert 4 <= len(reads) <= 9


def test_a_stream_cancelled_while_waiting_leaves_its_chunks_closable():
    # The client goes away while the stream waits for the next words: the view then
    # closes the chunks, which raised "asynchronous generator is already running".
    async def words():
        while True:
            await asyncio.sleep(10)
            yield "word "

    async def go():
        chunks = words()

        async def consume():
            async for _ in writing.until(asyncio.Event(), chunks):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.01)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await chunks.aclose()

    asyncio.run(go())
