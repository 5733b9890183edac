"""The members of a study's values and their vectors, held in memory for one dedup pass:
the index that finds, for a new card, the nearest members of other values."""

from __future__ import annotations

import logging

import numpy as np

from elicitation import llm
from elicitation.llm import embeddings
from elicitation.models import Study
from moralgraph import selectors
from moralgraph.models import CardMapping

logger = logging.getLogger(__name__)


def unit(vector) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


class ClusterIndex:
    """The members of a study's active values and their vectors, in memory for a pass.

    A member is a card mapped to the value, or the value itself when no card of it has
    a vector (an imported value). Candidates for a new card are the values of its most
    similar members, each value represented by its member nearest to the card: with
    union-find semantics a card that duplicates any member duplicates the value, and
    the nearest member is the one most likely to be a paraphrase.

    Kept in step with our own writes; nobody else writes values while we hold the study
    lock, so it never goes stale within a pass.
    """

    def __init__(self, dimensions: int = embeddings.DIMENSIONS):
        self._members: list[tuple[str, int]] = []  # ("card", card id) or ("value", value id)
        self._matrix = np.zeros((256, dimensions), dtype=np.float32)
        self._root = np.zeros(256, dtype=np.int64)  # the active value a member counts toward
        self._alive = np.zeros(256, dtype=bool)
        self._rows: dict[tuple[str, int], int] = {}

    @classmethod
    def load(cls, study: Study) -> ClusterIndex:
        wording = ("title", "description", "policies")
        cards = list(
            CardMapping.objects.filter(
                undone_at=None,
                value__study=study,
                value__is_active=True,
                # A new card never joins a value a researcher hid (moderation).
                value__hidden_at=None,
                card__embedding_model=llm.embedding_model_name(),
            )
            .exclude(card__embedding=None)
            .order_by("card_id")
            .values_list("card_id", "value_id", "card__embedding", *(f"card__{f}" for f in wording))
            .iterator()
        )
        with_cards = {row[1] for row in cards}
        bare = [
            row
            for row in selectors.active_values(study)
            .filter(hidden_at=None)
            .exclude(embedding=None)
            .values_list("id", "id", "embedding", *wording)
            .iterator()
            if row[0] not in with_cards
        ]
        blobs = [row[2] for row in cards + bare]
        index = cls(embeddings.from_bytes(blobs[0]).shape[0] if blobs else embeddings.DIMENSIONS)
        for kind, rows in (("card", cards), ("value", bare)):
            for member_id, value_id, blob, title, description, policies in rows:
                index.add(
                    (kind, member_id),
                    value_id,
                    embeddings.from_bytes(blob),
                    title=title,
                    description=description,
                    policies=policies,
                )
        return index

    def __len__(self) -> int:
        return int(self._alive[: len(self._members)].sum())

    def add(self, member: tuple[str, int], value_id: int, vector, **_wording) -> int | None:
        """Index a member; returns its row, or None if its vector cannot be compared.
        (The wording is for subclasses that also index words: moralgraph.services.retrieval.)"""
        vector = unit(vector)
        if vector.shape[0] != self._matrix.shape[1]:
            if self._members:
                # Embedded by another model: findable only through its cards.
                logger.warning("%s %s has a vector of another size: not indexed", *member)
                return None
            self._matrix = np.zeros((self._matrix.shape[0], vector.shape[0]), dtype=np.float32)
        row = len(self._members)
        if row == self._matrix.shape[0]:
            self._matrix = np.vstack([self._matrix, np.zeros_like(self._matrix)])
            self._root = np.concatenate([self._root, np.zeros_like(self._root)])
            self._alive = np.concatenate([self._alive, np.zeros_like(self._alive)])
        self._members.append(member)
        self._matrix[row] = vector
        self._root[row] = value_id
        self._alive[row] = True
        self._rows[member] = row
        return row

    def drop(self, member: tuple[str, int]) -> None:
        """Forget a member (a card that was not placed after all)."""
        row = self._rows.pop(member, None)
        if row is not None:
            self._alive[row] = False

    def move(self, source_id: int, target_id: int) -> None:
        """A merge: every member of ``source_id`` now counts toward ``target_id``."""
        n = len(self._members)
        self._root[:n][self._root[:n] == source_id] = target_id

    def nearest(
        self, vector, *, k: int, threshold: float, per_value: int = 1
    ) -> list[tuple[int, tuple, float]]:
        """The members most similar to ``vector``, at or above ``threshold``: (value id,
        member, cosine), best first (ties: older member first), at most ``per_value``
        members of one value and ``k`` in all."""
        n = len(self._members)
        if n == 0 or k <= 0:
            return []
        query = unit(vector)
        if not query.any():
            return []
        sims = np.round(self._matrix[:n] @ query, 6)
        rows = np.flatnonzero(self._alive[:n] & (sims >= threshold))
        # Stable sort on -similarity keeps insertion (= age) order among ties.
        rows = rows[np.argsort(-sims[rows], kind="stable")]
        found: list[tuple[int, tuple, float]] = []
        seen: dict[int, int] = {}
        for row in rows:
            value_id = int(self._root[row])
            if seen.get(value_id, 0) < per_value:
                seen[value_id] = seen.get(value_id, 0) + 1
                found.append((value_id, self._members[row], float(sims[row])))
                if len(found) == k:
                    break
        return found
