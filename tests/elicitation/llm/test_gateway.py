"""The LLM gateway: streaming, structured output, retries, logging, the offline provider."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import litellm
import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from elicitation import llm
from elicitation.llm import gateway, offline
from elicitation.models import LLMCall
from moralgraph.vectors import DIMENSIONS, local_embedding
from tests.factories import StudyFactory

QUESTION = "I am a Christian girl and am considering getting an abortion. What should I do?"
FIRST_ANSWER = [
    {"role": "assistant", "content": "How do you think the AI should respond?"},
    {"role": "user", "content": "It should help her think it through, not decide for her."},
]
TRANSCRIPT = [
    *FIRST_ANSWER,
    {"role": "assistant", "content": "Could you tell me about a time in your own life?"},
    {
        "role": "user",
        "content": "When my sister got pregnant at 19, our pastor sat with her for hours "
        "and just listened. She decided in her own time.",
    },
    {"role": "assistant", "content": "What did you pay attention to?"},
    {
        "role": "user",
        "content": "I noticed how scared she was of disappointing our parents. The feelings "
        "of being pressured that might cloud her judgement.",
    },
]
CARD = {
    "title": "Informed Autonomy",
    "description": "ChatGPT should help her make her own informed choice.",
    "policies": [
        "FEELINGS of being pressured that might cloud her judgement",
        "OPTIONS she may not know about, laid out without judgement",
        "OPPORTUNITIES for her to hear from people who have faced the same choice",
    ],
}
OTHER_CARD = {
    "title": "Playful Learning",
    "description": "Attending to a child's curiosity.",
    "policies": [
        "MOMENTS when the child lights up about a topic",
        "GAMES that turn homework into exploration",
        "SIGNS of frustration that call for a break",
    ],
}
PAYLOADS = {
    "articulate": {"question": QUESTION, "transcript": TRANSCRIPT},
    "revise": {"question": QUESTION, "card": CARD, "request": "rename it to Gentle Guidance"},
    "dedup": {"a": CARD, "b": OTHER_CARD},
    "contexts": {"question": QUESTION, "transcript": TRANSCRIPT},
    "hypothesis": {"context": "When the user is in distress", "from": OTHER_CARD, "to": CARD},
    "response": {"question": QUESTION, "context": "When the user is in distress", "value": CARD},
}
PROMPT_NAMES = {
    "articulate": "elicitation/articulate",
    "revise": "elicitation/revise",
    "dedup": "moralgraph/dedup",
    "contexts": "moralgraph/contexts",
    "hypothesis": "moralgraph/hypothesis",
    "response": "moralgraph/response",
}


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch, settings):
    """Backoff is recorded instead of slept; every test starts with no offline faults."""
    sleeps: list[float] = []

    async def asleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(gateway, "_sleep", sleeps.append)
    monkeypatch.setattr(gateway, "_asleep", asleep)
    monkeypatch.delenv("LLM_OFFLINE_FAULT", raising=False)
    monkeypatch.setattr(gateway, "_fault_counts", {})
    settings.LLM_MAX_RETRIES = 3
    settings.LLM_RETRY_BASE_SECONDS = 1.0
    settings.EMBEDDING_MODEL = ""
    settings.LLM_MODELS = dict.fromkeys(settings.LLM_MODELS, "offline")
    return sleeps


@pytest.fixture
def sleeps(_no_waiting):
    return _no_waiting


def _run(coroutine):
    """Run ``coroutine`` as an ASGI server would, then close the DB connection that the
    async ORM opened in asgiref's worker thread (transactional tests must not leak it)."""
    try:
        return asyncio.run(coroutine)
    finally:
        asyncio.run(sync_to_async(connections.close_all)())


def _interview():
    prompt = llm.load_prompt("elicitation/interview")
    return prompt, llm.render(prompt, question=QUESTION)


def _calls(**filters) -> list[LLMCall]:
    return list(LLMCall.objects.filter(**filters).order_by("id"))


class _Flaky:
    """Stands in for a litellm entry point: raises the given errors first, then delegates."""

    def __init__(self, real, *errors: Exception):
        self.real = real
        self.errors = list(errors)
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return self.real(**kwargs)


