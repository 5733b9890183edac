"""The LLM gateway: every model call of the method goes through here.

The interview (streamed, token by token), drafting and revising a values card, and the
graph's background stages (dedup, contexts, upgrade stories, model answers). The gateway

- picks the model for a stage (a study's override, else the ``LLM_*_MODEL`` settings);
- passes ``LLM_TIMEOUT`` to litellm and retries transient failures (rate limits,
  timeouts, connection and server errors) with one policy, ``RETRY``: up to
  ``LLM_MAX_RETRIES`` times with exponential backoff; a stream is retried only if
  nothing was yielded yet;
- parses and validates structured output against the stage's JSON Schema, with one
  repair retry;
- writes one ``LLMCall`` row per call, successful or not (``accounting``), even when a
  streaming consumer goes away half way;
- turns every failure into ``LLMError``, whose ``user_message`` can be shown to a
  participant as it is.

The model named ``offline`` is a litellm custom provider (``offline/provider.py``)
wrapped around the deterministic brain in ``elicitation.llm.offline``: a stage ``S`` is
called as ``litellm.completion(model="offline/S", ...)``, so the offline and the real
models share one code path (streaming, retries, logging, cost).

Prompt placeholders: ``elicitation/interview`` takes ``{question}``; the structured
stages' prompts take none (their input is the JSON payload in the user message).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

from asgiref.sync import sync_to_async

from elicitation.llm import budget
from elicitation.llm.accounting import CallRecord, alog, log
from elicitation.llm.errors import LLMError, LLMOutputInvalid, describe, friendly
from elicitation.llm.lazy import litellm
from elicitation.llm.prompts import Prompt
from elicitation.llm.retry import RETRY, call_options
from elicitation.llm.schemas import InvalidOutput, parse
from elicitation.llm.stages import BY_NAME, OFFLINE, is_offline_model, model_for

T = TypeVar("T")

# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


def _litellm_model(stage: str, model: str) -> str:
    # The offline brain needs the stage; a real model does not care which stage it is.
    return f"{OFFLINE}/{stage}" if model == OFFLINE else model


def _model(stage: str, prompt: Prompt | None, study: Any, model: str | None = None) -> str:
    """The stage's model (``model`` if the caller names one), as the study's budget cap
    allows (see ``budget``); a refusal is logged as a call of its own, so the
    researchers' log says why work stopped."""
    model = model or model_for(stage, study)
    try:
        return budget.model_within_budget(stage, model, study)
    except budget.BudgetExceeded as exc:
        log(CallRecord(stage=stage, model=model, prompt=prompt, study=study, error=describe(exc)))
        raise


async def _amodel(stage: str, prompt: Prompt | None, study: Any) -> str:
    if budget.cap_of(study) is None:
        return model_for(stage, study)  # no cap: nothing to read from the database
    return await sync_to_async(_model)(stage, prompt, study)


# ---------------------------------------------------------------------------
# Chat: streamed and whole
# ---------------------------------------------------------------------------


def _system_and(system: str, messages: list[dict]) -> list[dict]:
    return [{"role": "system", "content": system}, *messages]


def _stream_options() -> dict[str, Any]:
    return {"stream": True, "stream_options": {"include_usage": True}, **call_options()}


def _delta_text(chunk: Any) -> str:
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    return (getattr(delta, "content", None) or "") if delta is not None else ""


# Once the participant has seen part of a reply, starting over would show it twice: a
# stream is read up to its first text inside the retried attempt, the rest outside it.
def _up_to_first_text(stream: Iterable[Any]) -> Iterator[Any]:
    chunks = iter(stream)
    head = []
    for chunk in chunks:
        head.append(chunk)
        if _delta_text(chunk):
            break
    return itertools.chain(head, chunks)


async def _aup_to_first_text(stream: Any) -> AsyncIterator[Any]:
    chunks = aiter(stream)
    head = []
    async for chunk in chunks:
        head.append(chunk)
        if _delta_text(chunk):
            break

    async def replay() -> AsyncIterator[Any]:
        for chunk in head:
            yield chunk
        async for chunk in chunks:
            yield chunk

    return replay()


