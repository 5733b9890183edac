"""The ASGI server's application: every request in the demo (one uvicorn), and in
production the reply streams, drafting and revising the card (deploy/nginx.conf.template
sends those here and the pages to config/wsgi.py)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)  # what django.core.asgi.get_asgi_application does

from config.serving import prepare  # noqa: E402
from config.static import ThreadedASGIHandler  # noqa: E402

application = ThreadedASGIHandler()
prepare()
