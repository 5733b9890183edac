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
