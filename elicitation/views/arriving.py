"""Arriving: the site's front page, the health check, the recruitment link, consent, and
coming back (in another browser with the resume code, or with another recruiter id)."""

from __future__ import annotations

from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from elicitation import journey, ratelimit, selectors
from elicitation.models import Participant, Study, WorkerHeartbeat
from elicitation.services import consent as consent_service
from elicitation.services import lifecycle, participants
from elicitation.views import common

Step = Participant.Step


def home(request):
    # Only studies their researchers chose to list: a recruited study stays unlisted.
    studies = Study.objects.filter(status=Study.Status.LIVE, is_public=True).order_by("title")
    return render(request, "elicitation/home.html", {"studies": studies})


def healthz(request):
    """Database reachable, and when a worker last ran a task."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    beat = WorkerHeartbeat.objects.filter(name="worker").first()
    return JsonResponse(
        {"database": "ok", "worker_seen_at": beat.seen_at.isoformat() if beat else None}
    )


def _link_pid(request) -> str:
    pid = (request.GET.get("PROLIFIC_PID") or request.GET.get("pid") or "").strip()
    return pid[: participants.RECRUITER_ID_MAX]


@require_GET
def entry(request, slug):
    """The recruitment link: /s/<slug>/?PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=...

    This browser's participant continues where they left off. A recruiter id that
    another browser started with never opens their work here: it asks for their resume
    code. A different recruiter id in a browser that already takes part asks which of
    the two to go on as. Anyone else is asked for consent, their ids kept until then.
    """
    study = common.study_or_404(request, slug)
    pid = _link_pid(request)
    current = common.session_participant(request, study)
    has_ids = pid or "STUDY_ID" in request.GET or "SESSION_ID" in request.GET
    if has_ids and (current is None or (pid and current.recruiter_pid != pid)):
        request.session[common.PENDING_KEY.format(study.pk)] = {
            "recruiter_pid": pid,
            "recruiter_study_id": request.GET.get("STUDY_ID", ""),
            "recruiter_session_id": request.GET.get("SESSION_ID", ""),
        }
    if current is not None and pid and current.recruiter_pid != pid:
        return redirect("elicitation:switch", slug=study.slug)
    if current is None and pid:
        known = selectors.participant_by_recruiter_pid(study, pid)
        if known is not None and known.screened_out_at is not None:
            return _screened_out(request, study, kept_id=True)  # declined: stays declined
        if known is not None:
            return _continue_known(request, study, known)
    if current is not None:
        return common.refuse_inside(request, study, current) or common.to_step(request, current)
    refused = common.refuse_new(request, study, pid=pid)
    if refused is not None:
        return refused
    return redirect(journey.url_for(study, journey.CONSENT))


@require_GET
def test_link(request, slug, token):
    """The study's test link, /s/<slug>/test/<pilot_token>/: the way into a pilot (and a
    live study, for trying it). Whoever this browser starts is a test participant."""
    study = common.study_or_404(request, slug)
    # Checked against the row, not this process's copy of the study (kept for
    # STUDY_CACHE_SECONDS): a token changed in another process is the only one valid.
    if not constant_time_compare(token, selectors.pilot_token(study)):
        raise Http404("No such study")
    request.session[common.TEST_KEY.format(study.pk)] = True
    return redirect("elicitation:entry", slug=study.slug)


def _screened_out(request, study, *, kept_id: bool):
    """Back to the recruiter with the screen-out code, or a thank-you page."""
    url = journey.recruiter_url(study, study.no_consent_code)
    if url:
        return common.go(request, url, external=True)
    name = "elicitation/declined.html" + ("#step" if request.htmx else "")
    return render(request, name, {"study": study, "kept_id": kept_id})


def _continue_known(request, study, known: Participant):
    """A recruiter id that already started: its own browser goes on (a session that lost
    its entry), any other is asked for the resume code."""
    if known.session_key and known.session_key == request.session.session_key:
        request.session.pop(common.PENDING_KEY.format(study.pk), None)
        common.remember(request, known)
        return common.to_step(request, known)
    return common.go(request, reverse("elicitation:resume", args=[study.slug]))


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def resume(request, slug):
    """ "This id already started in another browser": continue only with the resume code
    shown there. Nothing of the participant's is shown before the code is right."""
    study = common.study_or_404(request, slug)
    pid = common.pending(request, study).get("recruiter_pid", "")
    known = selectors.participant_by_recruiter_pid(study, pid)
    current = common.session_participant(request, study)
    if known is None or (current is not None and current.pk == known.pk):
        return redirect("elicitation:entry", slug=study.slug)
    context = {"study": study, "pid": pid, "current": current, "code": ""}
    status, retry_after = 200, 0
    if request.method == "POST":
        code = request.POST.get("code", "")
        try:
            participants.participant_resume(
                participant=known,
                code=code,
                session_key=common.session_key(request),
                address=common.client_address(request),
            )
        except participants.WrongResumeCode as wrong:
            context.update(error=wrong.message, code=code[:40])
            status, retry_after = (429 if wrong.retry_after else 400), wrong.retry_after
        else:
            request.session.pop(common.PENDING_KEY.format(study.pk), None)
            common.remember(request, known, code=code)
            return common.refuse_inside(request, study, known) or common.to_step(request, known)
    name = "elicitation/resume.html" + ("#step" if request.htmx else "")
    response = render(request, name, context, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def switch(request, slug):
    """This browser takes part as one recruiter id and the link names another: continue
    as the first, or start (or resume) as the second? Never both at once, so nobody's
    work is recorded under someone else's id."""
    study = common.study_or_404(request, slug)
    current = common.session_participant(request, study)
    pid = common.pending(request, study).get("recruiter_pid", "")
    if current is None or not pid or current.recruiter_pid == pid:
        return redirect("elicitation:entry", slug=study.slug)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "continue":
            request.session.pop(common.PENDING_KEY.format(study.pk), None)
            return common.to_step(request, current)
        if action == "switch":
            common.forget(request, study)
            known = selectors.participant_by_recruiter_pid(study, pid)
            if known is not None:
                return _continue_known(request, study, known)
            refused = common.refuse_new(request, study, pid=pid)
            if refused is not None:
                return refused
            return common.go(request, journey.url_for(study, journey.CONSENT))
    context = {"study": study, "current": current, "pid": pid}
    name = "elicitation/switch.html" + ("#step" if request.htmx else "")
    return render(request, name, context, status=200 if request.method == "GET" else 400)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def consent(request, slug):
    study = common.study_or_404(request, slug)
    participant = common.session_participant(request, study)
    if participant is not None:
        return common.refuse_inside(request, study, participant) or common.to_step(
            request, participant
        )
    refused = common.refuse_new(
        request, study, pid=common.pending(request, study).get("recruiter_pid", "")
    )
    if refused is not None:
        return refused
    context = {"study": study}
    if request.method == "POST":
        if request.POST.get("action") == "decline":
            # Nothing about the person is kept but their recruiter id, if they came with
            # one: the recruiter settles their return with the screen-out code.
            pending = common.pending(request, study)
            consent_service.consent_decline(study=study, **pending)
            request.session.pop(common.PENDING_KEY.format(study.pk), None)
            return _screened_out(request, study, kept_id=bool(pending.get("recruiter_pid")))
        if request.POST.get("action") == "agree":
            # A quota met since the last completion (lowered in the settings, say) closes
            # the study now rather than at the next sweep.
            if lifecycle.check_quotas(study):
                return common.closed(request, study)
            pending = common.pending(request, study)
            try:
                participant = participants.participant_start(
                    study=study,
                    session_key=common.session_key(request),
                    is_test=common.is_tester(request, study),
                    address=common.client_address(request),
                    **pending,
                )
            except ratelimit.SignupRefused as refused:
                # Turned away at the door (a flood from one address, or no budget left
                # to reserve a newcomer's allowance): no participant row, a clear page.
                context["error"] = refused.message
                response = common.page(
                    request, "elicitation/consent.html", context, step=journey.CONSENT, status=429
                )
                response["Retry-After"] = str(refused.retry_after)
                return response
            except participants.AlreadyStarted:
                # Another browser agreed first with this id: its code, or nothing.
                return common.go(request, reverse("elicitation:resume", args=[study.slug]))
            except participants.JourneyError as error:
                context["error"] = error.message
                return common.page(
                    request, "elicitation/consent.html", context, step=journey.CONSENT, status=409
                )
            # This browser is theirs before anything else can fail: a connection lost
            # after the row committed (a database restart) sends the browser back to
            # this page, which must find them, not start somebody new without their
            # recruiter ids (bench/faults.py saw one journey recorded so).
            common.remember(request, participant)
            request.session.pop(common.PENDING_KEY.format(study.pk), None)
            code = participants.resume_code_issue(participant=participant)
            common.remember(request, participant, code=code)
            return common.onward(request, participant)
        context["error"] = "Please choose one of the two buttons."
        return common.page(
            request, "elicitation/consent.html", context, step=journey.CONSENT, status=400
        )
    return common.page(request, "elicitation/consent.html", context, step=journey.CONSENT)
