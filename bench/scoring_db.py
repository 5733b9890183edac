"""Benchmark the default scoring of a study stored in the database: read, fit, whole.

    python bench/scoring_db.py [--database-url postgres://...] [--sizes 5000,200000]

For each size, a study shaped like bench/scoring_default.py's (13 contexts, 115 values,
10 judgments per participant, 20 % random voters, 45 % of participants without a group)
is written to the database; then, with the in-process fit cache empty each time:

- ``db_read_seconds``: ``scoring.judgments_for`` (the judgments, their values' current
  roots, the participants' groups), the part that grows with the rows read;
- ``fit_seconds``: ``scoring.score_judgments`` on what was read (pairwise model, 200
  resamples, statuses, bridging), the part that is pure computation;
- ``score_study_seconds``: ``scoring.score_study`` end to end (read, fit, snapshot
  written), the figure a researcher waits for. Aims on this machine: < 1 s at 5,000
  judgments, < 20 s at 200,000.

PostgreSQL by default (the bench database is created if missing and the study removed
afterwards); ``--database-url sqlite:///PATH`` also works. The last line is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._database import remove_study, setup_django  # noqa: E402
from bench.scoring_default import synthetic_study  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mge_bench_scoring"


def _write_study(size: int):
    from elicitation.models import Demographics, Participant, Study, WiserJudgment
    from moralgraph.models import Context, UpgradeHypothesis, Value

    judgments = synthetic_study(contexts=13, values=115, judgments=size, per_participant=10)
    for old in Study.objects.filter(slug=f"bench-scoring-{size}"):
        remove_study(old)
    study = Study.objects.create(slug=f"bench-scoring-{size}", title=f"Scoring {size}")
    value_ids = sorted({j.from_id for j in judgments} | {j.to_id for j in judgments})
    values = {
        v: Value(study=study, title=f"Value {v}", description="A value.", policies=["A", "B"])
        for v in value_ids
    }
    Value.objects.bulk_create(values.values())
    contexts = {c: Context(study=study, text=c) for c in sorted({j.context_id for j in judgments})}
    Context.objects.bulk_create(contexts.values())
    stories = {}
    for j in judgments:
        stories.setdefault(
            (j.from_id, j.to_id, j.context_id),
            UpgradeHypothesis(
                study=study,
                from_value=values[j.from_id],
                to_value=values[j.to_id],
                context=contexts[j.context_id],
                story="A story.",
            ),
        )
    UpgradeHypothesis.objects.bulk_create(stories.values(), batch_size=5000)
    people = {
        p: Participant(study=study) for p in dict.fromkeys(j.participant_id for j in judgments)
    }
    Participant.objects.bulk_create(people.values(), batch_size=5000)
    groups = {j.participant_id: j.group for j in judgments}
    Demographics.objects.bulk_create(
        [
            Demographics(participant=people[p], answers={"political_affiliation": g})
            for p, g in groups.items()
            if g
        ],
        batch_size=5000,
    )
    rows, seen = [], set()
    pair_counts: dict[tuple, int] = {}
    for j in judgments:
        participant, story = people[j.participant_id], stories[(j.from_id, j.to_id, j.context_id)]
        if (participant.pk, story.pk) in seen:
            continue  # one judgment per story and participant, as the journey allows
        seen.add((participant.pk, story.pk))
        base = WiserJudgment.make_pair_key(story.from_value.pk, story.to_value.pk)
        n = pair_counts[(participant.pk, base)] = pair_counts.get((participant.pk, base), 0) + 1
        rows.append(
            WiserJudgment(
                participant=participant,
                hypothesis=story,
                pair_key=base if n == 1 else f"{base}#{n}",
                verdict=j.verdict,
            )
        )
    WiserJudgment.objects.bulk_create(rows, batch_size=5000)
    return study, len(rows)


def _measure(size: int) -> dict:
    from moralgraph.services import scoring

    started = time.perf_counter()
    study, stored = _write_study(size)
    print(f"{size}: {stored} judgments written in {time.perf_counter() - started:.1f}s", flush=True)
    try:
        scoring._FITS.clear()
        started = time.perf_counter()
        judgments = scoring.judgments_for(study)
        read = time.perf_counter() - started
        started = time.perf_counter()
        result = scoring.score_judgments(study, judgments, mode="default")
        fit = time.perf_counter() - started
        scoring._FITS.clear()
        started = time.perf_counter()
        snapshot = scoring.score_study(study=study)
        whole = time.perf_counter() - started
        figures = {
            "judgments": stored,
            "contexts": len(result["contexts"]),
            "db_read_seconds": round(read, 3),
            "fit_seconds": round(fit, 3),
            "score_study_seconds": round(whole, 3),
            "statuses": {
                s: sum(c["status"] == s for c in snapshot.results["contexts"])
                for s in ("confident", "contested", "insufficient")
            },
        }
    finally:
        remove_study(study)
    print(f"{size}: {figures}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--sizes", default="5000,200000")
    args = parser.parse_args()
    setup_django(args.database_url, name="scoring")
    figures = {
        "database": args.database_url.split(":", 1)[0],
        **{f"study_{int(size) // 1000}k": _measure(int(size)) for size in args.sizes.split(",")},
    }
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
