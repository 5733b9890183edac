"""Our scoring, per context, with uncertainty and bridging.

Per context, "not sure" as abstention, an uncertainty on every
edge and winner, a PageRank that handles dangling values, and bridging across political
groups::

    {"mode": "default", "params": {...}, "input_hash": "<sha256 hex>",
     "contexts": [                    # sorted by context_id
        {"context_id",
         "edges": [                   # every compared pair, sorted by (from_id, to_id)
            {"from_id", "to_id",      # oriented toward the side that won more votes
             "counts": {"upgrade", "no_upgrade", "not_sure"},   # votes for to_id / for from_id
             "by_direction": {"forward": {...}, "reverse": {...}},  # raw verdicts as shown
             "decisive", "wiser_share": float | None, "interval": [lo, hi], "kept",
             "groups": {group: {"decisive", "wiser_share"}},     # sorted by group
             "bridging": float | None, "bridged": bool, "carried_by": [groups]}, ...],
         "ranks": [{"value_id", "pagerank"}, ...],   # sorted by (-pagerank, value_id)
         "winner": {"value_id", "pagerank", "margin", "wins", "decisive", "win_share",
                    "interval", "confidence", "groups", "bridging", "bridged", "carried_by",
                    "carried_by_one_group"} | None}, ...],
     "values": [{"id", "contexts_won": [sorted], "best_pagerank": float | None}, ...]}

How the default mode reads the judgments (the knobs are in ``DEFAULT_PARAMS``):

- Judgments are scored per context; both directions of a pair fold into one comparison,
  because the journey shows each story both ways to cancel framing. A decisive judgment is
  a vote for one side: ``upgrade`` for the hypothesis's wiser candidate, ``no_upgrade`` for
  its source (the value the participant would keep). ``not_sure`` is an abstention: it is
  counted but is evidence for neither side. A judgment of a value against itself carries no
  information and is skipped.
- Each comparison is reported as an edge from the side with fewer votes to the side with
  more (on a tie, from the smaller id to the larger). ``wiser_share`` = votes for ``to_id``
  / decisive votes (None with no decisive vote); ``interval`` is its Wilson score interval
  (``wilson_z``, 1.96 for 95%; [0, 1] with no decisive vote).
- An edge is kept when decisive >= ``min_votes`` and wiser_share >= ``min_wiser_share``.
  We do not demand a Wilson lower bound above 0.5: that takes four unanimous votes, which
  few pairs get in a study of the paper's size. The lower bound weighs the edge instead.
- Bridging: per political group (judgments with no group count in the pooled figures
  only), decisive votes and wiser share. A group qualifies with >= ``min_group_votes``
  decisive votes. ``bridging`` = the lowest share among qualifying groups (None if none
  qualifies); ``bridged`` = at least two groups qualify and each has share >= 0.5;
  ``carried_by`` = when not bridged, the qualifying groups with share >= 0.5 (empty when
  bridged, so a non-empty list is a warning).
- PageRank per context over the values on kept edges, a kept edge A -> B (B wiser) weighted
  by its Wilson lower bound, so a thinly judged edge moves less rank. The rank of values
  with no wiser neighbour (dangling) is spread over all values, as networkx does.
- The winner is the top value by PageRank. Its confidence is its head-to-head record in the
  context: over every decisive vote on a comparison involving it, ``wins`` are the votes for
  it, ``win_share`` their share, ``interval`` the Wilson interval and ``confidence`` its
  lower bound; ``margin`` is its PageRank lead over the runner-up. Bridging for the winner
  is the same rule as for edges, applied to that record per group: a comparison it lost or
  that missed the keep threshold is evidence too. ``carried_by_one_group`` is True when it
  is not bridged and exactly one qualifying group carries it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from moralgraph.graph.bridging import group_bridging, wilson_interval
from moralgraph.graph.pagerank import weighted_pagerank
from moralgraph.graph.types import DEFAULT_PARAMS, VERDICTS, Judgment, input_hash, merge_params


class _Comparison:
    """Tally of one unordered pair (low, high) in one context, low < high."""

    __slots__ = ("votes", "not_sure", "shown", "groups")

    def __init__(self) -> None:
        self.votes = [0, 0]  # decisive votes for low, for high
        self.not_sure = 0
        # Raw verdict counts per direction shown: [low -> high, high -> low], each indexed
        # like VERDICTS.
        self.shown = [[0, 0, 0], [0, 0, 0]]
        self.groups: dict[str, list[int]] = {}  # group -> [votes for low, for high, not sure]


_VERDICT_SLOT = {verdict: i for i, verdict in enumerate(VERDICTS)}


def default_score(judgments: Iterable[Judgment], params: Mapping[str, Any] | None = None) -> dict:
    """Score per context with uncertainty and bridging; see the module docstring."""
    judgments = list(judgments)
    p = merge_params(DEFAULT_PARAMS, params)

    by_context: dict[str, dict[tuple[str, str], _Comparison]] = {}
    all_values: set[str] = set()
    for j in judgments:
        all_values.add(j.from_id)
        all_values.add(j.to_id)
        if j.from_id == j.to_id:
            continue
        shown_high_to_low = j.from_id > j.to_id
        key = (j.to_id, j.from_id) if shown_high_to_low else (j.from_id, j.to_id)
        comparisons = by_context.setdefault(j.context_id, {})
        comparison = comparisons.get(key)
        if comparison is None:
            comparison = comparisons[key] = _Comparison()
        comparison.shown[shown_high_to_low][_VERDICT_SLOT[j.verdict]] += 1
        if j.verdict == "not_sure":
            comparison.not_sure += 1
            side = 2
        else:
            # upgrade votes for the hypothesis's target, no_upgrade for its source.
            winner = j.to_id if j.verdict == "upgrade" else j.from_id
            side = int(winner == key[1])
            comparison.votes[side] += 1
        if j.group is not None:
            tally = comparison.groups.get(j.group)
            if tally is None:
                tally = comparison.groups[j.group] = [0, 0, 0]
            tally[side] += 1

    contexts = []
    won: dict[str, list[str]] = {}
    best: dict[str, float] = {}
    for context_id in sorted(by_context):
        scored = _score_context(context_id, by_context[context_id], p)
        contexts.append(scored)
        for entry in scored["ranks"]:
            value_id = entry["value_id"]
            best[value_id] = max(best.get(value_id, 0.0), entry["pagerank"])
        if scored["winner"] is not None:
            won.setdefault(scored["winner"]["value_id"], []).append(context_id)

    return {
        "mode": "default",
        "params": p,
        "input_hash": input_hash(judgments, p, "default"),
        "contexts": contexts,
        "values": [
            {"id": v, "contexts_won": won.get(v, []), "best_pagerank": best.get(v)}
            for v in sorted(all_values)
        ],
    }


def _score_context(
    context_id: str, comparisons: dict[tuple[str, str], _Comparison], p: Mapping[str, Any]
) -> dict:
    z = p["wilson_z"]
    edges = []
    for (low, high), comparison in comparisons.items():
        # Orient toward the side with more votes; `wiser` indexes it in (low, high).
        wiser = 1 if comparison.votes[1] >= comparison.votes[0] else 0
        from_id, to_id = (low, high) if wiser else (high, low)
        wins, losses = comparison.votes[wiser], comparison.votes[1 - wiser]
        decisive = wins + losses
        share = wins / decisive if decisive else None
        interval = wilson_interval(wins, decisive, z)
        groups = {
            group: (tally[wiser], tally[0] + tally[1])
            for group, tally in sorted(comparison.groups.items())
        }
        bridging, bridged, carried_by = group_bridging(groups, p["min_group_votes"])
        forward, reverse = comparison.shown if wiser else comparison.shown[::-1]
        edges.append(
            {
                "from_id": from_id,
                "to_id": to_id,
                "counts": {"upgrade": wins, "no_upgrade": losses, "not_sure": comparison.not_sure},
                "by_direction": {
                    "forward": dict(zip(VERDICTS, forward, strict=True)),
                    "reverse": dict(zip(VERDICTS, reverse, strict=True)),
                },
                "decisive": decisive,
                "wiser_share": share,
                "interval": list(interval),
                "kept": (
                    share is not None
                    and decisive >= p["min_votes"]
                    and share >= p["min_wiser_share"]
                ),
                "groups": {
                    group: {"decisive": n, "wiser_share": w / n if n else None}
                    for group, (w, n) in groups.items()
                },
                "bridging": bridging,
                "bridged": bridged,
                "carried_by": carried_by,
            }
        )
    edges.sort(key=lambda e: (e["from_id"], e["to_id"]))

    kept = [(e["from_id"], e["to_id"], e["interval"][0]) for e in edges if e["kept"]]
    pagerank = weighted_pagerank(
        kept, damping=p["damping"], tol=p["pagerank_tol"], max_iter=p["pagerank_max_iter"]
    )
    ranks = [
        {"value_id": v, "pagerank": r}
        for v, r in sorted(pagerank.items(), key=lambda item: (-item[1], item[0]))
    ]
    winner = _winner(ranks, comparisons, p) if ranks else None
    return {"context_id": context_id, "edges": edges, "ranks": ranks, "winner": winner}


def _winner(
    ranks: list[dict], comparisons: dict[tuple[str, str], _Comparison], p: Mapping[str, Any]
) -> dict:
    value_id = ranks[0]["value_id"]
    wins = decisive = 0
    groups: dict[str, list[int]] = {}
    for (low, high), comparison in comparisons.items():
        if value_id not in (low, high):
            continue
        side = int(value_id == high)
        wins += comparison.votes[side]
        decisive += comparison.votes[0] + comparison.votes[1]
        for group, tally in comparison.groups.items():
            record = groups.setdefault(group, [0, 0])
            record[0] += tally[side]
            record[1] += tally[0] + tally[1]
    record_by_group = {group: tuple(groups[group]) for group in sorted(groups)}
    bridging, bridged, carried_by = group_bridging(record_by_group, p["min_group_votes"])
    interval = wilson_interval(wins, decisive, p["wilson_z"])
    runner_up = ranks[1]["pagerank"] if len(ranks) > 1 else 0.0
    return {
        "value_id": value_id,
        "pagerank": ranks[0]["pagerank"],
        "margin": ranks[0]["pagerank"] - runner_up,
        "wins": wins,
        "decisive": decisive,
        "win_share": wins / decisive if decisive else None,
        "interval": list(interval),
        "confidence": interval[0],
        "groups": {
            group: {"decisive": n, "wiser_share": w / n if n else None}
            for group, (w, n) in record_by_group.items()
        },
        "bridging": bridging,
        "bridged": bridged,
        "carried_by": carried_by,
        "carried_by_one_group": not bridged and len(carried_by) == 1,
    }
