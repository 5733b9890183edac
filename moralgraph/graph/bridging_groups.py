"""Bridging over study-defined groups: does a context's winner hold within each group?

The study names its groups (e.g. "democrat" and "republican" from a political
affiliation item); a judgment whose group is None or not one of them (independents,
"other", "prefer not to say", a missing or expired answer) is *unlabelled*: it counts in
the pooled fit but never forms a group of its own, and its share is reported.

Per group, the winner's head-to-heads are pooled: every decisive vote by the group's
members on a comparison involving the winner is a win or a loss for it. A group has
enough data with ``min_group_votes`` such votes (default 10: a 1–1 split says nothing);
with enough, the winner *holds* there when it wins more than it loses (a tie does not
hold). The result:

- ``bridges``: it holds in every group, and every group has enough data;
- ``divides``: it fails in some group that has enough data (which ones are named);
- ``unknown``: no group fails, but some group lacks data (which, and how many more votes).

Cross-group agreement: over the compared pairs (per context) that have ``min_group_votes``
decisive votes in every group, the share where all groups' majorities point the same way
(a group split evenly has no majority, so it does not agree).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from moralgraph.graph.votes import JudgmentLike

BRIDGES, DIVIDES, UNKNOWN = "bridges", "divides", "unknown"


@dataclass(frozen=True)
class GroupRecord:
    group: str
    wins: int
    losses: int
    holds: bool | None  # None: not enough decisive votes in this group
    missing: int  # decisive votes still needed to reach the minimum; 0 with enough

    @property
    def decisive(self) -> int:
        return self.wins + self.losses


@dataclass(frozen=True)
class Bridging:
    status: str  # bridges | divides | unknown
    winner: str | None
    groups: tuple[GroupRecord, ...]  # in the study's order of groups
    divides_in: tuple[str, ...]
    unknown_in: tuple[str, ...]
    judgments: int
    unlabelled: int
    unlabelled_share: float | None
    reason: str


@dataclass(frozen=True)
class Agreement:
    edges: int  # pairs with enough votes in every group
    agree: int
    share: float | None


def _decisive_winner(judgment: JudgmentLike) -> str | None:
    if judgment.verdict == "upgrade":
        return str(judgment.to_id)
    if judgment.verdict == "no_upgrade":
        return str(judgment.from_id)
    return None


def _label(judgment: JudgmentLike, groups: frozenset[str]) -> str | None:
    group = judgment.group
    return group if group is not None and str(group) in groups else None


def winner_bridging(
    judgments: Iterable[JudgmentLike],
    winner: str | None,
    groups: Sequence[str],
    *,
    min_group_votes: int = 10,
) -> Bridging:
    """Bridging of a context's winner over the study's groups, from the context's judgments."""
    labels = frozenset(str(g) for g in groups)
    records = {str(g): [0, 0] for g in groups}
    total = unlabelled = 0
    for judgment in judgments:
        if str(judgment.from_id) == str(judgment.to_id):
            continue
        total += 1
        group = _label(judgment, labels)
        if group is None:
            unlabelled += 1
            continue
        side = _decisive_winner(judgment)
        if (
            winner is None
            or side is None
            or winner not in (str(judgment.from_id), str(judgment.to_id))
        ):
            continue
        records[str(group)][0 if side == winner else 1] += 1
    rows = tuple(
        GroupRecord(
            group=g,
            wins=w,
            losses=lost,
            holds=(w > lost) if w + lost >= min_group_votes else None,
            missing=max(min_group_votes - w - lost, 0),
        )
        for g, (w, lost) in records.items()
    )
    divides_in = tuple(r.group for r in rows if r.holds is False)
    unknown_in = tuple(r.group for r in rows if r.holds is None)
    if winner is None:
        status, reason = UNKNOWN, "no winner to test"
    elif not rows:
        status, reason = UNKNOWN, "the study defines no groups"
    elif divides_in:
        status = DIVIDES
        reason = "fails among " + ", ".join(
            f"{r.group} ({r.wins}–{r.losses})" for r in rows if r.holds is False
        )
    elif unknown_in:
        status = UNKNOWN
        reason = "not enough votes among " + ", ".join(
            f"{r.group} ({r.decisive} of {min_group_votes}, needs {r.missing} more)"
            for r in rows
            if r.holds is None
        )
    else:
        status = BRIDGES
        reason = "holds in every group: " + ", ".join(
            f"{r.group} {r.wins}–{r.losses}" for r in rows
        )
    return Bridging(
        status=status,
        winner=winner,
        groups=rows,
        divides_in=divides_in,
        unknown_in=unknown_in,
        judgments=total,
        unlabelled=unlabelled,
        unlabelled_share=unlabelled / total if total else None,
        reason=reason,
    )


def cross_group_agreement(
    judgments: Iterable[JudgmentLike], groups: Sequence[str], *, min_group_votes: int = 10
) -> Agreement:
    """Share of well-judged pairs (per context) on which every group's majority agrees."""
    labels = frozenset(str(g) for g in groups)
    # (context, low id, high id) -> group -> [votes for low, votes for high]
    votes: dict[tuple[str, str, str], dict[str, list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0])
    )
    for judgment in judgments:
        group = _label(judgment, labels)
        side = _decisive_winner(judgment)
        a, b = str(judgment.from_id), str(judgment.to_id)
        if group is None or side is None or a == b:
            continue
        low, high = min(a, b), max(a, b)
        votes[(str(judgment.context_id), low, high)][str(group)][0 if side == low else 1] += 1
    edges = agree = 0
    if len(labels) >= 2:
        for per_group in votes.values():
            counts = [per_group.get(g, [0, 0]) for g in labels]
            if any(sum(c) < min_group_votes for c in counts):
                continue
            edges += 1
            majorities = {(c[1] > c[0]) - (c[1] < c[0]) for c in counts}
            agree += majorities in ({1}, {-1})
    return Agreement(edges=edges, agree=agree, share=agree / edges if edges else None)
