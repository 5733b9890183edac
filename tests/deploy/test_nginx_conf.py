"""deploy/nginx.conf.template: the views that must not hold a thread go to the ASGI
server, every other one to the pages' WSGI server.

A view that waits on a model or streams (an async view, or a sync one that returns an
async stream) would hold one of gunicorn's few threads for seconds; a page sent to the
ASGI server would pay its event loop's thread hops beside hundreds of streams. A new
view of either kind fails here until the template's route says where it goes.
"""

import re

from asgiref.sync import iscoroutinefunction
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from tests.conftest import ROOT

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"

# Sync views that return an async stream: the ASGI server runs the stream on its event
# loop (config/static.py); under WSGI Django would read it to the end in the thread.
STREAMING = {"elicitation:interview_reply"}

EXAMPLES = {
    "slug": "a-study",
    "int": "7",
    "str": "abc",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "path": "a/b",
}


def _to_asgi() -> re.Pattern:
    text = TEMPLATE.read_text()
    found = re.search(
        r"location ~ (\S+) \{\s*(?:#[^\n]*\n\s*)*proxy_pass http://mge_streams;", text
    )
    assert found, "no regex location that proxies to mge_streams"
    return re.compile(found.group(1))


def _views(patterns, prefix="", namespace=""):
    """(example path, 'namespace:name', callback) of every view, the route's converters
    filled with an example value; regex routes (the admin's, the API's) as None."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or namespace
            route = entry.pattern._route if isinstance(entry.pattern, RoutePattern) else None
            yield from _views(
                entry.url_patterns,
                None if route is None or prefix is None else prefix + route,
                inner,
            )
        elif isinstance(entry, URLPattern):
            route = entry.pattern._route if isinstance(entry.pattern, RoutePattern) else None
            path = None
            if route is not None and prefix is not None:
                path = "/" + re.sub(
                    r"<(?:(\w+):)?\w+>", lambda m: EXAMPLES[m.group(1) or "str"], prefix + route
                )
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield path, name, entry.callback


def test_every_waiting_or_streaming_view_and_only_those_go_to_the_asgi_server():
    to_asgi = _to_asgi()
    views = list(_views(get_resolver().url_patterns))
    waiting = {name for _, name, callback in views if iscoroutinefunction(callback)}
    # The participant's model waits: drafting and revising the card.
    assert {"elicitation:interview_finish", "elicitation:card_revise"} <= waiting
    wrong = []
    for path, name, callback in views:
        must = name in STREAMING or iscoroutinefunction(callback)
        if path is None:
            if must:
                wrong.append(f"{name}: a regex route the template cannot be checked against")
            continue
        if bool(to_asgi.match(path)) != must:
            where = "the ASGI server" if must else "the pages' server"
            wrong.append(f"{name} ({path}) should go to {where}")
    assert not wrong, "\n".join(wrong)
    assert len([path for path, _, _ in views if path and to_asgi.match(path)]) == 3


def test_the_template_names_only_the_variables_both_of_its_users_fill_in():
    # docker-compose.yml (the nginx image's envsubst) and bench/_live.py (string.Template).
    names = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))
    assert names == {"MGE_LISTEN", "MGE_PAGES", "MGE_STREAMS", "MGE_STATIC_ROOT"}
    compose = (ROOT / "docker-compose.yml").read_text()
    assert all(f"{name}:" in compose for name in names)
