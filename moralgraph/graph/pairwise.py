"""Per-context pairwise model of wiser judgments: strengths, their uncertainty, the leader.

The model (README: "Default scoring"). Within one context, each value has a strength s,
and a participant judging a story between values A and B prefers B with probability
1 / (1 + exp(-(s_B - s_A))) (Bradley–Terry / Luce). An ``upgrade`` vote on the story
A -> B is a win of B over A, a ``no_upgrade`` vote a win of A over B; ``not_sure`` is an
abstention, counted but evidence for neither side. Both directions of a story fold into
one comparison, since the journey shows each story both ways to cancel framing.

The prior, and why. Strengths are fitted as the maximum a posteriori estimate under a
Gaussian prior N(0, 1 / (2 * prior)) on each strength: a penalty ``prior * s ** 2`` (the
``alpha`` of ``choix.opt_pairwise``). Without it, a value with one win and no loss has an
infinite strength and tops its context; with it, a value must win repeatedly, against
values that win too, to lead. At the default ``prior`` = 0.5 (a standard normal prior,
the spread of strengths we expect between values in one context) one win moves a pair
to 0.66 / 0.34, four wins out of four to 0.81 / 0.19, and ten of ten to 0.89 / 0.11.
A prior rather than virtual ties: it also gives values that are never compared a strength
(0, the context's average), and keeps the fit unique and fast on a sparse comparison graph
(a context's mean strength is 0 on each connected part of it). In the calibration
simulation (calibration.py) a prior of 1.0 or 0.25 called winners no more reliably than
0.5 and settled contexts more slowly.

Uncertainty. The bootstrap (bootstrap.py) refits the model on ``resamples`` replicates
that reweight the context's participants; each value gets a 95 % interval (2.5 / 97.5
percentiles of its replicate strengths) and a **winner probability**: the share of
replicates where it has the highest strength. The **leader** is the value with the
highest strength in the full fit; whether it is a trustworthy winner is status.py's call,
at the defaults of PairwiseParams, tuned in calibration.py (winner probability >= 0.99).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moralgraph.graph import bootstrap
from moralgraph.graph.bradley_terry import fit_strengths
from moralgraph.graph.votes import ContextVotes, JudgmentLike, context_votes


@dataclass(frozen=True)
class PairwiseParams:
    """The settings of the pairwise model, its statuses, bridging and DPO edges."""

    # Gaussian prior on strengths: penalty prior * s**2 (choix's alpha).
    prior: float = 0.5
    resamples: int = 200
    # confident: winner probability at least this (0.8 called near-ties; calibration.py) ...
    confident_probability: float = 0.99
    # ... and in that share of resamples it leads every other value by at least this much
    # strength (0.1: a 52.5 / 47.5 head-to-head; a smaller lead is a tie worth no training
    # target, and without it a draw that keeps asking about a near-tie ends up calling it;
    # calibration.py, bench/adaptive.py) ...
    min_lead: float = 0.1
    # ... at least this many decisive votes involve the winner, from this many people ...
    min_winner_votes: int = 10
    min_winner_participants: int = 5
    # ... and it loses no head-to-head that has at least this many decisive votes.
    min_head_to_head_votes: int = 3
    # contested: a second value has at least this winner probability.
    challenger_probability: float = 0.2
    # Bridging: a group counts with this many decisive votes on the winner's head-to-heads.
    min_group_votes: int = 10
    # DPO: an edge's direction holds in this share of resamples, with enough votes and people.
    dpo_stability: float = 0.8
    dpo_min_votes: int = 5
    dpo_min_participants: int = 3

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> PairwiseParams:
        """Build from a study's settings; unknown names are an error, not ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(mapping or {}) - names)
        if unknown:
            raise ValueError(f"unknown pairwise parameters: {unknown}")
        return cls(**dict(mapping or {}))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ValueFit:
    """A value's strength in a context, its 95 % interval and its winner probability."""

    value_id: str
    strength: float
    low: float
    high: float
    winner_probability: float
    wins: int  # decisive votes for it, on any comparison in the context
    losses: int
    participants: int  # distinct people with a decisive vote on a comparison involving it

    @property
    def decisive(self) -> int:
        return self.wins + self.losses


@dataclass(frozen=True)
class PairFit:
    """One compared pair (value_a < value_b by id) and its votes, folded over directions."""

    value_a: str
    value_b: str
    wins_a: int
    wins_b: int
    not_sure: int
    participants: int  # distinct people with a decisive vote on it
    a_ahead: float  # share of resamples where a has strictly more (weighted) votes than b
    b_ahead: float

    @property
    def decisive(self) -> int:
        return self.wins_a + self.wins_b


