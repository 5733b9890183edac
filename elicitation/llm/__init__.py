"""The LLM package: the only place in MGE Studio that imports litellm.

Callers use these names (``from elicitation import llm``; ``llm.structured(...)``) and
nothing from the modules behind them. What lives where:

- ``gateway``: chat, streaming (sync and async) and structured output;
- ``retry``: the one retry policy every call runs under;
- ``accounting``: tokens, cost and the ``LLMCall`` row of every call (``models``);
- ``stages``: the one table of stages (model setting, prompt, schema, offline module);
- ``errors``: ``LLMError`` and the messages a participant may see;
- ``prompts``: the prompt files and their versions; ``schemas``: the JSON Schemas;
- ``embeddings``: card vectors, local or through a model, and their similarity;
- ``offline``: the deterministic provider, one module per stage;
- ``lazy``: litellm itself, imported on the first call (start-up stays fast).
"""

# ruff: noqa: E402 - litellm must be imported after the environment variable below is set.
import os

# Set before litellm is imported (on first use, by llm.lazy): otherwise litellm fetches
# its model cost map from the network at import time, and a study must run with no network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from elicitation.llm.embeddings import LOCAL_EMBEDDING_NAME, embed, embedding_model_name
from elicitation.llm.errors import LLMError, LLMOutputInvalid
from elicitation.llm.gateway import astream_chat, astructured, chat, stream_chat, structured
from elicitation.llm.prompts import Prompt, load_prompt, render
from elicitation.llm.stages import (
    EXPORT,
    JOURNEY,
    OFFLINE,
    RECONCILE,
    SETUP,
    STAGES,
    Stage,
    is_offline,
    model_for,
)
from elicitation.llm.stages import get as get_stage
from elicitation.llm.stages import names as stage_names

__all__ = [
    "EXPORT",
    "JOURNEY",
    "LOCAL_EMBEDDING_NAME",
    "OFFLINE",
    "RECONCILE",
    "SETUP",
    "STAGES",
    "LLMError",
    "LLMOutputInvalid",
    "Prompt",
    "Stage",
    "astream_chat",
    "astructured",
    "chat",
    "embed",
    "embedding_model_name",
    "get_stage",
    "is_offline",
    "load_prompt",
    "model_for",
    "render",
    "stage_names",
    "stream_chat",
    "structured",
]
