"""config/static.py: a sync view's request in one hop, at most SYNC_REQUESTS_AT_ONCE at
once, on threads kept for reuse; WhiteNoise async-capable."""

import asyncio
import threading
import time

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.test import RequestFactory

from config.static import AsyncWhiteNoiseMiddleware, ThreadedASGIHandler, is_sync_view


def _run(middleware, paths):
    async def go():
        return await asyncio.gather(*(middleware(RequestFactory().get(p)) for p in paths))

    return asyncio.run(go())


def _counting_handler():
    """The handler, with the sync chain reduced to a view that counts how many run."""
    handler = ThreadedASGIHandler()
    state, lock = {"now": 0, "most": 0}, threading.Lock()

    def get_response(request):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return "ok"

    handler._sync.get_response = get_response
    return handler, state


def _serve(handler, paths):
    async def one(path):
        async with ThreadSensitiveContext():  # a request's own thread, as __call__ gives
            return await handler.get_response_async(RequestFactory().get(path))

    async def go():
        return await asyncio.gather(*(one(p) for p in paths))

    return asyncio.run(go())


def test_sync_views_wait_their_turn(settings):
    settings.SYNC_REQUESTS_AT_ONCE = 2
    handler, state = _counting_handler()
    assert _serve(handler, ["/s/demo/consent/"] * 6) == ["ok"] * 6
    assert state["most"] == 2


def test_no_bound_when_set_to_zero(settings):
    settings.SYNC_REQUESTS_AT_ONCE = 0
    handler, state = _counting_handler()
    _serve(handler, ["/s/demo/consent/"] * 3)
    assert state["most"] == 3


def test_only_sync_views_take_the_one_hop_path():
    # Drafting and revising a card await a model: they keep the async chain, which serves static
    # files and 404s too. The reply stream's look-ups take the one hop; its stream runs
    # on the event loop afterwards.
    assert is_sync_view("/s/demo/consent/")
    assert is_sync_view("/s/demo/interview/reply/1/")
    assert not is_sync_view("/s/demo/interview/card/")
    assert is_sync_view("/s/demo/card/")
    assert not is_sync_view("/s/demo/card/revise/")
    assert not is_sync_view("/static/css/app.css")
    assert not is_sync_view("/no/such/page/")


@pytest.mark.django_db(transaction=True)  # the page is served from another thread
def test_a_page_is_served_whole_through_the_asgi_application():
    from config.asgi import application

    sent, incoming = [], [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()  # the client stays until the response is sent

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/healthz",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
    }
    asyncio.run(application(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:])


def test_whitenoise_serves_static_files_and_passes_the_rest_on(settings):
    settings.WHITENOISE_AUTOREFRESH = settings.WHITENOISE_USE_FINDERS = True

    async def get_response(request):
        return "page"

    middleware = AsyncWhiteNoiseMiddleware(get_response)
    assert middleware._is_async
    css, page = _run(middleware, ["/static/css/app.css", "/s/demo/"])
    assert css.status_code == 200 and page == "page"


class _ThreadRecorder(ThreadedASGIHandler):
    """The handler, with each request's sync code reduced to saying which thread ran it
    (and, for ``later``, a task that does so again after its request ended)."""

    def __init__(self):
        super().__init__()
        self.threads, self.later = [], []

    async def handle(self, scope, receive, send):
        self.threads.append(await sync_to_async(threading.get_ident)())
        await asyncio.sleep(scope.get("hold", 0))
        if scope.get("outlive"):

            async def after():
                await asyncio.sleep(0.05)
                self.later.append(await sync_to_async(threading.get_ident)())

            self.tasks = [asyncio.create_task(after())]


def _call(handler, **scope):
    return handler({"type": "http", **scope}, None, None)


def test_a_request_runs_on_a_thread_an_earlier_one_used():
    handler = _ThreadRecorder()

    async def go():
        for _ in range(3):
            await _call(handler)

    asyncio.run(go())
    assert len(set(handler.threads)) == 1, "one thread kept, not one started per request"
    assert threading.get_ident() not in handler.threads


def test_requests_at_the_same_time_each_have_a_thread():
    handler = _ThreadRecorder()

    async def go():
        await asyncio.gather(*(_call(handler, hold=0.05) for _ in range(3)))
        await _call(handler)  # afterwards: one of the three, kept

    asyncio.run(go())
    assert len(set(handler.threads[:3])) == 3
    assert handler.threads[3] in handler.threads[:3]
    assert len(handler._idle) == 3


def test_a_task_that_outlives_its_request_still_runs_sync_code():
    handler = _ThreadRecorder()

    async def go():
        await _call(handler, outlive=True)
        await asyncio.wait(handler.tasks)

    asyncio.run(go())
    assert len(handler.later) == 1  # no "context exited" error: a thread of its own
    assert handler.later[0] != handler.threads[0]
