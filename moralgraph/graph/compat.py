"""The reference's scoring, reproduced exactly (MGE.md, "Compatibility mode").

Quirks included, it gives::

    {"mode": "compat", "params": {...}, "input_hash": "<sha256 hex>",
     "edges": [                       # kept pairs only, in the reference's order (below)
        {"sourceValueId", "wiserValueId", "contexts": [first seen first],
         "counts": {"markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure",
                    "impressions"},
         "summary": {"wiserLikelihood", "entropy"}}, ...],
     "all_pairs": [...],              # every pooled ordered pair, same shape plus "kept": bool
     "values": [{"id", "pageRank"}, ...]}   # values on kept edges, sorted by id

Order matters in this mode, so that a file diffs line by line against the reference's:
pairs come in the order the reference's pair map first met them (a pass over the
judgments in their given order for the judged pairs, then a second pass for the reverse
pairs), and each pair's contexts in the order first seen. The caller gives the judgments
in the reference's order (imported studies: the dump's order; native ones: creation
order), and the input hash of this mode covers that order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from moralgraph.graph.pagerank import reference_pagerank
from moralgraph.graph.types import COMPAT_PARAMS, Judgment, input_hash, merge_params

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
    p = merge_params(COMPAT_PARAMS, params)

    # Dicts keep insertion order: the pairs' and contexts' first-seen order.
    counts: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    contexts: defaultdict[tuple[str, str], dict[str, None]] = defaultdict(dict)
    for j in judgments:
        forward = (j.from_id, j.to_id)
        tally = counts[forward]
        tally[_COMPAT_VERDICT_SLOT[j.verdict]] += 1
        tally[_IMPRESSIONS] += 1
        contexts[forward].setdefault(j.context_id)
    for j in judgments:
        # The reference also credits the reverse pair with the impression, and an upgrade of
        # A to B marks A as less wise than B; in a second pass, which orders new pairs.
        reverse = (j.to_id, j.from_id)
        tally = counts[reverse]
        tally[_IMPRESSIONS] += 1
        if j.verdict == "upgrade":
            tally[_LESS_WISE] += 1
        contexts[reverse].setdefault(j.context_id)

    all_pairs = []
    kept_edges = []
    for key in counts:
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
            "contexts": list(contexts[key]),
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
