"""One context's wiser judgments as arrays, ready for the pairwise model.

Values and participants are sorted by id, each unordered pair of values appears once, and
both directions of a story fold into it: an ``upgrade`` on A -> B is a vote for B, a
``no_upgrade`` a vote for A, ``not_sure`` an abstention (counted per pair, evidence for
neither). Each participant's votes per pair are kept apart (as sparse matrices) so that the
bootstrap can reweight people rather than judgments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy import sparse

from moralgraph.graph import bootstrap

_VERDICT_CODES = {"upgrade": 1, "no_upgrade": -1, "not_sure": 0}


class JudgmentLike(Protocol):
    """What a judgment needs here; ``moralgraph.graph.Judgment`` is one."""

    from_id: str
    to_id: str
    context_id: str
    verdict: str
    group: str | None
    participant_id: str | None


@dataclass(frozen=True, eq=False)
class ContextVotes:
    """One context's judgments as arrays: values and participants sorted by id."""

    context_id: str
    value_ids: tuple[str, ...]
    participant_ids: tuple[str, ...]
    judgments: int
    pair_i: np.ndarray  # (pairs,) index of the pair's first value, pair_i < pair_j
    pair_j: np.ndarray
    wins_i: np.ndarray  # (pairs,) decisive votes for pair_i's value
    wins_j: np.ndarray
    not_sure: np.ndarray
    pair_participants: np.ndarray  # (pairs,) distinct people with a decisive vote on it
    value_participants: np.ndarray  # (values,) distinct people with a decisive vote on it
    by_participant_i: sparse.csr_matrix  # (participants, pairs) each person's wins for i
    by_participant_j: sparse.csr_matrix
    participant_keys: np.ndarray = field(repr=False)

    @property
    def decisive(self) -> int:
        return int(self.wins_i.sum() + self.wins_j.sum())


def context_votes(judgments: Iterable[JudgmentLike], context_id: str | None = None) -> ContextVotes:
    """Compile one context's judgments (all with the same context) into ContextVotes.

    A judgment of a value against itself is left out. A judgment without a participant id
    counts as its own participant (anonymous rows cannot be resampled together).
    """
    rows = [
        (str(j.from_id), str(j.to_id), j.verdict, j.participant_id)
        for j in judgments
        if str(j.from_id) != str(j.to_id)
    ]
    if context_id is None:
        context_id = ""
    anonymous = sorted(r[:3] for r in rows if r[3] is None)
    named = [(f, t, v, str(p)) for f, t, v, p in rows if p is not None]
    # Number anonymous rows by their content, so the input order does not matter.
    named += [(f, t, v, f"anonymous:{n}") for n, (f, t, v) in enumerate(anonymous)]
    value_ids = tuple(sorted({r[0] for r in named} | {r[1] for r in named}))
    participant_ids = tuple(sorted({r[3] for r in named}))
    value_index = {v: n for n, v in enumerate(value_ids)}
    participant_index = {p: n for n, p in enumerate(participant_ids)}
    return votes_from_arrays(
        str(context_id),
        value_ids,
        participant_ids,
        np.array([value_index[r[0]] for r in named], dtype=np.intp),
        np.array([value_index[r[1]] for r in named], dtype=np.intp),
        np.array([_VERDICT_CODES[r[2]] for r in named], dtype=np.int8),
        np.array([participant_index[r[3]] for r in named], dtype=np.intp),
    )


def votes_from_arrays(
    context_id: str,
    value_ids: tuple[str, ...],
    participant_ids: tuple[str, ...],
    from_index: np.ndarray,
    to_index: np.ndarray,
    verdicts: np.ndarray,
    participant_index: np.ndarray,
    keys: np.ndarray | None = None,
) -> ContextVotes:
    """Compile judgments given as index arrays (verdicts: 1 upgrade, -1 no, 0 not sure).

    The fast path for simulations; ``keys`` may pass precomputed participant keys.
    """
    keep = from_index != to_index
    a, b, code, who = from_index[keep], to_index[keep], verdicts[keep], participant_index[keep]
    n, people = len(value_ids), len(participant_ids)
    low, high = np.minimum(a, b), np.maximum(a, b)
    winner = np.where(code == 1, b, a)
    side = np.where(code == 0, 0, np.where(winner == low, 1, -1))
    pair_codes, pair = np.unique(low * n + high, return_inverse=True)
    pairs = len(pair_codes)
    pair_i, pair_j = pair_codes // max(n, 1), pair_codes % max(n, 1)

    def per_pair(mask):
        return np.bincount(pair[mask], minlength=pairs)

    decisive = side != 0
    by_i = sparse.csr_matrix(
        (np.ones(int((side == 1).sum())), (who[side == 1], pair[side == 1])),
        shape=(people, pairs),
    )
    by_j = sparse.csr_matrix(
        (np.ones(int((side == -1).sum())), (who[side == -1], pair[side == -1])),
        shape=(people, pairs),
    )
    voters = np.unique(pair[decisive] * max(people, 1) + who[decisive]) // max(people, 1)
    touched = np.concatenate([low[decisive], high[decisive]]) * max(people, 1)
    touched = np.unique(touched + np.concatenate([who[decisive], who[decisive]]))
    return ContextVotes(
        context_id=context_id,
        value_ids=tuple(value_ids),
        participant_ids=tuple(participant_ids),
        judgments=int(keep.sum()),
        pair_i=pair_i.astype(np.intp),
        pair_j=pair_j.astype(np.intp),
        wins_i=per_pair(side == 1),
        wins_j=per_pair(side == -1),
        not_sure=per_pair(side == 0),
        pair_participants=np.bincount(voters, minlength=pairs),
        value_participants=np.bincount(touched // max(people, 1), minlength=n),
        by_participant_i=by_i,
        by_participant_j=by_j,
        participant_keys=bootstrap.participant_keys(participant_ids) if keys is None else keys,
    )
