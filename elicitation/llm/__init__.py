"""The LLM package: the only place in MGE Studio that imports litellm.

Callers use these names (``from elicitation import llm``; ``llm.structured(...)``) and
nothing from the modules behind them.
"""

from elicitation.llm.gateway import (
    LOCAL_EMBEDDING_NAME,
    OFFLINE,
    LLMError,
    LLMOutputInvalid,
    Prompt,
    astream_chat,
    chat,
    embed,
    embedding_model_name,
    is_offline,
    load_prompt,
    model_for,
    render,
    stream_chat,
    structured,
)

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
