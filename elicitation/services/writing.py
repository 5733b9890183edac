"""The interviewer's reply being written, apart from any one stream that shows it.

The writing runs as a task of its own, so that a closed tab or a reload does not cut
the reply: it is written to the end and saved, and a new stream picks it up where the
page is, live in the process that writes it, or from what is saved in any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.db import connection

from elicitation import llm, ratelimit
from elicitation.models import Message

logger = logging.getLogger(__name__)


@dataclass
class _Writing:
    """A reply being written in this process: its text so far, the streams following it."""

    parts: list[str] = field(default_factory=list)
    listeners: set[asyncio.Queue] = field(default_factory=set)
    task: asyncio.Task | None = None

    def publish(self, event: tuple[str, object]) -> None:
        for queue in self.listeners:
            queue.put_nowait(event)


_writing: dict[int, _Writing] = {}  # by reply id, in this process

# While writing, the text so far is saved this often (seconds): a stream in another
# process, or a reloaded page, shows it and follows on from there.
SAVE_EVERY = 0.5
# A stream following a reply written elsewhere reads it again no sooner than the next
# save could land (SAVE_EVERY), backing off by half each read that found nothing new up
# to FOLLOW_MAX_WAIT; it gives up once the reply has not grown for FOLLOW_GIVE_UP, and
# whatever happens after FOLLOW_MAX_SECONDS: a reconnecting or forgotten tab costs the
# database at most one read every two seconds, for a bounded time.
FOLLOW_FIRST_WAIT = SAVE_EVERY
FOLLOW_MAX_WAIT = 2.0
FOLLOW_GIVE_UP = 60.0
FOLLOW_MAX_SECONDS = 600.0

# One stream per participant in a process: the newest one (a reload, a second tab)
# ends the one before it, which tells its page so instead of reconnecting.
_streams: dict[int, asyncio.Event] = {}


class Superseded(Exception):
    """A newer stream of the same participant took over."""


@contextmanager
def one_stream(participant_id: int) -> Iterator[asyncio.Event]:
    """Register this stream as the participant's only one; the event is set when a newer
    one opens."""
    earlier = _streams.get(participant_id)
    if earlier is not None:
        earlier.set()
    mine = _streams[participant_id] = asyncio.Event()
    try:
        yield mine
    finally:
        if _streams.get(participant_id) is mine:
            del _streams[participant_id]


async def until(superseded: asyncio.Event, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """The chunks, until ``superseded`` is set: then Superseded (the chunks are left to
    their owner to close)."""
    stop = asyncio.ensure_future(superseded.wait())
    try:
        while True:
            if superseded.is_set():
                raise Superseded
            step = asyncio.ensure_future(anext(chunks))
            await asyncio.wait({step, stop}, return_when=asyncio.FIRST_COMPLETED)
            if superseded.is_set():
                # Even with a chunk ready: the newer stream shows it.
                step.cancel()
                with suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
                raise Superseded
            try:
                chunk = step.result()
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        stop.cancel()


def release_connection() -> None:
    if not connection.in_atomic_block:  # never inside a transaction (a test's, say)
        connection.close()


def start(reply_id: int, *, history: list[dict], call: dict, delay: float) -> None:
    """Begin writing a reply that this process has just claimed."""
    current = _Writing()
    _writing[reply_id] = current
    current.task = asyncio.create_task(_write(reply_id, current, history, call, delay))


async def finished(reply_id: int) -> None:
    """Wait until a reply being written in this process is saved (at once if none is)."""
    current = _live(reply_id)
    if current is not None:
        await asyncio.wait([current.task])


def _save(reply_id: int, **fields) -> None:
    # Each save takes a database connection and gives it straight back: a reply being
    # written holds none while the model thinks.
    Message.objects.filter(pk=reply_id).update(**fields)
    release_connection()


async def _write(reply_id: int, writing: _Writing, history: list[dict], call: dict, delay):
    """Write the reply to the end, telling every follower, and save it as it goes."""
    loop = asyncio.get_running_loop()
    status, error = Message.Status.INTERRUPTED, None
    saved_at = loop.time()
    try:
        async for chunk in llm.astream_chat(messages=history, **call):
            writing.parts.append(chunk)
            writing.publish(("token", chunk))
            if loop.time() - saved_at >= SAVE_EVERY:
                saved_at = loop.time()
                await sync_to_async(_save)(reply_id, content="".join(writing.parts))
            if delay:
                await asyncio.sleep(delay)
        status = Message.Status.COMPLETE
    except llm.LLMError as failed:
        status, error = Message.Status.FAILED, failed
    except Exception:
        # Nobody awaits this task: say what went wrong here, and mark the reply failed.
        logger.exception("writing reply %s failed", reply_id)
        status = Message.Status.FAILED
    finally:
        # Shielded: a stopping server must not lose the reply half saved. Followers
        # hear the end only once it is saved, so that "try again" finds it so.
        content = "".join(writing.parts)
        await asyncio.shield(sync_to_async(_save)(reply_id, content=content, status=status))
        if status == Message.Status.FAILED:
            # A failed call costs the participant nothing of their allowance.
            await asyncio.shield(sync_to_async(_release)(reply_id))
        if _writing.get(reply_id) is writing:
            del _writing[reply_id]
        if status == Message.Status.COMPLETE:
            writing.publish(("done", None))
        else:
            writing.publish(("failed", error or _cut_off(reply_id, status)))


def _release(reply_id: int) -> None:
    ratelimit.release_reply(reply_id)
    release_connection()


def _live(reply_id: int) -> _Writing | None:
    writing = _writing.get(reply_id)
    if writing is None or writing.task is None or writing.task.done():
        return None
    if writing.task.get_loop() is not asyncio.get_running_loop():
        return None  # written under another event loop (a test's): follow the database
    return writing


async def follow(reply_id: int) -> AsyncIterator[str]:
    """The reply's text, in order and once, until it is written; raises LLMError if it
    failed or was cut off."""
    writing = _live(reply_id)
    if writing is not None:
        queue: asyncio.Queue = asyncio.Queue()
        so_far = "".join(writing.parts)  # and every later chunk through the queue
        writing.listeners.add(queue)
        try:
            if so_far:
                yield so_far
            while True:
                kind, value = await queue.get()
                if kind == "token":
                    yield value
                elif kind == "done":
                    return
                else:
                    raise value
        finally:
            writing.listeners.discard(queue)
    async for text in _follow_saved(reply_id):
        yield text


async def _follow_saved(reply_id: int) -> AsyncIterator[str]:
    """Follow a reply written elsewhere (another process, or already finished) through
    what is saved: the new text at each read, reading less often while nothing changes."""
    loop = asyncio.get_running_loop()
    sent = 0
    wait = FOLLOW_FIRST_WAIT
    grew_at = began = loop.time()
    while True:
        reply = await Message.objects.aget(pk=reply_id)
        if len(reply.content) > sent:
            yield reply.content[sent:]
            sent = len(reply.content)
            grew_at, wait = loop.time(), FOLLOW_FIRST_WAIT
        if reply.status != Message.Status.STREAMING:
            break
        if loop.time() - grew_at > FOLLOW_GIVE_UP or loop.time() - began > FOLLOW_MAX_SECONDS:
            break
        await asyncio.sleep(wait)
        wait = min(FOLLOW_MAX_WAIT, wait * 1.5)
    if reply.status != Message.Status.COMPLETE:
        raise _cut_off(reply_id, reply.status)


def _cut_off(reply_id: int, status: str) -> llm.LLMError:
    # Cut off, failed, or no longer being written: the page offers to ask again.
    return llm.LLMError(
        f"reply {reply_id} ended {status}",
        stage="interview",
        model="",
        retryable=True,
        user_message="This reply was cut off before it finished. Your conversation "
        "is saved — please try again.",
    )
