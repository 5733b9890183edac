"""What every step's view shares: the study, this session's participant, redirects that
work for htmx and without JavaScript, and the page or ``#step`` partial.

Who the participant is comes from the session only (one entry per study, set on consent
or when their resume code is typed in another browser), never from an id in the URL: a
recruiter id in the link finds a participant but never hands them to a new browser.
"""

from __future__ import annotations

import inspect
import logging
from functools import wraps

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.utils.datastructures import MultiValueDict
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from elicitation import journey, ratelimit, selectors
from elicitation.http import drop_broken_connections
from elicitation.models import Participant, Study, StudyMember
from elicitation.services import lifecycle, participants

Step = Participant.Step
logger = logging.getLogger(__name__)

PARTICIPANT_KEY = "mge.participant.{}"  # session key: study id -> participant public id
PENDING_KEY = "mge.recruiter.{}"  # session key: recruiter ids kept until consent
RESUME_KEY = "mge.resume.{}"  # session key: study id -> the participant's resume code
TEST_KEY = "mge.test.{}"  # session key: this browser came by the study's test link
STUDY_ATTR = "_mge_study"  # request attribute: the study this request read


def study_or_404(request, slug: str) -> Study:
    """The study at ``slug``, read once per request: a step shown at once
    (``show_at_once``) runs a second view. A draft study is not published yet: to a
    participant it does not exist."""
    study = getattr(request, STUDY_ATTR, None)
    if study is None or study.slug != slug:
        study = selectors.published_study(slug)
        setattr(request, STUDY_ATTR, study)
    return study


# ---------------------------------------------------------------------------------------
# Who may come in (services.lifecycle has the statuses' moves)
# ---------------------------------------------------------------------------------------
# pilot: only the test link (and staff with a role on the study), marked as test.
# live: everyone (a recruiter id when the study requires one; the test link still works).
# closing: no new participants; everyone inside finishes every step.
# closed: only the done page.


def staff_member(user, study: Study) -> bool:
    """Staff with a role on the study (a superuser has one on every study)."""
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        return False
    if user.is_superuser:
        return True
    return user.is_staff and StudyMember.objects.filter(study=study, user=user).exists()


def is_tester(request, study: Study) -> bool:
    """This browser came by the study's test link, or is staff walking a pilot: whoever
    it starts is a test participant (kept, never counted)."""
    if request.session.get(TEST_KEY.format(study.pk)):
        return True
    return study.status == Study.Status.PILOT and staff_member(request.user, study)


def refuse_new(request, study: Study, *, pid: str = ""):
    """The page that turns away a new participant (None: they may start). A pilot is
    not there for the public (404); closing and closed take nobody new (410)."""
    tester = is_tester(request, study)
    if study.status == Study.Status.PILOT and not tester:
        raise Http404("No such study")
    if study.status in (Study.Status.CLOSING, Study.Status.CLOSED):
        return closed(request, study)
    if study.recruiter_id_required and not tester and not pid:
        name = "elicitation/recruiter_id.html" + ("#step" if request.htmx else "")
        return render(request, name, {"study": study}, status=403)
    return None


def refuse_inside(request, study: Study, participant: Participant):
    """The page that stops a participant already inside (None: they go on): only a closed
    study stops them, and never on the done page."""
    if study.status == Study.Status.CLOSED and participant.step != Step.DONE:
        return closed(request, study)
    return None


def session_key(request) -> str:
    if not request.session.session_key:
        request.session.create()
    return request.session.session_key


def session_participant(request, study: Study) -> Participant | None:
    return selectors.participant_by_public_id(
        study, request.session.get(PARTICIPANT_KEY.format(study.pk))
    )


def remember(request, participant: Participant, *, code: str = "") -> None:
    """Bind this browser session to ``participant``; keep their resume code to show."""
    request.session[PARTICIPANT_KEY.format(participant.study_id)] = str(participant.public_id)
    if code:
        request.session[RESUME_KEY.format(participant.study_id)] = participants.format_code(code)


