"""Benchmark moral-graph scoring on a synthetic study, and against a port of the reference.

Run from the repository root: ``.venv/bin/python bench/scoring.py``. No Django needed.

1. A synthetic study of 10,000 values and 200,000 wiser judgments over 20 contexts and 3
   political groups: wall time of default and compat scoring, and their peak Python memory
   (tracemalloc, in a second run so that tracing does not slow the timed one).
2. A straight port of the reference's summarizeGraph, whose PageRank scans every kept edge
   to find each edge's source's outgoing edges (100 rounds, so O(rounds * edges^2)), against
   our compat scoring on the same input. Study sizes double from small while the port's
   time, predicted from the last run as quadratic in kept edges, stays under the target;
   then one more run at the size between the last two predicted to take about 40 s. The
   largest size whose port finished within a minute is reported, with the port / compat
   time ratio and a check that both give the same kept edges and ranks to 1e-9.
3. ``stored_default``: bench/scoring_db.py's figures, the default scoring (pairwise model
   with bootstrap) of a study stored in PostgreSQL at 5,000 and 200,000 judgments, with
   the database read and the fit timed apart (BENCH_DATABASE_URL to point it elsewhere).

Progress goes to stdout; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# Runs as a script: make `moralgraph` importable without installing the project or Django.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moralgraph.graph import Judgment, compat_score, default_score  # noqa: E402

SEED = 20240521
FULL_VALUES = 10_000
FULL_JUDGMENTS = 200_000
CONTEXTS = 20
GROUPS = ("democrat", "republican", "independent")
PORT_BUDGET_SECONDS = 60.0
# Predictions are rough on a shared machine (the port slows a little more than quadratically
# as its working set outgrows the caches): run only what is predicted under the target, and
# aim the final run lower still.
PORT_TARGET_SECONDS = 50.0
PORT_AIM_SECONDS = 40.0
SMALLEST_SCALE = 1 / 128


def synthetic_study(n_values: int, n_judgments: int, seed: int = SEED) -> list[Judgment]:
    """Return judgments of a study with a latent wisdom per value and context.

    Each value belongs to one context, a fifth of them to a second. Within a context, values
    sit on a line (a stand-in for embedding distance) and hypotheses pair values at most
    three places apart, so pairs recur, as in the reference's draws. A participant judges
    three stories; the chance of "upgrade" grows with the latent wisdom gained, "not sure"
    is likelier between close values, and in a quarter of the contexts each political group
    sees the values through its own bias, so groups disagree there.
    """
    rng = np.random.default_rng(seed)
    home = rng.integers(0, CONTEXTS, n_values)
    second = (home + rng.integers(1, CONTEXTS, n_values)) % CONTEXTS
    has_second = rng.random(n_values) < 0.2
    wisdom = rng.normal(0.0, 1.0, (CONTEXTS, n_values))
    bias = np.zeros((len(GROUPS), CONTEXTS, n_values))
    polarised = CONTEXTS // 4
    bias[:, :polarised, :] = rng.normal(0.0, 1.0, (len(GROUPS), polarised, n_values))

    pair_context, pair_low, pair_high = [], [], []
    for context in range(CONTEXTS):
        members = np.flatnonzero((home == context) | (has_second & (second == context)))
        line = rng.permutation(members)
        for gap in (1, 2, 3):
            if len(line) > gap:
                pair_context.append(np.full(len(line) - gap, context))
                pair_low.append(line[:-gap])
                pair_high.append(line[gap:])
    contexts = np.concatenate(pair_context)
    lows = np.concatenate(pair_low)
    highs = np.concatenate(pair_high)

    drawn = rng.integers(0, len(contexts), n_judgments)
    flip = rng.random(n_judgments) < 0.5
    context = contexts[drawn]
    source = np.where(flip, highs[drawn], lows[drawn])
    target = np.where(flip, lows[drawn], highs[drawn])
    # Three judgments per participant; 5% of participants gave no political affiliation.
    participant = np.arange(n_judgments) // 3
    n_participants = int(participant[-1]) + 1
    participant_group = rng.integers(0, len(GROUPS), n_participants)
    participant_group[rng.random(n_participants) < 0.05] = -1
    group = participant_group[participant]

    gain = wisdom[context, target] - wisdom[context, source]
    grouped = group >= 0
    safe_group = np.where(grouped, group, 0)
    gain += np.where(
        grouped,
        bias[safe_group, context, target] - bias[safe_group, context, source],
        0.0,
    )
    p_not_sure = 0.1 + 0.25 * np.exp(-(gain**2))
    p_upgrade = (1 - p_not_sure) / (1 + np.exp(-2.0 * gain))
    roll = rng.random(n_judgments)
    verdict = np.where(
        roll < p_upgrade, 0, np.where(roll < p_upgrade + p_not_sure, 2, 1)
    )  # index into VERDICT_NAMES

    verdict_names = ("upgrade", "no_upgrade", "not_sure")
    return [
        Judgment(
            f"v{s}",
            f"v{t}",
            f"When situation {c} arises",
            verdict_names[v],
            GROUPS[g] if g >= 0 else None,
            f"p{p}",
        )
        for s, t, c, v, g, p in zip(
            source.tolist(),
            target.tolist(),
            context.tolist(),
            verdict.tolist(),
            group.tolist(),
            participant.tolist(),
            strict=True,
        )
    ]


# --- A straight port of the reference's summarizeGraph and calculatePageRank -----------------


def reference_port(judgments: list[Judgment]) -> tuple[list[dict], dict[str, float]]:
    """Return (kept edges, pageRank) computed line for line as the reference did."""
    pairs: dict[tuple[str, str], dict] = {}  # a JS Map: iterates in insertion order

    def get(a: str, b: str) -> dict:
        if (a, b) not in pairs:
            pairs[(a, b)] = {
                "sourceValueId": a,
                "wiserValueId": b,
                "contexts": [],
                "counts": {
                    "markedWiser": 0,
                    "markedNotWiser": 0,
                    "markedLessWise": 0,
                    "markedUnsure": 0,
                    "impressions": 0,
                },
            }
        return pairs[(a, b)]

    for j in judgments:
        existing = get(j.from_id, j.to_id)
        existing["contexts"].append(j.context_id)
        existing["counts"]["impressions"] += 1
        if j.verdict == "upgrade":
            existing["counts"]["markedWiser"] += 1
        if j.verdict == "no_upgrade":
            existing["counts"]["markedNotWiser"] += 1
        if j.verdict == "not_sure":
            existing["counts"]["markedUnsure"] += 1
    for j in judgments:
        existing = get(j.to_id, j.from_id)
        existing["contexts"].append(j.context_id)
        existing["counts"]["impressions"] += 1
        if j.verdict == "upgrade":
            existing["counts"]["markedLessWise"] += 1

    cooked = []
    for edge in pairs.values():
        c = edge["counts"]
        total = c["markedWiser"] + c["markedNotWiser"] + c["markedUnsure"] + c["markedLessWise"]
        # 0/0 is NaN in JavaScript, and NaN passes the reference's `< 0.33` test.
        likelihood = (c["markedWiser"] - c["markedLessWise"]) / total if total else math.nan
        all_counts = sum(c.values())
        entropy = 0.0
        for count in c.values():
            probability = count / all_counts
            if probability > 0:
                entropy -= probability * math.log2(probability)
        cooked.append(
            {
                **edge,
                "contexts": list(dict.fromkeys(edge["contexts"])),
                "summary": {"wiserLikelihood": likelihood, "entropy": entropy},
            }
        )
    trimmed = [
        e
        for e in cooked
        if e["counts"]["markedWiser"]
        and not e["summary"]["wiserLikelihood"] < 0.33
        and not e["summary"]["entropy"] > 1.69
        and not e["counts"]["markedWiser"] < 2
    ]
    return trimmed, calculate_page_rank(trimmed)


def calculate_page_rank(
    edges: list[dict], damping_factor: float = 0.85, iterations: int = 100
) -> dict[str, float]:
    nodes = list(dict.fromkeys(v for e in edges for v in (e["sourceValueId"], e["wiserValueId"])))
    page_rank = {node: 1 / len(nodes) for node in nodes}
    for _ in range(iterations):
        new_rank = {node: (1 - damping_factor) / len(nodes) for node in nodes}
        for edge in edges:
            # The reference's quadratic step: every edge rescans all edges for its source's.
            outgoing = [e for e in edges if e["sourceValueId"] == edge["sourceValueId"]]
            total_weight = sum(e["summary"]["wiserLikelihood"] for e in outgoing)
            if total_weight > 0:
                new_rank[edge["wiserValueId"]] += (
                    damping_factor
                    * page_rank[edge["sourceValueId"]]
                    * edge["summary"]["wiserLikelihood"]
                    / total_weight
                )
        page_rank = new_rank
    return page_rank


# --- Measuring --------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """Return fn's result and its best wall time over `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def peak_mib(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def study_at(scale: float) -> tuple[list[Judgment], int]:
    n_values = max(CONTEXTS, round(FULL_VALUES * scale))
    return synthetic_study(n_values, round(FULL_JUDGMENTS * scale)), n_values


