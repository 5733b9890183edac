"""Views of the participant journey: parse input, call a service, render a page.

Each step is one URL that renders the full page, or its ``#step`` partial for an htmx
request (the body is hx-boosted, so links and forms swap only the step). Every form is
a real ``<form method=post>`` that works without JavaScript; only the live token
stream of the interview needs it, and without it the reply is written in one piece.

Who the participant is comes from the session only (one entry per study, set on
consent or on return with a recruiter id), never from an id in the URL.
"""

from __future__ import annotations

from contextlib import aclosing, suppress
from functools import wraps

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from elicitation import forms, journey, llm, selectors, services
from elicitation.models import Participant, Study, WorkerHeartbeat
from elicitation.ratelimit import RateLimited

Step = Participant.Step

_PARTICIPANT = "mge.participant.{}"  # session key: study id -> participant public id
_PENDING = "mge.recruiter.{}"  # session key: recruiter ids kept until consent


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


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _study(slug: str) -> Study:
    # A draft study is not published yet: to a participant it does not exist.
    return get_object_or_404(Study, slug=slug, status__in=[Study.Status.OPEN, Study.Status.CLOSED])


def _session_key(request) -> str:
    if not request.session.session_key:
        request.session.create()
    return request.session.session_key


def _participant(request, study: Study) -> Participant | None:
    return selectors.participant_by_public_id(
        study, request.session.get(_PARTICIPANT.format(study.pk))
    )


def _remember(request, participant: Participant) -> None:
    request.session[_PARTICIPANT.format(participant.study_id)] = str(participant.public_id)


def _go(request, url: str, *, external: bool = False):
    """Redirect; an htmx request that swaps part of a page (not a whole step), or that
    leaves the site, is sent to the new page as a full navigation instead."""
    if request.htmx and (external or (not request.htmx.boosted and request.htmx.target != "step")):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _to_step(request, participant: Participant):
    return _go(request, journey.url_for(participant.study, participant.step))


def _onward(request, participant: Participant):
    """After a service moved the participant on: to wherever they are now."""
    participant.refresh_from_db(fields=["step"])
    return _to_step(request, participant)


def _page(request, template: str, context: dict, *, step: str, status: int = 200):
    """Render a step's page, or just its ``#step`` partial for htmx."""
    study = context["study"]
    context = {
        "progress": journey.progress(study, step),
        "step_name": step,
        **context,
    }
    name = f"{template}#step" if request.htmx else template
    return render(request, name, context, status=status)


def _closed(request, study: Study):
    name = "elicitation/closed.html#step" if request.htmx else "elicitation/closed.html"
    return render(request, name, {"study": study}, status=410)


def participant_step(step: str, *, when_closed: bool = False):
    """Resolve the study and this session's participant; send anyone not on ``step``
    to the step they are on. Views then get ``(request, study, participant)``."""

    def decorator(view):
        @wraps(view)
        @vary_on_headers("HX-Request")
        def wrapper(request, slug, *args, **kwargs):
            study = _study(slug)
            if not study.is_open and not when_closed:
                return _closed(request, study)
            participant = _participant(request, study)
            if participant is None:
                return _go(request, journey.url_for(study, journey.CONSENT))
            if not journey.can_view(participant.step, step):
                return _to_step(request, participant)
            try:
                return view(request, study, participant, *args, **kwargs)
            except services.StepMismatch as moved:
                return _to_step(request, moved.participant)
            except services.NotFound:
                raise Http404("Not part of your study") from None

        return wrapper

    return decorator


# ---------------------------------------------------------------------------------------
# Arriving
# ---------------------------------------------------------------------------------------