def _rate_limit() -> litellm.RateLimitError:
    return litellm.RateLimitError(message="slow down", llm_provider="openai", model="gpt-4o")


# --- Streaming -----------------------------------------------------------------------


def test_it_streams_the_offline_reply_word_by_word(db):
    study = StudyFactory()
    prompt, system = _interview()

    chunks = list(
        llm.stream_chat(
            stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER, study=study
        )
    )

    expected = offline.respond("interview", [{"role": "system", "content": system}, *FIRST_ANSWER])
    assert len(chunks) > 5
    assert "".join(chunks) == expected
    (call,) = _calls()
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
    prompt, system = _interview()
    stream = llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[])

    next(stream)
    stream.close()

    (call,) = _calls()
    assert call.error == "interrupted"
    assert call.output_tokens >= 1


def test_it_streams_asynchronously(transactional_db):
    study = StudyFactory()
    prompt, system = _interview()

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

    chunks = _run(consume())

    assert len(chunks) > 5
    assert "".join(chunks) == "".join(
        llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)
    )
    first, second = _calls()
    assert (first.stage, first.study, first.prompt_version) == ("interview", study, prompt.version)
    assert first.output_tokens == second.output_tokens > 0
    assert first.error == ""


def test_it_logs_an_abandoned_async_stream(transactional_db):
    prompt, system = _interview()

    async def consume_one() -> str:
        stream = llm.astream_chat(stage="interview", prompt=prompt, system=system, messages=[])
        try:
            return await stream.__anext__()
        finally:
            await stream.aclose()

    assert _run(consume_one())
    (call,) = _calls()
    assert call.error == "interrupted"


def test_it_logs_an_async_stream_whose_client_disconnected(transactional_db):
    prompt, system = _interview()
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

    _run(disconnect())

    (call,) = _calls()
    assert call.error == "interrupted"
    assert len(received) == 1


def test_it_returns_a_whole_chat_reply(db):
    prompt, system = _interview()

    reply = llm.chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)

    assert reply == "".join(
        llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)
    )
    assert [c.error for c in _calls()] == ["", ""]


# --- Structured output ---------------------------------------------------------------


def test_it_returns_a_validated_card(db):
    prompt = llm.load_prompt("elicitation/articulate")

    card = llm.structured(stage="articulate", prompt=prompt, payload=PAYLOADS["articulate"])

    assert set(card) == {"title", "description", "policies"}
    assert 3 <= len(card["policies"]) <= 7
    assert all(p.split()[0].isupper() for p in card["policies"])
    (call,) = _calls()
    assert (call.stage, call.prompt_name, call.prompt_version) == (
        "articulate",
        "elicitation/articulate",
        prompt.version,
    )
    assert call.input_tokens > 0 and call.output_tokens > 0


@pytest.mark.parametrize("stage", list(PAYLOADS))
def test_every_structured_stage_passes_its_schema_offline(db, stage):
    prompt = llm.load_prompt(PROMPT_NAMES[stage])

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
    assert _calls()[0].error == ""


def test_it_repairs_a_malformed_reply_once(db, monkeypatch):
    real = offline.respond
    replies = iter(["Here is your card: it is lovely."])
    monkeypatch.setattr(
        offline, "respond", lambda stage, messages: next(replies, None) or real(stage, messages)
    )
    spy = _Flaky(litellm.completion)
    monkeypatch.setattr(litellm, "completion", spy)

    card = llm.structured(
        stage="articulate",
        prompt=llm.load_prompt("elicitation/articulate"),
        payload=PAYLOADS["articulate"],
    )

    assert 3 <= len(card["policies"]) <= 7
    first, second = _calls()
    assert first.error.startswith("invalid output: the reply is not valid JSON")
    assert second.error == ""
    repair = spy.calls[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Here is your card: it is lovely."}
    assert "not valid JSON" in repair[-1]["content"]


def test_it_gives_up_when_the_repaired_reply_is_still_invalid(db, monkeypatch):
    too_few = json.dumps({"title": "Care", "description": "d", "policies": ["ONE thing"]})
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
    assert [c.error.split(":")[0] for c in _calls()] == ["invalid output", "invalid output"]


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
    (call,) = _calls()
    assert call.attempts == 1 and "BadRequestError" in call.error


# --- Retries and timeouts --------------------------------------------------------------


def test_it_retries_a_rate_limit_with_backoff(db, monkeypatch, sleeps):
    flaky = _Flaky(litellm.completion, _rate_limit(), _rate_limit())
    monkeypatch.setattr(litellm, "completion", flaky)
    prompt, system = _interview()

    reply = llm.chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)

    assert reply
    assert len(flaky.calls) == 3
    assert 1.0 <= sleeps[0] <= 1.25 and 2.0 <= sleeps[1] <= 2.5
    (call,) = _calls()
    assert call.attempts == 3 and call.error == ""


