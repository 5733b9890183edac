"""config/static.py: WhiteNoise async-capable, and the bound on sync requests at once."""

import asyncio

from django.test import RequestFactory

from config.static import AsyncWhiteNoiseMiddleware, SyncRequestLimitMiddleware


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