def forget(request, study: Study) -> None:
    """This session is no longer anyone in ``study`` (the participant stays saved)."""
    request.session.pop(PARTICIPANT_KEY.format(study.pk), None)
    request.session.pop(RESUME_KEY.format(study.pk), None)


def resume_code(request, participant: Participant) -> str:
    """The participant's resume code to show in this session, issued if it has none (a
    session from before codes existed): the code is kept nowhere else in clear."""
    key = RESUME_KEY.format(participant.study_id)
    code = request.session.get(key, "")
    if not code or not participants.resume_code_matches(participant, code):
        code = participants.format_code(participants.resume_code_issue(participant=participant))
        request.session[key] = code
    return code


def pending(request, study: Study) -> dict:
    """The recruiter ids of the link this session last opened, kept until used."""
    return request.session.get(PENDING_KEY.format(study.pk)) or {}


def client_address(request) -> str:
    return ratelimit.client_address(request)


def go(request, url: str, *, external: bool = False):
    """Redirect; an htmx request that swaps part of a page (not a whole step), or that
    leaves the site, is sent to the new page as a full navigation instead. An htmx
    request for a whole step is answered with the step it ends on (``show_at_once``)."""
    if request.htmx and (external or (not request.htmx.boosted and request.htmx.target != "step")):
        return HttpResponseClientRedirect(url)
    if request.htmx and not external:
        shown = show_at_once(request, url)
        if shown is not None:
            return shown
    return redirect(url)


FORWARDED = "_mge_forwarded"  # request attribute: this request already shows another step
MOVED_ATTR = "_mge_moved"  # request attribute: the participant as a service just saved them


def show_at_once(request, url: str):
    """The step at ``url``, rendered as the answer to this htmx request, with
    ``HX-Push-Url`` so the address bar shows ``url`` as after a redirect. None when the
    step cannot be shown here (an async view, or a second hop), and the caller
    redirects.

    Every step sent moves the participant on: with a redirect that is two round trips,
    the POST and then htmx's GET of the next step, each paying the server's whole
    request path (parsing, middleware, the session read) and each waiting its turn under
    load. Here the next step's view runs at once, as for a GET of ``url``, in the same
    request: same session, same CSRF cookie. Without JavaScript the redirect stays
    (post, redirect, get): reloading a page never sends a form twice.
    """
    if getattr(request, FORWARDED, False):
        return None
    try:
        match = resolve(url)
    except Resolver404:
        return None
    if inspect.iscoroutinefunction(match.func):
        return None
    path, _, query = url.partition("?")
    # The request becomes the GET of ``url`` in place: the middleware's response hooks
    # (the session's save, the CSRF cookie) then see what the step's view did. Its META
    # is a copy: under WSGI the original is the server's environ, whose access log would
    # then name the GET of the next step instead of the POST that was sent.
    request.method = "GET"
    request.META = {**request.META, "REQUEST_METHOD": "GET", "PATH_INFO": path}
    request.META["QUERY_STRING"] = query
    request.META.pop("CONTENT_TYPE", None)
    request.META.pop("CONTENT_LENGTH", None)
    request.path = request.path_info = path
    request.GET = QueryDict(query)
    request._post, request._files = QueryDict(), MultiValueDict()
    request.resolver_match = match
    setattr(request, FORWARDED, True)
    try:
        response = match.func(request, *match.args, **match.kwargs)
    except (OperationalError, InterfaceError):
        # What was sent is saved (its transaction committed); only showing the next step
        # failed, the database gone between the two (a restart). The participant gets the
        # redirect, as without htmx: the browser asks for the step anew, on a fresh
        # connection. The broken one goes now, so this request can still save its session.
        logger.warning("showing %s at once failed; redirecting", path, exc_info=True)
        drop_broken_connections()
        return None
    if response.status_code == 200:
        response["HX-Push-Url"] = url
    return response


def to_step(request, participant: Participant):
    return go(request, journey.url_for(participant.study, participant.step))


