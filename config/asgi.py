import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does

from config.static import ThreadedASGIHandler  # noqa: E402

application = ThreadedASGIHandler()

# The web server calls models (replies, card drafts): import litellm now, at start-up,
# not on the first participant's reply, where its seconds of import would stall every
# request this process serves (the import runs on the event loop). Commands stay fast:
# they never import this module.
from elicitation.llm.lazy import litellm  # noqa: E402

litellm.load()

# The collector, tuned for a server: what start-up made (Django, the app, litellm: a
# large heap that lives as long as the process) is frozen out of its passes, and young
# objects are collected every 50,000 allocations instead of 700, so that a request's
# objects, alive while it waits, are freed by their counts and not promoted to older
# generations. A full pass walked that heap for about half a second, the event loop
# stopped; collections were 14 % of a web process's CPU in bench/load.py.
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 20, 100)
