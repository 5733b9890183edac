"""The question and the interview: messages, replies written in one piece or streamed
as Server-Sent Events, and "See my card"."""

from __future__ import annotations

import uuid
from contextlib import aclosing, suppress

from asgiref.sync import sync_to_async
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from elicitation import forms, journey, llm, selectors
from elicitation.models import Participant, Study
from elicitation.ratelimit import RateLimited
from elicitation.services import card as card_service
from elicitation.services import interview as interview_service
from elicitation.services import participants, writing
from elicitation.views import common

Step = Participant.Step


@require_http_methods(["GET", "POST"])
@common.participant_step(Step.QUESTION)
def question(request, study, participant):
    if request.method == "POST":
        moved = interview_service.question_begin(participant=participant)
        return common.onward(request, moved)
    context = {"study": study, "participant": participant, "question": participant.question}
    return common.page(request, "elicitation/question.html", context, step=Step.QUESTION)


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
        "max_chars": interview_service.message_limit(study),
        "can_see_card": turns >= study.interview_min_turns,
        "turns_left": max(0, study.interview_min_turns - turns),
        "has_draft": selectors.has_draft_card(participant),
    }


def _exchange_context(study, participant, exchange) -> dict:
    """What the ``#exchange`` partial shows: the two bubbles, the actions under the
    transcript and a fresh form token (not the transcript: it is on the page already)."""
    turns = selectors.user_turns(exchange.message.interview)
    return {
        "study": study,
        "exchange": exchange,
        "form": _message_form(study),
        "can_see_card": turns >= study.interview_min_turns,
        "turns_left": max(0, study.interview_min_turns - turns),
        "has_draft": selectors.has_draft_card(participant),
    }


def _message_form(study, data=None):
    initial = {"client_token": uuid.uuid4().hex}
    return forms.MessageForm(data, study=study, initial=initial)


def _interview_page(request, study, participant, *, status=200, **extra):
    context = _interview_context(study, participant, **extra)
    return common.page(
        request, "elicitation/interview.html", context, step=Step.INTERVIEW, status=status
    )


def _composer_error(request, study, participant, form, message: str, status: int):
    """A message that was not sent: say why next to the box, keeping what was typed."""
    if request.htmx and not request.htmx.boosted:
        context = _interview_context(study, participant, form=form, error=message)
        response = render(request, "elicitation/interview.html#composer", context, status=status)
        return reswap(retarget(response, "#composer"), "outerHTML")
    return _interview_page(request, study, participant, form=form, error=message, status=status)


@require_http_methods(["GET", "POST"])
@common.participant_step(Step.INTERVIEW)
def interview(request, study, participant):
    if request.method != "POST":
        return _interview_page(request, study, participant)
    form = _message_form(study, request.POST)
    if not form.is_valid():
        # A repeat of a message already sent (a second Ctrl+Enter that arrives once the
        # box was emptied) is that message, not an empty one to complain about.
        exchange = interview_service.exchange_sent(
            participant=participant, client_token=form.cleaned_data.get("client_token", "")
        )
        if exchange is None:
            message = " ".join(form.errors.get("content", ["Please check your message."]))
            return _composer_error(request, study, participant, form, message, 400)
    else:
        try:
            exchange = interview_service.message_send(
                participant=participant,
                content=form.cleaned_data["content"],
                client_token=form.cleaned_data["client_token"],
                pasted=form.cleaned_data.get("pasted") or 0,
            )
        except RateLimited as limited:
            response = _composer_error(request, study, participant, form, limited.message, 429)
            response["Retry-After"] = str(limited.retry_after)
            return response
        except participants.JourneyError as refused:
            return _composer_error(request, study, participant, form, refused.message, 409)

    if request.htmx and not request.htmx.boosted:
        # The two new bubbles go at the end of the transcript; the reply streams in.
        return render(
            request,
            "elicitation/interview.html#exchange",
            _exchange_context(study, participant, exchange),
        )
    # Without JavaScript: write the whole reply now, then show the page again.
    # A failed reply shows its friendly error and a retry button: nothing to add here.
    with suppress(llm.LLMError):
        interview_service.reply_generate(participant=participant, reply=exchange.reply)
    return redirect(journey.url_for(study, Step.INTERVIEW) + "#composer")


