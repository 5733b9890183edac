"""A typed, read-only view of a scored graph (the dict ``score`` returns, stored as a
GraphSnapshot's results), so that no reader parses the JSON on its own.

Both modes read as a list of scored contexts. The default mode has one per context; the
compat mode pools every context into one, ``POOLED``, whose edges are every pooled pair
(``kept`` or not) and whose winner is the top value by the reference's PageRank. Ids are
strings, as scoring writes them. Missing keys read as empty, so a snapshot written by an
older version still opens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

POOLED = "pooled"


@dataclass(frozen=True)
class GroupShare:
    group: str
    decisive: int
    share: float | None


@dataclass(frozen=True)
class Edge:
    """One compared pair, pointing at the side judged wiser (``to_id``)."""

    from_id: str
    to_id: str
    kept: bool
    share: float | None  # default: wiser share; compat: wiserLikelihood
    decisive: int
    counts: Mapping[str, int]
    interval: tuple[float, float] | None = None  # default only: Wilson interval of the share
    groups: tuple[GroupShare, ...] = ()
    bridging: float | None = None
    bridged: bool = False
    carried_by: tuple[str, ...] = ()
    entropy: float | None = None  # compat only
    contexts: tuple[str, ...] = ()  # compat only: the contexts pooled into the pair
    # default only: may it give a DPO pair (direction stable over resamples, enough
    # votes from enough people), and why not.
    dpo: bool = False
    dpo_stability: float | None = None
    dpo_reason: str = ""


@dataclass(frozen=True)
class Rank:
    value_id: str
    score: float  # PageRank (compat: the reference's pageRank)


@dataclass(frozen=True)
class Winner:
    value_id: str
    score: float
    margin: float | None  # PageRank lead over the runner-up
    wins: int = 0
    decisive: int = 0
    win_share: float | None = None
    interval: tuple[float, float] | None = None
    confidence: float | None = None  # the interval's lower bound
    groups: tuple[GroupShare, ...] = ()
    bridging: float | None = None
    bridged: bool = False
    carried_by: tuple[str, ...] = ()
    carried_by_one_group: bool = False
    # default only, from the pairwise model: the winner is its leader, whatever its
    # status; only a `confident` one is a winner to train on.
    strength: float | None = None
    strength_interval: tuple[float, float] | None = None
    probability: float | None = None  # winner probability over the resamples
    status: str = ""
    bridging_status: str = ""  # bridges | divides | unknown
    bridging_reason: str = ""

    @property
    def confident(self) -> bool:
        return self.status == "confident"


@dataclass(frozen=True)
class Strength:
    """A value's strength in a context (the pairwise model), its 95 % interval and winner
    probability."""

    value_id: str
    strength: float
    low: float
    high: float
    probability: float
    wins: int = 0
    losses: int = 0
    participants: int = 0


@dataclass(frozen=True)
class ScoredContext:
    context_id: str
    edges: tuple[Edge, ...]  # every pair compared here
    ranks: tuple[Rank, ...]  # best first
    winner: Winner | None
    # default only, from the pairwise model (empty in an older snapshot and in compat)
    status: str = ""  # confident | contested | insufficient
    reason: str = ""
    needed: int | None = None  # judgments still needed, estimated
    needed_text: str = ""
    strengths: tuple[Strength, ...] = ()
    challenger: str | None = None
    bridging: Mapping[str, Any] = field(default_factory=dict)
    pagerank_winner: str | None = None

    @property
    def confident_winner(self) -> Winner | None:
        """The winner only when its status is ``confident``: the one to train on."""
        return self.winner if self.winner is not None and self.status == "confident" else None

    @property
    def kept_edges(self) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.kept)

    def rank_of(self, value_id: str) -> int | None:
        """1 for the wisest; None when the value is not ranked here."""
        for i, rank in enumerate(self.ranks, start=1):
            if rank.value_id == value_id:
                return i
        return None


@dataclass(frozen=True)
class Standing:
    """One value in one context: its rank and its neighbours on kept edges."""

    context_id: str
    rank: int | None  # 1 for the wisest
    ranked: int  # how many values the context ranks
    winner_id: str | None
    wiser: tuple[str, ...]  # judged wiser than the value
    less_wise: tuple[str, ...]


@dataclass(frozen=True)
class Position:
    """Where one value sits in the whole graph: every context that ranks it (or has it on
    a kept edge, or as its winner)."""

    value_id: str
    standings: tuple[Standing, ...] = ()

    @property
    def wiser(self) -> list[str]:
        return sorted({v for s in self.standings for v in s.wiser})

    @property
    def less_wise(self) -> list[str]:
        return sorted({v for s in self.standings for v in s.less_wise})

    @property
    def contexts_won(self) -> list[str]:
        return [s.context_id for s in self.standings if s.winner_id == self.value_id]

    @property
    def placed(self) -> bool:
        return bool(self.standings)


@dataclass(frozen=True)
class AdaptiveState:
    """What adaptive elicitation keeps of one context at a scoring (default mode only):
    its status and winner then, how many scorings in a row it has been confident with that
    winner, whether that settles it, the bootstrap's top-two shares the draw samples
    from, and the pairs it wants judged (services.adaptive)."""

    context_id: str
    status: str = ""
    winner: str | None = None
    streak: int = 0
    settled: bool = False
    judgments: int = 0
    needed: int | None = None
    duels: tuple[tuple[str, str, float], ...] = ()
    wanted: tuple[tuple[str, str], ...] = ()


def _adaptive(results: Mapping) -> dict[str, AdaptiveState]:
    contexts = (results.get("adaptive") or {}).get("contexts") or {}
    return {
        str(context_id): AdaptiveState(
            context_id=str(context_id),
            status=data.get("status") or "",
            winner=data.get("winner"),
            streak=int(data.get("streak") or 0),
            settled=bool(data.get("settled")),
            judgments=int(data.get("judgments") or 0),
            needed=data.get("needed"),
            duels=tuple((str(a), str(b), float(w)) for a, b, w in data.get("duels") or ()),
            wanted=tuple((str(a), str(b)) for a, b in data.get("wanted") or ()),
        )
        for context_id, data in contexts.items()
    }


@dataclass(frozen=True)
class ScoredGraph:
    mode: str
    input_hash: str
    params: Mapping[str, Any]
    contexts: tuple[ScoredContext, ...] = ()
    # default only: {"edges", "agree", "share"} and the share of unlabelled judgments
    cross_group_agreement: Mapping[str, Any] = field(default_factory=dict)
    unlabelled_share: float | None = None
    # default only: per context id, what adaptive elicitation keeps (empty if older)
    adaptive: Mapping[str, AdaptiveState] = field(default_factory=dict)
    _by_id: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, results: Mapping[str, Any] | None) -> ScoredGraph:
        results = results or {}
        mode = results.get("mode", "default")
        contexts = _compat(results) if mode == "compat" else _default(results)
        return cls(
            mode=mode,
            input_hash=results.get("input_hash", ""),
            params=results.get("params") or {},
            contexts=contexts,
            cross_group_agreement=results.get("cross_group_agreement") or {},
            unlabelled_share=results.get("unlabelled_share"),
            adaptive=_adaptive(results),
            _by_id={c.context_id: c for c in contexts},
        )

    @property
    def pooled(self) -> bool:
        return self.mode == "compat"

    def context(self, context_id) -> ScoredContext | None:
        """A scored context by id; in compat mode every context reads as the pooled one."""
        if self.pooled:
            return self.contexts[0] if self.contexts else None
        return self._by_id.get(str(context_id))

    def winner_in(self, context_id) -> Winner | None:
        scored = self.context(context_id)
        return scored.winner if scored else None

    def position_of(self, value_id) -> Position:
        value_id = str(value_id)
        standings = []
        for scored in self.contexts:
            rank = scored.rank_of(value_id)
            kept = scored.kept_edges
            winner_id = scored.winner.value_id if scored.winner else None
            on_edge = any(value_id in (e.from_id, e.to_id) for e in kept)
            # Scoring ranks every value on a kept edge; a hand-made payload may not.
            if rank is None and not on_edge and winner_id != value_id:
                continue
            standings.append(
                Standing(
                    context_id=scored.context_id,
                    rank=rank,
                    ranked=len(scored.ranks),
                    winner_id=winner_id,
                    wiser=tuple(e.to_id for e in kept if e.from_id == value_id),
                    less_wise=tuple(e.from_id for e in kept if e.to_id == value_id),
                )
            )
        return Position(value_id=value_id, standings=tuple(standings))


def _groups(data: Mapping | None) -> tuple[GroupShare, ...]:
    return tuple(
        GroupShare(group=group, decisive=info.get("decisive", 0), share=info.get("wiser_share"))
        for group, info in sorted((data or {}).items())
    )


def _interval(data) -> tuple[float, float] | None:
    return (data[0], data[1]) if data else None


def _default(results: Mapping) -> tuple[ScoredContext, ...]:
    contexts = []
    for scored in results.get("contexts", []):
        edges = tuple(
            Edge(
                from_id=str(e["from_id"]),
                to_id=str(e["to_id"]),
                kept=bool(e.get("kept")),
                share=e.get("wiser_share"),
                decisive=e.get("decisive", 0),
                counts=e.get("counts") or {},
                interval=_interval(e.get("interval")),
                groups=_groups(e.get("groups")),
                bridging=e.get("bridging"),
                bridged=bool(e.get("bridged")),
                carried_by=tuple(e.get("carried_by") or ()),
                dpo=bool((e.get("dpo") or {}).get("kept")),
                dpo_stability=(e.get("dpo") or {}).get("stability"),
                dpo_reason=(e.get("dpo") or {}).get("reason", ""),
            )
            for e in scored.get("edges", [])
        )
        w = scored.get("winner")
        winner = None
        if w:
            winner = Winner(
                value_id=str(w["value_id"]),
                score=w.get("pagerank", 0.0),
                margin=w.get("margin"),
                wins=w.get("wins", 0),
                decisive=w.get("decisive", 0),
                win_share=w.get("win_share"),
                interval=_interval(w.get("interval")),
                confidence=w.get("confidence"),
                groups=_groups(w.get("groups")),
                bridging=w.get("bridging"),
                bridged=bool(w.get("bridged")),
                carried_by=tuple(w.get("carried_by") or ()),
                carried_by_one_group=bool(w.get("carried_by_one_group")),
                strength=w.get("strength"),
                strength_interval=_interval(w.get("strength_interval")),
                probability=w.get("winner_probability"),
                status=w.get("status", ""),
                bridging_status=w.get("bridging_status", ""),
                bridging_reason=w.get("bridging_reason", ""),
            )
        ranks = tuple(
            Rank(value_id=str(r["value_id"]), score=r.get("pagerank", 0.0))
            for r in scored.get("ranks", [])
        )
        needed = scored.get("needed") or {}
        contexts.append(
            ScoredContext(
                str(scored.get("context_id")),
                edges,
                ranks,
                winner,
                status=scored.get("status", ""),
                reason=scored.get("reason", ""),
                needed=needed.get("judgments"),
                needed_text=needed.get("text", ""),
                strengths=tuple(
                    Strength(
                        value_id=str(v["value_id"]),
                        strength=v["strength"],
                        low=v["low"],
                        high=v["high"],
                        probability=v["winner_probability"],
                        wins=v.get("wins", 0),
                        losses=v.get("losses", 0),
                        participants=v.get("participants", 0),
                    )
                    for v in scored.get("values", [])
                ),
                challenger=scored.get("challenger"),
                bridging=scored.get("bridging") or {},
                pagerank_winner=scored.get("pagerank_winner"),
            )
        )
    return tuple(contexts)


def _compat(results: Mapping) -> tuple[ScoredContext, ...]:
    # Every pooled pair when the snapshot has them; an older one has only the kept edges.
    pairs = results.get("all_pairs")
    if pairs is None:
        pairs = [{**e, "kept": True} for e in results.get("edges", [])]
    edges = tuple(
        Edge(
            from_id=str(e["sourceValueId"]),
            to_id=str(e["wiserValueId"]),
            kept=bool(e.get("kept")),
            share=(e.get("summary") or {}).get("wiserLikelihood"),
            decisive=(e.get("counts") or {}).get("markedWiser", 0)
            + (e.get("counts") or {}).get("markedNotWiser", 0),
            counts=e.get("counts") or {},
            entropy=(e.get("summary") or {}).get("entropy"),
            contexts=tuple(str(c) for c in e.get("contexts", [])),
        )
        for e in pairs
    )
    ranks = [
        Rank(value_id=str(v["id"]), score=v.get("pageRank") or 0.0)
        for v in results.get("values", [])
    ]
    ranks = tuple(sorted(ranks, key=lambda r: (-r.score, r.value_id)))
    winner = None
    if ranks:
        margin = ranks[0].score - ranks[1].score if len(ranks) > 1 else None
        winner = Winner(value_id=ranks[0].value_id, score=ranks[0].score, margin=margin)
    return (ScoredContext(POOLED, edges, ranks, winner),)
