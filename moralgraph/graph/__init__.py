"""Scoring a moral graph from wiser judgments: pure graph math, no Django, no ORM.

A wiser judgment says, for an upgrade hypothesis "B is wiser than A in context C", whether
one participant saw it as an upgrade (``upgrade``), not (``no_upgrade``) or could not tell
(``not_sure``). This module turns a bag of such judgments into a scored moral graph, in one
of two modes. Both return plain JSON-serialisable dicts (ints, floats, str, bool, None,
lists; no NaN, no numpy types) whose ordering depends only on the multiset of judgments, so
the same judgments in any order give the identical dict, stored and exported byte for byte.

``compat`` reproduces the reference implementation's published graph exactly (MGE.md,
"Compatibility mode"), quirks included::

    {"mode": "compat", "params": {...}, "input_hash": "<sha256 hex>",
     "edges": [                       # kept pairs only, sorted by (sourceValueId, wiserValueId)
        {"sourceValueId", "wiserValueId", "contexts": [sorted],
         "counts": {"markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure",
                    "impressions"},
         "summary": {"wiserLikelihood", "entropy"}}, ...],
     "all_pairs": [...],              # every pooled ordered pair, same shape plus "kept": bool
     "values": [{"id", "pageRank"}, ...]}   # values on kept edges, sorted by id

``default`` is our scoring: per context, "not sure" as abstention, an uncertainty on every
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

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

VERDICTS = ("upgrade", "no_upgrade", "not_sure")
MODES = ("default", "compat")

COMPAT_PARAMS: dict[str, Any] = {
    "min_marked_wiser": 2,
    "min_wiser_likelihood": 0.33,
    "max_entropy": 1.69,
    "damping": 0.85,
    "rounds": 100,
}

DEFAULT_PARAMS: dict[str, Any] = {
    # An edge needs this many decisive (upgrade / no_upgrade) votes ...
    "min_votes": 2,
    # ... and this share of them for its wiser side.
    "min_wiser_share": 0.6,
    # Wilson score interval: 1.96 gives 95%.
    "wilson_z": 1.96,
    # A political group takes part in bridging with this many decisive votes.
    "min_group_votes": 2,
    "damping": 0.85,
    # Power iteration stops when the L1 change is below this, or after max_iter rounds.
    "pagerank_tol": 1e-12,
    "pagerank_max_iter": 1000,
}


@dataclass(frozen=True)
class Judgment:
    """One participant's verdict on "to_id is wiser than from_id in context_id"."""

    from_id: str
    to_id: str
    context_id: str
    verdict: str
    group: str | None = None
    participant_id: str | None = None

    def __post_init__(self) -> None:
        # Ids come as ints from the reference dumps and as UUIDs from the ORM; one type keeps
        # sorting and hashing stable across sources.
        for name in ("from_id", "to_id", "context_id"):
            value = getattr(self, name)
            if not isinstance(value, str):
                object.__setattr__(self, name, str(value))
        for name in ("group", "participant_id"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, name, str(value))
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {self.verdict!r}")


def _merge_params(defaults: Mapping[str, Any], params: Mapping[str, Any] | None) -> dict:
    merged = dict(defaults)
    if params:
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ValueError(f"unknown scoring parameters: {unknown}")
        merged.update(params)
    return merged


