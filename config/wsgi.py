"""The WSGI server's application: in production the pages (gunicorn with threads), beside
the ASGI server for the streams and the model waits (deploy/nginx.conf.template)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.serving import prepare  # noqa: E402

prepare()
