"""The one retry policy of every model call, and the options every litellm call gets.

Completions, streams and embeddings all run their attempts through ``RETRY``: there is
no other retry loop in the package, and litellm's own retries are turned off.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import litellm
from django.conf import settings

from elicitation.llm.accounting import CallRecord
from elicitation.llm.errors import LLMError, describe, friendly

# Patched by tests so that backoff does not really wait.
_sleep = time.sleep
_asleep = asyncio.sleep

T = TypeVar("T")


class RetryPolicy:
    """The one retry policy of every model call: completions, streams and embeddings.

    Transient failures (rate limits, timeouts, connection and server errors) are tried
    again up to ``LLM_MAX_RETRIES`` times, waiting ``LLM_RETRY_BASE_SECONDS * 2**n``
    plus jitter; anything else fails at once. ``call`` and ``acall`` run an attempt
    under the policy and count attempts on the call's record; whatever finally fails
    comes out as ``LLMError``.
    """

    transient: tuple[type[Exception], ...] = (
        litellm.RateLimitError,
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.ServiceUnavailableError,
        litellm.InternalServerError,
    )

    def retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, self.transient)

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): base * 2**retry + jitter."""
        delay = settings.LLM_RETRY_BASE_SECONDS * 2**retry
        # Jitter spreads out the retries of many participants hit by the same rate limit.
        return delay + random.uniform(0, delay / 4)

    def error(self, exc: BaseException, record: CallRecord) -> LLMError:
        """The LLMError a caller sees for ``exc``, after any retries."""
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, litellm.Timeout):
            kind = "slow"
        elif self.retryable(exc):
            kind = "busy"
        else:
            kind = "broken"
        tries = f" after {record.attempts} attempts" if record.attempts > 1 else ""
        return LLMError(
            f"{record.stage} call to {record.model} failed{tries}: {describe(exc)}",
            stage=record.stage,
            model=record.model,
            retryable=self.retryable(exc),
            user_message=friendly(record.stage, kind),
        )

    def _wait_after(self, exc: Exception, record: CallRecord) -> float:
        """After a failed attempt: the seconds to wait before the next, or the LLMError."""
        if not self.retryable(exc) or record.attempts > settings.LLM_MAX_RETRIES:
            raise self.error(exc, record) from exc
        wait = self.delay(record.attempts - 1)
        record.attempts += 1
        return wait

    def call(self, attempt: Callable[[], T], record: CallRecord) -> T:
        while True:
            try:
                return attempt()
            except Exception as exc:
                _sleep(self._wait_after(exc, record))

    async def acall(self, attempt: Callable[[], Awaitable[T]], record: CallRecord) -> T:
        while True:
            try:
                return await attempt()
            except Exception as exc:
                await _asleep(self._wait_after(exc, record))


RETRY = RetryPolicy()


def call_options() -> dict[str, Any]:
    # max_retries=0: RETRY does the retrying (and counts it), not the provider SDK.
    # drop_params: a provider without JSON mode or stream usage still answers; the
    # schema check and its repair retry do the enforcing, and tokens are estimated.
    return {"timeout": settings.LLM_TIMEOUT, "max_retries": 0, "drop_params": True}
