"""config/static.py: threads kept for reuse, WhiteNoise async-capable, and the bound on
sync requests at once."""

import asyncio
import threading

from django.test import RequestFactory

from asgiref.sync import sync_to_async

from config.static import (
    AsyncWhiteNoiseMiddleware,
    ReusedThreadsASGIHandler,
    SyncRequestLimitMiddleware,
)


def _counting():
    state = {"now": 0, "most": 0}

    async def get_response(request):
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        await asyncio.sleep(0.05)
        state["now"] -= 1
        return "ok"

    return get_response, state


def _run(middleware, paths):
    async def go():
        return await asyncio.gather(*(middleware(RequestFactory().get(p)) for p in paths))

    return asyncio.run(go())


def test_sync_views_wait_their_turn(settings):
    settings.SYNC_REQUESTS_AT_ONCE = 2
    get_response, state = _counting()
    middleware = SyncRequestLimitMiddleware(get_response)
    assert _run(middleware, ["/s/demo/consent/"] * 6) == ["ok"] * 6
    assert state["most"] == 2


def test_async_views_pass_without_a_turn(settings):
    # The reply stream: it holds no connection while the model writes.
    settings.SYNC_REQUESTS_AT_ONCE = 1
    get_response, state = _counting()
    middleware = SyncRequestLimitMiddleware(get_response)
    _run(middleware, ["/s/demo/interview/reply/1/"] * 4)
    assert state["most"] == 4


def test_no_bound_when_set_to_zero(settings):
    settings.SYNC_REQUESTS_AT_ONCE = 0
    get_response, state = _counting()
    _run(SyncRequestLimitMiddleware(get_response), ["/s/demo/consent/"] * 3)
    assert state["most"] == 3


def test_whitenoise_serves_static_files_and_passes_the_rest_on(settings):
    settings.WHITENOISE_AUTOREFRESH = settings.WHITENOISE_USE_FINDERS = True

    async def get_response(request):
        return "page"

    middleware = AsyncWhiteNoiseMiddleware(get_response)
    assert middleware._is_async
    css, page = _run(middleware, ["/static/css/app.css", "/s/demo/"])
    assert css.status_code == 200 and page == "page"


class _ThreadRecorder(ReusedThreadsASGIHandler):
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