@require_GET
def entry(request, slug):
    """The recruitment link: /s/<slug>/?PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=...

    A known recruiter id (or this browser's session) resumes where the participant
    left off; anyone else is asked for consent, their recruiter ids kept until then.
    """
    study = _study(slug)
    pid = (request.GET.get("PROLIFIC_PID") or request.GET.get("pid") or "").strip()
    participant = (
        selectors.participant_by_recruiter_pid(study, pid[: services.RECRUITER_ID_MAX])
        if pid
        else _participant(request, study)
    )
    if participant is not None:
        services.participant_resume(participant=participant, session_key=_session_key(request))
        _remember(request, participant)
        if not study.is_open and participant.step != Step.DONE:
            return _closed(request, study)
        return _to_step(request, participant)
    if not study.is_open:
        return _closed(request, study)
    if pid or "STUDY_ID" in request.GET or "SESSION_ID" in request.GET:
        request.session[_PENDING.format(study.pk)] = {
            "recruiter_pid": pid,
            "recruiter_study_id": request.GET.get("STUDY_ID", ""),
            "recruiter_session_id": request.GET.get("SESSION_ID", ""),
        }
    return redirect(journey.url_for(study, journey.CONSENT))


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def consent(request, slug):
    study = _study(slug)
    if not study.is_open:
        return _closed(request, study)
    participant = _participant(request, study)
    if participant is not None:
        return _to_step(request, participant)
    context = {"study": study}
    if request.method == "POST":
        if request.POST.get("action") == "decline":
            services.consent_decline(study=study)
            # Nothing about the person is kept: not even the recruiter ids they came with.
            request.session.pop(_PENDING.format(study.pk), None)
            url = journey.recruiter_url(study, study.no_consent_code)
            if url:
                return _go(request, url, external=True)
            name = "elicitation/declined.html" + ("#step" if request.htmx else "")
            return render(request, name, context)
        if request.POST.get("action") == "agree":
            pending = request.session.pop(_PENDING.format(study.pk), {}) or {}
            try:
                participant = services.participant_start(
                    study=study, session_key=_session_key(request), **pending
                )
            except services.JourneyError as error:
                context["error"] = error.message
                return _page(
                    request, "elicitation/consent.html", context, step=journey.CONSENT, status=409
                )
            _remember(request, participant)
            return _to_step(request, participant)
        context["error"] = "Please choose one of the two buttons."
        return _page(request, "elicitation/consent.html", context, step=journey.CONSENT, status=400)
    return _page(request, "elicitation/consent.html", context, step=journey.CONSENT)


# ---------------------------------------------------------------------------------------
# About you, the question
# ---------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@participant_step(Step.ABOUT)
def about(request, study, participant):
    if request.method == "POST":
        if request.POST.get("action") == "skip":
            services.demographics_save(participant=participant)
            return _onward(request, participant)
        form = forms.DemographicsForm(request.POST, study=study)
        if form.is_valid():
            services.demographics_save(participant=participant, **form.cleaned_data)
            return _onward(request, participant)
        status = 400
    else:
        form = forms.DemographicsForm(study=study)
        status = 200
    context = {"study": study, "participant": participant, "form": form}
    return _page(request, "elicitation/about.html", context, step=Step.ABOUT, status=status)


@require_http_methods(["GET", "POST"])
@participant_step(Step.QUESTION)
def question(request, study, participant):
    if request.method == "POST":
        services.question_begin(participant=participant)
        return _onward(request, participant)
    context = {"study": study, "participant": participant, "question": participant.question}
    return _page(request, "elicitation/question.html", context, step=Step.QUESTION)


# ---------------------------------------------------------------------------------------
# The interview
# ---------------------------------------------------------------------------------------


def _interview_context(study, participant, *, form=None, error="", card_error="") -> dict:
    interview = selectors.interview_for(participant)
    messages = selectors.transcript(interview) if interview else []
    turns = sum(1 for m in messages if m.role == "user")
    return {
        "study": study,
        "participant": participant,
        "question": participant.question,
        "messages": messages,
        "form": form or _message_form(study),
        "error": error,
        "card_error": card_error,
        "turns": turns,
        "max_chars": services.message_limit(study),
        "can_see_card": turns >= study.interview_min_turns,
        "turns_left": max(0, study.interview_min_turns - turns),
        "has_draft": selectors.draft_card(participant) is not None,
    }


def _message_form(study, data=None):
    import uuid

    initial = {"client_token": uuid.uuid4().hex}
    return forms.MessageForm(data, study=study, initial=initial)


