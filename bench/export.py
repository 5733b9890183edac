"""Benchmark the exports on a synthetic study of 200,000 wiser judgments.

Run from the repository root: ``.venv/bin/python bench/export.py [--judgments N]
[--database-url postgres://postgres@127.0.0.1:5432/mge_bench_export]``. By default it needs
no PostgreSQL: the study is built in a throwaway SQLite database in a temporary folder
(migrated, then filled with bulk_create), and removed afterwards. With ``--database-url``
it is built in that PostgreSQL database, which the bench creates (it refuses one that
exists), analyzes after filling it, as an import does, and drops afterwards.

The study: 3 questions, 20 contexts, 6,000 values, one card per participant, each
participant judging three upgrade stories of one context (distinct pairs), picking two
values and seeing four, with a political group. Verdicts follow a latent wisdom per value,
as in bench/scoring.py, so the graph has structure.

Measured: scoring into a snapshot (default and compat), then every format that needs no
LLM (reference-json, graph-json, graphml, gexf, csv, constitution-md) rendered from the
stored snapshot: wall time, then peak Python memory (tracemalloc, in a second run so that
tracing does not slow the timed one), and the file size. Progress goes to stdout; the last
line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _database import drop_postgres_database, ensure_postgres_database  # noqa: E402
from _machine import machine_speed_ms  # noqa: E402  (bench/, the script's own folder)

SEED = 20240521
QUESTIONS = 3
CONTEXTS = 20
VALUES = 6_000
GROUPS = ("democrat", "republican", "independent")
FORMATS = ("reference-json", "graph-json", "graphml", "gexf", "csv", "constitution-md")
BATCH = 5_000
START = datetime(2024, 3, 1, tzinfo=UTC)


def say(message: str) -> None:
    print(message, flush=True)


def setup_django(folder: Path, database_url: str | None = None) -> None:
    # Before django.setup(): settings read the environment once.
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["VAR_DIR"] = str(folder)
    os.environ["CELERY_BROKER_URL"] = "filesystem://"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_study(n_judgments: int) -> dict:
    from elicitation.models import (
        Demographics,
        Impression,
        Participant,
        Question,
        Selection,
        Study,
        ValuesCard,
        WiserJudgment,
    )
    from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value

    rng = np.random.default_rng(SEED)
    study = Study.objects.create(slug="bench", title="Synthetic export benchmark")
    questions = Question.objects.bulk_create(
        Question(study=study, key=f"q{i}", title=f"Question {i}", text=f"Hard question {i}?")
        for i in range(QUESTIONS)
    )
    contexts = Context.objects.bulk_create(
        Context(study=study, text=f"When situation {i} arises") for i in range(CONTEXTS)
    )
    for i, context in enumerate(contexts):
        context.questions.add(questions[i % QUESTIONS])

    home = rng.integers(0, CONTEXTS, VALUES)
    wisdom = rng.normal(0, 1, VALUES)
    values = Value.objects.bulk_create(
        (
            Value(
                study=study,
                title=f"Value {i}",
                description=f"Attending to what matters in situation {home[i]}, way {i}.",
                policies=[f"MOMENTS of kind {i % 97}", f"CHOICES of sort {i % 89}"],
                created_at=START,
            )
            for i in range(VALUES)
        ),
        batch_size=BATCH,
    )
    value_pk = np.array([v.pk for v in values])

    # Stories: values of a context on a line, pairs up to three places apart, both ways.
    stories = []
    for c in range(CONTEXTS):
        members = np.flatnonzero(home == c)
        for distance in (1, 2, 3):
            for a, b in zip(members[:-distance], members[distance:], strict=True):
                stories.append((a, b, c))
                stories.append((b, a, c))
    hypotheses = UpgradeHypothesis.objects.bulk_create(
        (
            UpgradeHypothesis(
                study=study,
                from_value_id=int(value_pk[a]),
                to_value_id=int(value_pk[b]),
                context=contexts[c],
                story=f"I used to live by value {a}; then I saw that value {b} kept it and "
                "added what I had missed.",
                created_at=START,
            )
            for a, b, c in stories
        ),
        batch_size=BATCH,
    )
    by_context: dict[int, list[int]] = {c: [] for c in range(CONTEXTS)}
    for index, (_, _, c) in enumerate(stories):
        by_context[c].append(index)
    say(f"  {len(values)} values, {len(hypotheses)} stories")

    n_participants = -(-n_judgments // 3)
    made = 0
    for start in range(0, n_participants, BATCH):
        size = min(BATCH, n_participants - start)
        participants = Participant.objects.bulk_create(
            Participant(study=study, step=Participant.Step.DONE) for _ in range(size)
        )
        groups = rng.integers(0, len(GROUPS), size)
        Demographics.objects.bulk_create(
            Demographics(participant=p, answers={"political_affiliation": GROUPS[g]})
            for p, g in zip(participants, groups, strict=True)
        )
        judgments, cards, card_values, selections, impressions = [], [], [], [], []
        for p, group in zip(participants, groups, strict=True):
            c = int(rng.integers(0, CONTEXTS))
            question = questions[c % QUESTIONS]
            when = START + timedelta(seconds=int(rng.integers(0, 14 * 24 * 3600)))
            pool = by_context[c]
            seen_pairs = set()
            for index in rng.choice(len(pool), size=8, replace=False):
                if len(seen_pairs) == 3 or made >= n_judgments:
                    break
                a, b, _ = stories[pool[index]]
                pair = WiserJudgment.make_pair_key(value_pk[a], value_pk[b])
                if pair in seen_pairs:
                    continue
                seen_pairs.add(pair)
                # Groups see the values through their own bias in a quarter of contexts.
                bias = 0.8 * (group - 1) if c % 4 == 0 else 0.0
                gain = wisdom[b] - wisdom[a] + bias * (1 if b > a else -1)
                p_up = 0.85 / (1 + np.exp(-2 * gain))
                roll = rng.random()
                verdict = "upgrade" if roll < p_up else "not_sure" if roll > 0.88 else "no_upgrade"
                judgments.append(
                    WiserJudgment(
                        participant=p,
                        hypothesis=hypotheses[pool[index]],
                        pair_key=pair,
                        verdict=verdict,
                        reason="It keeps what mattered." if roll < 0.05 else "",
                        reason_private=roll < 0.01,
                        created_at=when,
                    )
                )
                made += 1
            mine = int(rng.choice(np.flatnonzero(home == c)))
            cards.append(
                ValuesCard(
                    study=study,
                    participant=p,
                    question=question,
                    title=f"Card of value {mine}",
                    description="What I pay attention to.",
                    policies=["THINGS I notice", "PEOPLE I think of", "MOMENTS that matter"],
                    status=ValuesCard.Status.SUBMITTED,
                    submitted_at=when,
                    created_at=when,
                )
            )
            shown = rng.choice(np.flatnonzero(home == c), size=4, replace=False)
            for k, v in enumerate(shown):
                impressions.append(
                    Impression(participant=p, value=values[v], question=question, created_at=when)
                )
                if k < 2:
                    selections.append(
                        Selection(
                            participant=p, value=values[v], question=question, created_at=when
                        )
                    )
            card_values.append(values[mine])
        WiserJudgment.objects.bulk_create(judgments, batch_size=BATCH)
        ValuesCard.objects.bulk_create(cards, batch_size=BATCH)
        CardMapping.objects.bulk_create(
            (
                CardMapping(card=card, value=value, created_at=START)
                for card, value in zip(cards, card_values, strict=True)
            ),
            batch_size=BATCH,
        )
        Selection.objects.bulk_create(selections, batch_size=BATCH)
        Impression.objects.bulk_create(impressions, batch_size=BATCH)
        say(f"  {start + size} participants, {made} judgments")
    return {
        "study": study,
        "participants": n_participants,
        "values": VALUES,
        "hypotheses": len(hypotheses),
        "judgments": made,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=int, default=200_000)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL database of the bench's own, created and dropped by it "
        "(default: SQLite in a temporary folder)",
    )
    args = parser.parse_args()
    if args.database_url and not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be postgres://...")
    if args.database_url and not ensure_postgres_database(args.database_url):
        parser.error(
            f"{args.database_url} exists already: the bench fills a database of its own "
            "and drops it afterwards; name another one"
        )

    folder = Path(tempfile.mkdtemp(prefix="mge-bench-export-"))
    try:
        speed = machine_speed_ms()
        say(f"Machine speed: {speed} ms for the reference work (lower is faster)")
        started = time.perf_counter()
        setup_django(folder, args.database_url)
        from moralgraph.services.exports import ExportData, render, resolve_mode
        from moralgraph.services.importers import refresh_statistics
        from moralgraph.services.scoring import score_study

        say(f"Building a synthetic study of {args.judgments} judgments in {folder} ...")
        t = time.perf_counter()
        built = build_study(args.judgments)
        refresh_statistics()  # what an import does after its bulk load (PostgreSQL only)
        build_s = time.perf_counter() - t
        study = built.pop("study")

        snapshots, score_s = {}, {}
        for mode in ("default", "compat"):
            t = time.perf_counter()
            snapshots[mode] = score_study(study=study, mode=mode)
            score_s[mode] = round(time.perf_counter() - t, 2)
            say(f"Scored ({mode}) in {score_s[mode]} s")

        def run(fmt: str) -> bytes:
            mode = resolve_mode(fmt, None)
            # A fresh ExportData each time: nothing cached from the previous format.
            return render(fmt, ExportData(study=study, snapshot=snapshots[mode]))

        figures = {}
        for fmt in FORMATS:
            t = time.perf_counter()
            content = run(fmt)
            seconds = time.perf_counter() - t
            tracemalloc.start()
            run(fmt)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            figures[fmt] = {
                "mode": resolve_mode(fmt, None),
                "seconds": round(seconds, 2),
                "peak_mib": round(peak / 2**20, 1),
                "bytes": len(content),
            }
            say(f"{fmt}: {figures[fmt]}")

        result = {
            **built,
            "build_db_s": round(build_s, 1),
            "score_s": score_s,
            "formats": figures,
            "export_total_s": round(sum(f["seconds"] for f in figures.values()), 2),
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "total_s": round(time.perf_counter() - started, 1),
            "database": "postgresql" if args.database_url else "sqlite",
            "machine_speed_ms": speed,
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if args.database_url:
            from django.db import connections

            connections.close_all()
            drop_postgres_database(args.database_url)


if __name__ == "__main__":
    main()
