"""Input at the door: control characters and oversized bodies get a clear page, never a 500.

PostgreSQL cannot store a NUL in text (psycopg refuses the whole statement), and the other
C0 control characters are as meaningless in an id or a sentence; no participant types one.
``InputGuardMiddleware`` refuses them with a 400 page in every query parameter, and in the
POST fields of every view outside the participant journey. The journey's own views route
each POST field through ``elicitation.forms``, which say it inline next to the field and
keep what was typed (see ``forbid_control_characters``). A body over
DATA_UPLOAD_MAX_MEMORY_SIZE is refused before any view runs, with a page that names the
limit and never shows what was sent (``bad_request``, also the project's handler400).
"""

from __future__ import annotations

import inspect
import logging
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, ValidationError
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.deprecation import MiddlewareMixin
from django_htmx.http import HttpResponseClientRedirect
from psycopg_pool import PoolTimeout

# In text a participant writes, tabs and line breaks are fine; nothing else below a space.
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# In an id or a query parameter, not even those.
CONTROL_IN_PARAMETER = re.compile(r"[\x00-\x1f\x7f]")
# Named on the error page only if it looks like a parameter name: never echo anything else.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,40}")

# Namespaces whose views check every POST field themselves, through forms.
FORM_CHECKED_NAMESPACES = frozenset({"elicitation"})
# The read API (moralgraph.api, mounted in config/urls.py under this namespace).
API_NAMESPACE = "api"

CONTROL_MESSAGE = (
    "Your text had invisible control characters in it (often from a copy and paste). "
    "We have marked them with \ufffd: please check the text and send it again."
)


def forbid_control_characters(value: str) -> None:
    """A form validator for participant text (NUL included)."""
    if value and CONTROL_IN_TEXT.search(value):
        raise ValidationError(CONTROL_MESSAGE, code="control_character")


def mark_control_characters(value: str) -> str:
    """``value`` with each control character made visible, to give back for editing."""
    return CONTROL_IN_TEXT.sub("\ufffd", value)


def _first_bad(data, pattern: re.Pattern) -> str | None:
    """The name of the first parameter whose name or any value matches ``pattern``."""
    for key, values in data.lists():
        if pattern.search(key) or any(pattern.search(value) for value in values):
            return key if _NAME.fullmatch(key) else ""
    return None


def refused(request, *, heading: str, explanation: str, status: int, back: bool):
    """The journey's refusal page (or its ``#step`` for htmx, swapped over the step)."""
    htmx = request.headers.get("HX-Request") == "true"
    context = {
        "heading": heading,
        "explanation": explanation,
        # A form page's URL shows the page again on GET; a bad link has nowhere to go back.
        "back_url": request.path if back else "",
    }
    name = "elicitation/refused.html" + ("#step" if htmx else "")
    response = render(request, name, context, status=status)
    if htmx:
        response["HX-Retarget"] = "#step"
        response["HX-Reswap"] = "outerHTML"
    return response