def stream_chat(
    *,
    stage: str,
    prompt: Prompt,
    system: str,
    messages: list[dict],
    study: Any = None,
) -> Iterator[str]:
    """Stream the assistant's reply as text chunks, token by token.

    The LLMCall row is written when the stream ends, fails, or is abandoned by its
    consumer (then with error "interrupted"). Raises LLMError.
    """
    model = _model(stage, prompt, study)
    name = _litellm_model(stage, model)
    record = CallRecord(stage=stage, model=model, prompt=prompt, study=study)
    full = _system_and(system, messages)
    parts: list[str] = []
    finished = False
    try:
        chunks = RETRY.call(
            lambda: _up_to_first_text(
                litellm.completion(model=name, messages=full, **_stream_options())
            ),
            record,
        )
        try:
            for chunk in chunks:
                record.count_usage(chunk)
                if text := _delta_text(chunk):
                    parts.append(text)
                    yield text
        except Exception as exc:
            raise RETRY.error(exc, record) from exc
        finished = True
    except LLMError as exc:
        record.error = describe(exc)
        raise
    finally:
        if not finished and not record.error:
            record.error = "interrupted"
        record.finish_stream(name, full, "".join(parts))
        log(record)


async def astream_chat(
    *,
    stage: str,
    prompt: Prompt,
    system: str,
    messages: list[dict],
    study: Any = None,
) -> AsyncIterator[str]:
    """``stream_chat`` for async views (the interview's SSE stream under ASGI).

    A client that disconnects cancels the stream; the call is still logged, with
    error "interrupted".
    """
    model = await _amodel(stage, prompt, study)
    name = _litellm_model(stage, model)
    record = CallRecord(stage=stage, model=model, prompt=prompt, study=study)
    full = _system_and(system, messages)
    parts: list[str] = []
    finished = False

    async def attempt() -> AsyncIterator[Any]:
        stream = await litellm.acompletion(model=name, messages=full, **_stream_options())
        return await _aup_to_first_text(stream)

    try:
        chunks = await RETRY.acall(attempt, record)
        try:
            async for chunk in chunks:
                record.count_usage(chunk)
                if text := _delta_text(chunk):
                    parts.append(text)
                    yield text
        except Exception as exc:
            raise RETRY.error(exc, record) from exc
        finished = True
    except LLMError as exc:
        record.error = describe(exc)
        raise
    finally:
        if not finished and not record.error:
            record.error = "interrupted"
        record.finish_stream(name, full, "".join(parts))
        # Shielded: a second cancellation (the server shutting the request down) must
        # not lose the row half written.
        await asyncio.shield(alog(record))


def _complete(
    *,
    stage: str,
    prompt: Prompt | None,
    messages: list[dict],
    study: Any,
    check: Callable[[str], T],
    model: str | None = None,
    **options: Any,
) -> T:
    """One logged, retried, non-streaming call; ``check`` turns the reply into the result.

    If ``check`` raises ``InvalidOutput``, the row records why and the error propagates.
    """
    model = _model(stage, prompt, study, model)
    name = _litellm_model(stage, model)
    record = CallRecord(stage=stage, model=model, prompt=prompt, study=study)
    try:
        response = RETRY.call(
            lambda: litellm.completion(model=name, messages=messages, **call_options(), **options),
            record,
        )
        text = response.choices[0].message.content or ""  # type: ignore[union-attr]
        record.finish_response(response, messages, text)
        return check(text)
    except InvalidOutput as exc:
        record.error = f"invalid output: {exc}"
        raise
    except LLMError as exc:
        record.error = describe(exc)
        raise
    finally:
        log(record)


async def _acomplete(
    *,
    stage: str,
    prompt: Prompt | None,
    messages: list[dict],
    study: Any,
    check: Callable[[str], T],
    **options: Any,
) -> T:
    """``_complete`` for async views: the model's wait holds no thread."""
    model = await _amodel(stage, prompt, study)
    name = _litellm_model(stage, model)
    record = CallRecord(stage=stage, model=model, prompt=prompt, study=study)
    try:
        response = await RETRY.acall(
            lambda: litellm.acompletion(model=name, messages=messages, **call_options(), **options),
            record,
        )
        text = response.choices[0].message.content or ""  # type: ignore[union-attr]
        record.finish_response(response, messages, text)
        return check(text)
    except InvalidOutput as exc:
        record.error = f"invalid output: {exc}"
        raise
    except LLMError as exc:
        record.error = describe(exc)
        raise
    finally:
        await asyncio.shield(alog(record))


