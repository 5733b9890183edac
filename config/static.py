"""How requests meet the ASGI server: Django's handler with threads kept for reuse,
WhiteNoise made async-capable, and a bound on the sync requests that run at once in a
process.

WhiteNoise, async-capable: static files are served as before, and every other request
goes on down the middleware chain without a thread.

WhiteNoise 6 declares no async support, so under ASGI Django ran the rest of the chain,
and the view, inside one thread per request: an async view that awaits a model (drafting
and revising a card) held that thread for the model's whole wait. With this, the whole
chain is async-capable; a sync view still gets its thread, for its own run only.
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
)
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.urls import Resolver404, resolve
from whitenoise.middleware import WhiteNoiseMiddleware


class ReusedThreadsASGIHandler(ASGIHandler):
    """Django's ASGI handler, each request's sync code still on a thread of its own, but
    on a thread kept from an earlier request instead of a new one.

    Django gives every request a new single-thread executor, and asgiref joins it on
    yet another new thread at the end: two threads started and stopped per request.
    Starting one waits for it to run, on the event loop, and under load (hundreds of
    requests a second, the GIL busy) that wait held up every stream and request of the
    process (bench/load.py, profiled). Here the executor comes from a free list and
    goes back to it.

    A task that outlives its request (the writing of a reply) finds no executor for the
    request's context once it ended, and asgiref gives it a new one, as before.
    """

    KEEP_IDLE = 64  # executors kept between requests; past this, stopped

    def __init__(self):
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []

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


class SyncRequestLimitMiddleware:
    """At most SYNC_REQUESTS_AT_ONCE requests to sync views run at once in this process;
    the rest wait here, on the event loop, holding no thread and no database connection.

    Under ASGI each request's sync code gets a thread of its own, unbounded: under load,
    hundreds of threads each held a pooled connection while they waited for the GIL, the
    pool (DATABASE_POOL_MAX per process) ran dry and requests failed after its timeout
    (bench/load.py, 500 participants). This is what gunicorn's gthread workers give, a
    fixed number of threads per process, inside the one ASGI server. Async views (the
    reply streams, drafting a card, and the card page, whose revision awaits the model)
    pass: they hold a connection only for short database steps, which the margin below
    the pool size leaves room for.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)
        self._slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # by loop

    def __call__(self, request):
        if self._is_async:
            return self._acall(request)
        return self.get_response(request)  # WSGI and the test client: threads of their own

    async def _acall(self, request):
        if settings.SYNC_REQUESTS_AT_ONCE == 0 or _is_async_view(request.path_info):
            return await self.get_response(request)
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(settings.SYNC_REQUESTS_AT_ONCE)
        async with slots:
            return await self.get_response(request)


@functools.lru_cache(maxsize=4096)
def _is_async_view(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)
