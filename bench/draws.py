"""Benchmark what a participant's draws cost the web server as a study grows.

    python bench/draws.py [--database-url postgres://...] [--sizes 115:500,400:2400]

Each participant's step onto the selection draws the values they choose from
(``draws.draw_values``: every value of their question is a candidate) and the step onto
the judgments draws the stories they judge (``draws.draw_stories``: every story of the
study is a candidate). Both run inside a participant's request, so their CPU is the
pages' CPU. For each size ``VALUES:STORIES`` a study is stored (values with real-length
texts and policies, stories on random pairs in 13 contexts of the question, some
already shown, and 500 earlier participants each shown six of the values and picking
two) and 30 fresh participants each draw both; the figures are the median
CPU milliseconds of this process per draw (PostgreSQL's own time aside) and the median
wall milliseconds.

PostgreSQL by default (the bench database is created if missing and the study removed
afterwards); ``--database-url sqlite:///PATH`` also works. The last line is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._database import remove_study, setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mge_bench_draws"
PARTICIPANTS = 30
CONTEXTS = 13
PAST, SHOWN, PICKED = 500, 6, 2
POLICY = "MOMENTS when she can weigh what matters to her without anyone rushing her"


def _write_study(values: int, stories: int, rng: random.Random):
    from elicitation.models import (
        Impression,
        JudgmentAssignment,
        Participant,
        Question,
        Selection,
        Study,
        ValuesCard,
    )
    from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value

    slug = f"bench-draws-{values}-{stories}"
    for old in Study.objects.filter(slug=slug):
        remove_study(old)
    study = Study.objects.create(
        slug=slug,
        title=f"Draws {values}:{stories}",
        # Limits the bench does not reach: it starts its participants from one process.
        messages_per_minute=1000,
        messages_per_hour_study=1_000_000,
        signups_per_address_hour=0,
    )
    question = Question.objects.create(study=study, key="q", title="A question", text="?")
    authors = Participant.objects.bulk_create(
        [Participant(study=study, question=question) for _ in range(values)]
    )
    cards = ValuesCard.objects.bulk_create(
        [
            ValuesCard(
                study=study,
                participant=author,
                question=question,
                title=f"Value {i}",
                description="A value someone holds, in a sentence or two. " * 3,
                policies=[POLICY] * 5,
                status=ValuesCard.Status.SUBMITTED,
            )
            for i, author in enumerate(authors)
        ]
    )
    rows = Value.objects.bulk_create(
        [
            Value(
                study=study,
                title=card.title,
                description=card.description,
                policies=card.policies,
            )
            for card in cards
        ]
    )
    CardMapping.objects.bulk_create(
        [CardMapping(card=card, value=value) for card, value in zip(cards, rows, strict=True)]
    )
    contexts = Context.objects.bulk_create(
        [Context(study=study, text=f"When choosing {i}") for i in range(CONTEXTS)]
    )
    for context in contexts:
        context.questions.add(question)
    pairs = set()
    while len(pairs) < stories:
        a, b = rng.sample(range(values), 2)
        pairs.add((a, b, rng.randrange(CONTEXTS)))
    made = UpgradeHypothesis.objects.bulk_create(
        [
            UpgradeHypothesis(
                study=study,
                from_value=rows[a],
                to_value=rows[b],
                context=contexts[c],
                story="A story of someone who came to see more. " * 12,
            )
            for a, b, c in sorted(pairs)
        ],
        batch_size=5000,
    )
    # As mid-study: PAST participants went through the question, each shown SHOWN of
    # its values and picking PICKED of them.
    past = Participant.objects.bulk_create(
        [Participant(study=study, question=question) for _ in range(PAST)]
    )
    impressions, selections = [], []
    for person in past:
        shown = rng.sample(rows, min(SHOWN, len(rows)))
        impressions += [Impression(participant=person, value=v, question=question) for v in shown]
        selections += [
            Selection(participant=person, value=v, question=question) for v in shown[:PICKED]
        ]
    Impression.objects.bulk_create(impressions, batch_size=5000)
    Selection.objects.bulk_create(selections, batch_size=5000)
    # A third of the stories shown once already, as mid-study.
    JudgmentAssignment.objects.bulk_create(
        [
            JudgmentAssignment(participant=authors[i % values], hypothesis=story, position=0)
            for i, story in enumerate(made)
            if i % 3 == 0
        ],
        batch_size=5000,
    )
    return study


def _timed(draw, participants) -> tuple[float, float]:
    cpu, wall = [], []
    for participant in participants:
        started, started_cpu = time.perf_counter(), time.process_time()
        assert draw(participant)
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return round(statistics.median(cpu) * 1000, 1), round(statistics.median(wall) * 1000, 1)


def _measure(values: int, stories: int) -> dict:
    from elicitation.services import participants as participant_service
    from moralgraph.services import draws

    started = time.perf_counter()
    study = _write_study(values, stories, random.Random(values * 7 + stories))
    print(f"{values}:{stories}: written in {time.perf_counter() - started:.1f}s", flush=True)
    try:
        people = [
            participant_service.participant_start(study=study, session_key=f"bench-{i}")
            for i in range(PARTICIPANTS + 1)
        ]
        draws.draw_stories(people.pop(), count=5)  # warm: first queries, caches
        values_cpu, values_wall = _timed(lambda p: draws.draw_values(p, count=6), people)
        stories_cpu, stories_wall = _timed(lambda p: draws.draw_stories(p, count=5), people)
        figures = {
            "values": values,
            "stories": stories,
            "draw_values_cpu_ms": values_cpu,
            "draw_values_wall_ms": values_wall,
            "draw_stories_cpu_ms": stories_cpu,
            "draw_stories_wall_ms": stories_wall,
        }
    finally:
        remove_study(study)
    print(f"{values}:{stories}: {figures}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--sizes", default="115:500,400:2400")
    args = parser.parse_args()
    setup_django(args.database_url, name="draws")
    sizes = [tuple(int(n) for n in size.split(":")) for size in args.sizes.split(",")]
    figures = {
        "database": args.database_url.split(":", 1)[0],
        "participants": PARTICIPANTS,
        **{f"study_{v}_{s}": _measure(v, s) for v, s in sizes},
    }
    print(json.dumps(figures, separators=(",", ":")))


if __name__ == "__main__":
    main()
