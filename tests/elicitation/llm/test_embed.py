"""Embeddings: local and deterministic without a model, through litellm with one."""

from __future__ import annotations

import litellm

from elicitation import llm
from moralgraph.vectors import DIMENSIONS, local_embedding
from tests.elicitation.llm.samples import calls


def test_embed_is_local_and_deterministic_without_a_model(db):
    texts = ["FEELINGS of being pressured", "MOMENTS of curiosity"]

    vectors = llm.embed(texts)

    assert vectors == llm.embed(texts)
    assert [len(v) for v in vectors] == [DIMENSIONS, DIMENSIONS]
    assert vectors[0] == local_embedding(texts[0])
    assert llm.embed([]) == []
    assert llm.embedding_model_name() == "local-hash-256"
    assert calls() == []


def test_embed_goes_through_litellm_with_a_model(db, monkeypatch, settings):
    settings.EMBEDDING_MODEL = "openai/text-embedding-3-small"
    received: dict = {}

    def fake_embedding(**kwargs):
        received.update(kwargs)
        # Out of order on purpose: the gateway must sort by index.
        return litellm.EmbeddingResponse(
            model="text-embedding-3-small",
            data=[
                {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
                {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]},
            ],
            usage=litellm.Usage(prompt_tokens=7, completion_tokens=0, total_tokens=7),
        )

    monkeypatch.setattr(litellm, "embedding", fake_embedding)

    vectors = llm.embed(["first", "second"])

    assert vectors == [[1.0, 0.0], [0.0, 1.0]]
    assert received["model"] == "openai/text-embedding-3-small"
    assert received["input"] == ["first", "second"]
    assert llm.embedding_model_name() == "openai/text-embedding-3-small"
    (call,) = calls()
    assert (call.stage, call.model, call.input_tokens) == ("embed", settings.EMBEDDING_MODEL, 7)