def _interview_page(request, study, participant, *, status=200, **extra):
    context = _interview_context(study, participant, **extra)
    return _page(request, "elicitation/interview.html", context, step=Step.INTERVIEW, status=status)


def _composer_error(request, study, participant, form, message: str, status: int):
    """A message that was not sent: say why next to the box, keeping what was typed."""
    if request.htmx and not request.htmx.boosted:
        context = _interview_context(study, participant, form=form, error=message)
        response = render(request, "elicitation/interview.html#composer", context, status=status)
        return reswap(retarget(response, "#composer"), "outerHTML")
    return _interview_page(request, study, participant, form=form, error=message, status=status)


@require_http_methods(["GET", "POST"])
@participant_step(Step.INTERVIEW)
def interview(request, study, participant):
    if request.method != "POST":
        return _interview_page(request, study, participant)
    form = _message_form(study, request.POST)
    if not form.is_valid():
        message = " ".join(form.errors.get("content", ["Please check your message."]))
        return _composer_error(request, study, participant, form, message, 400)
    try:
        exchange = services.message_send(
            participant=participant,
            content=form.cleaned_data["content"],
            client_token=form.cleaned_data["client_token"],
        )
    except RateLimited as limited:
        response = _composer_error(request, study, participant, form, limited.message, 429)
        response["Retry-After"] = str(limited.retry_after)
        return response
    except services.JourneyError as refused:
        return _composer_error(request, study, participant, form, refused.message, 409)

    if request.htmx and not request.htmx.boosted:
        # The two new bubbles go at the end of the transcript; the reply streams in.
        participant.refresh_from_db()
        context = _interview_context(study, participant)
        context.update(exchange=exchange)
        return render(request, "elicitation/interview.html#exchange", context)
    # Without JavaScript: write the whole reply now, then show the page again.
    # A failed reply shows its friendly error and a retry button: nothing to add here.
    with suppress(llm.LLMError):
        services.reply_generate(participant=participant, reply=exchange.reply)
    return redirect(journey.url_for(study, Step.INTERVIEW) + "#composer")


@require_POST
@participant_step(Step.INTERVIEW)
def interview_retry(request, study, participant, reply_id):
    reply = services.reply_retry(participant=participant, reply_id=reply_id)
    if request.htmx and not request.htmx.boosted:
        context = _interview_context(study, participant)
        context["message"] = reply
        return render(request, "elicitation/interview.html#bubble", context)
    with suppress(llm.LLMError):
        services.reply_generate(participant=participant, reply=reply)
    return redirect(journey.url_for(study, Step.INTERVIEW) + "#composer")


@require_POST
@participant_step(Step.INTERVIEW)
def interview_finish(request, study, participant):
    """ "See my card": draft the card from the conversation and show it."""
    try:
        services.card_draft(participant=participant)
    except services.JourneyError as refused:
        return _interview_page(request, study, participant, card_error=refused.message, status=409)
    except RateLimited as limited:
        return _interview_page(request, study, participant, card_error=limited.message, status=429)
    except llm.LLMError as failed:
        return _interview_page(
            request, study, participant, card_error=failed.user_message, status=503
        )
    return _go(request, journey.url_for(study, Step.CARD))


