"""The one retry policy: what it retries, how long it waits, and that every call path
(whole, streamed, async, structured, embedding) runs under it."""

from __future__ import annotations

import asyncio

import litellm
import pytest

from elicitation import llm
from elicitation.llm.accounting import CallRecord
from elicitation.llm.retry import RETRY, RetryPolicy, retry_after
from tests.elicitation.llm.samples import (
    FIRST_ANSWER,
    PAYLOADS,
    interview_prompt,
    rate_limit,
    run,
)


def _record() -> CallRecord:
    return CallRecord(stage="dedup", model="gpt-4o", prompt=None, study=None)


def _failing(*errors: Exception, result: str = "ok"):
    """An attempt that raises ``errors`` one per call, then returns ``result``."""
    pending = list(errors)
    tries: list[int] = []

    def attempt() -> str:
        tries.append(1)
        if pending:
            raise pending.pop(0)
        return result

    return attempt, tries


def test_it_retries_a_rate_limit_with_backoff(sleeps):
    attempt, tries = _failing(rate_limit(), rate_limit())
    record = _record()

    assert RETRY.call(attempt, record) == "ok"

    assert len(tries) == 3 and record.attempts == 3
    assert 1.0 <= sleeps[0] <= 1.25 and 2.0 <= sleeps[1] <= 2.5


def test_it_does_not_retry_a_bad_request(sleeps):
    bad = litellm.BadRequestError(message="no such field", model="gpt-4o", llm_provider="openai")
    attempt, tries = _failing(bad)
    record = _record()

    with pytest.raises(llm.LLMError) as caught:
        RETRY.call(attempt, record)

    assert len(tries) == 1 and record.attempts == 1 and sleeps == []
    assert caught.value.retryable is False
    assert caught.value.__cause__ is bad
    assert "BadRequestError" in str(caught.value) and "attempts" not in str(caught.value)


def test_it_gives_up_after_max_retries(settings, sleeps):
    settings.LLM_MAX_RETRIES = 1
    attempt, tries = _failing(*[litellm.Timeout("slow", "gpt-4o", "openai") for _ in range(3)])

    with pytest.raises(llm.LLMError) as caught:
        RETRY.call(attempt, _record())

    assert len(tries) == 2 and len(sleeps) == 1
    assert caught.value.retryable is True
    assert "after 2 attempts" in str(caught.value)
    assert "taking too long" in caught.value.user_message


def test_it_retries_the_same_way_asynchronously(sleeps):
    attempt, tries = _failing(rate_limit())
    record = _record()

    async def attempt_async() -> str:
        return attempt()

    assert asyncio.run(RETRY.acall(attempt_async, record)) == "ok"

    assert len(tries) == 2 and record.attempts == 2
    assert 1.0 <= sleeps[0] <= 1.25


def test_every_call_path_runs_under_the_one_policy(transactional_db, monkeypatch, settings):
    used: list[str] = []
    real_call, real_acall = RetryPolicy.call, RetryPolicy.acall

    def call(self, attempt, record):
        used.append(record.stage)
        return real_call(self, attempt, record)

    async def acall(self, attempt, record):
        used.append(f"async {record.stage}")
        return await real_acall(self, attempt, record)

    monkeypatch.setattr(RetryPolicy, "call", call)
    monkeypatch.setattr(RetryPolicy, "acall", acall)
    settings.EMBEDDING_MODEL = "openai/text-embedding-3-small"
    monkeypatch.setattr(
        litellm,
        "embedding",
        lambda **kwargs: litellm.EmbeddingResponse(
            data=[{"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}]
        ),
    )
    prompt, system = interview_prompt()

    async def consume() -> list[str]:
        return [
            chunk
            async for chunk in llm.astream_chat(
                stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER
            )
        ]

    llm.chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)
    list(llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]))
    run(consume())
    llm.structured(
        stage="dedup", prompt=llm.load_prompt("moralgraph/dedup"), payload=PAYLOADS["dedup"]
    )
    llm.embed(["a text"])

    assert used == ["interview", "interview", "async interview", "dedup", "embed"]


class _Limited(Exception):
    def __init__(self, headers):
        self.litellm_response_headers = headers


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date long past
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_it_reads_how_long_a_provider_asks_to_wait(headers, seconds):
    assert retry_after(_Limited(headers)) == seconds
