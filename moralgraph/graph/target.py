"""The default scoring's alignment target: the pairwise model's honest winners, per context.

``score_target`` runs the default scoring (default.py: edges, Wilson intervals, PageRank)
and lays the per-context pairwise model over it (pairwise.py, status.py,
bridging_groups.py). Per context it adds::

    "values": [{"value_id", "strength", "low", "high", "winner_probability", "wins",
                "losses", "participants"}, ...],            # sorted by value id
    "status", "reason", "needed": {"judgments", "pairs"}, "challenger",
    "challenger_probability", "pagerank_winner",
    "bridging": {"status", "groups": [{"group", "wins", "losses", "holds", "missing"}],
                 "divides_in", "unknown_in", "unlabelled", "unlabelled_share", "reason"}

and on every edge ``dpo`` ({"kept", "stability", "participants", "reason"}). The context's
``winner`` becomes the model's leader (the strongest value), whatever its status, with its
strength, interval, winner probability and status: only a ``confident`` one is a winner to
train on. PageRank stays as a secondary figure (``ranks``, ``winner.pagerank`` and
``pagerank_winner``, the PageRank top, which may differ). The study level adds
``cross_group_agreement`` and ``unlabelled_share``.

The input hash covers the judgments (groups included), the default parameters, the
study's seed, its groups and the pairwise settings. Fits are returned too, so that a caller
may pass them back as ``previous`` and refit only contexts whose judgments changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from moralgraph.graph.bridging import wilson_interval
from moralgraph.graph.bridging_groups import cross_group_agreement, winner_bridging
from moralgraph.graph.default import default_score
from moralgraph.graph.pairwise import ContextFit, PairwiseParams, as_plain, score_contexts
from moralgraph.graph.status import CONFIDENT, context_status, dpo_edges
from moralgraph.graph.types import Judgment


def score_target(
    judgments: Iterable[Judgment],
    *,
    study_seed: int,
    groups: Sequence[str] = (),
    pairwise: PairwiseParams | None = None,
    params: Mapping[str, Any] | None = None,
    previous: Mapping[str, ContextFit] | None = None,
) -> tuple[dict, dict[str, ContextFit]]:
    """Score judgments in the default mode with the pairwise model; see the module docstring."""
    judgments = list(judgments)
    pairwise = pairwise or PairwiseParams()
    groups = [str(g) for g in groups]
    result = default_score(judgments, params)
    fits = score_contexts(judgments, study_seed=study_seed, params=pairwise, previous=previous)
    by_context: dict[str, list[Judgment]] = {}
    for j in judgments:
        by_context.setdefault(j.context_id, []).append(j)
    total = unlabelled = 0
    for scored in result["contexts"]:
        context_id = scored["context_id"]
        fit = fits.get(context_id)
        if fit is None:
            continue
        bridging = _lay_over(scored, fit, by_context.get(context_id, []), groups, pairwise)
        total += bridging.judgments
        unlabelled += bridging.unlabelled
    agreement = cross_group_agreement(judgments, groups, min_group_votes=pairwise.min_group_votes)
    result["cross_group_agreement"] = as_plain(agreement)
    result["unlabelled_share"] = unlabelled / total if total else None
    result["groups"] = groups
    result["params"] = {**result["params"], "pairwise": dataclasses.asdict(pairwise)}
    result["study_seed"] = study_seed
    header = {
        "default": result["input_hash"],
        "study_seed": study_seed,
        "groups": groups,
        "pairwise": dataclasses.asdict(pairwise),
    }
    result["input_hash"] = hashlib.sha256(
        json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    _values_won(result)
    return result, fits


def _lay_over(scored: dict, fit: ContextFit, judgments, groups, pairwise: PairwiseParams):
    status = context_status(fit, pairwise)
    bridging = winner_bridging(
        judgments, status.winner, groups, min_group_votes=pairwise.min_group_votes
    )
    pagerank = {r["value_id"]: r["pagerank"] for r in scored["ranks"]}
    old = scored["winner"]
    scored["pagerank_winner"] = old["value_id"] if old else None
    scored["values"] = [as_plain(value) for value in fit.values]
    scored["status"] = status.status
    scored["reason"] = status.reason
    scored["needed"] = {
        "judgments": status.needed.judgments,
        "pairs": [list(p) for p in status.needed.pairs],
        "text": str(status.needed),
    }
    scored["challenger"] = status.challenger
    scored["challenger_probability"] = status.challenger_probability
    scored["bridging"] = {
        "status": bridging.status,
        "groups": [as_plain(r) for r in bridging.groups],
        "divides_in": list(bridging.divides_in),
        "unknown_in": list(bridging.unknown_in),
        "judgments": bridging.judgments,
        "unlabelled": bridging.unlabelled,
        "unlabelled_share": bridging.unlabelled_share,
        "reason": bridging.reason,
    }
    decisions = {frozenset((d.from_id, d.to_id)): d for d in dpo_edges(fit, pairwise)}
    for edge in scored["edges"]:
        d = decisions.get(frozenset((edge["from_id"], edge["to_id"])))
        edge["dpo"] = (
            {"kept": False, "stability": None, "participants": 0, "reason": "not fitted"}
            if d is None
            # A DPO pair is oriented like the edge unless the votes tie.
            else {
                "kept": d.kept and d.to_id == edge["to_id"],
                "stability": d.stability,
                "participants": d.participants,
                "reason": d.reason,
            }
        )
    scored["winner"] = _winner(fit, status, bridging, pagerank) if status.winner else None
    return bridging


def _winner(fit: ContextFit, status, bridging, pagerank: Mapping[str, float]) -> dict:
    value = fit.value(status.winner)
    wins, decisive = value.wins, value.decisive
    interval = wilson_interval(wins, decisive, 1.96)
    score = pagerank.get(value.value_id, 0.0)
    others = [r for v, r in pagerank.items() if v != value.value_id]
    holds = [r.group for r in bridging.groups if r.holds]
    shares = [r.wins / r.decisive for r in bridging.groups if r.holds is not None]
    return {
        "value_id": value.value_id,
        "pagerank": score,
        "margin": score - max(others) if others else None,
        "wins": wins,
        "decisive": decisive,
        "participants": status.participants,
        "win_share": wins / decisive if decisive else None,
        "interval": list(interval),
        "confidence": interval[0],
        "strength": value.strength,
        "strength_interval": [value.low, value.high],
        "winner_probability": value.winner_probability,
        "status": status.status,
        "confident": status.status == CONFIDENT,
        "groups": {
            r.group: {"decisive": r.decisive, "wiser_share": r.wins / r.decisive}
            for r in bridging.groups
            if r.decisive
        },
        # The lowest share among groups with enough votes (a secondary figure).
        "bridging": min(shares) if shares else None,
        "bridging_status": bridging.status,
        "bridging_reason": bridging.reason,
        "bridged": bridging.status == "bridges",
        "carried_by": [] if bridging.status == "bridges" else holds,
        "carried_by_one_group": bridging.status != "bridges" and len(holds) == 1,
    }


def _values_won(result: dict) -> None:
    won: dict[str, list[str]] = {}
    for scored in result["contexts"]:
        if scored.get("winner") and scored.get("status") == CONFIDENT:
            won.setdefault(scored["winner"]["value_id"], []).append(scored["context_id"])
    for value in result["values"]:
        value["contexts_won"] = won.get(value["id"], [])
