"""The LLM gateway: the only module in MGE Studio that imports litellm.

Every model call of the method goes through here: the interview (streamed, token by
token), drafting and revising a values card, and the graph's background stages (dedup,
contexts, upgrade stories, model answers). The gateway

- picks the model for a stage (a study's override, else the ``LLM_*_MODEL`` settings);
- loads the stage's versioned prompt (``<app>/prompts/<stage>.md``), hashed into a
  version that is stored with every call;
- passes ``LLM_TIMEOUT`` to litellm and retries transient failures (rate limits,
  timeouts, connection and server errors) up to ``LLM_MAX_RETRIES`` times with
  exponential backoff; a stream is retried only if nothing was yielded yet;
- parses and validates structured output against a JSON Schema, with one repair retry;
- writes one ``LLMCall`` row per call, successful or not (tokens, cost, latency,
  attempts, error), even when a streaming consumer goes away half way;
- turns every failure into ``LLMError``, whose ``user_message`` can be shown to a
  participant as it is.

The model named ``offline`` is a litellm custom provider (``OfflineProvider`` below)
wrapped around the deterministic brain in ``elicitation.offline``: a stage ``S`` is
called as ``litellm.completion(model="offline/S", ...)``, so the offline and the real
models share one code path (streaming, retries, logging, cost).

Prompt placeholders: ``elicitation/interview`` takes ``{question}``; the structured
stages' prompts take none (their input is the JSON payload in the user message).
"""

# ruff: noqa: E402 - litellm must be imported after the environment variable below is set.
from __future__ import annotations

import os

# Must be set before litellm is imported: otherwise litellm fetches its model cost map
# from the network at import time, and a study must run with no network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import asyncio
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import litellm
from django.conf import settings
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse, Usage

from elicitation.llm import offline
from moralgraph.vectors import local_embedding

logger = logging.getLogger(__name__)

# litellm prints a "Give Feedback / Get Help" banner on every exception; our own log
# and LLMCall rows carry what matters.
litellm.suppress_debug_info = True

# Patched by tests so that backoff does not really wait.
_sleep = time.sleep
_asleep = asyncio.sleep

OFFLINE = "offline"
LOCAL_EMBEDDING_NAME = "local-hash-256"

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

# Who is speaking, in the participant's terms, for the friendly messages below.
_SPEAKER = {
    "interview": "The interviewer",
    "articulate": "The card writer",
    "revise": "The card writer",
}
_PARTICIPANT_STAGES = frozenset(_SPEAKER)


def _friendly(stage: str, kind: str) -> str:
    """A message safe to show a participant: what happened, that nothing is lost, what to do."""
    speaker = _SPEAKER.get(stage, "The AI assistant")
    saved = (
        "Your conversation is saved" if stage in _PARTICIPANT_STAGES else "Nothing has been lost"
    )
    if kind == "slow":
        return f"{speaker} is taking too long to answer. {saved} — please try again."
    if kind == "busy":
        return f"{speaker} is busy right now. {saved} — please try again in a moment."
    if kind == "invalid":
        return f"{speaker} gave an answer we could not use. {saved} — please try again."
    return (
        f"{speaker} could not answer this time. {saved} — please try again later, and "
        "tell the study team if it keeps happening."
    )