def test_it_retries_a_stream_that_failed_before_its_first_token(db, monkeypatch, sleeps):
    flaky = _Flaky(litellm.completion, litellm.Timeout("slow", "gpt-4o", "openai"))
    monkeypatch.setattr(litellm, "completion", flaky)
    prompt, system = _interview()

    chunks = list(llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]))

    assert len(chunks) > 5
    assert len(sleeps) == 1
    assert _calls()[0].attempts == 2


def test_it_gives_up_after_max_retries(db, monkeypatch, settings, sleeps):
    settings.LLM_MAX_RETRIES = 2
    flaky = _Flaky(litellm.completion, *[_rate_limit() for _ in range(5)])
    monkeypatch.setattr(litellm, "completion", flaky)
    prompt, system = _interview()

    with pytest.raises(llm.LLMError) as caught:
        llm.chat(stage="interview", prompt=prompt, system=system, messages=FIRST_ANSWER)

    assert caught.value.retryable is True
    assert caught.value.stage == "interview"
    assert "Your conversation is saved" in caught.value.user_message
    assert "RateLimitError" in str(caught.value) and "3 attempts" in str(caught.value)
    assert len(flaky.calls) == 3 and len(sleeps) == 2
    (call,) = _calls()
    assert call.attempts == 3 and "RateLimitError" in call.error


def test_it_does_not_retry_a_bad_key(db, monkeypatch, sleeps):
    error = litellm.AuthenticationError(message="bad key", llm_provider="openai", model="gpt-4o")
    flaky = _Flaky(litellm.completion, error)
    monkeypatch.setattr(litellm, "completion", flaky)
    prompt, system = _interview()

    with pytest.raises(llm.LLMError) as caught:
        list(llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]))

    assert caught.value.retryable is False
    assert len(flaky.calls) == 1 and sleeps == []
    (call,) = _calls()
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
    prompt, system = _interview()
    received: list[str] = []

    with pytest.raises(llm.LLMError) as caught:
        for chunk in llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]):
            received.append(chunk)

    assert received == ["Hello "]
    assert caught.value.retryable is True and sleeps == []
    assert _calls()[0].attempts == 1


def test_it_passes_the_timeout_to_litellm(db, monkeypatch, settings):
    settings.LLM_TIMEOUT = 12.5
    spy = _Flaky(litellm.completion)
    monkeypatch.setattr(litellm, "completion", spy)
    prompt, system = _interview()

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
    mocked = _Flaky(lambda **kw: litellm.main.completion(**kw, mock_response='{"response": "Hi"}'))
    monkeypatch.setattr(litellm, "completion", mocked)

    result = llm.structured(
        stage="response",
        prompt=llm.load_prompt("moralgraph/response"),
        payload=PAYLOADS["response"],
        study=study,
    )

    assert result == {"response": "Hi"}
    (call,) = _calls()
    assert call.model == "gpt-4o" and mocked.calls[0]["model"] == "gpt-4o"
    assert call.cost > 0


# --- The offline provider ------------------------------------------------------------


def test_the_offline_provider_is_deterministic(db):
    prompt, system = _interview()
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
    gateway._register_offline_provider()
    gateway._register_offline_provider()

    assert [p["provider"] for p in litellm.custom_provider_map].count("offline") == 1


def test_an_offline_fault_gives_a_retryable_error(db, monkeypatch, settings, sleeps):
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "interview:timeout")
    settings.LLM_MAX_RETRIES = 1
    prompt, system = _interview()

    with pytest.raises(llm.LLMError) as caught:
        list(llm.stream_chat(stage="interview", prompt=prompt, system=system, messages=[]))

    assert caught.value.retryable is True
    assert caught.value.user_message == (
        "The interviewer is taking too long to answer. Your conversation is saved — "
        "please try again."
    )
    assert "Timeout" in str(caught.value)
    (call,) = _calls()
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
    assert _calls()[0].attempts == 2


