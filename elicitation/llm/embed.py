"""Embeddings of card texts: through litellm when ``EMBEDDING_MODEL`` names a model, else
the local deterministic embedding."""

from __future__ import annotations

from typing import Any

import litellm
from django.conf import settings

from elicitation.llm.accounting import CallRecord, log, response_cost, usage_of
from elicitation.llm.errors import LLMError, describe
from elicitation.llm.retry import RETRY, call_options
from moralgraph.vectors import local_embedding

LOCAL_EMBEDDING_NAME = "local-hash-256"


def embedding_model_name() -> str:
    """The name stored with card vectors, so vectors from different models never mix."""
    return settings.EMBEDDING_MODEL or LOCAL_EMBEDDING_NAME


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
    record = CallRecord(stage="embed", model=model, prompt=None, study=study)
    try:
        response = RETRY.call(
            lambda: litellm.embedding(model=model, input=texts, **call_options()), record
        )
        if usage := usage_of(response):
            record.input_tokens = usage[0]
        record.cost = response_cost(response)
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
        record.error = describe(exc)
        raise
    finally:
        log(record)