def input_hash(judgments: Iterable[Judgment], params: Mapping[str, Any], mode: str) -> str:
    """Return the sha256 hex digest of a scoring run's inputs.

    Independent of the judgments' order (it hashes their sorted canonical rows, duplicates
    kept), and covers the mode and the parameters after merging with the mode's defaults,
    so ``{}`` and the defaults hash alike.
    """
    merged = _merge_params(_defaults_for(mode), params)
    rows = sorted(
        _field(j.from_id)
        + _field(j.to_id)
        + _field(j.context_id)
        + _field(j.verdict)
        + _field(j.group)
        + _field(j.participant_id)
        for j in judgments
    )
    digest = hashlib.sha256()
    header = {"mode": mode, "params": merged}
    digest.update(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\n")
    digest.update("\n".join(rows).encode())
    return digest.hexdigest()


def _field(value: str | None) -> str:
    # Length-prefixed so that no id can run into the next one; a bare "-" is None. Cheaper to
    # build and sort than JSON rows, which cost as much as the scoring itself.
    return "-" if value is None else f"{len(value)}:{value}"


def _defaults_for(mode: str) -> dict[str, Any]:
    if mode == "compat":
        return COMPAT_PARAMS
    if mode == "default":
        return DEFAULT_PARAMS
    raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


def score(
    judgments: Iterable[Judgment], mode: str = "default", params: Mapping[str, Any] | None = None
) -> dict:
    """Score judgments in the given mode ("default" or "compat")."""
    if mode == "compat":
        return compat_score(judgments, params)
    if mode == "default":
        return default_score(judgments, params)
    raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


# --- Compatibility mode ---------------------------------------------------------------------

# Count slots in the reference's key order, which is also the order its entropy sums in.
_WISER, _NOT_WISER, _LESS_WISE, _UNSURE, _IMPRESSIONS = range(5)
_COMPAT_VERDICT_SLOT = {"upgrade": _WISER, "no_upgrade": _NOT_WISER, "not_sure": _UNSURE}


def compat_score(judgments: Iterable[Judgment], params: Mapping[str, Any] | None = None) -> dict:
    """Score as the reference did: pool ordered pairs across contexts, filter, PageRank.

    See MGE.md "Compatibility mode". The one departure: a wiserLikelihood with a zero
    denominator (a pair seen only as the reverse of no_upgrade / not_sure judgments) is 0
    here, where the reference produced NaN; such a pair has no markedWiser, so it is never
    kept either way.
    """
    judgments = list(judgments)
    p = _merge_params(COMPAT_PARAMS, params)

    counts: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    contexts: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for j in judgments:
        forward = (j.from_id, j.to_id)
        reverse = (j.to_id, j.from_id)
        tally = counts[forward]
        tally[_COMPAT_VERDICT_SLOT[j.verdict]] += 1
        tally[_IMPRESSIONS] += 1
        # The reference also credits the reverse pair with the impression, and an upgrade of
        # A to B marks A as less wise than B.
        tally = counts[reverse]
        tally[_IMPRESSIONS] += 1
        if j.verdict == "upgrade":
            tally[_LESS_WISE] += 1
        contexts[forward].add(j.context_id)
        contexts[reverse].add(j.context_id)

    all_pairs = []
    kept_edges = []
    for key in sorted(counts):
        c = counts[key]
        judged = c[_WISER] + c[_NOT_WISER] + c[_UNSURE] + c[_LESS_WISE]
        wiser_likelihood = (c[_WISER] - c[_LESS_WISE]) / judged if judged else 0.0
        entropy = _reference_entropy(c)
        kept = (
            c[_WISER] > 0
            and c[_WISER] >= p["min_marked_wiser"]
            and wiser_likelihood >= p["min_wiser_likelihood"]
            and entropy <= p["max_entropy"]
        )
        edge = {
            "sourceValueId": key[0],
            "wiserValueId": key[1],
            "contexts": sorted(contexts[key]),
            "counts": {
                "markedWiser": c[_WISER],
                "markedNotWiser": c[_NOT_WISER],
                "markedLessWise": c[_LESS_WISE],
                "markedUnsure": c[_UNSURE],
                "impressions": c[_IMPRESSIONS],
            },
            "summary": {"wiserLikelihood": float(wiser_likelihood), "entropy": float(entropy)},
        }
        all_pairs.append({**edge, "kept": kept})
        if kept:
            # Its own nested dicts, so that an exporter decorating one list leaves the other.
            kept_edges.append(
                {
                    **edge,
                    "contexts": list(edge["contexts"]),
                    "counts": dict(edge["counts"]),
                    "summary": dict(edge["summary"]),
                }
            )

    ranks = reference_pagerank(
        [
            (e["sourceValueId"], e["wiserValueId"], e["summary"]["wiserLikelihood"])
            for e in kept_edges
        ],
        damping=p["damping"],
        rounds=p["rounds"],
    )
    return {
        "mode": "compat",
        "params": p,
        "input_hash": input_hash(judgments, p, "compat"),
        "edges": kept_edges,
        "all_pairs": all_pairs,
        "values": [{"id": value_id, "pageRank": ranks[value_id]} for value_id in sorted(ranks)],
    }


def _reference_entropy(counts: list[int]) -> float:
    # Shannon entropy in bits of all five counts, impressions included: the reference's quirk.
    total = sum(counts)
    entropy = 0.0
    for count in counts:
        if count > 0:
            probability = count / total
            entropy -= probability * math.log2(probability)
    return entropy


def reference_pagerank(
    edges: list[tuple[str, str, float]], *, damping: float = 0.85, rounds: int = 100
) -> dict[str, float]:
    """Return the reference's weighted PageRank over (source, wiser, wiserLikelihood) edges.

    Every value on an edge starts at 1/N; each round sets it to (1 - damping)/N and adds,
    along each edge A -> B, damping * rank(A) * wL(A, B) / (sum of wL over A's edges). Rank
    held by values without outgoing edges is not redistributed, so ranks need not sum to 1.
    Each value's outgoing sum is computed once (the reference recomputed it per edge), and
    contributions are added in the order of ``edges`` so that results are reproducible.
    """
    if not edges:
        return {}
    nodes = sorted({e[0] for e in edges} | {e[1] for e in edges})
    index = {node: i for i, node in enumerate(nodes)}
    n = len(nodes)
    source = np.fromiter((index[e[0]] for e in edges), dtype=np.intp, count=len(edges))
    wiser = np.fromiter((index[e[1]] for e in edges), dtype=np.intp, count=len(edges))
    likelihood = np.fromiter((e[2] for e in edges), dtype=np.float64, count=len(edges))
    out_sum = np.zeros(n)
    np.add.at(out_sum, source, likelihood)
    out_sum_of_source = out_sum[source]

    rank = np.full(n, 1 / n)
    for _ in range(rounds):
        new_rank = np.full(n, (1 - damping) / n)
        # Same operation order as the reference, and np.add.at adds one edge at a time in
        # edge order, so this matches a plain loop to the last bit.
        np.add.at(new_rank, wiser, damping * rank[source] * likelihood / out_sum_of_source)
        rank = new_rank
    return {node: float(rank[i]) for node, i in index.items()}


# --- Default mode ---------------------------------------------------------------------------


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
    p = _merge_params(DEFAULT_PARAMS, params)

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
        bridging, bridged, carried_by = _bridging(groups, p["min_group_votes"])
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
    bridging, bridged, carried_by = _bridging(record_by_group, p["min_group_votes"])
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


def _bridging(
    groups: Mapping[str, tuple[int, int]], min_group_votes: int
) -> tuple[float | None, bool, list[str]]:
    """Return (bridging, bridged, carried_by) from {group: (wins, decisive)}."""
    shares = {g: w / n for g, (w, n) in groups.items() if n >= min_group_votes and n > 0}
    bridging = min(shares.values()) if shares else None
    bridged = len(shares) >= 2 and all(share >= 0.5 for share in shares.values())
    carried_by = [] if bridged else sorted(g for g, share in shares.items() if share >= 0.5)
    return bridging, bridged, carried_by


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Return the Wilson score interval of successes / n; (0, 1) when n is 0."""
    if n == 0:
        return (0.0, 1.0)
    share = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (share + z2 / (2 * n)) / denominator
    half_width = z * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / denominator
    # Clamp the rounding that can push a unanimous bound a hair past 0 or 1.
    return (max(0.0, centre - half_width), min(1.0, centre + half_width))


def weighted_pagerank(
    edges: list[tuple[str, str, float]],
    *,
    damping: float = 0.85,
    tol: float = 1e-12,
    max_iter: int = 1000,
) -> dict[str, float]:
    """Return PageRank over weighted (source, target, weight) edges, through networkx.

    ``nx.pagerank`` teleports uniformly and spreads the rank of dangling values (those
    with no outgoing kept edge) evenly, unlike the reference. Nodes and edges are added in
    sorted order so that the matrix networkx builds, hence every digit of the result, does
    not depend on the order judgments arrive in. Ranks sum to 1.
    """
    if not edges:
        return {}
    graph = nx.DiGraph()
    edges = sorted(edges)
    graph.add_nodes_from(sorted({e[0] for e in edges} | {e[1] for e in edges}))
    graph.add_weighted_edges_from(edges)
    # networkx's tolerance is per node; ours is on the whole L1 change.
    ranks = nx.pagerank(
        graph, alpha=damping, weight="weight", tol=tol / graph.number_of_nodes(), max_iter=max_iter
    )
    return {node: float(rank) for node, rank in ranks.items()}