def _sse(event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


async def interview_reply(request, slug, reply_id):
    """The interviewer's reply as Server-Sent Events: ``token`` events carry HTML-escaped
    text to append, then ``done``, or ``failed`` with a friendly message to show."""
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    study = await sync_to_async(_study)(slug)
    public_id = await request.session.aget(_PARTICIPANT.format(study.pk))
    participant = await sync_to_async(selectors.participant_by_public_id)(study, public_id)
    if participant is None:
        raise Http404("No participant in this session")
    try:
        reply = await sync_to_async(services.own_reply)(participant=participant, reply_id=reply_id)
    except services.NotFound:
        raise Http404("Not part of your interview") from None

    async def events():
        yield ": stream open\n\n"  # flushes headers through proxies at once
        try:
            async with aclosing(
                services.reply_stream(participant=participant, reply=reply)
            ) as chunks:
                async for chunk in chunks:
                    yield _sse("token", escape(chunk))
        except llm.LLMError as failed:
            yield _sse("failed", escape(failed.user_message))
            return
        yield _sse("done", "")

    response = StreamingHttpResponse(events(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not hold tokens back
    return response


# ---------------------------------------------------------------------------------------
# The card
# ---------------------------------------------------------------------------------------


def _card_page(request, study, participant, form, *, status=200, saved=False, revise_error=""):
    context = {
        "study": study,
        "participant": participant,
        "question": participant.question,
        "form": form,
        "saved": saved,
        "revise_error": revise_error,
    }
    return _page(request, "elicitation/card.html", context, step=Step.CARD, status=status)


@require_http_methods(["GET", "POST"])
@participant_step(Step.CARD)
def card(request, study, participant):
    draft = selectors.draft_card(participant)
    if draft is None:
        # On the card step with no draft (it was never drafted): back to the interview.
        return _go(request, journey.url_for(study, Step.INTERVIEW))
    if request.method != "POST":
        return _card_page(request, study, participant, forms.CardForm.from_card(draft))

    form = forms.CardForm.from_post(request.POST)
    action = request.POST.get("action", "save")
    if action == "add":
        form.add_policy()
        return _card_page(request, study, participant, form)
    if action.startswith("remove-"):
        index = action.removeprefix("remove-")
        form.remove_policy(int(index) if index.isdigit() else -1)
        return _card_page(request, study, participant, form)
    try:
        if action == "submit":
            services.card_submit(participant=participant, **form.fields())
            return _onward(request, participant)
        if action == "revise":
            revised = services.card_revise(
                participant=participant, request=request.POST.get("request", ""), **form.fields()
            )
            return _card_page(request, study, participant, forms.CardForm.from_card(revised))
        card = services.card_save(participant=participant, **form.fields())
        return _card_page(request, study, participant, forms.CardForm.from_card(card), saved=True)
    except ValidationError as invalid:
        form.set_errors(invalid)
        if "request" in form.errors:
            return _card_page(
                request,
                study,
                participant,
                form,
                status=400,
                revise_error=form.errors["request"][0],
            )
        return _card_page(request, study, participant, form, status=400)
    except RateLimited as limited:
        return _card_page(
            request, study, participant, form, status=429, revise_error=limited.message
        )
    except llm.LLMError as failed:
        return _card_page(
            request, study, participant, form, status=503, revise_error=failed.user_message
        )


# ---------------------------------------------------------------------------------------
# Selection, judgments, survey, done
# ---------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@participant_step(Step.SELECTION)
def selection(request, study, participant):
    values = selectors.shown_values(participant)
    status = 200
    if request.method == "POST":
        form = forms.SelectionForm(request.POST, values=values)
        if form.is_valid():
            try:
                services.selection_submit(
                    participant=participant, value_ids=form.cleaned_data["values"]
                )
                return _onward(request, participant)
            except ValidationError as invalid:
                form.add_error(None, invalid)
        else:
            # A value id that was never shown to this participant.
            raise Http404("Not one of your values")
        status = 400
    else:
        form = forms.SelectionForm(values=values)
    context = {
        "study": study,
        "participant": participant,
        "question": participant.question,
        "values": values,
        "form": form,
        "chosen": {int(v) for v in form.data.getlist("values") if v.isdigit()}
        if form.is_bound
        else set(),
    }
    return _page(request, "elicitation/selection.html", context, step=Step.SELECTION, status=status)


@require_http_methods(["GET", "POST"])
@participant_step(Step.JUDGMENTS)
def judgments(request, study, participant):
    status = 200
    form = None
    if request.method == "POST":
        form = forms.JudgmentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            services.judgment_record(
                participant=participant,
                hypothesis_id=data["hypothesis"],
                verdict=data["verdict"],
                reason=data["reason"],
                reason_private=data["reason_private"],
            )
            return _onward(request, participant)
        status = 400
    remaining = selectors.open_assignments(participant)
    if not remaining:
        # Stories withdrawn since the draw: nothing left to judge here.
        services.judgments_finish(participant=participant)
        return _onward(request, participant)
    current = remaining[0]
    if form is not None and form.cleaned_data.get("hypothesis") not in (
        None,
        current.hypothesis_id,
    ):
        raise Http404("Not one of your stories")
    total = participant.judgment_assignments.count()
    context = {
        "study": study,
        "participant": participant,
        "question": participant.question,
        "hypothesis": current.hypothesis,
        "form": form or forms.JudgmentForm(initial={"hypothesis": current.hypothesis_id}),
        "number": total - len(remaining) + 1,
        "total": total,
    }
    return _page(request, "elicitation/judgments.html", context, step=Step.JUDGMENTS, status=status)


@require_http_methods(["GET", "POST"])
@participant_step(Step.SURVEY)
def survey(request, study, participant):
    status = 200
    if request.method == "POST":
        form = forms.SurveyForm(request.POST)
        if form.is_valid():
            services.survey_save(participant=participant, **form.cleaned_data)
            return _onward(request, participant)
        status = 400
    else:
        form = forms.SurveyForm()
    context = {"study": study, "participant": participant, "form": form}
    return _page(request, "elicitation/survey.html", context, step=Step.SURVEY, status=status)


@require_GET
@participant_step(Step.DONE, when_closed=True)
def done(request, study, participant):
    context = {
        "study": study,
        "participant": participant,
        "card": selectors.submitted_card(participant),
        "position": selectors.value_position(participant),
        "completion_code": study.completion_code,
        "redirect_url": journey.recruiter_url(study, study.completion_code),
        "redirect_seconds": 10,
    }
    return _page(request, "elicitation/done.html", context, step=Step.DONE)


# ---------------------------------------------------------------------------------------
# The follow-up, once the graph is scored
# ---------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def follow_up(request, slug):
    """ "Is the position of your value in the final graph fair?", asked of a finished
    participant later on: /s/<slug>/follow-up/?PROLIFIC_PID=... (or in the same browser).

    Works on a closed study too: the follow-up usually comes after it closed.
    """
    study = _study(slug)
    pid = (request.GET.get("PROLIFIC_PID") or request.GET.get("pid") or "").strip()
    if pid:
        participant = selectors.participant_by_recruiter_pid(
            study, pid[: services.RECRUITER_ID_MAX]
        )
        if participant is None:
            raise Http404("No participant with this id in this study")
        services.participant_resume(participant=participant, session_key=_session_key(request))
        _remember(request, participant)
    else:
        participant = _participant(request, study)
        if participant is None:
            raise Http404("No participant in this session")
    if participant.step != Step.DONE:
        if not study.is_open:
            return _closed(request, study)
        return _to_step(request, participant)

    position = selectors.follow_up(participant)
    answer = getattr(participant, "survey", None)
    saved = False
    status = 200
    ready = position.snapshot is not None and position.value is not None
    if request.method == "POST" and not ready:
        # Nothing to judge yet: the page says so and asks nothing.
        form = forms.FollowUpForm()
        status = 409
    elif request.method == "POST":
        form = forms.FollowUpForm(request.POST)
        if form.is_valid():
            try:
                answer = services.follow_up_save(
                    participant=participant,
                    fair_position=form.cleaned_data["fair_position"],
                    card_id=form.cleaned_data["card"],
                )
            except services.NotFound:
                raise Http404("Not your card") from None
            except ValidationError as invalid:
                form.add_error("fair_position", invalid)
                status = 400
            else:
                saved = True
        else:
            status = 400
    else:
        initial = {"card": position.card.pk if position.card else None}
        if answer is not None and answer.fair_position:
            initial["fair_position"] = answer.fair_position
        form = forms.FollowUpForm(initial=initial)
    context = {
        "study": study,
        "participant": participant,
        "position": position,
        "form": form,
        "answer": answer,
        "saved": saved,
    }
    name = "elicitation/follow_up.html" + ("#step" if request.htmx else "")
    return render(request, name, context, status=status)
