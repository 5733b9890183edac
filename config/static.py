"""How requests meet the ASGI server: Django's ASGI handler with each sync view's request
run in one go on a reused thread, at most SYNC_REQUESTS_AT_ONCE at once per process,
and WhiteNoise made async-capable.

Under ASGI Django runs every middleware of the old, sync-or-async kind (sessions, CSRF,
auth, messages, security, CSP ...) as two thread hops each, one for the way in and one
for the way out: about 17 hops for one page, each a trip through the event loop. Under
load (500 participants, the GIL busy) every trip waited its turn, and a page that costs
15 ms of CPU took seconds (bench/load.py, profiled). Here a request to a sync view runs
the sync middleware chain and the view together, in one hop, as WSGI would; async
views (the reply streams, drafting and revising a card) and static files keep the
async chain.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import (
    SyncToAsync,
    ThreadSensitiveContext,
    iscoroutinefunction,
    markcoroutinefunction,
    sync_to_async,
)
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.urls import Resolver404, resolve
from whitenoise.middleware import WhiteNoiseMiddleware


class ThreadedASGIHandler(ASGIHandler):
    """Django's ASGI handler, with a sync view's request run in one hop (the sync
    middleware chain and the view together), at most SYNC_REQUESTS_AT_ONCE at once in
    the process, on a thread kept from an earlier request.

    The bound: without it, hundreds of threads each held a pooled connection while they
    waited for the GIL, the pool (DATABASE_POOL_MAX per process) ran dry and requests
    failed after its timeout. The rest wait on the event loop, holding no thread and no
    connection, as with gunicorn's gthread workers. Async views pass: they hold a
    connection only for short database steps, which the margin below the pool leaves.

    The threads: Django gives every request a new single-thread executor, and asgiref
    joins it on yet another new thread at the end, two threads started per request,
    each start a wait on the event loop. Here the executor comes from a free list and
    goes back to it. A task that outlives its request (the writing of a reply) finds no
    executor for the request's context once it ended, and asgiref gives it a new one.
    """

    KEEP_IDLE = 64  # executors kept between requests; past this, stopped

    def __init__(self):
        super().__init__()
        self._sync = BaseHandler()
        self._sync.load_middleware(is_async=False)
        self._idle: list[ThreadPoolExecutor] = []
        self._slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # by loop

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(1, "request")
        context = ThreadSensitiveContext()
        async with context:
            SyncToAsync.context_to_thread_executor[context] = executor
            try:
                await self.handle(scope, receive, send)
            finally:
                # Taken back before the context's exit, which would stop its thread.
                SyncToAsync.context_to_thread_executor.pop(context, None)
                if len(self._idle) < self.KEEP_IDLE:
                    self._idle.append(executor)
                else:
                    # Joining waits for the thread: not on the event loop.
                    threading.Thread(target=executor.shutdown, daemon=True).start()

    async def get_response_async(self, request):
        if not is_sync_view(request.path_info):
            return await super().get_response_async(request)
        run = sync_to_async(self._sync.get_response, thread_sensitive=True)
        if settings.SYNC_REQUESTS_AT_ONCE == 0:
            return await run(request)
        async with self._turn():
            return await run(request)

    def _turn(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(settings.SYNC_REQUESTS_AT_ONCE)
        return slots


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request):
        # Finding and opening a file is a dictionary look-up (a stat with autorefresh):
        # quick enough for the event loop. The body is streamed by Django's handler.
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)


@functools.lru_cache(maxsize=4096)
def is_sync_view(path: str) -> bool:
    """``path`` is served by a sync view (not an async one, not a static file or a 404,
    which the async chain answers)."""
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return not iscoroutinefunction(match.func)