def onward(request, moved: Participant):
    """After a service moved the participant on: to the step it left them on. ``moved``
    is the row the service locked and saved (not the one this request started with),
    so no second read is needed, neither here nor by the step shown at once."""
    setattr(request, MOVED_ATTR, moved)
    return to_step(request, moved)


def page(request, template: str, context: dict, *, step: str, status: int = 200):
    """Render a step's page, or just its ``#step`` partial for htmx."""
    study = context["study"]
    participant = context.get("participant")
    skipped = participant.skipped_steps if participant is not None else ()
    context = {
        "progress": journey.progress(study, step, skipped=skipped),
        "step_name": step,
        # Shown on every page of a participant with a recruiter id: with it, and only
        # with it, the same id continues in another browser.
        "resume_code": (
            resume_code(request, participant)
            if participant is not None and participant.recruiter_pid
            else ""
        ),
        **context,
    }
    name = f"{template}#step" if request.htmx else template
    return render(request, name, context, status=status)


def closed(request, study: Study):
    name = "elicitation/closed.html#step" if request.htmx else "elicitation/closed.html"
    return render(request, name, {"study": study}, status=410)


def screened_out(request, study: Study, participant: Participant):
    """A participant whose journey ended early (their group's quota was full): told so
    plainly, with the study's screen-out code for the recruiter when it has one."""
    context = {
        "study": study,
        "participant": participant,
        "code": study.no_consent_code,
        "redirect_url": journey.recruiter_url(study, study.no_consent_code),
    }
    name = "elicitation/screened_out.html" + ("#step" if request.htmx else "")
    return render(request, name, context)


def participant_step(step: str, *, when_closed: bool = False):
    """Resolve the study and this session's participant; send anyone not on ``step``
    to the step they are on. Views then get ``(request, study, participant)``."""

    def decorator(view):
        if inspect.iscoroutinefunction(view):
            return _async_participant_step(view, step, when_closed)

        @wraps(view)
        @vary_on_headers("HX-Request")
        def wrapper(request, slug, *args, **kwargs):
            found = _resolve_step(request, slug, step, when_closed)
            if not isinstance(found, tuple):
                return found
            study, participant = found
            try:
                return view(request, study, participant, *args, **kwargs)
            except participants.StepMismatch as moved:
                return to_step(request, moved.participant)
            except participants.NotFound:
                raise Http404("Not part of your study") from None

        return wrapper

    return decorator


def _resolve_step(request, slug: str, step: str, when_closed: bool):
    """(study, participant) when this session's participant may see ``step``, else the
    response that sends them where they belong."""
    study = study_or_404(request, slug)
    # A closed study serves only its done page; closing lets those inside finish.
    if study.status == Study.Status.CLOSED and not when_closed:
        return closed(request, study)
    participant = _moved_here(request, study) or session_participant(request, study)
    if participant is None:
        return go(request, journey.url_for(study, journey.CONSENT))
    if participant.screened_out_at is not None:
        return screened_out(request, study, participant)
    lifecycle.note_seen(participant)
    if not journey.can_view(participant.step, step):
        return to_step(request, participant)
    return study, participant


def _moved_here(request, study: Study) -> Participant | None:
    """In the step shown at once: the participant the step sent had just saved, the row
    a second read would return (the session names them; nothing ran in between)."""
    if not getattr(request, FORWARDED, False):
        return None
    moved = getattr(request, MOVED_ATTR, None)
    if moved is None or moved.study_id != study.pk:
        return None
    return moved


def _async_participant_step(view, step: str, when_closed: bool):
    """``participant_step`` for an async view (one that awaits a model): the same checks,
    run in a thread, then the view on the event loop."""

    @wraps(view)
    @vary_on_headers("HX-Request")
    async def wrapper(request, slug, *args, **kwargs):
        found = await sync_to_async(_resolve_step)(request, slug, step, when_closed)
        if not isinstance(found, tuple):
            return found
        study, participant = found
        try:
            return await view(request, study, participant, *args, **kwargs)
        except participants.StepMismatch as moved:
            return await sync_to_async(to_step)(request, moved.participant)
        except participants.NotFound:
            raise Http404("Not part of your study") from None

    return wrapper
