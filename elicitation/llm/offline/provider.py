"""The litellm custom provider "offline", wrapped around the offline brain.

A stage ``S`` is called as ``litellm.completion(model="offline/S", ...)``, so the offline
and the real models share one code path in the gateway (streaming, retries, logging,
cost). ``register()`` adds the provider to litellm once, however often it is called.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litellm
from django.conf import settings
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse, Usage

from elicitation.llm import offline, stages
from elicitation.llm.accounting import message_words, words
from elicitation.llm.stages import OFFLINE

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


def latency(stage: str) -> float:
    """Seconds a non-streamed call of ``stage`` waits (LLM_OFFLINE_LATENCY_SECONDS)."""
    by_stage = settings.LLM_OFFLINE_LATENCY_SECONDS
    return by_stage.get(stage, by_stage.get("*", 0.0))


def stream_pace() -> float:
    """Seconds between the words of a streamed reply (OFFLINE_STREAM_DELAY_MS). The
    offline interviewer answers at once; a short pause per word makes its stream look
    (and test, and load the server) like a real model's."""
    return max(0, settings.OFFLINE_STREAM_DELAY_MS) / 1000


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


def _offline_messages(stage: str, messages: list[dict]) -> list[dict]:
    """What the offline brain sees: for a structured stage, the system messages and the
    latest user message that holds a JSON object.

    A repair retry appends the bad reply and a plain-text correction after the payload.
    A real model reads all of it; the brain only understands the JSON payload, and,
    being deterministic, would answer it the same way anyway.
    """
    spec = stages.BY_NAME.get(stage)
    if spec is None or not spec.structured:
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
        prompt_tokens, completion_tokens = message_words(messages), words(text)
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
        time.sleep(latency(model))
        return self._answer(model, messages, model_response)

    def _answer(self, model: str, messages: list, model_response: ModelResponse) -> ModelResponse:
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
        # The wait of a real model, without holding the event loop.
        await asyncio.sleep(latency(model))
        return self._answer(model, messages, model_response)

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        text = self._reply(model, messages)
        pace = stream_pace()
        for chunk in self._chunks(messages, text):
            yield chunk
            # A word at a time, as a model's tokens come over the network: one wait on
            # the event loop per word (0 still lets other requests move).
            await asyncio.sleep(pace)


def register() -> None:
    """Register the "offline" provider with litellm once, however often this is called."""
    if not any(item.get("provider") == OFFLINE for item in litellm.custom_provider_map):
        litellm.custom_provider_map.append(
            {"provider": OFFLINE, "custom_handler": OfflineProvider()}
        )
        # Free, and known to litellm's cost map: a model it does not know, it looks for
        # through the whole map at the end of every reply (a sixth of a stream's CPU).
        from elicitation.llm.stages import STAGES

        litellm.register_model(
            {
                f"{OFFLINE}/{stage.name}": {
                    "input_cost_per_token": 0.0,
                    "output_cost_per_token": 0.0,
                    "litellm_provider": OFFLINE,
                    "mode": "chat",
                }
                for stage in STAGES
            }
        )