class LLMError(Exception):
    """A model call failed. The one error type callers of the gateway handle.

    ``retryable`` says whether trying again later may help (a timeout, a rate limit)
    or not (a bad key, a malformed request). ``user_message`` is friendly text safe to
    show a participant; ``str(error)`` is the technical reason, for logs and admins.
    """

    def __init__(
        self,
        message: str,
        *,
        stage: str,
        model: str,
        retryable: bool,
        user_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.model = model
        self.retryable = retryable
        self.user_message = user_message or _friendly(stage, "broken")


class LLMOutputInvalid(LLMError):
    """Structured output failed JSON or schema validation, even after one repair retry."""


# ---------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A prompt text and its version: the first 12 hex digits of the text's sha256."""

    name: str
    text: str
    version: str


PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
_PROMPT_NAME_RE = re.compile(r"^[a-z_]+/[a-z_]+$")
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_prompt(name: str) -> Prompt:
    """Load ``"<app>/<stage>"`` from ``elicitation/llm/prompts/<app>/<stage>.md``.

    Cached on the file's modification time and size, so that an edited prompt is picked
    up (with its new version) without a restart, and an unchanged one is read once.
    """
    if not _PROMPT_NAME_RE.match(name):
        raise ValueError(f'prompt name must look like "elicitation/interview", got {name!r}')
    app, stage = name.split("/")
    path = PROMPTS_DIR / app / f"{stage}.md"
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ValueError(f"no prompt {name!r}: {path} does not exist") from None
    return _read_prompt(name, str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=128)
def _read_prompt(name: str, path: str, mtime_ns: int, size: int) -> Prompt:
    text = Path(path).read_text(encoding="utf-8")
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Prompt(name=name, text=text, version=version)


def render(prompt: Prompt, **values: Any) -> str:
    """Substitute ``{name}`` placeholders in ``prompt`` with ``values``.

    Unlike ``str.format``, any other brace (a JSON example such as ``{"title": ...}``)
    is left as it is, and substituted values are never scanned again, so a participant
    who types ``{question}`` cannot inject anything. A placeholder without a value
    raises ``KeyError``, as ``str.format`` would; extra values are ignored.
    """

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"prompt {prompt.name!r} needs a value for {{{key}}}")
        return str(values[key])

    return _PLACEHOLDER_RE.sub(substitute, prompt.text)


# ---------------------------------------------------------------------------
# Schemas of the structured stages
# ---------------------------------------------------------------------------

_TEXT = {"type": "string", "minLength": 1}

CARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "description", "policies"],
    "properties": {
        "title": {"type": "string", "minLength": 2, "maxLength": 80, "pattern": r"\S"},
        "description": {"type": "string", "minLength": 1, "maxLength": 600},
        "policies": {
            "type": "array",
            "minItems": 3,
            "maxItems": 7,
            "items": {"type": "string", "minLength": 3, "maxLength": 300, "pattern": r"\S"},
        },
    },
}
DEDUP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["same", "reason"],
    "properties": {"same": {"type": "boolean"}, "reason": {"type": "string"}},
}
CONTEXTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["contexts"],
    "properties": {
        "contexts": {
            "type": "array",
            "minItems": 1,
            "maxItems": 6,
            "items": {"type": "string", "pattern": r"^When\s+\S", "maxLength": 200},
        }
    },
}
HYPOTHESIS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["story", "mapping"],
    "properties": {
        "story": _TEXT,
        "mapping": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["from", "to"],
                "properties": {"from": _TEXT, "to": _TEXT},
            },
        },
    },
}
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["response"],
    "properties": {"response": _TEXT},
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "articulate": CARD_SCHEMA,
    "revise": CARD_SCHEMA,
    "dedup": DEDUP_SCHEMA,
    "contexts": CONTEXTS_SCHEMA,
    "hypothesis": HYPOTHESIS_SCHEMA,
    "response": RESPONSE_SCHEMA,
}


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


def model_for(stage: str, study: Any = None) -> str:
    """The model for ``stage``: the study's override if it has one, else the setting."""
    if stage not in settings.LLM_MODELS:
        raise ValueError(
            f"unknown LLM stage {stage!r}; expected one of {', '.join(settings.LLM_MODELS)}"
        )
    return study.model_for(stage) if study is not None else settings.LLM_MODELS[stage]


def _is_offline_model(model: str) -> bool:
    return model == OFFLINE or model.startswith(OFFLINE + "/")


