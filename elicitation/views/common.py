"""What every step's view shares: the study, this session's participant, redirects that
work for htmx and without JavaScript, and the page or ``#step`` partial.

Who the participant is comes from the session only (one entry per study, set on consent
or on return with a recruiter id), never from an id in the URL.
"""

from __future__ import annotations

from functools import wraps

from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from elicitation import journey, selectors
from elicitation.models import Participant, Study
from elicitation.services import participants

Step = Participant.Step

PARTICIPANT_KEY = "mge.participant.{}"  # session key: study id -> participant public id
PENDING_KEY = "mge.recruiter.{}"  # session key: recruiter ids kept until consent


def study_or_404(slug: str) -> Study:
    # A draft study is not published yet: to a participant it does not exist.
    return get_object_or_404(Study, slug=slug, status__in=[Study.Status.OPEN, Study.Status.CLOSED])


def session_key(request) -> str:
    if not request.session.session_key:
        request.session.create()
    return request.session.session_key


def session_participant(request, study: Study) -> Participant | None:
    return selectors.participant_by_public_id(
        study, request.session.get(PARTICIPANT_KEY.format(study.pk))
    )


def remember(request, participant: Participant) -> None:
    request.session[PARTICIPANT_KEY.format(participant.study_id)] = str(participant.public_id)


def go(request, url: str, *, external: bool = False):
    """Redirect; an htmx request that swaps part of a page (not a whole step), or that
    leaves the site, is sent to the new page as a full navigation instead."""
    if request.htmx and (external or (not request.htmx.boosted and request.htmx.target != "step")):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def to_step(request, participant: Participant):
    return go(request, journey.url_for(participant.study, participant.step))


def onward(request, participant: Participant):
    """After a service moved the participant on: to wherever they are now."""
    participant.refresh_from_db(fields=["step"])
    return to_step(request, participant)


def page(request, template: str, context: dict, *, step: str, status: int = 200):
    """Render a step's page, or just its ``#step`` partial for htmx."""
    study = context["study"]
    context = {
        "progress": journey.progress(study, step),
        "step_name": step,
        **context,
    }
    name = f"{template}#step" if request.htmx else template
    return render(request, name, context, status=status)


def closed(request, study: Study):
    name = "elicitation/closed.html#step" if request.htmx else "elicitation/closed.html"
    return render(request, name, {"study": study}, status=410)


def participant_step(step: str, *, when_closed: bool = False):
    """Resolve the study and this session's participant; send anyone not on ``step``
    to the step they are on. Views then get ``(request, study, participant)``."""

    def decorator(view):
        @wraps(view)
        @vary_on_headers("HX-Request")
        def wrapper(request, slug, *args, **kwargs):
            study = study_or_404(slug)
            if not study.is_open and not when_closed:
                return closed(request, study)
            participant = session_participant(request, study)
            if participant is None:
                return go(request, journey.url_for(study, journey.CONSENT))
            if not journey.can_view(participant.step, step):
                return to_step(request, participant)
            try:
                return view(request, study, participant, *args, **kwargs)
            except participants.StepMismatch as moved:
                return to_step(request, moved.participant)
            except participants.NotFound:
                raise Http404("Not part of your study") from None

        return wrapper

    return decorator