def test_an_invalid_offline_fault_exercises_the_repair(db, monkeypatch):
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "*:invalid")

    with pytest.raises(llm.LLMOutputInvalid):
        llm.structured(stage="response", prompt=llm.load_prompt("moralgraph/response"), payload={})

    assert len(_calls()) == 2


# --- Models --------------------------------------------------------------------------


def test_model_for_and_is_offline_honour_a_study_override(db):
    study = StudyFactory(interview_model="anthropic/claude-sonnet-4")

    assert llm.model_for("interview", study) == "anthropic/claude-sonnet-4"
    assert llm.is_offline("interview", study) is False
    assert llm.model_for("articulate", study) == "offline"
    assert llm.is_offline("articulate", study) is True
    assert llm.is_offline() is True
    with pytest.raises(ValueError, match="unknown LLM stage"):
        llm.model_for("poetry")


# --- Embeddings ----------------------------------------------------------------------


def test_embed_is_local_and_deterministic_without_a_model(db):
    texts = ["FEELINGS of being pressured", "MOMENTS of curiosity"]

    vectors = llm.embed(texts)

    assert vectors == llm.embed(texts)
    assert [len(v) for v in vectors] == [DIMENSIONS, DIMENSIONS]
    assert vectors[0] == local_embedding(texts[0])
    assert llm.embed([]) == []
    assert llm.embedding_model_name() == "local-hash-256"
    assert _calls() == []


def test_embed_goes_through_litellm_with_a_model(db, monkeypatch, settings):
    settings.EMBEDDING_MODEL = "openai/text-embedding-3-small"
    received: dict = {}

    def fake_embedding(**kwargs):
        received.update(kwargs)
        # Out of order on purpose: the gateway must sort by index.
        return litellm.EmbeddingResponse(
            model="text-embedding-3-small",
            data=[
                {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
                {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]},
            ],
            usage=litellm.Usage(prompt_tokens=7, completion_tokens=0, total_tokens=7),
        )

    monkeypatch.setattr(litellm, "embedding", fake_embedding)

    vectors = llm.embed(["first", "second"])

    assert vectors == [[1.0, 0.0], [0.0, 1.0]]
    assert received["model"] == "openai/text-embedding-3-small"
    assert received["input"] == ["first", "second"]
    assert llm.embedding_model_name() == "openai/text-embedding-3-small"
    (call,) = _calls()
    assert (call.stage, call.model, call.input_tokens) == ("embed", settings.EMBEDDING_MODEL, 7)


# --- Prompts -------------------------------------------------------------------------


def test_a_prompt_version_follows_its_text(monkeypatch, tmp_path):
    monkeypatch.setattr(gateway, "PROMPTS_DIR", tmp_path)
    path = tmp_path / "elicitation" / "interview.md"
    path.parent.mkdir(parents=True)
    path.write_text("Ask about {question}.")
    first = llm.load_prompt("elicitation/interview")

    path.write_text("Ask gently about {question}, please.")
    second = llm.load_prompt("elicitation/interview")

    assert first.version != second.version
    assert len(first.version) == 12
    assert second.text == "Ask gently about {question}, please."
    assert llm.load_prompt("elicitation/interview") == second


def test_render_fills_placeholders_and_keeps_json_braces():
    prompt = llm.Prompt(
        name="x/y",
        text='Question: {question}\nReply as {"title": "...", "policies": []}',
        version="v",
    )

    text = llm.render(prompt, question="What about {other}?", unused=1)

    assert text == 'Question: What about {other}?\nReply as {"title": "...", "policies": []}'
    with pytest.raises(KeyError, match="question"):
        llm.render(prompt)


def test_every_stage_has_a_prompt():
    interview = llm.load_prompt("elicitation/interview")

    assert "Question: {question}" in interview.text
    for name in PROMPT_NAMES.values():
        assert llm.load_prompt(name).text.strip()
    with pytest.raises(ValueError):
        llm.load_prompt("../etc/passwd")
