"""Candidates for dedup: the values a new card might duplicate, by words and by meaning.

Two rankings of the members of a study's values (its cards, and the values with no card
of their own) are fused by reciprocal rank:

- lexical: BM25 (``bm25s``) over each member's title, policies and description, which
  finds the rare words a participant kept even when the rest is in their own words;
- embedding: cosine similarity of the vectors (the local hash embedding, or the model
  ``EMBEDDING_MODEL`` names), which finds a paraphrase that shares few words.

Reciprocal-rank fusion needs no calibration between the two scores: a member near the
top of either list is a candidate. A value is represented by its best-ranked member, and
it passes retrieval only if that member, or another of its members, is close enough by
one measure or the other (``DEDUP_MIN_SIMILARITY`` cosine, ``DEDUP_MIN_OVERLAP`` of the
card's informative words): a card that passes no value costs no judge call at all.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from moralgraph.services.clusters import ClusterIndex, unit

# bm25s sets its own logger to DEBUG, which prints a line each time an index is built.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# The usual constant of reciprocal-rank fusion: a lower rank weighs less, never nothing.
RRF_K = 60
# BM25's parameters, as bm25s's Lucene variant uses them (also for unindexed members).
K1, B = 1.5, 0.75
# Members added since the BM25 index was built are scored one by one; past this share of
# the index (or this many), the index is built again.
REBUILD_SHARE, REBUILD_MIN = 0.25, 64

_WORD_RE = re.compile(r"[a-z0-9]+")
# Words too common in values cards to say which value a card is.
STOPWORDS = frozenset(
    """
    a about after all also an and any are as at be been being but by can could did do
    does for from had has have her hers him his how i if in into is it its just may me
    might more most my no not of on one or our over own same she so some such than that
    the their them then there these they this those through to too under up us very was
    we were what when where which while who whom why will with would you your
    """.split()  # noqa: SIM905 - a word list reads better as text than as literals
)


def words(title: str, description: str, policies: Sequence[str]) -> list[str]:
    """A card's informative words: lower-case, no stopwords, a plural "s" trimmed."""
    text = " ".join([title or "", description or "", *(policies or [])]).lower()
    return [
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in _WORD_RE.findall(text)
        if len(w) > 1 and w not in STOPWORDS
    ]


@dataclass(frozen=True)
class Candidate:
    """A value a card may duplicate, shown to the judge through ``member``'s wording."""

    value_id: int
    member: tuple[str, int]
    similarity: float  # the best cosine of any of the value's members
    overlap: float  # the best share of the card's informative words in one member
    score: float  # fused reciprocal rank


class HybridIndex(ClusterIndex):
    """A study's value members by vector and by words, for one pass (see the module)."""

    def __init__(self, dimensions: int | None = None):
        super().__init__(*([dimensions] if dimensions else []))
        self._words: list[frozenset[str]] = []
        self._tokens: list[list[str]] = []
        self._counts: list[Counter[str]] = []
        self._fresh: dict[str, list[int]] = {}  # word -> rows not yet in the BM25 index
        self._df: Counter[str] = Counter()
        self._total_length = 0
        self._bm25: bm25s.BM25 | None = None
        self._built = 0  # rows 0.._built-1 are in the BM25 index
        # The word counts the index was built with: later members are scored with them
        # too, so that every member is scored by the same statistics.
        self._built_df: Counter[str] = Counter()
        self._built_average = 1.0

    def add(self, member, value_id, vector, *, title="", description="", policies=()):
        row = super().add(member, value_id, vector)
        if row is None:
            return None
        tokens = words(title, description, list(policies or []))
        self._tokens.append(tokens)
        self._counts.append(Counter(tokens))
        self._words.append(frozenset(tokens))
        for token in self._counts[-1]:
            self._fresh.setdefault(token, []).append(row)
        self._df.update(set(tokens))
        self._total_length += len(tokens)
        return row

    # --- Lexical --------------------------------------------------------------------

    def _idf(self, token: str) -> float:
        n, df = len(self._tokens), self._df.get(token, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _lexical(self, query: list[str]) -> np.ndarray:
        n = len(self._tokens)
        fresh = n - self._built
        if fresh > max(REBUILD_MIN, REBUILD_SHARE * self._built):
            self._bm25 = bm25s.BM25(k1=K1, b=B)
            self._bm25.index(self._tokens, show_progress=False)
            self._built, self._fresh = n, {}
            self._built_df = self._df.copy()
            self._built_average = (self._total_length / n) or 1.0
        scores = np.zeros(n, dtype=np.float32)
        if not query:
            return scores
        if self._bm25 is not None and self._built:
            scores[: self._built] = self._bm25.get_scores(query)
        # Members since the last build: the same formula (bm25s's Lucene variant), with
        # the statistics of the build.
        for token in query:
            df = self._built_df.get(token, 0)
            idf = math.log(1 + (self._built - df + 0.5) / (df + 0.5))
            for row in self._fresh.get(token, ()):
                count = self._counts[row][token]
                norm = K1 * (1 - B + B * len(self._tokens[row]) / self._built_average)
                scores[row] += idf * count / (count + norm)
        return scores

    def overlap(self, query: dict[str, float], row: int) -> float:
        """The share of the query's informative words, weighted by rarity (``query``: each
        word's idf, from ``weights``), that a member also uses."""
        total = sum(query.values())
        if not total:
            return 0.0
        return sum(w for t, w in query.items() if t in self._words[row]) / total

    def weights(self, tokens: Iterable[str]) -> dict[str, float]:
        return {t: self._idf(t) for t in dict.fromkeys(tokens)}

    # --- Search ---------------------------------------------------------------------

    def search(
        self,
        vector,
        tokens: list[str],
        *,
        k: int,
        min_similarity: float,
        min_overlap: float,
        depth: int | None = None,
    ) -> list[Candidate]:
        """Up to ``k`` values for a card with this vector and these words, best first."""
        n = len(self._members)
        if n == 0 or k <= 0:
            return []
        depth = depth or max(4 * k, 50)
        alive = self._alive[:n]
        query = unit(vector)
        sims = np.round(self._matrix[:n] @ query, 6) if query.any() else np.zeros(n)
        weights = self.weights(tokens)
        lexical = self._lexical(list(weights))
        fused: dict[int, float] = {}
        for scores in (sims, lexical):
            rows = np.flatnonzero(alive & (scores > 0))
            # Stable sort: among ties the older member ranks first.
            rows = rows[np.argsort(-scores[rows], kind="stable")][:depth]
            for rank, row in enumerate(rows.tolist()):
                fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank + 1)
        best: dict[int, tuple[float, int]] = {}
        closeness: dict[int, tuple[float, float]] = {}
        for row, score in fused.items():
            value_id = int(self._root[row])
            if value_id not in best or (score, -row) > (best[value_id][0], -best[value_id][1]):
                best[value_id] = (score, row)
            sim, share = closeness.get(value_id, (-1.0, 0.0))
            closeness[value_id] = (
                max(sim, float(sims[row])),
                max(share, self.overlap(weights, row)),
            )
        found = [
            Candidate(value_id, self._members[row], *closeness[value_id], score)
            for value_id, (score, row) in best.items()
            if closeness[value_id][0] >= min_similarity or closeness[value_id][1] >= min_overlap
        ]
        found.sort(key=lambda c: (-c.score, self._rows[c.member]))
        return found[:k]