def is_offline(stage: str = "interview", study: Any = None) -> bool:
    """Whether ``stage`` runs on the deterministic offline provider."""
    return _is_offline_model(model_for(stage, study))


def _litellm_model(stage: str, model: str) -> str:
    # The offline brain needs the stage; a real model does not care which stage it is.
    return f"{OFFLINE}/{stage}" if model == OFFLINE else model


def embedding_model_name() -> str:
    """The name stored with card vectors, so vectors from different models never mix."""
    return settings.EMBEDDING_MODEL or LOCAL_EMBEDDING_NAME


# ---------------------------------------------------------------------------
# The offline provider
# ---------------------------------------------------------------------------

# LLM_OFFLINE_FAULT is a test and demo aid, read by the offline provider only (a real
# model is never affected): a comma-separated list of "stage:kind" or "stage:kind:count"
# items, stage being a stage name or "*". kind is one of the keys below, or "invalid"
# (the reply is not JSON, to exercise the repair retry). With a count, only the first
# `count` offline calls of that stage in this process fail, so a live test can watch
# a failure and then a successful retry, e.g.
#   LLM_OFFLINE_FAULT=interview:timeout          every interview turn times out
#   LLM_OFFLINE_FAULT=interview:ratelimit:1,articulate:invalid
_FAULTS: dict[str, type[Exception]] = {
    "timeout": litellm.Timeout,
    "ratelimit": litellm.RateLimitError,
    "unavailable": litellm.ServiceUnavailableError,
    "servererror": litellm.InternalServerError,
    "badrequest": litellm.BadRequestError,
}
_fault_counts: dict[str, int] = {}
_fault_lock = threading.Lock()


def _offline_fault(stage: str) -> str | None:
    """The fault LLM_OFFLINE_FAULT asks for on this call of ``stage``, if any."""
    spec = os.environ.get("LLM_OFFLINE_FAULT", "").strip()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        parts = item.split(":")
        if len(parts) not in (2, 3) or parts[0] not in (stage, "*"):
            continue
        if len(parts) == 3:
            with _fault_lock:
                used = _fault_counts.get(item, 0)
                if not parts[2].isdigit() or used >= int(parts[2]):
                    continue
                _fault_counts[item] = used + 1
        return parts[1]
    return None


def _raise_fault(kind: str, model: str) -> None:
    if kind == "invalid":
        return
    error = _FAULTS.get(kind)
    if error is None:
        raise litellm.BadRequestError(
            message=f"LLM_OFFLINE_FAULT: unknown fault {kind!r}; use one of "
            f"{', '.join([*_FAULTS, 'invalid'])}",
            model=model,
            llm_provider=OFFLINE,
        )
    if error is litellm.Timeout:
        raise litellm.Timeout(
            message=f"simulated timeout (LLM_OFFLINE_FAULT) for {model}",
            model=model,
            llm_provider=OFFLINE,
        )
    raise error(  # the other litellm errors share this signature
        message=f"simulated {kind} (LLM_OFFLINE_FAULT) for {model}",
        llm_provider=OFFLINE,
        model=model,
    )


def _words(text: Any) -> int:
    """A token estimate: words. The offline path must not need a tokenizer download."""
    return len(text.split()) if isinstance(text, str) else 0


def _message_words(messages: list[dict]) -> int:
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            total += sum(_words(part.get("text")) for part in content if isinstance(part, dict))
        else:
            total += _words(content)
    return total


def _offline_messages(stage: str, messages: list[dict]) -> list[dict]:
    """What the offline brain sees: for a structured stage, the system messages and the
    latest user message that holds a JSON object.

    A repair retry appends the bad reply and a plain-text correction after the payload.
    A real model reads all of it; the brain only understands the JSON payload, and,
    being deterministic, would answer it the same way anyway.
    """
    if stage == "interview":
        return messages
    for message in reversed(messages):
        if message.get("role") != "user" or not isinstance(message.get("content"), str):
            continue
        try:
            payload = json.loads(message["content"])
        except ValueError:
            continue
        if isinstance(payload, dict):
            return [*(m for m in messages if m.get("role") == "system"), message]
    return messages


