"""Benchmark the per-context pairwise model (fit + bootstrap + statuses), and its calibration.

Run from the repository root: ``.venv/bin/python bench/scoring_default.py [--quick]``.
No Django needed.

1. Speed, on synthetic studies with a latent strength per value and context, 20 % random
   voters, 10 % "not sure" and 45 % of judgments without a group:
   - ``study_5k``: a real study's size: 13 contexts, 115 values, 500 participants judging
     10 stories each (5,000 judgments), pairs drawn uniformly within a context;
   - ``study_200k_few``: the same contexts and values, 200,000 judgments;
   - ``study_200k_many``: 10,000 values over 20 contexts (bench/scoring.py's shape), pairs
     between values near each other (a stand-in for embedding distance), 200,000 judgments.
   Each is timed for the whole default scoring of the pairwise model from judgment
   objects: compiling, fitting, 200 resamples, statuses, DPO edges and bridging. Aims on
   this machine: < 1 s at 5,000 judgments, < 20 s at 200,000.
2. Calibration (moralgraph/graph/calibration.py): 240 contexts of 8–15 values (a quarter
   near-ties), uniform draws, rescored every 15 judgments up to 2,000, settled at the first
   confident call; the share of settled contexts whose winner is the true best (goal
   >= 0.9) and the share of near-ties called confident (goal <= 0.1), at the defaults.
   About five minutes; ``--quick`` runs the 5,000-judgment study and one seed only.

Progress goes to stdout; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

# Runs as a script: make `moralgraph` importable without installing the project or Django.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moralgraph.graph import Judgment  # noqa: E402
from moralgraph.graph.bridging_groups import cross_group_agreement, winner_bridging  # noqa: E402
from moralgraph.graph.calibration import SimulationSettings, calibrate, summarise  # noqa: E402
from moralgraph.graph.pairwise import PairwiseParams, score_contexts  # noqa: E402
from moralgraph.graph.status import context_status, dpo_edges  # noqa: E402

SEED = 20240521
GROUPS = ("democrat", "republican")
VERDICTS = ("upgrade", "no_upgrade", "not_sure")
# The confirmation seeds of calibration.py's table (the defaults were tuned on 11-13).
CALIBRATION_SEEDS = (31, 32, 33, 34, 35, 36)


def synthetic_study(
    *, contexts: int, values: int, judgments: int, per_participant: int, near: int | None = None
) -> list[Judgment]:
    """Judgments with true strengths N(0, 1) per value and context.

    Each value belongs to one context, a fifth of them to a second. With ``near`` set,
    stories pair values at most ``near`` places apart on a line through the context;
    otherwise any two values of the context.
    """
    rng = np.random.default_rng(SEED)
    home = rng.integers(0, contexts, values)
    second = (home + rng.integers(1, contexts, values)) % contexts
    has_second = rng.random(values) < 0.2
    strength = rng.normal(0.0, 1.0, (contexts, values))
    pair_context, pair_a, pair_b = [], [], []
    for context in range(contexts):
        members = rng.permutation(
            np.flatnonzero((home == context) | (has_second & (second == context)))
        )
        if near is None:
            a, b = np.triu_indices(len(members), 1)
        else:
            gaps = [g for g in range(1, near + 1) if g < len(members)]
            a = np.concatenate([np.arange(len(members) - g) for g in gaps])
            b = np.concatenate([np.arange(g, len(members)) for g in gaps])
        pair_context.append(np.full(len(a), context))
        pair_a.append(members[a])
        pair_b.append(members[b])
    pair_context = np.concatenate(pair_context)
    pair_a, pair_b = np.concatenate(pair_a), np.concatenate(pair_b)
    drawn = rng.integers(0, len(pair_context), judgments)
    flip = rng.random(judgments) < 0.5
    context = pair_context[drawn]
    source = np.where(flip, pair_b[drawn], pair_a[drawn])
    target = np.where(flip, pair_a[drawn], pair_b[drawn])
    participant = np.arange(judgments) // per_participant
    people = int(participant[-1]) + 1
    random_voter = (rng.random(people) < 0.2)[participant]
    group = rng.choice([0, 1, -1], p=[0.3, 0.25, 0.45], size=people)[participant]
    gain = strength[context, target] - strength[context, source]
    p_upgrade = np.where(random_voter, 0.5, 1 / (1 + np.exp(-gain)))
    verdict = np.where(rng.random(judgments) < p_upgrade, 0, 1)
    verdict[rng.random(judgments) < 0.1] = 2
    return [
        Judgment(
            f"v{s}",
            f"v{t}",
            f"When situation {c} arises",
            VERDICTS[v],
            GROUPS[g] if g >= 0 else None,
            f"p{p}",
        )  # fmt: skip
        for s, t, c, v, g, p in zip(
            source.tolist(),
            target.tolist(),
            context.tolist(),
            verdict.tolist(),
            group.tolist(),
            participant.tolist(),
            strict=True,
        )  # fmt: skip
    ]


def score_everything(judgments: list[Judgment], params: PairwiseParams) -> dict:
    """The whole default scoring of the pairwise model; returns timings and a summary."""
    started, started_cpu = time.perf_counter(), time.process_time()
    fits = score_contexts(judgments, study_seed=SEED, params=params)
    fitted = time.perf_counter()
    by_context: dict[str, list[Judgment]] = {}
    for j in judgments:
        by_context.setdefault(j.context_id, []).append(j)
    statuses = {c: context_status(fit, params) for c, fit in fits.items()}
    edges = [e for fit in fits.values() for e in dpo_edges(fit, params)]
    bridging = {
        c: winner_bridging(by_context[c], s.winner, GROUPS, min_group_votes=params.min_group_votes)
        for c, s in statuses.items()
    }
    agreement = cross_group_agreement(judgments, GROUPS, min_group_votes=params.min_group_votes)
    finished = time.perf_counter()
    return {
        "judgments": len(judgments),
        "contexts": len(fits),
        "values": len({v.value_id for fit in fits.values() for v in fit.values}),
        "fit_bootstrap_seconds": round(fitted - started, 3),
        "total_seconds": round(finished - started, 3),
        # On a shared machine wall time includes waiting for a core; CPU time does not.
        "total_cpu_seconds": round(time.process_time() - started_cpu, 3),
        "statuses": {
            s: sum(x.status == s for x in statuses.values())
            for s in ("confident", "contested", "insufficient")
        },
        "dpo_edges_kept": sum(e.kept for e in edges),
        "dpo_edges": len(edges),
        "bridging": {
            b: sum(x.status == b for x in bridging.values())
            for b in ("bridges", "divides", "unknown")
        },
        "cross_group_agreement": agreement.share,
    }


def main() -> None:
    quick = "--quick" in sys.argv
    params = PairwiseParams()
    figures: dict = {"params": params.as_dict()}
    studies = {
        "study_5k": {"contexts": 13, "values": 115, "judgments": 5_000, "per_participant": 10},
        "study_200k_few": {
            "contexts": 13,
            "values": 115,
            "judgments": 200_000,
            "per_participant": 10,
        },
        "study_200k_many": {
            "contexts": 20,
            "values": 10_000,
            "judgments": 200_000,
            "per_participant": 3,
            "near": 3,
        },
    }
    for name, shape in studies.items():
        if quick and name != "study_5k":
            continue
        judgments = synthetic_study(**shape)
        # The first run pays for imports and caches; time the second.
        score_everything(judgments[:500], params)
        figures[name] = score_everything(judgments, params)
        print(f"{name}: {figures[name]}", flush=True)
    settings = SimulationSettings()
    seeds = CALIBRATION_SEEDS[:1] if quick else CALIBRATION_SEEDS
    started = time.perf_counter()
    runs = [
        r for seed in seeds for r in calibrate(seed=seed, params=params, settings=settings).runs
    ]
    result = summarise(runs, settings)
    figures["calibration"] = {
        "seeds": list(seeds),
        "contexts": len(runs),
        "settings": settings.__dict__,
        "confident": result.confident,
        "calibration": result.calibration,
        "near_ties": result.near_ties,
        "false_confident_near_ties": result.false_confident_near_ties,
        "judgments_to_settle_uniform": result.judgments_to_settle,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(f"calibration: {figures['calibration']}", flush=True)
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
