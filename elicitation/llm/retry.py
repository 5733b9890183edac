"""The one retry policy of every model call, and the options every litellm call gets.

Completions, streams and embeddings all run their attempts through ``RETRY``: there is
no other retry loop in the package, and litellm's own retries are turned off.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from django.conf import settings

from elicitation.llm.accounting import CallRecord
from elicitation.llm.errors import LLMError, describe, friendly
from elicitation.llm.lazy import litellm

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

    @property
    def transient(self) -> tuple[type[Exception], ...]:
        # Looked up at call time: litellm is imported on first use (llm.lazy).
        return (
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
        """After a failed attempt: the seconds to wait before the next, or the LLMError.

        A provider's Retry-After is honoured (never waiting less than it asks); one that
        asks for longer than ``RETRY_AFTER_MAX`` fails now, as waiting would.
        """
        if not self.retryable(exc) or record.attempts > settings.LLM_MAX_RETRIES:
            raise self.error(exc, record) from exc
        wait = self.delay(record.attempts - 1)
        asked = retry_after(exc)
        if asked is not None:
            if asked > RETRY_AFTER_MAX:
                raise self.error(exc, record) from exc
            wait = max(wait, asked)
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

# Someone may be waiting on the call: past this, "try again" is the better answer.
RETRY_AFTER_MAX = 30.0


def retry_after(exc: BaseException) -> float | None:
    """The seconds a provider asked us to wait (Retry-After or retry-after-ms), if any."""
    headers = getattr(exc, "litellm_response_headers", None) or getattr(
        getattr(exc, "response", None), "headers", None
    )
    if not headers:
        return None
    try:
        if (millis := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:  # an HTTP date
            moment = parsedate_to_datetime(value)
            return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, AttributeError):
        return None


def call_options() -> dict[str, Any]:
    # max_retries=0: RETRY does the retrying (and counts it), not the provider SDK.
    # drop_params: a provider without JSON mode or stream usage still answers; the
    # schema check and its repair retry do the enforcing, and tokens are estimated.
    # api_base: LLM_API_BASE points every real model at one OpenAI-compatible server (a
    # self-hosted model, a gateway); the offline provider ignores it.
    options = {"timeout": settings.LLM_TIMEOUT, "max_retries": 0, "drop_params": True}
    if settings.LLM_API_BASE:
        options["api_base"] = settings.LLM_API_BASE
    return options