class OfflineProvider(CustomLLM):
    """litellm custom provider "offline": ``offline/<stage>`` answers with ``offline.respond``.

    Streams one chunk per word (``offline.tokens``), with usage on the last chunk.
    ``OfflineError`` (bad input) becomes ``litellm.BadRequestError``, which the gateway
    does not retry: the same input would fail the same way.
    """

    def _reply(self, model: str, messages: list[dict]) -> str:
        name = f"{OFFLINE}/{model}"
        fault = _offline_fault(model)
        if fault:
            _raise_fault(fault, name)
            if fault == "invalid":
                return "Sorry, I cannot answer in JSON today."
        try:
            return offline.respond(model, _offline_messages(model, messages))
        except offline.OfflineError as exc:
            raise litellm.BadRequestError(
                message=f"offline provider: {exc}", model=name, llm_provider=OFFLINE
            ) from exc

    def _usage(self, messages: list[dict], text: str) -> dict[str, int]:
        prompt_tokens, completion_tokens = _message_words(messages), _words(text)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def _chunks(self, messages: list[dict], text: str) -> Iterator[GenericStreamingChunk]:
        pieces = offline.tokens(text) or [""]
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            yield GenericStreamingChunk(
                text=piece,
                is_finished=last,
                finish_reason="stop" if last else "",
                usage=self._usage(messages, text) if last else None,  # type: ignore[typeddict-item]
                index=0,
                tool_use=None,
            )

    def completion(  # type: ignore[override]
        self, model: str, messages: list, model_response: ModelResponse, **kwargs: Any
    ) -> ModelResponse:
        text = self._reply(model, messages)
        model_response.choices[0].message.content = text  # type: ignore[union-attr]
        model_response.model = f"{OFFLINE}/{model}"
        model_response.usage = Usage(**self._usage(messages, text))  # type: ignore[attr-defined]
        return model_response

    def streaming(  # type: ignore[override]
        self, model: str, messages: list, **kwargs: Any
    ) -> Iterator[GenericStreamingChunk]:
        text = self._reply(model, messages)
        yield from self._chunks(messages, text)

    async def acompletion(  # type: ignore[override]
        self, model: str, messages: list, model_response: ModelResponse, **kwargs: Any
    ) -> ModelResponse:
        return self.completion(model, messages, model_response, **kwargs)

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        text = self._reply(model, messages)
        for chunk in self._chunks(messages, text):
            yield chunk
            await asyncio.sleep(0)  # let other requests on the event loop move too


def _register_offline_provider() -> None:
    """Register the "offline" provider with litellm once, however often this is imported."""
    if not any(item.get("provider") == OFFLINE for item in litellm.custom_provider_map):
        litellm.custom_provider_map.append(
            {"provider": OFFLINE, "custom_handler": OfflineProvider()}
        )


_register_offline_provider()


# ---------------------------------------------------------------------------
# Call records (LLMCall rows)
# ---------------------------------------------------------------------------


@dataclass
class _Record:
    """What one gateway call will write to its LLMCall row."""

    stage: str
    model: str
    prompt: Prompt | None
    study: Any
    started: float = field(default_factory=time.monotonic)
    attempts: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    error: str = ""

    def fields(self) -> dict[str, Any]:
        study = self.study if self.study is not None and self.study.pk else None
        return {
            "stage": self.stage,
            "model": self.model[:200],
            "prompt_name": self.prompt.name if self.prompt else "",
            "prompt_version": self.prompt.version if self.prompt else "",
            "study": study,
            "input_tokens": max(0, int(self.input_tokens)),
            "output_tokens": max(0, int(self.output_tokens)),
            "cost": Decimal(str(round(max(self.cost, 0.0), 6))),
            "latency_ms": int((time.monotonic() - self.started) * 1000),
            "attempts": self.attempts,
            "error": self.error,
        }