def _port_run(scale: float, seconds_per_edge_squared: float | None) -> tuple | None:
    """Time compat and the port on one study; None if the port is predicted over target."""
    judgments, n_values = study_at(scale)
    compat, compat_seconds = timed(lambda: compat_score(judgments), repeat=3)
    kept = len(compat["edges"])
    if seconds_per_edge_squared is not None:
        predicted = seconds_per_edge_squared * kept**2
        if predicted > PORT_TARGET_SECONDS:
            print(f"port at {len(judgments)} judgments: predicted {predicted:.0f}s, skipped")
            return None
    (port_edges, port_ranks), port_seconds = timed(lambda: reference_port(judgments))
    step = {
        "judgments": len(judgments),
        "values": n_values,
        "kept_edges": kept,
        "port_seconds": round(port_seconds, 3),
        "compat_seconds": round(compat_seconds, 4),
    }
    print(f"port run: {step}")
    return step, compat, port_edges, port_ranks, compat_seconds, port_seconds


def full_study() -> dict:
    judgments, generation_seconds = timed(lambda: synthetic_study(FULL_VALUES, FULL_JUDGMENTS))
    print(f"full study: {len(judgments)} judgments generated in {generation_seconds:.1f}s")
    default, default_seconds = timed(lambda: default_score(judgments))
    compat, compat_seconds = timed(lambda: compat_score(judgments))
    print(f"default {default_seconds:.2f}s, compat {compat_seconds:.2f}s")
    default_peak = peak_mib(lambda: default_score(judgments))
    compat_peak = peak_mib(lambda: compat_score(judgments))

    winners = [c["winner"] for c in default["contexts"] if c["winner"]]
    return {
        "values": FULL_VALUES,
        "judgments": len(judgments),
        "contexts": CONTEXTS,
        "groups": len(GROUPS),
        "default_seconds": round(default_seconds, 3),
        "compat_seconds": round(compat_seconds, 3),
        "default_peak_mib": round(default_peak, 1),
        "compat_peak_mib": round(compat_peak, 1),
        "compat_pairs": len(compat["all_pairs"]),
        "compat_kept_edges": len(compat["edges"]),
        "compat_ranked_values": len(compat["values"]),
        "default_edges": sum(len(c["edges"]) for c in default["contexts"]),
        "default_kept_edges": sum(e["kept"] for c in default["contexts"] for e in c["edges"]),
        "default_winners": len(winners),
        "default_winners_bridged": sum(w["bridged"] for w in winners),
        "default_winners_carried_by_one_group": sum(w["carried_by_one_group"] for w in winners),
    }


