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
