"""Arriving: the site's front page, the health check, the recruitment link and consent."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from elicitation import journey, selectors
from elicitation.models import Participant, Study, WorkerHeartbeat
from elicitation.services import consent as consent_service
from elicitation.services import participants
from elicitation.views import common

Step = Participant.Step


def home(request):
    studies = Study.objects.filter(status=Study.Status.OPEN).order_by("title")
    return render(request, "elicitation/home.html", {"studies": studies})


def healthz(request):
    """Database reachable, and when a worker last ran a task."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    beat = WorkerHeartbeat.objects.filter(name="worker").first()
    return JsonResponse(
        {"database": "ok", "worker_seen_at": beat.seen_at.isoformat() if beat else None}
    )


@require_GET
def entry(request, slug):
    """The recruitment link: /s/<slug>/?PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=...

    A known recruiter id (or this browser's session) resumes where the participant
    left off; anyone else is asked for consent, their recruiter ids kept until then.
    """
    study = common.study_or_404(slug)
    pid = (request.GET.get("PROLIFIC_PID") or request.GET.get("pid") or "").strip()
    participant = (
        selectors.participant_by_recruiter_pid(study, pid[: participants.RECRUITER_ID_MAX])
        if pid
        else common.session_participant(request, study)
    )
    if participant is not None:
        participants.participant_resume(
            participant=participant, session_key=common.session_key(request)
        )
        common.remember(request, participant)
        if not study.is_open and participant.step != Step.DONE:
            return common.closed(request, study)
        return common.to_step(request, participant)
    if not study.is_open:
        return common.closed(request, study)
    if pid or "STUDY_ID" in request.GET or "SESSION_ID" in request.GET:
        request.session[common.PENDING_KEY.format(study.pk)] = {
            "recruiter_pid": pid,
            "recruiter_study_id": request.GET.get("STUDY_ID", ""),
            "recruiter_session_id": request.GET.get("SESSION_ID", ""),
        }
    return redirect(journey.url_for(study, journey.CONSENT))


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def consent(request, slug):
    study = common.study_or_404(slug)
    if not study.is_open:
        return common.closed(request, study)
    participant = common.session_participant(request, study)
    if participant is not None:
        return common.to_step(request, participant)
    context = {"study": study}
    if request.method == "POST":
        if request.POST.get("action") == "decline":
            consent_service.consent_decline(study=study)
            # Nothing about the person is kept: not even the recruiter ids they came with.
            request.session.pop(common.PENDING_KEY.format(study.pk), None)
            url = journey.recruiter_url(study, study.no_consent_code)
            if url:
                return common.go(request, url, external=True)
            name = "elicitation/declined.html" + ("#step" if request.htmx else "")
            return render(request, name, context)
        if request.POST.get("action") == "agree":
            pending = request.session.pop(common.PENDING_KEY.format(study.pk), {}) or {}
            try:
                participant = participants.participant_start(
                    study=study, session_key=common.session_key(request), **pending
                )
            except participants.JourneyError as error:
                context["error"] = error.message
                return common.page(
                    request, "elicitation/consent.html", context, step=journey.CONSENT, status=409
                )
            common.remember(request, participant)
            return common.to_step(request, participant)
        context["error"] = "Please choose one of the two buttons."
        return common.page(
            request, "elicitation/consent.html", context, step=journey.CONSENT, status=400
        )
    return common.page(request, "elicitation/consent.html", context, step=journey.CONSENT)
