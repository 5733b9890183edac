"""WhiteNoise, async-capable: static files are served as before, and every other request
goes on down the middleware chain without a thread.

WhiteNoise 6 declares no async support, so under ASGI Django ran the rest of the chain,
and the view, inside one thread per request: an async view that awaits a model (drafting
and revising a card) held that thread for the model's whole wait. With this, the whole
chain is async-capable; a sync view still gets its thread, for its own run only.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from whitenoise.middleware import WhiteNoiseMiddleware


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
