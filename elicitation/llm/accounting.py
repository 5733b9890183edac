"""What every model call costs and how it went: tokens, cost, latency, attempts, error,
written as one ``LLMCall`` row per call, successful or not."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from elicitation.llm.lazy import litellm
from elicitation.llm.prompts import Prompt

logger = logging.getLogger(__name__)


def words(text: Any) -> int:
    """A token estimate: words. The offline path must not need a tokenizer download."""
    return len(text.split()) if isinstance(text, str) else 0


def message_words(messages: list[dict]) -> int:
    """The token estimate of a list of chat messages, content-part lists included."""
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            total += sum(words(part.get("text")) for part in content if isinstance(part, dict))
        else:
            total += words(content)
    return total


@dataclass
class CallRecord:
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

    def count_usage(self, response: Any) -> None:
        """Take the token counts a response or a stream chunk reports, if it has any."""
        if usage := usage_of(response):
            self.input_tokens, self.output_tokens = usage

    def finish_stream(self, model: str, messages: list[dict], text: str) -> None:
        """Tokens (estimated when the provider sent no usage) and cost of a stream."""
        if not self.input_tokens and not self.output_tokens:
            self.input_tokens, self.output_tokens = message_words(messages), words(text)
        self.cost = tokens_cost(model, self.input_tokens, self.output_tokens)

    def finish_response(self, response: Any, messages: list[dict], text: str) -> None:
        """Tokens (estimated when the provider sent no usage) and cost of a whole reply."""
        self.input_tokens, self.output_tokens = usage_of(response) or (
            message_words(messages),
            words(text),
        )
        self.cost = response_cost(response)


# The model is imported when a call is logged, not with the package: the offline brain
# and the embeddings are usable before Django is set up.
def log(record: CallRecord) -> None:
    from elicitation.llm.models import LLMCall

    # The log must never turn a good answer into an error, nor hide the real one.
    try:
        row = LLMCall.objects.create(**record.fields())
    except Exception:
        logger.exception("could not log an LLM call (stage %s)", record.stage)
    else:
        _count_spend(row)


async def alog(record: CallRecord) -> None:
    from elicitation.llm.models import LLMCall

    try:
        row = await LLMCall.objects.acreate(**record.fields())
    except Exception:
        logger.exception("could not log an LLM call (stage %s)", record.stage)
    else:
        _count_spend(row)


def _count_spend(row: Any) -> None:
    # The budget cap's running total, kept without summing the log on every call.
    from elicitation.llm import budget

    budget.add(row.study_id, row.cost)


def usage_of(response: Any) -> tuple[int, int] | None:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(
        getattr(usage, "completion_tokens", 0) or 0
    )


def response_cost(response: Any) -> float:
    try:
        return float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:
        return 0.0  # a model without a price (offline, self-hosted) costs nothing here


def tokens_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=input_tokens, completion_tokens=output_tokens
        )
        return float(prompt_cost + completion_cost)
    except Exception:
        return 0.0


def price_per_token(model: str) -> tuple[float, float] | None:
    """USD per input and per output token of ``model`` in litellm's cost map, or None
    when the map has no price for it (the offline model, a self-hosted one)."""
    if not model:
        return None
    try:
        info = litellm.get_model_info(model)
    except Exception:
        return None
    prices = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if prices[0] is None and prices[1] is None:
        return None
    return float(prices[0] or 0.0), float(prices[1] or 0.0)