@dataclass(frozen=True)
class ContextFit:
    """The pairwise model's result for one context (see the module docstring)."""

    context_id: str
    input_hash: str
    seed: int
    resamples: int
    judgments: int
    decisive: int
    participants: int
    values: tuple[ValueFit, ...]  # sorted by value id, the columns of `replicates`
    pairs: tuple[PairFit, ...]  # sorted by (value_a, value_b)
    leader: str | None  # highest strength; None without a decisive vote
    # (resamples, values) replicate strengths; None in a fit restored from a snapshot,
    # which keeps what is read from them instead (the two fields below).
    replicates: np.ndarray | None = field(default=None, repr=False, compare=False)
    # Share of replicates where the leader leads every other value by params.min_lead.
    lead_probability: float | None = None
    # Per value (as `values`): the spread (sd over replicates) of the leader's strength
    # minus this value's; 0 for the leader. status.py's estimate of judgments needed.
    gap_spread: tuple[float, ...] = ()
    # (top, second, share): how often two values are a replicate's top two (by value id,
    # top first); the adaptive draw's pair weights (adaptive.py).
    duels: tuple[tuple[str, str, float], ...] = ()

    def value(self, value_id: str) -> ValueFit:
        return self.values[self._index()[value_id]]

    def _index(self) -> dict[str, int]:
        return {v.value_id: n for n, v in enumerate(self.values)}

    @property
    def leader_probability(self) -> float | None:
        return None if self.leader is None else self.value(self.leader).winner_probability

    def head_to_heads(self, value_id: str) -> list[tuple[str, int, int, int]]:
        """Return (other value, votes for value_id, votes for other, people) per pair."""
        rows = []
        for pair in self.pairs:
            if pair.value_a == value_id:
                rows.append((pair.value_b, pair.wins_a, pair.wins_b, pair.participants))
            elif pair.value_b == value_id:
                rows.append((pair.value_a, pair.wins_b, pair.wins_a, pair.participants))
        return rows


def fit_context(
    votes: ContextVotes,
    *,
    study_seed: int,
    params: PairwiseParams | None = None,
    input_hash: str | None = None,
) -> ContextFit:
    """Fit a context's strengths and bootstrap them over its participants.

    ``input_hash`` may pass context_input_hash(votes, ...) when the caller has it already.
    """
    params = params or PairwiseParams()
    if input_hash is None:
        input_hash = context_input_hash(votes, study_seed=study_seed, params=params)
    n = len(votes.value_ids)
    point = fit_strengths(
        n, votes.pair_i, votes.pair_j, votes.wins_i, votes.wins_j, prior=params.prior
    )[0]
    seed = bootstrap.context_seed(study_seed, votes.context_id)
    weights = bootstrap.poisson_weights(seed, votes.participant_keys, params.resamples)
    wins_i = np.asarray((votes.by_participant_i.T @ weights.T).T)
    wins_j = np.asarray((votes.by_participant_j.T @ weights.T).T)
    replicates = fit_strengths(
        n, votes.pair_i, votes.pair_j, wins_i, wins_j, prior=params.prior, init=point
    )
    shares = bootstrap.winner_shares(replicates)
    low, high = np.percentile(replicates, [2.5, 97.5], axis=0) if n else (np.zeros(0), np.zeros(0))
    a_ahead = bootstrap.direction_shares(wins_i, wins_j)
    b_ahead = bootstrap.direction_shares(wins_j, wins_i)
    wins = np.bincount(votes.pair_i, votes.wins_i, n) + np.bincount(votes.pair_j, votes.wins_j, n)
    losses = np.bincount(votes.pair_i, votes.wins_j, n) + np.bincount(votes.pair_j, votes.wins_i, n)
    values = tuple(
        ValueFit(
            value_id=value_id,
            strength=float(point[k]),
            low=float(low[k]),
            high=float(high[k]),
            winner_probability=float(shares[k]),
            wins=int(wins[k]),
            losses=int(losses[k]),
            participants=int(votes.value_participants[k]),
        )
        for k, value_id in enumerate(votes.value_ids)
    )
    ids = votes.value_ids
    pairs = tuple(
        PairFit(
            value_a=ids[votes.pair_i[k]],
            value_b=ids[votes.pair_j[k]],
            wins_a=int(votes.wins_i[k]),
            wins_b=int(votes.wins_j[k]),
            not_sure=int(votes.not_sure[k]),
            participants=int(votes.pair_participants[k]),
            a_ahead=float(a_ahead[k]),
            b_ahead=float(b_ahead[k]),
        )
        for k in range(len(votes.pair_i))
    )
    leader = _leader(values) if votes.decisive else None
    return ContextFit(
        context_id=votes.context_id,
        input_hash=input_hash,
        seed=seed,
        resamples=params.resamples,
        judgments=votes.judgments,
        decisive=votes.decisive,
        participants=len(votes.participant_ids),
        values=values,
        pairs=tuple(sorted(pairs, key=lambda p: (p.value_a, p.value_b))),
        leader=leader,
        replicates=replicates,
        lead_probability=_lead_share(replicates, ids.index(leader), params.min_lead)
        if leader
        else None,
        gap_spread=_gap_spread(replicates, ids.index(leader) if leader else None),
        duels=tuple((ids[a], ids[b], share) for a, b, share in bootstrap.top_two(replicates))
        if leader
        else (),
    )


