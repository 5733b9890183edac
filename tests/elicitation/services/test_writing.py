"""The reply being written: one stream per participant, a stream that follows a reply
written elsewhere reads the database less and less often, for a bounded time, and the
saves along the way are bounded per process and never land over the whole reply."""

import asyncio
import time
from contextlib import suppress

import pytest
from asgiref.sync import ThreadSensitiveContext, async_to_sync

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


def _recording_saves(monkeypatch, *, seconds=0.05):
    """``writing._save`` replaced by one that records what it saved and how many saves
    ran at once (no database)."""
    record = {"saved": [], "running": 0, "most": 0}

    def save(reply_id, **fields):
        record["running"] += 1
        record["most"] = max(record["most"], record["running"])
        time.sleep(seconds)
        record["saved"].append(fields.get("content"))
        record["running"] -= 1

    monkeypatch.setattr(writing, "_save", save)
    return record


def test_at_most_saves_at_once_run_together_in_a_process(monkeypatch):
    # Unbounded, hundreds of replies' saves along the way queued ahead of every page.
    record = _recording_saves(monkeypatch)

    async def one(n):
        # Each reply's writing runs in the context of the request that started it, whose
        # sync calls get a thread of their own: saves could all run at once.
        async with ThreadSensitiveContext():
            await writing._asave(n, asyncio.Event(), content=f"part {n}")

    async def go():
        await asyncio.gather(*(one(n) for n in range(6)))

    asyncio.run(go())
    assert sorted(record["saved"]) == [f"part {n}" for n in range(6)]
    assert record["most"] == writing.SAVES_AT_ONCE


def test_the_last_save_lands_after_a_save_along_the_way_that_had_begun(monkeypatch):
    record = _recording_saves(monkeypatch)

    async def go():
        begun = asyncio.Event()
        saving = asyncio.create_task(writing._asave(1, begun, content="Half a"))
        await begun.wait()
        await writing._save_last(1, saving, begun, "Half a reply.", Message.Status.COMPLETE)

    asyncio.run(go())
    assert record["saved"] == ["Half a", "Half a reply."]  # the part never over the whole


def test_the_last_save_drops_a_save_along_the_way_still_waiting_its_turn(monkeypatch):
    record = _recording_saves(monkeypatch)

    async def go():
        # Every slot taken by other replies' saves: this reply's part waits its turn.
        others = [
            asyncio.create_task(writing._asave(n, asyncio.Event(), content="other"))
            for n in range(writing.SAVES_AT_ONCE)
        ]
        await asyncio.sleep(0.01)
        begun = asyncio.Event()
        saving = asyncio.create_task(writing._asave(1, begun, content="Half a"))
        await asyncio.sleep(0.01)
        assert not begun.is_set()
        await writing._save_last(1, saving, begun, "Half a reply.", Message.Status.COMPLETE)
        assert saving.cancelled()
        await asyncio.gather(*others)

    asyncio.run(go())
    assert "Half a" not in record["saved"] and "Half a reply." in record["saved"]
