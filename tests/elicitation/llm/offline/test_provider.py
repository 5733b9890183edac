"""The offline provider behind litellm: deterministic, registered once, faults on demand."""

from __future__ import annotations

import litellm
import pytest

from elicitation import llm
from elicitation.llm.offline import provider
from tests.elicitation.llm.samples import FIRST_ANSWER, PAYLOADS, calls, interview_prompt


def test_the_offline_provider_is_deterministic(db):
    prompt, system = interview_prompt()
    card_prompt = llm.load_prompt("elicitation/articulate")

    streams = [
        "".join(
            llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)
        )
        for _ in range(2)
    ]
    cards = [
        llm.structured(stage="articulate", prompt=card_prompt, payload=PAYLOADS["articulate"])
        for _ in range(2)
    ]

    assert streams[0] == streams[1]
    assert cards[0] == cards[1]


def test_the_offline_provider_is_registered_once():
    provider.register()
    provider.register()

    assert [p["provider"] for p in litellm.custom_provider_map].count("offline") == 1


def test_every_offline_model_is_free_and_known_to_litellms_cost_map():
    # Known, litellm finds its price at once instead of searching the whole map at the
    # end of every streamed reply.
    from elicitation.llm.stages import STAGES

    provider.register()
    for stage in STAGES:
        entry = litellm.model_cost[f"offline/{stage.name}"]
        assert entry["input_cost_per_token"] == entry["output_cost_per_token"] == 0
    assert (
        litellm.completion_cost(model="offline/interview", prompt="Hello there", completion="Hi")
        == 0
    )


def test_an_offline_fault_gives_a_retryable_error(db, monkeypatch, settings, sleeps):
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "interview:timeout")
    settings.LLM_MAX_RETRIES = 1
    prompt, system = interview_prompt()

    with pytest.raises(llm.LLMError) as caught:
        list(llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]))

    assert caught.value.retryable is True
    assert caught.value.user_message == (
        "The interviewer is taking too long to answer. Your conversation is saved — "
        "please try again."
    )
    assert "Timeout" in str(caught.value)
    (call,) = calls()
    assert call.attempts == 2
    # Other stages are untouched.
    assert llm.structured(
        stage="dedup", prompt=llm.load_prompt("moralgraph/dedup"), payload=PAYLOADS["dedup"]
    )


def test_a_counted_offline_fault_fails_only_the_first_calls(db, monkeypatch):
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "articulate:ratelimit:1")

    card = llm.structured(
        stage="articulate",
        prompt=llm.load_prompt("elicitation/articulate"),
        payload=PAYLOADS["articulate"],
    )

    assert card["policies"]
    assert calls()[0].attempts == 2


def test_an_invalid_offline_fault_exercises_the_repair(db, monkeypatch):
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "*:invalid")

    with pytest.raises(llm.LLMOutputInvalid):
        llm.structured(stage="response", prompt=llm.load_prompt("moralgraph/response"), payload={})

    assert len(calls()) == 2


@pytest.mark.django_db(transaction=True)  # the stream runs under its own event loop
def test_a_streamed_offline_reply_waits_its_pace_once_per_word(settings, monkeypatch):
    # The pace is the provider's, as a real model's is: one wait on the event loop per
    # word, not one more in the code that reads the stream.
    import asyncio

    settings.OFFLINE_STREAM_DELAY_MS = 7
    waits = []
    real_sleep = asyncio.sleep

    async def sleep(seconds, *args):
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(provider.asyncio, "sleep", sleep)
    prompt, system = interview_prompt()

    async def read():
        stream = llm.astream_chat(
            stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER
        )
        return [chunk async for chunk in stream]

    words = asyncio.run(read())
    assert len(words) > 3
    assert waits.count(0.007) == len(words)