@require_POST
@common.participant_step(Step.INTERVIEW)
def interview_retry(request, study, participant, reply_id):
    reply = interview_service.reply_retry(participant=participant, reply_id=reply_id)
    if request.htmx and not request.htmx.boosted:
        context = _interview_context(study, participant)
        context["message"] = reply
        return render(request, "elicitation/interview.html#bubble", context)
    with suppress(llm.LLMError):
        interview_service.reply_generate(participant=participant, reply=reply)
    return redirect(journey.url_for(study, Step.INTERVIEW) + "#composer")


@require_POST
@common.participant_step(Step.INTERVIEW)
async def interview_finish(request, study, participant):
    """ "See my card": draft the card from the conversation and show it.

    Async, so that the model's seconds of drafting hold no thread of the server (and no
    database connection): other participants' pages are served meanwhile. The page
    shows "drafting" while it waits (the button's htmx indicator)."""
    page = sync_to_async(_interview_page)
    try:
        await card_service.acard_draft(participant=participant)
    except participants.JourneyError as refused:
        return await page(request, study, participant, card_error=refused.message, status=409)
    except RateLimited as limited:
        return await page(request, study, participant, card_error=limited.message, status=429)
    except llm.LLMError as failed:
        return await page(request, study, participant, card_error=failed.user_message, status=503)
    return await sync_to_async(common.go)(request, journey.url_for(study, Step.CARD))


SUPERSEDED = "This reply is being shown in another tab or window. Reload this page to see it here."


def _sse(event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


def _owed_to_session(request, slug, reply_id):
    """(participant, reply) when ``reply_id`` is owed to this session's participant, else
    the response that says no. One thread and one connection for all the look-ups: a
    stream starts for every message, hundreds at once in a large study."""
    study = common.study_or_404(request, slug)
    if study.status == Study.Status.CLOSED:
        return HttpResponse("This study is closed.", status=410, content_type="text/plain")
    participant = common.session_participant(request, study)
    if participant is None:
        raise Http404("No participant in this session")
    try:
        reply = interview_service.own_reply(participant=participant, reply_id=reply_id)
    except participants.NotFound:
        raise Http404("Not part of your interview") from None
    return participant, reply


def interview_reply(request, slug, reply_id):
    """The interviewer's reply as Server-Sent Events: ``token`` events carry HTML-escaped
    text to append, then ``done``, or ``failed`` with a friendly message to show.
    ``?after=N``: the page already shows the first N characters (a reload mid-reply).

    A sync view that returns an async stream: the look-ups run with the middleware in
    one thread hop, as a page's do, and the stream runs on the event loop. As an async
    view, the middleware alone cost a stream start about 17 hops through a busy event
    loop (bench/load.py, 500 people: the first token p50 3.8 s). Its database
    connection goes back to the pool here, not when the stream ends seconds later."""
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    found = _owed_to_session(request, slug, reply_id)
    writing.release_connection()
    if isinstance(found, HttpResponse):
        return found
    participant, reply = found

    # What the page already shows of the reply (a reload while it was being written).
    after = request.GET.get("after", "")
    after = int(after) if after.isdigit() and len(after) < 9 else 0

    async def events():
        with writing.one_stream(participant.pk) as superseded:
            # Flushes headers through proxies at once; "retry" slows a browser's own
            # reconnection (the page reconnects by itself, a few times, with backoff).
            yield ": stream open\nretry: 5000\n\n"
            try:
                async with aclosing(
                    interview_service.reply_stream(
                        participant=participant, reply=reply, after=after
                    )
                ) as chunks:
                    async for chunk in writing.until(superseded, chunks):
                        yield _sse("token", escape(chunk))
            except llm.LLMError as failed:
                yield _sse("failed", escape(failed.user_message))
                return
            except writing.Superseded:
                # A newer stream of this participant (a reload, another tab) shows the
                # reply: this one ends, and its page says so instead of reconnecting.
                yield _sse("failed", escape(SUPERSEDED))
                return
            yield _sse("done", "")

    response = StreamingHttpResponse(events(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not hold tokens back
    return response
