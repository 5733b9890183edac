"""The LLM gateway: streaming, structured output, retries, timeouts, logging and cost."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import litellm
import pytest

from elicitation import llm
from elicitation.llm import offline
from elicitation.models import LLMCall
from tests.elicitation.llm.samples import (
    CARD,
    FIRST_ANSWER,
    PAYLOADS,
    Flaky,
    calls,
    interview_prompt,
    rate_limit,
    run,
)
from tests.factories import StudyFactory


def test_it_streams_the_offline_reply_word_by_word(db):
    study = StudyFactory()
    prompt, system = interview_prompt()

    chunks = list(
        llm.stream_chat(
            stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER, study=study
        )
    )

    expected = offline.respond("interview", [{"role": "system", "content": system}, *FIRST_ANSWER])
    assert len(chunks) > 5
    assert "".join(chunks) == expected
    (call,) = calls()
    assert call.stage == "interview"
    assert call.model == "offline"
    assert call.prompt_name == "elicitation/interview"
    assert call.prompt_version == prompt.version
    assert call.study == study
    assert call.input_tokens > 0
    assert call.output_tokens == len(expected.split())
    assert call.attempts == 1
    assert call.error == ""
    assert call.cost == 0


def test_it_logs_a_stream_its_consumer_abandoned(db):
    prompt, system = interview_prompt()
    stream = llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[])

    next(stream)
    stream.close()

    (call,) = calls()
    assert call.error == "interrupted"
    assert call.output_tokens >= 1


def test_it_streams_asynchronously(transactional_db):
    study = StudyFactory()
    prompt, system = interview_prompt()

    async def consume() -> list[str]:
        return [
            chunk
            async for chunk in llm.astream_chat(
                stage="interview",
                prompt=prompt,
                system=system,
                messages=FIRST_ANSWER,
                study=study,
            )
        ]

    chunks = run(consume())

    assert len(chunks) > 5
    assert "".join(chunks) == "".join(
        llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)
    )
    first, second = calls()
    assert (first.stage, first.study, first.prompt_version) == ("interview", study, prompt.version)
    assert first.output_tokens == second.output_tokens > 0
    assert first.error == ""


def test_it_logs_an_abandoned_async_stream(transactional_db):
    prompt, system = interview_prompt()

    async def consume_one() -> str:
        stream = llm.astream_chat(stage="interview", prompt=prompt, system=system, messages=[])
        try:
            return await stream.__anext__()
        finally:
            await stream.aclose()

    assert run(consume_one())
    (call,) = calls()
    assert call.error == "interrupted"


def test_it_logs_an_async_stream_whose_client_disconnected(transactional_db):
    prompt, system = interview_prompt()
    received: list[str] = []

    async def consume() -> None:
        async for chunk in llm.astream_chat(
            stage="interview", prompt=prompt, system=system, messages=[]
        ):
            received.append(chunk)
            await asyncio.sleep(3600)  # a slow client: the server cancels the response

    async def disconnect() -> None:
        task = asyncio.ensure_future(consume())
        while not received:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Nothing closes the abandoned generator explicitly (Django's ASGI handler only
        # closes its own wrapper): asyncio's async-generator finaliser schedules its
        # aclose() on the loop, which keeps running in a server. Wait for it.
        for _ in range(500):
            if await LLMCall.objects.aexists():
                return
            await asyncio.sleep(0.01)

    run(disconnect())

    (call,) = calls()
    assert call.error == "interrupted"
    assert len(received) == 1


def test_it_returns_a_whole_chat_reply(db):
    prompt, system = interview_prompt()

    reply = llm.chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)

    assert reply == "".join(
        llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)
    )
    assert [c.error for c in calls()] == ["", ""]


def test_it_returns_a_validated_card(db):
    prompt = llm.load_prompt("elicitation/articulate")

    card = llm.structured(stage="articulate", prompt=prompt, payload=PAYLOADS["articulate"])

    assert set(card) == {"title", "description", "policies"}
    assert 3 <= len(card["policies"]) <= 7
    assert all(p.split()[0].isupper() for p in card["policies"])
    (call,) = calls()
    assert (call.stage, call.prompt_name, call.prompt_version) == (
        "articulate",
        "elicitation/articulate",
        prompt.version,
    )
    assert call.input_tokens > 0 and call.output_tokens > 0


@pytest.mark.parametrize("stage", list(PAYLOADS))
def test_every_structured_stage_passes_its_schema_offline(db, stage):
    prompt = llm.load_prompt(llm.get_stage(stage).prompt)

    result = llm.structured(stage=stage, prompt=prompt, payload=PAYLOADS[stage])

    assert result == json.loads(
        offline.respond(
            stage,
            [
                {"role": "system", "content": prompt.text},
                {"role": "user", "content": json.dumps(PAYLOADS[stage])},
            ],
        )
    )
    assert calls()[0].error == ""


def test_it_repairs_a_malformed_reply_once(db, monkeypatch):
    real = offline.respond
    replies = iter(["Here is your card: it is lovely."])
    monkeypatch.setattr(
        offline, "respond", lambda stage, messages: next(replies, None) or real(stage, messages)
    )
    spy = Flaky(litellm.completion)
    monkeypatch.setattr(litellm, "completion", spy)

    card = llm.structured(
        stage="articulate",
        prompt=llm.load_prompt("elicitation/articulate"),
        payload=PAYLOADS["articulate"],
    )

    assert 3 <= len(card["policies"]) <= 7
    first, second = calls()
    assert first.error.startswith("invalid output: the reply is not valid JSON")
    assert second.error == ""
    repair = spy.calls[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Here is your card: it is lovely."}
    assert "not valid JSON" in repair[-1]["content"]


def test_it_gives_up_when_the_repaired_reply_is_still_invalid(db, monkeypatch):
    too_few = json.dumps({"title": "Gentle Care", "description": "d", "policies": ["ONE thing"]})
    monkeypatch.setattr(offline, "respond", lambda stage, messages: too_few)

    with pytest.raises(llm.LLMOutputInvalid) as caught:
        llm.structured(
            stage="articulate",
            prompt=llm.load_prompt("elicitation/articulate"),
            payload=PAYLOADS["articulate"],
        )

    message = str(caught.value)
    assert "articulate" in message and "policies" in message and "too short" in message
    assert caught.value.stage == "articulate"
    assert caught.value.retryable is False  # the offline brain would say the same again
    assert "could not use" in caught.value.user_message
    assert [c.error.split(":")[0] for c in calls()] == ["invalid output", "invalid output"]


def test_it_reads_json_in_a_markdown_fence(db, monkeypatch):
    fenced = '```json\n{"response": "Take your time."}\n```'
    monkeypatch.setattr(offline, "respond", lambda stage, messages: fenced)

    result = llm.structured(
        stage="response", prompt=llm.load_prompt("moralgraph/response"), payload={}
    )

    assert result == {"response": "Take your time."}


def test_bad_input_to_the_offline_brain_is_not_retried(db):
    with pytest.raises(llm.LLMError) as caught:
        llm.structured(
            stage="dedup", prompt=llm.load_prompt("moralgraph/dedup"), payload={"a": CARD}
        )

    assert not isinstance(caught.value, llm.LLMOutputInvalid)
    assert caught.value.retryable is False
    assert "'b' must be a card object" in str(caught.value)
    (call,) = calls()
    assert call.attempts == 1 and "BadRequestError" in call.error


def test_it_retries_a_rate_limit_with_backoff(db, monkeypatch, sleeps):
    flaky = Flaky(litellm.completion, rate_limit(), rate_limit())
    monkeypatch.setattr(litellm, "completion", flaky)
    prompt, system = interview_prompt()

    reply = llm.chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)

    assert reply
    assert len(flaky.calls) == 3
    assert 1.0 <= sleeps[0] <= 1.25 and 2.0 <= sleeps[1] <= 2.5
    (call,) = calls()
    assert call.attempts == 3 and call.error == ""


def test_it_retries_a_stream_that_failed_before_its_first_token(db, monkeypatch, sleeps):
    flaky = Flaky(litellm.completion, litellm.Timeout("slow", "gpt-4o", "openai"))
    monkeypatch.setattr(litellm, "completion", flaky)
    prompt, system = interview_prompt()

    chunks = list(llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]))

    assert len(chunks) > 5
    assert len(sleeps) == 1
    assert calls()[0].attempts == 2


def test_it_gives_up_after_max_retries(db, monkeypatch, settings, sleeps):
    settings.LLM_MAX_RETRIES = 2
    flaky = Flaky(litellm.completion, *[rate_limit() for _ in range(5)])
    monkeypatch.setattr(litellm, "completion", flaky)
    prompt, system = interview_prompt()

    with pytest.raises(llm.LLMError) as caught:
        llm.chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)

    assert caught.value.retryable is True
    assert caught.value.stage == "interview"
    assert "Your conversation is saved" in caught.value.user_message
    assert "RateLimitError" in str(caught.value) and "3 attempts" in str(caught.value)
    assert len(flaky.calls) == 3 and len(sleeps) == 2
    (call,) = calls()
    assert call.attempts == 3 and "RateLimitError" in call.error


def test_it_does_not_retry_a_bad_key(db, monkeypatch, sleeps):
    error = litellm.AuthenticationError(message="bad key", llm_provider="openai", model="gpt-4o")
    flaky = Flaky(litellm.completion, error)
    monkeypatch.setattr(litellm, "completion", flaky)
    prompt, system = interview_prompt()

    with pytest.raises(llm.LLMError) as caught:
        list(llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]))

    assert caught.value.retryable is False
    assert len(flaky.calls) == 1 and sleeps == []
    (call,) = calls()
    assert call.attempts == 1 and "AuthenticationError" in call.error


def test_it_does_not_restart_a_stream_that_already_spoke(db, monkeypatch, sleeps):
    def half_stream(**kwargs):
        def chunks():
            yield SimpleNamespace(
                choices=[SimpleNamespace(delta=SimpleNamespace(content="Hello "))], usage=None
            )
            raise litellm.ServiceUnavailableError(
                message="dropped", llm_provider="openai", model="gpt-4o"
            )

        return chunks()

    monkeypatch.setattr(litellm, "completion", half_stream)
    prompt, system = interview_prompt()
    received: list[str] = []

    with pytest.raises(llm.LLMError) as caught:
        for chunk in llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]):
            received.append(chunk)

    assert received == ["Hello "]
    assert caught.value.retryable is True and sleeps == []
    assert calls()[0].attempts == 1


def test_it_passes_the_timeout_to_litellm(db, monkeypatch, settings):
    settings.LLM_TIMEOUT = 12.5
    spy = Flaky(litellm.completion)
    monkeypatch.setattr(litellm, "completion", spy)
    prompt, system = interview_prompt()

    llm.chat(stage="interview", prompt=prompt, system=system, messages=[])
    list(llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]))
    llm.structured(
        stage="dedup", prompt=llm.load_prompt("moralgraph/dedup"), payload=PAYLOADS["dedup"]
    )

    assert [c["timeout"] for c in spy.calls] == [12.5, 12.5, 12.5]
    assert [c["model"] for c in spy.calls] == ["offline/interview"] * 2 + ["offline/dedup"]
    assert spy.calls[2]["response_format"] == {"type": "json_object"}


def test_a_real_model_call_is_costed(db, monkeypatch):
    study = StudyFactory(response_model="gpt-4o")
    mocked = Flaky(lambda **kw: litellm.main.completion(**kw, mock_response='{"response": "Hi"}'))
    monkeypatch.setattr(litellm, "completion", mocked)

    result = llm.structured(
        stage="response",
        prompt=llm.load_prompt("moralgraph/response"),
        payload=PAYLOADS["response"],
        study=study,
    )

    assert result == {"response": "Hi"}
    (call,) = calls()
    assert call.model == "gpt-4o" and mocked.calls[0]["model"] == "gpt-4o"
    assert call.cost > 0