def _log(record: _Record) -> None:
    from elicitation.models import LLMCall

    # The log must never turn a good answer into an error, nor hide the real one.
    try:
        LLMCall.objects.create(**record.fields())
    except Exception:
        logger.exception("could not log an LLM call (stage %s)", record.stage)


async def _alog(record: _Record) -> None:
    from elicitation.models import LLMCall

    try:
        await LLMCall.objects.acreate(**record.fields())
    except Exception:
        logger.exception("could not log an LLM call (stage %s)", record.stage)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _usage_of(response: Any) -> tuple[int, int] | None:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(
        getattr(usage, "completion_tokens", 0) or 0
    )


def _response_cost(response: Any) -> float:
    try:
        return float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:
        return 0.0  # a model without a price (offline, self-hosted) costs nothing here


def _tokens_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=input_tokens, completion_tokens=output_tokens
        )
        return float(prompt_cost + completion_cost)
    except Exception:
        return 0.0


# ---------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------

_RETRYABLE: tuple[type[Exception], ...] = (
    litellm.RateLimitError,
    litellm.Timeout,
    litellm.APIConnectionError,
    litellm.ServiceUnavailableError,
    litellm.InternalServerError,
)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _RETRYABLE)


def _backoff(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (0-based): base * 2**retry + jitter."""
    delay = settings.LLM_RETRY_BASE_SECONDS * 2**retry
    # Jitter spreads out the retries of many participants hit by the same rate limit.
    return delay + random.uniform(0, delay / 4)


def _can_retry(exc: BaseException, record: _Record) -> bool:
    return _retryable(exc) and record.attempts <= settings.LLM_MAX_RETRIES


def _as_llm_error(exc: BaseException, record: _Record) -> LLMError:
    """The LLMError a caller sees for ``exc``, after any retries."""
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, litellm.Timeout):
        kind = "slow"
    elif _retryable(exc):
        kind = "busy"
    else:
        kind = "broken"
    tries = f" after {record.attempts} attempts" if record.attempts > 1 else ""
    return LLMError(
        f"{record.stage} call to {record.model} failed{tries}: {_describe(exc)}",
        stage=record.stage,
        model=record.model,
        retryable=_retryable(exc),
        user_message=_friendly(record.stage, kind),
    )


def _call_options() -> dict[str, Any]:
    # max_retries=0: the gateway does the retrying (and counts it), not the provider SDK.
    # drop_params: a provider without JSON mode or stream usage still answers; the
    # schema check and its repair retry do the enforcing, and tokens are estimated.
    return {"timeout": settings.LLM_TIMEOUT, "max_retries": 0, "drop_params": True}


def _system_and(system: str, messages: list[dict]) -> list[dict]:
    return [{"role": "system", "content": system}, *messages]


def _delta_text(chunk: Any) -> str:
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    return (getattr(delta, "content", None) or "") if delta is not None else ""


def _finish_stream(record: _Record, model: str, messages: list[dict], text: str) -> None:
    """Fill in tokens (estimated when the provider sent no usage) and cost of a stream."""
    if not record.input_tokens and not record.output_tokens:
        record.input_tokens, record.output_tokens = _message_words(messages), _words(text)
    record.cost = _tokens_cost(model, record.input_tokens, record.output_tokens)


# ---------------------------------------------------------------------------
# Chat: streamed and whole
# ---------------------------------------------------------------------------


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
    model = model_for(stage, study)
    name = _litellm_model(stage, model)
    record = _Record(stage=stage, model=model, prompt=prompt, study=study)
    full = _system_and(system, messages)
    parts: list[str] = []
    finished = False
    try:
        while True:
            try:
                stream = litellm.completion(
                    model=name,
                    messages=full,
                    stream=True,
                    stream_options={"include_usage": True},
                    **_call_options(),
                )
                for chunk in stream:
                    if usage := _usage_of(chunk):
                        record.input_tokens, record.output_tokens = usage
                    if text := _delta_text(chunk):
                        parts.append(text)
                        yield text
                break
            except Exception as exc:
                # Once the participant has seen part of a reply, starting over would
                # show it twice: only a stream that yielded nothing is retried.
                if parts or not _can_retry(exc, record):
                    raise _as_llm_error(exc, record) from exc
                _sleep(_backoff(record.attempts - 1))
                record.attempts += 1
        finished = True
    except LLMError as exc:
        record.error = _describe(exc)
        raise
    finally:
        if not finished and not record.error:
            record.error = "interrupted"
        _finish_stream(record, name, full, "".join(parts))
        _log(record)


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
    model = model_for(stage, study)
    name = _litellm_model(stage, model)
    record = _Record(stage=stage, model=model, prompt=prompt, study=study)
    full = _system_and(system, messages)
    parts: list[str] = []
    finished = False
    try:
        while True:
            try:
                stream = await litellm.acompletion(
                    model=name,
                    messages=full,
                    stream=True,
                    stream_options={"include_usage": True},
                    **_call_options(),
                )
                async for chunk in stream:  # type: ignore[union-attr]
                    if usage := _usage_of(chunk):
                        record.input_tokens, record.output_tokens = usage
                    if text := _delta_text(chunk):
                        parts.append(text)
                        yield text
                break
            except Exception as exc:
                if parts or not _can_retry(exc, record):
                    raise _as_llm_error(exc, record) from exc
                await _asleep(_backoff(record.attempts - 1))
                record.attempts += 1
        finished = True
    except LLMError as exc:
        record.error = _describe(exc)
        raise
    finally:
        if not finished and not record.error:
            record.error = "interrupted"
        _finish_stream(record, name, full, "".join(parts))
        # Shielded: a second cancellation (the server shutting the request down) must
        # not lose the row half written.
        await asyncio.shield(_alog(record))


def _complete(
    *,
    stage: str,
    prompt: Prompt | None,
    messages: list[dict],
    study: Any,
    check: Callable[[str], T],
    **options: Any,
) -> T:
    """One logged, retried, non-streaming call; ``check`` turns the reply into the result.

    If ``check`` raises ``_InvalidOutput``, the row records why and the error propagates.
    """
    model = model_for(stage, study)
    name = _litellm_model(stage, model)
    record = _Record(stage=stage, model=model, prompt=prompt, study=study)
    try:
        while True:
            try:
                response = litellm.completion(
                    model=name, messages=messages, **_call_options(), **options
                )
                break
            except Exception as exc:
                if not _can_retry(exc, record):
                    raise _as_llm_error(exc, record) from exc
                _sleep(_backoff(record.attempts - 1))
                record.attempts += 1
        text = response.choices[0].message.content or ""  # type: ignore[union-attr]
        usage = _usage_of(response)
        record.input_tokens, record.output_tokens = usage or (
            _message_words(messages),
            _words(text),
        )
        record.cost = _response_cost(response)
        return check(text)
    except _InvalidOutput as exc:
        record.error = f"invalid output: {exc}"
        raise
    except LLMError as exc:
        record.error = _describe(exc)
        raise
    finally:
        _log(record)


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


class _InvalidOutput(ValueError):
    """A reply that is not the JSON object the stage's schema asks for."""

    def __init__(self, problem: str, reply: str) -> None:
        super().__init__(problem)
        self.reply = reply


_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S | re.I)


