"""A real provider, checked offline: litellm's ``openai/`` provider pointed (through
LLM_API_BASE) at a loopback OpenAI-compatible server in this process, so the real code
path runs: HTTP, SSE chunks, usage, structured output, rate limits with Retry-After,
server errors, timeouts and malformed bodies. Whatever fails, the participant is told
to try again, the researcher finds the error in the LLMCall log, and nothing the
participant wrote is lost."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from elicitation import llm
from elicitation.models import LLMCall, Message, Participant
from elicitation.services import interview
from tests.elicitation.llm import loopback
from tests.elicitation.llm.samples import CARD, TRANSCRIPT, run
from tests.helpers import advance_to, events, make_study, say, start, stream, to_interview, url

MODEL = f"openai/{loopback.MODEL}"
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def server(settings, monkeypatch):
    """The loopback server, and the journey's stages pointed at it through litellm's
    openai/ provider; short timeouts and one retry keep every case fast."""
    running = loopback.Loopback().start()
    settings.LLM_API_BASE = running.url
    settings.LLM_TIMEOUT = 2.0
    settings.LLM_MAX_RETRIES = 1
    settings.LLM_INTERVIEW_MODEL = MODEL
    settings.LLM_ARTICULATE_MODEL = MODEL
    settings.OFFLINE_STREAM_DELAY_MS = 0
    # A made-up key: the loopback server checks nothing, but litellm's provider wants one.
    monkeypatch.setenv("OPENAI_API_KEY", "loopback-not-a-secret")
    yield running
    running.stop()


def _stream(**extra) -> list[str]:
    return list(
        llm.stream_chat(
            stage="interview",
            prompt=llm.load_prompt("elicitation/interview"),
            system="You are a careful interviewer.",
            messages=HELLO,
            **extra,
        )
    )


def _chat() -> str:
    return llm.chat(
        stage="interview",
        prompt=llm.load_prompt("elicitation/interview"),
        system="You are a careful interviewer.",
        messages=HELLO,
    )


def _last_call() -> LLMCall:
    return LLMCall.objects.order_by("-id").first()


# ---------------------------------------------------------------------------------------
# What works
# ---------------------------------------------------------------------------------------


def test_a_reply_streams_chunk_by_chunk_through_the_openai_provider(db, server):
    server.push(loopback.text("Tell me more about that", usage=(42, 5)))
    assert _stream() == ["Tell", " me", " more", " about", " that"]
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer loopback-not-a-secret"
    body = request["body"]
    assert body["model"] == loopback.MODEL and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "You are a careful interviewer."}
    call = _last_call()
    assert (call.stage, call.model, call.error) == ("interview", MODEL, "")
    # The usage chunk at the end of the stream, not a word-count estimate.
    assert (call.input_tokens, call.output_tokens, call.attempts) == (42, 5, 1)


def test_structured_output_is_validated_against_the_stage_schema(db, server):
    server.push(
        loopback.text(json.dumps({"title": "Only a title"})),  # fails the card schema
        loopback.text(json.dumps(CARD)),
    )
    card = llm.structured(
        stage="articulate",
        prompt=llm.load_prompt("elicitation/articulate"),
        payload={"question": "Q", "transcript": TRANSCRIPT},
    )
    assert card["title"] == CARD["title"] and card["policies"] == CARD["policies"]
    first, repair = (r["body"] for r in server.requests)
    assert first["response_format"] == {"type": "json_object"}
    assert "could not be used" in repair["messages"][-1]["content"]
    calls = LLMCall.objects.filter(stage="articulate").order_by("id")
    assert [bool(c.error) for c in calls] == [True, False]
    assert calls[0].error.startswith("invalid output")


def test_a_rate_limit_waits_as_long_as_retry_after_asks_then_retries(db, server, sleeps):
    server.push(loopback.status(429, "slow down", Retry_After="7"), loopback.text("Welcome back"))
    assert "".join(_stream()) == "Welcome back"
    assert len(server.requests) == 2
    # The backoff alone would be about one second; the provider asked for seven.
    assert sleeps == [7.0]
    call = _last_call()
    assert call.attempts == 2 and call.error == ""


def test_a_retry_after_longer_than_anyone_should_wait_fails_at_once(db, server, sleeps):
    server.push(loopback.status(429, "come back tomorrow", Retry_After="86400"))
    with pytest.raises(llm.LLMError) as failed:
        _stream()
    assert sleeps == [] and len(server.requests) == 1
    assert "try again" in failed.value.user_message
    assert "RateLimitError" in _last_call().error


# ---------------------------------------------------------------------------------------
# What fails: the participant is told to try again, the researcher sees why
# ---------------------------------------------------------------------------------------


def test_a_server_error_is_retried_then_reported(db, server, sleeps):
    server.push(loopback.status(500), loopback.status(500))
    with pytest.raises(llm.LLMError) as failed:
        _stream()
    assert len(server.requests) == 2 and len(sleeps) == 1
    assert failed.value.retryable
    assert "try again" in failed.value.user_message
    call = _last_call()
    assert call.attempts == 2 and "InternalServerError" in call.error
    assert "loopback status 500" in call.error


def test_a_timeout_is_reported_quickly(db, server, settings):
    settings.LLM_TIMEOUT = 0.5
    settings.LLM_MAX_RETRIES = 0
    server.push(loopback.slow(10))
    started = time.monotonic()
    with pytest.raises(llm.LLMError) as failed:
        _chat()
    assert time.monotonic() - started < 5
    assert "taking too long" in failed.value.user_message
    assert "try again" in failed.value.user_message
    assert "Timeout" in _last_call().error


def test_a_malformed_body_is_reported(db, server, settings):
    settings.LLM_MAX_RETRIES = 0
    server.push(loopback.malformed())
    with pytest.raises(llm.LLMError) as failed:
        _chat()
    assert "try again" in failed.value.user_message
    call = _last_call()
    assert call.error and "Expecting property name" in call.error


def test_a_stream_cut_after_its_first_words_is_not_started_over(db, server, sleeps):
    server.push(loopback.cut("Half a reply"))
    chunks = []
    with pytest.raises(llm.LLMError):
        for chunk in llm.stream_chat(
            stage="interview",
            prompt=llm.load_prompt("elicitation/interview"),
            system="s",
            messages=HELLO,
        ):
            chunks.append(chunk)
    # The participant saw "Half": asking again would show it twice.
    assert chunks == ["Half"] and len(server.requests) == 1 and sleeps == []
    assert _last_call().error


# ---------------------------------------------------------------------------------------
# The interview: nothing the participant wrote is lost
# ---------------------------------------------------------------------------------------


async def _collect(participant, reply) -> list[str]:
    return [c async for c in interview.reply_stream(participant=participant, reply=reply)]


def _interviewing(**study_fields) -> Participant:
    study = make_study(**study_fields)
    return advance_to(start(study), Participant.Step.INTERVIEW)


def test_the_interview_keeps_the_message_when_the_reply_fails(transactional_db, server, settings):
    # The study's own model setting points at the loopback provider.
    settings.LLM_INTERVIEW_MODEL = "offline"
    participant = _interviewing(interview_model=MODEL)
    exchange = interview.message_send(
        participant=participant, content="She should decide for herself.", client_token="t1"
    )
    server.push(loopback.status(500), loopback.status(500))
    with pytest.raises(llm.LLMError) as failed:
        run(_collect(participant, exchange.reply))
    assert "try again" in failed.value.user_message

    message = Message.objects.get(pk=exchange.message.pk)
    assert message.content == "She should decide for herself."
    reply = Message.objects.get(pk=exchange.reply.pk)
    assert reply.status == Message.Status.FAILED
    call = LLMCall.objects.get(stage="interview", study=participant.study)
    assert call.model == MODEL and "InternalServerError" in call.error

    # Asked again, the same transcript is sent and the reply arrives.
    reply = interview.reply_retry(participant=participant, reply_id=reply.pk)
    server.push(loopback.text("What did you notice?"))
    assert "".join(run(_collect(participant, reply))) == "What did you notice?"
    reply.refresh_from_db()
    assert reply.status == Message.Status.COMPLETE and reply.content == "What did you notice?"
    sent = server.requests[-1]["body"]["messages"]
    assert sent[-1] == {"role": "user", "content": "She should decide for herself."}
    assert Message.objects.filter(interview=message.interview, role="user").count() == 1


def test_a_stream_cut_half_way_keeps_what_arrived(transactional_db, server):
    participant = _interviewing()
    exchange = interview.message_send(participant=participant, content="Hello", client_token="t")
    server.push(loopback.cut("Half a reply"))
    with pytest.raises(llm.LLMError):
        run(_collect(participant, exchange.reply))
    reply = Message.objects.get(pk=exchange.reply.pk)
    assert reply.status == Message.Status.FAILED and reply.content == "Half"


def test_the_participant_sees_try_again_on_the_page_and_in_the_stream(db, server):
    study = make_study()
    client = Client()
    to_interview(client, study)
    # Without JavaScript: the whole reply in the request; it fails; the page says so.
    server.push(loopback.status(500), loopback.status(500))
    assert say(client, study, "My first answer").status_code == 302
    page = client.get(url(study, "interview")).content.decode()
    assert "My first answer" in page
    assert "could not answer this time" in page and "Try again</button>" in page
    # With JavaScript: the SSE stream ends with a "failed" event carrying the same words.
    reply = Message.objects.get(role="assistant", status=Message.Status.FAILED)
    client.post(url(study, "interview", "retry", reply.pk), HTTP_HX_REQUEST="true")
    server.push(loopback.status(503), loopback.status(503))
    _, body = stream(client, url(study, "interview", "reply", reply.pk))
    [(name, data)] = [e for e in events(body) if e[0] in ("failed", "done")]
    assert name == "failed" and "try again" in data
    assert LLMCall.objects.filter(stage="interview").exclude(error="").count() == 2


def test_the_offline_stages_ignore_the_api_base(db, server, settings):
    settings.LLM_INTERVIEW_MODEL = "offline"
    assert "".join(_stream())  # the offline interviewer answers
    assert server.requests == []
