"""Embeddings of card texts and cosine similarity search.

With ``EMBEDDING_MODEL`` set, ``embed`` asks that model through litellm (retried and
logged like every call); otherwise it uses the local deterministic embedding below.

Deduplication and the "cards near yours" draw need embeddings, but a study must run
with no network and no model download, and the same text must embed to the same vector
on every machine and every run so that stored vectors stay comparable. So this module
uses the hashing trick over words, word bigrams and character 4-grams with an unkeyed
``blake2b`` (Python's ``hash()`` is salted per process and would break that).

It is a lexical embedding: it finds near-duplicates (paraphrases sharing most words)
well, and it does not know synonyms; a model does. ``to_bytes``/``from_bytes``/``nearest``
do not care where a vector came from, as long as the dimensions agree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings

from elicitation.llm import budget
from elicitation.llm.accounting import CallRecord, log, response_cost, usage_of
from elicitation.llm.errors import LLMError, describe
from elicitation.llm.lazy import litellm
from elicitation.llm.retry import RETRY, call_options

DIMENSIONS = 256
LOCAL_EMBEDDING_NAME = "local-hash-256"

# Whole words carry most meaning; bigrams keep a little word order; character 4-grams
# let "pressure"/"pressured" or "feeling"/"feelings" still meet.
UNIGRAM_WEIGHT = 1.0
BIGRAM_WEIGHT = 0.5
CHAR_NGRAM_WEIGHT = 0.25
CHAR_N = 4

_DTYPE = np.dtype("<f4")  # float32 little-endian: the stored form, whatever the platform
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*", re.UNICODE)

Vector = Sequence[float] | np.ndarray | bytes | bytearray | memoryview


@lru_cache(maxsize=65536)
def _slot(feature: str) -> tuple[int, float]:
    """Bucket and sign of a feature: stable across processes, machines and versions."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    # The sign comes from bits the bucket does not use, so that colliding features
    # cancel on average instead of piling up (the signed hashing trick).
    return value % DIMENSIONS, 1.0 if (value >> 63) & 1 else -1.0


def _features(text: str) -> Iterable[tuple[str, float]]:
    words = _WORD_RE.findall(text.lower().replace("’", "'"))
    for word in words:
        yield "w:" + word, UNIGRAM_WEIGHT
    for first, second in zip(words, words[1:], strict=False):
        yield f"b:{first} {second}", BIGRAM_WEIGHT
    for word in words:
        padded = f" {word} "  # word boundaries make prefixes and suffixes features too
        for i in range(len(padded) - CHAR_N + 1):
            yield "c:" + padded[i : i + CHAR_N], CHAR_NGRAM_WEIGHT


def local_embedding(text: str) -> list[float]:
    """Embed ``text`` as a unit vector of ``DIMENSIONS`` floats; "" gives the zero vector.

    Deterministic: a hashed bag of lowercased word unigrams (weight 1), word bigrams
    (0.5) and character 4-grams of each word (0.25), L2-normalised.
    """
    vector = np.zeros(DIMENSIONS, dtype=np.float64)
    for feature, weight in _features(text or ""):
        index, sign = _slot(feature)
        vector[index] += sign * weight
    norm = float(np.linalg.norm(vector))
    if norm > 0.0:
        vector /= norm
    return [float(x) for x in vector]


def to_bytes(vector: Vector) -> bytes:
    """Serialise a vector as float32 little-endian, for a ``BinaryField``."""
    return np.asarray(_as_array(vector), dtype=_DTYPE).tobytes()


def from_bytes(b: bytes | bytearray | memoryview) -> np.ndarray:
    """Read a vector stored by ``to_bytes``.

    Accepts ``memoryview`` too, which is what PostgreSQL hands back for a BinaryField.
    """
    raw = bytes(b)
    if len(raw) % _DTYPE.itemsize:
        raise ValueError(f"{len(raw)} bytes is not a whole number of float32 values")
    # A copy in native order: frombuffer alone would be read-only and tied to ``raw``.
    return np.frombuffer(raw, dtype=_DTYPE).astype(np.float32)


def _as_array(vector: Vector) -> np.ndarray:
    if isinstance(vector, bytes | bytearray | memoryview):
        return from_bytes(vector).astype(np.float64)
    array = np.asarray(vector, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"a vector must be one-dimensional, got shape {array.shape}")
    return array


def nearest(
    query: Vector,
    candidates: Iterable[tuple[Hashable, Vector]],
    k: int = 10,
    threshold: float = 0.0,
) -> list[tuple[Any, float]]:
    """The ``k`` candidates most cosine-similar to ``query``, at or above ``threshold``.

    ``candidates`` are ``(id, vector)`` pairs, the vector as numbers or as stored bytes.
    Results are ``(id, similarity)`` sorted by similarity, highest first, then by id so
    that ties come out in the same order every time. A zero vector (the embedding of
    "") is similar to nothing: a zero query returns ``[]`` and zero candidates are
    skipped, rather than dividing by zero.
    """
    pairs = list(candidates)
    if k <= 0 or not pairs:
        return []
    q = _as_array(query)
    q_norm = float(np.linalg.norm(q))
    if q_norm == 0.0:
        return []
    ids = [pair[0] for pair in pairs]
    matrix = np.vstack([_as_array(pair[1]) for pair in pairs])
    if matrix.shape[1] != q.shape[0]:
        raise ValueError(
            f"dimension mismatch: query has {q.shape[0]}, candidates have {matrix.shape[1]}"
        )
    norms = np.linalg.norm(matrix, axis=1)
    usable = norms > 0.0
    sims = np.zeros(len(pairs), dtype=np.float64)
    sims[usable] = (matrix[usable] @ q) / (norms[usable] * q_norm)
    # Rounding absorbs last-bit noise of the matrix product, so that equal vectors tie
    # exactly and the id decides.
    sims = np.round(np.clip(sims, -1.0, 1.0), 12)

    keep = np.flatnonzero(usable & (sims >= threshold))
    if keep.size > k:
        # Cheap pre-selection; everything tied with the k-th best stays in, so the
        # final (similarity, id) sort below decides ties, not argpartition.
        kth = np.partition(sims[keep], keep.size - k)[keep.size - k]
        keep = keep[sims[keep] >= kth]
    ranked = sorted(((ids[i], float(sims[i])) for i in keep), key=_rank_key)
    return ranked[:k]


def _rank_key(item: tuple[Any, float]) -> tuple[float, Any]:
    identifier, similarity = item
    # Ids of different types (int and str) don't compare; group them by type name first.
    return -similarity, (type(identifier).__name__, identifier)


def card_text(title: str, description: str, policies: Sequence[str]) -> str:
    """The text embedded for a values card: title, description and policies, one a line.

    Policies are lower-cased by the embedding anyway, so "FEELINGS of ..." and
    "feelings of ..." meet.
    """
    parts = [title, description, *policies]
    return "\n".join(part.strip() for part in parts if part and part.strip())


# ---------------------------------------------------------------------------
# Through a model
# ---------------------------------------------------------------------------


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
        budget.model_within_budget("embed", model, study)  # raises at the study's cap
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
