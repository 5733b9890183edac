"""What both scoring modes share: the judgment, the verdicts, each mode's parameters and
the hash of a run's inputs (which names the snapshot it gives)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


def merge_params(defaults: Mapping[str, Any], params: Mapping[str, Any] | None) -> dict:
    merged = dict(defaults)
    if params:
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ValueError(f"unknown scoring parameters: {unknown}")
        merged.update(params)
    return merged


def input_hash(judgments: Iterable[Judgment], params: Mapping[str, Any], mode: str) -> str:
    """Return the sha256 hex digest of a scoring run's inputs.

    Covers the mode and the parameters after merging with the mode's defaults, so ``{}``
    and the defaults hash alike, and every judgment (duplicates kept). Default scoring is
    independent of the judgments' order, so its hash sorts them; compat's output follows
    the reference's first-seen order, so its hash keeps the order given.
    """
    merged = merge_params(defaults_for(mode), params)
    rows = [
        _field(j.from_id)
        + _field(j.to_id)
        + _field(j.context_id)
        + _field(j.verdict)
        + _field(j.group)
        + _field(j.participant_id)
        for j in judgments
    ]
    if mode != "compat":
        rows.sort()
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


def defaults_for(mode: str) -> dict[str, Any]:
    if mode == "compat":
        return COMPAT_PARAMS
    if mode == "default":
        return DEFAULT_PARAMS
    raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
