"""Benchmark adaptive elicitation against uniform draws on simulated contexts.

Run from the repository root: ``.venv/bin/python bench/adaptive.py``. No Django needed.

Each of 40 seeds simulates one context (moralgraph/graph/calibration.py): 8-15 values
with true strengths from N(0, 1); a quarter of the seeds are near-ties (the top two
within 0.1); voters follow Bradley-Terry with the true strengths and 20 % vote at
random; 3 judgments per participant; rescored every 15 judgments with the project's own
scoring (pairwise.fit_context, status.context_status at the PairwiseParams defaults);
a cap of 2,000 judgments, a context not settled by then counting as the cap. A context
is *settled* as the product's stopping rule says: confident, with the same winner, at
``stable_rescorings`` (the study default, 3) scorings in a row. The same seed gives the
same true strengths to both draws:

- uniform: every pair alike (calibration.uniform_draw);
- adaptive: the project's draw policy (graph/adaptive.py draw_pairs), Thompson sampling
  on the bootstrap replicates with the study's default uniform share (20 %).

The last line is one JSON object: the fixed parameters, ``judgments_to_settle_uniform``
and ``judgments_to_settle_adaptive`` (medians over the contexts that are not near-ties),
``ratio`` (adaptive / uniform), ``calibration`` per draw (the share of settled contexts
whose winner is the true best) and ``false_confident_near_ties`` per draw (the share of
near-ties that settle). Goals: ratio <= 0.5, calibration >= 0.9, near-ties <= 0.1.
Beside them, ``needed_estimate``: how the estimate of judgments still needed
(graph/status.py) compares with the judgments the adaptive draw really took.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

# Runs as a script: make `moralgraph` importable without installing the project or Django.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moralgraph.graph.adaptive import simulation_draw  # noqa: E402
from moralgraph.graph.calibration import (  # noqa: E402
    SimulationSettings,
    run_context,
    summarise,
    true_strengths,
    uniform_draw,
)
from moralgraph.graph.pairwise import PairwiseParams  # noqa: E402

SEEDS = tuple(range(1, 41))
UNIFORM_SHARE = 0.2  # Study.uniform_share's default
STABLE_RESCORINGS = 3  # Study.stable_rescorings' default
ESTIMATE_EVERY = 150


def run(seeds, params, settings, draws):
    runs = {name: [] for name in draws}
    estimates = []  # (estimated, taken) judgments still needed, adaptive draw, clear contexts
    for k, seed in enumerate(seeds):
        near_tie = k % 4 == 0  # a quarter of the seeds
        strengths = true_strengths(np.random.default_rng(seed), settings, near_tie)
        for name, draw in draws.items():
            looks = []
            runs[name].append(
                run_context(
                    strengths,
                    rng=np.random.default_rng([seed, 1]),
                    study_seed=seed,
                    context_id=f"simulated-{seed}",
                    params=params,
                    settings=settings,
                    near_tie=near_tie,
                    draw=draw,
                    observe=lambda total, status, looks=looks: looks.append((total, status)),
                )
            )
            settled = runs[name][-1].settled_at
            if name == "adaptive" and not near_tie and settled is not None:
                estimates += [
                    (status.needed.judgments, settled - total)
                    for total, status in looks
                    if total % ESTIMATE_EVERY == 0 and status.status != "confident"
                ]
        print(
            f"seed {seed}: "
            + ", ".join(f"{n} {r[-1].settled_at} {r[-1].correct}" for n, r in runs.items()),
            flush=True,
        )
    return {name: summarise(r, settings) for name, r in runs.items()}, estimates


def main() -> None:
    params = PairwiseParams()
    settings = SimulationSettings(contexts=len(SEEDS), stable_looks=STABLE_RESCORINGS)
    started = time.perf_counter()
    draws = {"uniform": uniform_draw, "adaptive": simulation_draw(UNIFORM_SHARE, params)}
    result, estimates = run(SEEDS, params, settings, draws)
    uniform, adaptive = result["uniform"], result["adaptive"]
    taken = np.log([max(t, 1) / max(e, 1) for e, t in estimates]) if estimates else None
    figures = {
        "seeds": len(SEEDS),
        "values_per_context": [settings.min_values, settings.max_values],
        "near_tie_share": settings.near_tie_share,
        "near_tie_gap": settings.near_tie_gap,
        "random_voters": settings.random_voters,
        "judgments_per_participant": settings.judgments_per_participant,
        "rescore_every": settings.rescore_every,
        "cap": settings.cap,
        "stable_rescorings": STABLE_RESCORINGS,
        "uniform_share": UNIFORM_SHARE,
        "params": params.as_dict(),
        "judgments_to_settle_uniform": uniform.judgments_to_settle,
        "judgments_to_settle_adaptive": adaptive.judgments_to_settle,
        "ratio": round(adaptive.judgments_to_settle / uniform.judgments_to_settle, 3),
        "calibration": {"uniform": uniform.calibration, "adaptive": adaptive.calibration},
        "confident": {"uniform": uniform.confident, "adaptive": adaptive.confident},
        "false_confident_near_ties": {
            "uniform": uniform.false_confident_near_ties,
            "adaptive": adaptive.false_confident_near_ties,
        },
        # status.py's estimate of judgments still needed, checked every 150 judgments of
        # the clear contexts that settled under the adaptive draw: judgments taken / estimate.
        "needed_estimate": None
        if taken is None
        else {
            "looks": len(estimates),
            "median_taken_over_estimated": round(float(np.exp(np.median(taken))), 2),
            "quartiles": [round(float(q), 2) for q in np.exp(np.percentile(taken, [25, 75]))],
            "within_factor_2": round(float(np.mean(np.abs(taken) <= np.log(2))), 2),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