class InputGuardMiddleware(MiddlewareMixin):
    """Refuse control characters in query parameters everywhere, and in POST fields of
    views that do not check them through forms, with a 400 page naming the parameter."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method == "POST":
            # Read the body here, before CSRF does, so a too-large one gets its page
            # in development too (Django's handler400 only serves it with DEBUG off).
            try:
                request.POST  # noqa: B018
            except (RequestDataTooBig, TooManyFieldsSent) as error:
                return bad_request(request, error)
        where = "link"
        bad = _first_bad(request.GET, CONTROL_IN_PARAMETER)
        match = request.resolver_match
        checked = match is not None and match.namespace in FORM_CHECKED_NAMESPACES
        if bad is None and request.method == "POST" and not checked:
            where = "form"
            bad = _first_bad(request.POST, CONTROL_IN_TEXT)
        if bad is None:
            return None
        named = f" (in “{bad}”)" if bad else ""
        if where == "link":
            explanation = (
                f"The link you opened has an invisible control character in it{named}, "
                "which we cannot accept. Please open the link exactly as you were given it."
            )
        else:
            explanation = (
                f"What you sent has an invisible control character in it{named}, which we "
                "cannot store. Please go back, check what you wrote and send it again."
            )
        if match is not None and match.namespace == API_NAMESPACE:
            # The read API answers in JSON, as its schema says.
            return JsonResponse({"detail": explanation}, status=400)
        return refused(
            request,
            heading="Something in this request cannot be accepted",
            explanation=explanation,
            status=400,
            back=where == "form",
        )


def bad_request(request, exception=None):
    """handler400: a body over the size limit (413, naming it) or another bad request."""
    if isinstance(exception, RequestDataTooBig):
        kib = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
        return refused(
            request,
            heading="Too long to send",
            explanation=(
                f"What you sent is larger than this site accepts in one go ({kib:,} KB), "
                "so it was not kept. A message to the interviewer may be up to "
                f"{settings.MESSAGE_MAX_CHARS:,} characters."
            ),
            status=413,
            back=True,
        )
    return refused(
        request,
        heading="This request cannot be accepted",
        explanation="Something in it was malformed. Please go back and try again.",
        status=400,
        back=request.method == "POST",
    )


logger = logging.getLogger(__name__)

RETRIED = "_mge_retried"  # request attribute: this request already ran once more
WRITES = "_mge_writes"  # request attribute: what its statements may have committed


def drop_broken_connections() -> bool:
    """Close each database connection the server cut under this request (a restart), so
    that the next query takes a fresh one from the pool. True if there was one."""
    broken = [
        connection
        for connection in connections.all(initialized_only=True)
        if connection.connection is not None and not connection.is_usable()
    ]
    for connection in broken:
        connection.close()
    return bool(broken)


class ReconnectMiddleware(MiddlewareMixin):
    """A request whose database connection was lost under it (PostgreSQL restarted while
    it ran) never ends in a server error: it runs once more on a fresh connection from
    the pool, or, if some of its work was kept, the participant is sent to the page as
    it now is.

    The pool checks each connection it hands out, so requests after a restart are
    served; a request in flight at that moment still had its query cut. A GET may always
    run again: what the journey's GETs write is idempotent (the time last seen, draws
    that keep what was drawn). A POST runs again only if nothing it did was kept
    (``Writes`` of ``config.postgresql``, which asks PostgreSQL what became of a COMMIT
    cut half way): running it twice would store a message or a judgment twice. If some
    of it was kept, or may have been, its answer is lost but not its work: the browser
    is sent to the same address (a full navigation), whose GET shows the step the
    participant is now on, with what was saved. Sending it again would meet the
    services' guards against doubles anyway; this spares the participant an error page.
    """

    def process_request(self, request):
        database = connections["default"]
        watch = getattr(database, "watch_writes", None)  # not on SQLite, the demo's
        if watch is None:
            return
        if request.method in ("GET", "HEAD"):
            database.stop_watching()
        else:
            setattr(request, WRITES, watch())

    def process_response(self, request, response):
        if getattr(request, WRITES, None) is not None:
            connections["default"].stop_watching()  # this thread's next work is not ours
        return response

    def process_exception(self, request, exception):
        if getattr(request, RETRIED, False):
            return None
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        match = request.resolver_match
        if match is None or inspect.iscoroutinefunction(match.func):
            return None
        if not connection_lost(exception):
            return None  # the database answered with an error: running again changes nothing
        if request.method not in ("GET", "HEAD") and _kept_something(request):
            logger.warning(
                "database connection lost under %s %s after its work was kept; "
                "sending the browser to the page as it now is",
                request.method,
                request.path,
            )
            return _to_the_page_as_it_is(request)
        logger.warning(
            "database connection lost under %s %s; running it again", request.method, request.path
        )
        setattr(request, RETRIED, True)
        self.process_request(request)  # its writes, watched anew
        return match.func(request, *match.args, **match.kwargs)


def _kept_something(request) -> bool:
    """Whether any of this POST's work may have been kept (True when it cannot be known)."""
    writes = getattr(request, WRITES, None)
    if writes is None:
        return True  # not watched (a backend without it): assume the worst
    try:
        landed = connections["default"].kept(writes)
    except (OperationalError, InterfaceError):
        drop_broken_connections()
        return True  # the database is not back yet: nothing can be known
    return landed is not False


def _to_the_page_as_it_is(request):
    path = request.get_full_path()
    if request.headers.get("HX-Request") == "true":
        return HttpResponseClientRedirect(path)
    return HttpResponseRedirect(path)


def connection_lost(exception) -> bool:
    """Whether ``exception`` came from a connection the server cut (dropped here)."""
    error = exception.__cause__
    if isinstance(error, PoolTimeout):
        return False  # no connection free in time: waiting once more helps nobody
    dropped = drop_broken_connections()
    # Cut inside a transaction, the broken connection is gone already: Django closed it
    # when the rollback failed, and took a fresh one to leave the transaction. The error
    # says what happened: the server shutting down (57P), a connection error (08), or
    # none from the server at all ("server closed the connection unexpectedly").
    sqlstate = getattr(error, "sqlstate", None)
    said = error is not None and (sqlstate is None or sqlstate.startswith(("08", "57P")))
    return dropped or said
