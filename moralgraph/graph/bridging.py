"""How far an edge or a winner can be trusted beyond its share of the votes: the Wilson
interval of that share, and whether it holds across political groups (bridging)."""

from __future__ import annotations

import math
from collections.abc import Mapping


def group_bridging(
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