def _lead_share(replicates: np.ndarray, leader: int, min_lead: float) -> float:
    if replicates.shape[1] < 2:
        return 1.0
    others = np.delete(replicates, leader, axis=1).max(axis=1)
    return float((replicates[:, leader] - others >= min_lead - bootstrap.TIE_TOLERANCE).mean())


def _gap_spread(replicates: np.ndarray, leader: int | None) -> tuple[float, ...]:
    if leader is None:
        return tuple(0.0 for _ in range(replicates.shape[1]))
    gaps = replicates[:, [leader]] - replicates
    return tuple(float(np.std(gaps[:, k])) for k in range(replicates.shape[1]))


def _leader(values: tuple[ValueFit, ...]) -> str | None:
    # Highest strength; exact ties go to the likelier winner, then the smaller id.
    best = min(values, key=lambda v: (-round(v.strength, 9), -v.winner_probability, v.value_id))
    return best.value_id


def context_input_hash(votes: ContextVotes, *, study_seed: int, params: PairwiseParams) -> str:
    """Hash of what a context's fit depends on: refit a context only when this changes.

    Covers the context id, the study seed, the model's prior, resamples and minimum lead, the
    judgments (value, value, vote, participant), independent of their order. Groups and
    status settings are not in it: they are applied to a fit, cheaply, on every scoring.
    """
    digest = hashlib.sha256()
    head = f"{votes.context_id}|{study_seed}|{params.prior!r}|{params.resamples}"
    if params.min_lead:
        head += f"|{params.min_lead!r}"  # the lead share is read from the replicates
    digest.update(head.encode())
    ids, people = votes.value_ids, votes.participant_ids
    for name in ("by_participant_i", "by_participant_j"):
        matrix = getattr(votes, name).tocoo()
        pair = np.asarray(matrix.col)
        rows = sorted(
            f"{ids[votes.pair_i[k]]}|{ids[votes.pair_j[k]]}|{people[p]}|{int(c)}"
            for p, k, c in zip(matrix.row, pair, matrix.data, strict=True)
        )
        digest.update(f"\n{name}\n".encode() + "\n".join(rows).encode())
    digest.update(b"\nnot_sure\n")
    digest.update(
        "\n".join(
            f"{ids[votes.pair_i[k]]}|{ids[votes.pair_j[k]]}|{int(votes.not_sure[k])}"
            for k in range(len(votes.pair_i))
        ).encode()
    )
    return digest.hexdigest()


def score_contexts(
    judgments: Iterable[JudgmentLike],
    *,
    study_seed: int,
    params: PairwiseParams | None = None,
    previous: Mapping[str, ContextFit] | None = None,
) -> dict[str, ContextFit]:
    """Fit every context of a study; a context whose input hash is unchanged from
    ``previous`` (context id -> fit) keeps its previous fit instead of being refitted."""
    params = params or PairwiseParams()
    by_context: dict[str, list[JudgmentLike]] = {}
    for judgment in judgments:
        by_context.setdefault(str(judgment.context_id), []).append(judgment)
    fits = {}
    for context_id in sorted(by_context):
        votes = context_votes(by_context[context_id], context_id)
        digest = context_input_hash(votes, study_seed=study_seed, params=params)
        old = (previous or {}).get(context_id)
        if old is not None and old.input_hash == digest:
            fits[context_id] = old
        else:
            fits[context_id] = fit_context(
                votes, study_seed=study_seed, params=params, input_hash=digest
            )
    return fits


def as_plain(obj: Any) -> Any:
    """Turn this package's result dataclasses into JSON-ready dicts and lists.

    Replicate strengths are left out: a snapshot keeps what is read from them instead.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: as_plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.name != "replicates"
        }
    if isinstance(obj, tuple | list):
        return [as_plain(item) for item in obj]
    if isinstance(obj, dict):
        return {str(key): as_plain(item) for key, item in obj.items()}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def fit_from_plain(data: Mapping[str, Any]) -> ContextFit:
    """A ContextFit from ``as_plain(fit)`` (a snapshot's cache of fits), without replicates.

    Statuses, DPO edges and the adaptive draw need only what it keeps, so a worker that
    rescores a live study reuses the fits of unchanged contexts across processes.
    """
    fields = {f.name for f in dataclasses.fields(ContextFit)} - {"replicates"}
    plain = {k: v for k, v in data.items() if k in fields}
    plain["values"] = tuple(ValueFit(**v) for v in data["values"])
    plain["pairs"] = tuple(PairFit(**p) for p in data["pairs"])
    plain["gap_spread"] = tuple(data.get("gap_spread", ()))
    plain["duels"] = tuple((str(a), str(b), float(w)) for a, b, w in data.get("duels", ()))
    return ContextFit(**plain)
