"""What a web server's process does once, before its first request: the ASGI server
(config/asgi.py, the streams and model waits) and the WSGI server (config/wsgi.py, the
pages) alike."""

import gc


def prepare() -> None:
    # The web tier calls models (replies and card drafts on the ASGI server; the reply
    # of a browser without JavaScript on either): import litellm now, at start-up, not
    # on the first participant's reply, where its seconds of import would stall every
    # request this process serves. Commands stay fast: they never import this module.
    from elicitation.llm.lazy import litellm

    litellm.load()

    # The collector, tuned for a server: what start-up made (Django, the app, litellm: a
    # large heap that lives as long as the process) is frozen out of its passes, and
    # young objects are collected every 50,000 allocations instead of 700, so that a
    # request's objects, alive while it waits, are freed by their counts and not
    # promoted to older generations. A full pass walked that heap for about half a
    # second, the process stopped; collections were 14 % of a web process's CPU in
    # bench/load.py.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