def port_comparison() -> dict:
    """Run the port at doubling sizes, then once at the size predicted to take the target."""
    ladder: list[dict] = []
    chosen = None
    scale = SMALLEST_SCALE
    seconds_per_edge_squared = None
    while scale <= 1:
        run = _port_run(scale, seconds_per_edge_squared)
        if run is None:
            break
        ladder.append(run[0])
        chosen = run
        seconds_per_edge_squared = run[0]["port_seconds"] / max(run[0]["kept_edges"], 1) ** 2
        scale *= 2
    # The doubling overshot: port time is quadratic in size, so aim between the last two.
    last_scale = scale / 2
    refined = last_scale * math.sqrt(PORT_AIM_SECONDS / ladder[-1]["port_seconds"])
    if scale <= 1 and refined > 1.1 * last_scale:
        run = _port_run(min(refined, scale), seconds_per_edge_squared)
        if run is not None:
            ladder.append(run[0])
            if run[-1] < PORT_BUDGET_SECONDS:
                chosen = run

    step, compat, port_edges, port_ranks, compat_seconds, port_seconds = chosen
    ours = {v["id"]: v["pageRank"] for v in compat["values"]}
    same_values = ours.keys() == port_ranks.keys()
    same_edges = sorted((e["sourceValueId"], e["wiserValueId"]) for e in port_edges) == [
        (e["sourceValueId"], e["wiserValueId"]) for e in compat["edges"]
    ]
    max_diff = (
        max((abs(ours[v] - port_ranks[v]) for v in ours), default=0.0) if same_values else None
    )
    ranks_match = same_values and same_edges and max_diff <= 1e-9
    assert ranks_match, f"reference port and compat_score disagree (max diff {max_diff})"
    return {
        **step,
        "port_seconds": round(port_seconds, 3),
        "compat_seconds": round(compat_seconds, 4),
        "port_over_compat": round(port_seconds / compat_seconds, 1),
        "finished_within_a_minute": port_seconds < PORT_BUDGET_SECONDS,
        "ranks_match_1e-9": ranks_match,
        "max_abs_rank_diff": max_diff,
        "ladder": ladder,
    }


def stored_study() -> dict:
    """bench/scoring_db.py in a process of its own (it needs Django and a database): the
    default scoring of a stored study at 5,000 and 200,000 judgments, read and fit timed
    apart. Without a reachable database the figure says why instead."""
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("scoring_db.py"))],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        return {"skipped": (completed.stderr.strip().splitlines() or ["no output"])[-1]}
    for line in lines[:-1]:
        print(f"stored study: {line}", flush=True)
    return json.loads(lines[-1])


def main() -> None:
    started = time.perf_counter()
    figures = {"seed": SEED, "full": full_study(), "reference_port": port_comparison()}
    figures["stored_default"] = stored_study()
    # ru_maxrss is in KiB on Linux.
    figures["max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
