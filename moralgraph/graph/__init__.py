"""Scoring a moral graph from wiser judgments: pure graph math, no Django, no ORM.

A wiser judgment says, for an upgrade hypothesis "B is wiser than A in context C", whether
one participant saw it as an upgrade (``upgrade``), not (``no_upgrade``) or could not tell
(``not_sure``). ``score`` turns a bag of such judgments into a scored moral graph, in one
of two modes. Both return plain JSON-serialisable dicts (ints, floats, str, bool, None,
lists; no NaN, no numpy types) whose ordering depends only on the multiset of judgments, so
the same judgments in any order give the identical dict, stored and exported byte for byte.

- ``compat.py``: the reference's scoring, reproduced exactly, quirks included;
- ``default.py``: ours, per context, with uncertainty, dangling-safe PageRank and bridging;
- ``bridging.py``: the Wilson interval and the bridging rule both of those figures use;
- ``pagerank.py``: the two PageRanks; ``types.py``: the judgment, parameters, input hash;
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from moralgraph.graph.bridging import group_bridging, wilson_interval
from moralgraph.graph.compat import compat_score
from moralgraph.graph.default import default_score
from moralgraph.graph.pagerank import reference_pagerank, weighted_pagerank
from moralgraph.graph.types import (
    COMPAT_PARAMS,
    DEFAULT_PARAMS,
    MODES,
    VERDICTS,
    Judgment,
    input_hash,
)

__all__ = [
    "COMPAT_PARAMS",
    "DEFAULT_PARAMS",
    "MODES",
    "VERDICTS",
    "Judgment",
    "group_bridging",
    "compat_score",
    "default_score",
    "input_hash",
    "reference_pagerank",
    "score",
    "weighted_pagerank",
    "wilson_interval",
]


def score(
    judgments: Iterable[Judgment], mode: str = "default", params: Mapping[str, Any] | None = None
) -> dict:
    """Score judgments in the given mode ("default" or "compat")."""
    if mode == "compat":
        return compat_score(judgments, params)
    if mode == "default":
        return default_score(judgments, params)
    raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
