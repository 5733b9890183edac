"""The LLM package: the only place in MGE Studio that imports litellm.

Callers use these names (``from elicitation import llm``; ``llm.structured(...)``) and
nothing from the modules behind them. What lives where:

- ``gateway``: chat, streaming (sync and async) and structured output;
- ``retry``: the one retry policy every call runs under;
- ``accounting``: tokens, cost and the ``LLMCall`` row of every call;
- ``errors``: ``LLMError`` and the messages a participant may see;
- ``prompts``: the prompt files and their versions; ``schemas``: the JSON Schemas;
- ``embeddings``: card vectors, local or through a model;
- ``offline``: the deterministic provider, one module per stage.
"""

# ruff: noqa: E402 - litellm must be imported after the environment variable below is set.
import os

# Set before any module of this package imports litellm: otherwise litellm fetches its
# model cost map from the network at import time, and a study must run with no network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from elicitation.llm.embeddings import LOCAL_EMBEDDING_NAME, embed, embedding_model_name
from elicitation.llm.errors import LLMError, LLMOutputInvalid
from elicitation.llm.gateway import (
    OFFLINE,
    astream_chat,
    chat,
    is_offline,
    model_for,
    stream_chat,
    structured,
)
from elicitation.llm.prompts import Prompt, load_prompt, render

__all__ = [
    "LOCAL_EMBEDDING_NAME",
    "OFFLINE",
    "LLMError",
    "LLMOutputInvalid",
    "Prompt",
    "astream_chat",
    "chat",
    "embed",
    "embedding_model_name",
    "is_offline",
    "load_prompt",
    "model_for",
    "render",
    "stream_chat",
    "structured",
]
