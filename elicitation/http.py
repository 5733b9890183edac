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
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.deprecation import MiddlewareMixin
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
COMMITS_AT_START = "_mge_commits_at_start"  # request attribute: commits begun before it


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
    it ran) runs once more, on a fresh connection from the pool, instead of a 500.

    The pool checks each connection it hands out, so requests after a restart are
    served; a request in flight at that moment still had its query cut. A GET may always
    run again: what the journey's GETs write is idempotent (the time last seen, draws
    that keep what was drawn). A POST runs again only if nothing it did may have been
    kept: no COMMIT begun and no statement that commits by itself (``commits_begun`` of
    ``config.postgresql``). Cut after that, whether its work landed is unknown here, and
    it stays an error page: a participant sending it again meets the services' own
    guard against doubles.
    """

    def process_request(self, request):
        setattr(request, COMMITS_AT_START, _commits_begun())

    def process_exception(self, request, exception):
        if getattr(request, RETRIED, False):
            return None
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        match = request.resolver_match
        if match is None or inspect.iscoroutinefunction(match.func):
            return None
        if request.method not in ("GET", "HEAD") and not _nothing_committed(request):
            return None
        if not _connection_lost(exception):
            return None  # the database answered with an error: running again changes nothing
        logger.warning(
            "database connection lost under %s %s; running it again", request.method, request.path
        )
        setattr(request, RETRIED, True)
        return match.func(request, *match.args, **match.kwargs)


def _connection_lost(exception) -> bool:
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


def _commits_begun() -> int | None:
    # None on a backend that does not count them (SQLite, the demo's: it never restarts).
    return getattr(connections["default"], "commits_begun", None)


def _nothing_committed(request) -> bool:
    at_start = getattr(request, COMMITS_AT_START, None)
    return at_start is not None and _commits_begun() == at_start