def _parse(stage: str, text: str) -> dict:
    """Parse and validate a structured reply, or raise ``_InvalidOutput`` saying why."""
    # Real models sometimes wrap JSON in a Markdown fence even in JSON mode.
    fenced = _FENCE_RE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise _InvalidOutput(f"the reply is not valid JSON ({exc})", text) from None
    if not isinstance(data, dict):
        raise _InvalidOutput(f"expected a JSON object, got {type(data).__name__}", text)
    validator = jsonschema.Draft202012Validator(SCHEMAS[stage])
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = error.json_path.removeprefix("$.").removeprefix("$") or "the object"
        raise _InvalidOutput(f"{where}: {error.message[:300]}", text)
    return data


def structured(
    *,
    stage: str,
    prompt: Prompt,
    payload: dict,
    study: Any = None,
    system: str | None = None,
) -> dict:
    """Ask ``stage`` for a JSON object and return it validated against ``SCHEMAS[stage]``.

    The system message is ``system`` (default: the prompt's text) and the user message
    is the JSON-encoded ``payload``. An unusable reply gets one repair retry that tells
    the model what was wrong; a second one raises LLMOutputInvalid. Each attempt is one
    LLMCall row.
    """
    if stage not in SCHEMAS:
        raise ValueError(f"{stage!r} is not a structured stage; expected one of {list(SCHEMAS)}")
    messages = [
        {"role": "system", "content": prompt.text if system is None else system},
        {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
    ]
    options = {"response_format": {"type": "json_object"}}

    def check(text: str) -> dict:
        return _parse(stage, text)

    try:
        return _complete(
            stage=stage, prompt=prompt, messages=messages, study=study, check=check, **options
        )
    except _InvalidOutput as first:
        repair = [
            *messages,
            {"role": "assistant", "content": first.reply},
            {
                "role": "user",
                "content": f"Your reply could not be used: {first}. Answer the same input "
                "again with only one JSON object in exactly the format the instructions "
                "describe, and no other text.",
            },
        ]
        try:
            return _complete(
                stage=stage, prompt=prompt, messages=repair, study=study, check=check, **options
            )
        except _InvalidOutput as second:
            model = model_for(stage, study)
            raise LLMOutputInvalid(
                f"{stage}: the model's reply did not match the {stage} schema, even after "
                f"a repair retry. First reply: {first}. Repaired reply: {second}.",
                stage=stage,
                model=model,
                # A real model may well get it right next time; the offline one won't.
                retryable=not _is_offline_model(model),
                user_message=_friendly(stage, "invalid"),
            ) from second


# ---------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------


def _vector(item: Any) -> tuple[int, list[float]]:
    if isinstance(item, dict):
        return int(item.get("index", 0)), list(item["embedding"])
    return int(getattr(item, "index", 0)), list(item.embedding)


def embed(texts: list[str], *, study: Any = None) -> list[list[float]]:
    """Embed ``texts``, one vector each, in order.

    With ``EMBEDDING_MODEL`` set, through ``litellm.embedding`` (retried and logged as
    stage "embed"); otherwise the local deterministic embedding (no call, no log).
    """
    texts = list(texts)
    if not texts:
        return []
    model = settings.EMBEDDING_MODEL
    if not model:
        return [local_embedding(text) for text in texts]
    record = _Record(stage="embed", model=model, prompt=None, study=study)
    try:
        while True:
            try:
                response = litellm.embedding(model=model, input=texts, **_call_options())
                break
            except Exception as exc:
                if not _can_retry(exc, record):
                    raise _as_llm_error(exc, record) from exc
                _sleep(_backoff(record.attempts - 1))
                record.attempts += 1
        if usage := _usage_of(response):
            record.input_tokens = usage[0]
        record.cost = _response_cost(response)
        vectors = [vector for _, vector in sorted(_vector(item) for item in response.data)]
        if len(vectors) != len(texts):
            raise LLMError(
                f"embed: {model} returned {len(vectors)} vectors for {len(texts)} texts",
                stage="embed",
                model=model,
                retryable=True,
            )
        return vectors
    except LLMError as exc:
        record.error = _describe(exc)
        raise
    finally:
        _log(record)
