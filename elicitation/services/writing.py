"""The interviewer's reply being written, apart from any one stream that shows it.

The writing runs as a task of its own, so that a closed tab or a reload does not cut
the reply: it is written to the end and saved, and a new stream picks it up where the
page is, live in the process that writes it, or from what is saved in any other.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
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
# process, or a reloaded page, shows it and follows on from there. Each save is a
# thread hop and an UPDATE: with hundreds of replies being written at once, saving
# twice a second cost the web tier more than the pages (bench/load.py).
SAVE_EVERY = 2.0
# A stream sends what was written at most this often (seconds): a model's tokens come
# every 20-50 ms, and one event per token cost each reply dozens of sends through the
# server; a person reads the same text arriving in pieces ten times a second. The first
# piece goes at once.
SEND_EVERY = 0.1
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
    step = None
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
        if step is not None and not step.done():
            # Cancelled while waiting (the client went away): the owner closes the
            # chunks next, which fails while a read of them is still running.
            step.cancel()
            await asyncio.wait([step])


def release_connection() -> None:
    if not connection.in_atomic_block:  # never inside a transaction (a test's, say)
        connection.close()


def start(reply_id: int, *, history: list[dict], call: dict) -> None:
    """Begin writing a reply that this process has just claimed."""
    current = _Writing()
    _writing[reply_id] = current
    current.task = asyncio.create_task(_write(reply_id, current, history, call))


async def finished(reply_id: int) -> None:
    """Wait until a reply being written in this process is saved (at once if none is)."""
    current = _live(reply_id)
    if current is not None:
        await asyncio.wait([current.task])


# Saves running at once in this process. Each is a thread and a pooled connection: left
# unbounded, hundreds of replies being written queued their saves in the pool ahead of
# every page request (bench/load.py, 500 participants), and pages waited seconds.
SAVES_AT_ONCE = 2
_save_slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # by event loop


def _save(reply_id: int, **fields) -> None:
    # Each save takes a database connection and gives it straight back: a reply being
    # written holds none while the model thinks.
    Message.objects.filter(pk=reply_id).update(**fields)
    release_connection()


async def _asave(reply_id: int, begun: asyncio.Event, **fields) -> None:
    loop = asyncio.get_running_loop()
    slots = _save_slots.get(loop)
    if slots is None:
        slots = _save_slots[loop] = asyncio.Semaphore(SAVES_AT_ONCE)
    async with slots:
        begun.set()  # from here the UPDATE runs, cancelled or not
        await sync_to_async(_save)(reply_id, **fields)


async def _write(reply_id: int, writing: _Writing, history: list[dict], call: dict):
    """Write the reply to the end, telling every follower, and save it as it goes.

    The saves along the way run beside the writing, one at a time per reply (a save due
    while the last is still going is left to the next): a slow database never holds
    back the words."""
    loop = asyncio.get_running_loop()
    status, error = Message.Status.INTERRUPTED, None
    saved_at = loop.time()
    saving: asyncio.Task | None = None
    begun = asyncio.Event()
    try:
        async for chunk in llm.astream_chat(messages=history, **call):
            writing.parts.append(chunk)
            writing.publish(("token", chunk))
            if loop.time() - saved_at >= SAVE_EVERY and (saving is None or saving.done()):
                saved_at = loop.time()
                begun = asyncio.Event()
                saving = asyncio.create_task(
                    _asave(reply_id, begun, content="".join(writing.parts))
                )
        status = Message.Status.COMPLETE
    except llm.LLMError as failed:
        status, error = Message.Status.FAILED, failed
    except Exception:
        # Nobody awaits this task: say what went wrong here, and mark the reply failed.
        logger.exception("writing reply %s failed", reply_id)
        status = Message.Status.FAILED
    finally:
        # Shielded: a stopping server must not lose the reply half saved. Followers
        # hear the end only once it is saved, so that "try again" finds it so. A save
        # still going lands first, so that its part never overwrites the whole.
        last = _save_last(reply_id, saving, begun, "".join(writing.parts), status)
        await asyncio.shield(last)
        if status == Message.Status.FAILED:
            # A failed call costs the participant nothing of their allowance.
            await asyncio.shield(sync_to_async(_release)(reply_id))
        if _writing.get(reply_id) is writing:
            del _writing[reply_id]
        if status == Message.Status.COMPLETE:
            writing.publish(("done", None))
        else:
            writing.publish(("failed", error or _cut_off(reply_id, status)))


async def _save_last(
    reply_id: int, saving: asyncio.Task | None, begun: asyncio.Event, content: str, status
) -> None:
    """The whole reply and its status, at once: not behind other replies' saves, since
    this thread holds the connection that logged the call until the save gives it back
    (waiting here, hundreds of finished replies held the whole pool). A save along the
    way that has not begun is not needed any more; one that has is waited for, so that
    its part never lands over the whole."""
    if saving is not None and not saving.done():
        if not begun.is_set():
            saving.cancel()
        await asyncio.wait([saving])
    await sync_to_async(_save)(reply_id, content=content, status=status)


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
            async for text in _batched(queue):
                yield text
        finally:
            writing.listeners.discard(queue)
        return
    async for text in _follow_saved(reply_id):
        yield text


async def _batched(queue: asyncio.Queue) -> AsyncIterator[str]:
    """The tokens published to ``queue``, joined into at most one piece per SEND_EVERY,
    until ``done`` (return) or a failure (raised)."""
    loop = asyncio.get_running_loop()
    sent_at = float("-inf")
    while True:
        if (wait := sent_at + SEND_EVERY - loop.time()) > 0:
            await asyncio.sleep(wait)
        kind, value = await queue.get()
        pieces = []
        while kind == "token":
            pieces.append(value)
            try:
                kind, value = queue.get_nowait()
            except asyncio.QueueEmpty:
                kind = None
        if pieces:
            sent_at = loop.time()
            yield "".join(pieces)
        if kind == "done":
            return
        if kind is not None:
            raise value


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