def chat(
    *,
    stage: str,
    prompt: Prompt,
    system: str,
    messages: list[dict],
    study: Any = None,
) -> str:
    """The assistant's whole reply, in one piece. Raises LLMError."""
    return _complete(
        stage=stage,
        prompt=prompt,
        messages=_system_and(system, messages),
        study=study,
        check=lambda text: text,
    )


# ---------------------------------------------------------------------------
# Structured output
# ---------------------------------------------------------------------------


def _structured_call(stage: str, prompt: Prompt, payload: dict, system: str | None):
    """The schema, first messages and options of a structured call of ``stage``."""
    spec = BY_NAME.get(stage)
    if spec is None or spec.schema is None:
        structured_stages = [s.name for s in BY_NAME.values() if s.structured]
        raise ValueError(
            f"{stage!r} is not a structured stage; expected one of {structured_stages}"
        )
    schema = spec.schema
    messages = [
        {"role": "system", "content": prompt.text if system is None else system},
        {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
    ]

    def check(text: str) -> dict:
        return parse(schema, text)

    return messages, check, {"response_format": {"type": "json_object"}}


def _repair(messages: list[dict], first: InvalidOutput) -> list[dict]:
    return [
        *messages,
        {"role": "assistant", "content": first.reply},
        {
            "role": "user",
            "content": f"Your reply could not be used: {first}. Answer the same input "
            "again with only one JSON object in exactly the format the instructions "
            "describe, and no other text.",
        },
    ]


def _invalid_twice(stage: str, study: Any, first: InvalidOutput, second: InvalidOutput):
    model = model_for(stage, study)
    return LLMOutputInvalid(
        f"{stage}: the model's reply did not match the {stage} schema, even after "
        f"a repair retry. First reply: {first}. Repaired reply: {second}.",
        stage=stage,
        model=model,
        # A real model may well get it right next time; the offline one won't.
        retryable=not is_offline_model(model),
        user_message=friendly(stage, "invalid"),
    )


def structured(
    *,
    stage: str,
    prompt: Prompt,
    payload: dict,
    study: Any = None,
    system: str | None = None,
    model: str | None = None,
) -> dict:
    """Ask ``stage`` for a JSON object and return it validated against its schema.

    The system message is ``system`` (default: the prompt's text) and the user message
    is the JSON-encoded ``payload``; ``model`` overrides the stage's model for this call
    (a simulation's ``--model``). An unusable reply gets one repair retry that tells
    the model what was wrong; a second one raises LLMOutputInvalid. Each attempt is one
    LLMCall row.
    """
    messages, check, options = _structured_call(stage, prompt, payload, system)
    call = {"stage": stage, "prompt": prompt, "study": study, "check": check, **options}
    call["model"] = model
    try:
        return _complete(messages=messages, **call)
    except InvalidOutput as first:
        try:
            return _complete(messages=_repair(messages, first), **call)
        except InvalidOutput as second:
            raise _invalid_twice(stage, study, first, second) from second


async def astructured(
    *,
    stage: str,
    prompt: Prompt,
    payload: dict,
    study: Any = None,
    system: str | None = None,
) -> dict:
    """``structured`` for async views (drafting and revising a card): while the model
    thinks, the request holds no thread and no database connection."""
    messages, check, options = _structured_call(stage, prompt, payload, system)
    call = {"stage": stage, "prompt": prompt, "study": study, "check": check, **options}
    try:
        return await _acomplete(messages=messages, **call)
    except InvalidOutput as first:
        try:
            return await _acomplete(messages=_repair(messages, first), **call)
        except InvalidOutput as second:
            raise _invalid_twice(stage, study, first, second) from second
