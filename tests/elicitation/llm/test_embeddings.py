"""Embeddings: the local deterministic one and similarity search (pure, no DB), and
``embed`` through litellm when a model is set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import litellm
import numpy as np
import pytest

from elicitation import llm
from elicitation.llm.embeddings import (
    DIMENSIONS,
    card_text,
    from_bytes,
    local_embedding,
    nearest,
    to_bytes,
)
from tests.elicitation.llm.samples import calls

AUTONOMY = card_text(
    "Informed Autonomy",
    "ChatGPT should help her make her own informed choice without pressure.",
    [
        "FEELINGS of being pressured that might cloud her judgement",
        "OPTIONS she may not know about, laid out without judgement",
        "OPPORTUNITIES for her to hear from people who have faced the same choice",
    ],
)
AUTONOMY_PARAPHRASE = card_text(
    "Informed Choice",
    "ChatGPT should help her make an informed choice of her own, free of pressure.",
    [
        "FEELINGS of pressure that could cloud her judgement",
        "OPTIONS she might not know about, explained without judgement",
        "CHANCES to hear from people who faced the same choice",
    ],
)
PLAY = card_text(
    "Playful Learning",
    "Attending to a child's curiosity and the joy of discovery in schoolwork.",
    [
        "MOMENTS when the child lights up about a topic",
        "GAMES that turn homework into exploration",
        "SIGNS of frustration that call for a break",
    ],
)
HISTORY = card_text(
    "Historical Accuracy",
    "ChatGPT should give the documented facts about the events of January 6.",
    [
        "SOURCES that are primary and verifiable",
        "DIFFERENCES between what is documented and what is rumoured",
        "CONTEXT of the legal proceedings that followed",
    ],
)


def _cos(a: str, b: str) -> float:
    return float(np.dot(local_embedding(a), local_embedding(b)))


def test_embedding_is_a_deterministic_unit_vector():
    vector = local_embedding(AUTONOMY)
    assert len(vector) == DIMENSIONS
    assert all(isinstance(x, float) for x in vector)
    assert np.linalg.norm(vector) == pytest.approx(1.0)
    assert local_embedding(AUTONOMY) == vector


def test_embedding_is_stable_across_processes():
    # Python's hash() is salted per process; the embedding must not be.
    code = (
        "from elicitation.llm.embeddings import local_embedding; "
        "print(local_embedding('Quiet care')[:8])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
            cwd=Path(__file__).resolve().parents[3],
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str(local_embedding("Quiet care")[:8])


def test_embedding_ignores_case():
    assert local_embedding("FEELINGS of Pressure") == local_embedding("feelings of pressure")


def test_empty_text_is_the_zero_vector():
    assert local_embedding("") == [0.0] * DIMENSIONS
    assert local_embedding("  \n ") == [0.0] * DIMENSIONS


def test_paraphrases_score_well_above_unrelated_cards():
    paraphrase = _cos(AUTONOMY, AUTONOMY_PARAPHRASE)
    assert paraphrase > 0.6
    for a, b in [(AUTONOMY, PLAY), (AUTONOMY, HISTORY), (PLAY, HISTORY)]:
        assert _cos(a, b) < 0.3
    assert _cos(AUTONOMY, AUTONOMY) == pytest.approx(1.0)


def test_word_forms_still_meet():
    # Character 4-grams let inflections meet even though their unigrams differ.
    assert _cos("pressured", "pressure") > 0.2
    assert _cos("pressured", "pleasure") < 0.1
    assert _cos("pressured", "homework") < 0.1


def test_bytes_round_trip():
    vector = local_embedding(AUTONOMY)
    stored = to_bytes(vector)
    assert isinstance(stored, bytes) and len(stored) == DIMENSIONS * 4
    restored = from_bytes(stored)
    assert restored.dtype == np.float32 and restored.shape == (DIMENSIONS,)
    np.testing.assert_allclose(restored, vector, rtol=1e-6, atol=1e-7)
    restored[0] = 5.0  # a writable copy, not a view on the stored bytes
    np.testing.assert_array_equal(from_bytes(memoryview(stored)), from_bytes(stored))
    assert to_bytes(np.array([1.0, -2.0])) == np.array([1.0, -2.0], dtype="<f4").tobytes()


def test_from_bytes_rejects_a_partial_float():
    with pytest.raises(ValueError, match="float32"):
        from_bytes(b"\x00\x00\x00")


def _candidates() -> list[tuple[object, object]]:
    return [
        ("play", local_embedding(PLAY)),
        ("history", to_bytes(local_embedding(HISTORY))),  # stored form works too
        ("paraphrase", local_embedding(AUTONOMY_PARAPHRASE)),
        ("same", to_bytes(local_embedding(AUTONOMY))),
    ]


def test_nearest_orders_by_similarity():
    ranked = nearest(local_embedding(AUTONOMY), _candidates())
    assert [identifier for identifier, _ in ranked][:2] == ["same", "paraphrase"]
    sims = [s for _, s in ranked]
    assert sims == sorted(sims, reverse=True)
    assert sims[0] == pytest.approx(1.0, abs=1e-6)


def test_nearest_honours_k_and_threshold():
    query = local_embedding(AUTONOMY)
    assert [i for i, _ in nearest(query, _candidates(), k=1)] == ["same"]
    above = nearest(query, _candidates(), threshold=0.6)
    assert [i for i, _ in above] == ["same", "paraphrase"]
    assert all(s >= 0.6 for _, s in above)
    assert nearest(query, _candidates(), k=0) == []
    assert nearest(query, [], k=3) == []


def test_nearest_breaks_ties_by_id():
    vector = local_embedding("quiet care")
    candidates = [(3, vector), (1, vector), (2, vector), (0, local_embedding("homework"))]
    assert [i for i, _ in nearest(vector, candidates, k=2)] == [1, 2]
    assert [i for i, _ in nearest(vector, candidates, k=3, threshold=0.9)] == [1, 2, 3]


def test_nearest_is_safe_with_zero_vectors():
    zero = local_embedding("")
    assert nearest(zero, _candidates()) == []
    ranked = nearest(local_embedding(PLAY), [("empty", zero), ("play", local_embedding(PLAY))])
    assert [i for i, _ in ranked] == ["play"]
    assert not any(np.isnan(s) for _, s in ranked)


def test_nearest_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="dimension"):
        nearest([1.0, 0.0], [("a", local_embedding("x"))])


def test_card_text_joins_the_card():
    text = card_text("Title Here", " ", ["ONE thing", "", "TWO things"])
    assert text == "Title Here\nONE thing\nTWO things"


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
