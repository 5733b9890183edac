"""Benchmark the LLM cost of reconciliation: calls per submitted card, per stage.

    python bench/reconcile_cost.py [--participants 200] [--seed 3] [--score-every 20]

Simulates a study of ``--participants`` people on the offline provider: each one, in
turn, is interviewed on one of the demo's three questions (two answers that name the
situation), submits one values card, and the card's reconcile pass runs as the card's
task runs it (contexts, dedup, contexts of the interview, upgrade stories); then they
pick three values of their question as wise and judge two of its stories, and every
``--score-every`` participants the graph is scored. Cards are the demo's values (made
in the demo for these questions), near copies of them, copies in other words (a policy
dropped, the rest reordered, a new title), and one card in five a new value mixing two.

The last line is one JSON object: ``calls_per_card`` per stage (contexts, dedup,
stories), ``total_calls_per_card`` and what the study came to. Runs on SQLite in a
temporary folder, with no network, and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What participants say about each demo question: enough for the offline context stage.
ANSWERS = {
    "abortion": [
        "She may feel scared and pressured by her family.",
        "It is her decision, and she needs to know her options.",
        "Her faith matters to her and she is torn about what it asks.",
        "She should talk to people she trusts before she decides.",
    ],
    "homework": [
        "My son is ten and shouts when I mention homework.",
        "I think he is overwhelmed at school and does not say so.",
        "Children need routines they helped make.",
        "I worry that punishing him will make it worse.",
    ],
    "january-6": [
        "I want the facts about what happened, with sources.",
        "People are upset about this and the history is contested.",
        "What evidence is there about the weapons?",
        "The answer should stick to what is documented.",
    ],
}
TITLE_WORDS = ["Careful", "Honest", "Gentle", "Steady", "Open", "Patient", "Clear", "Humble"]


def make_card(rng: random.Random, values: list[tuple]) -> dict:
    """One participant's card on a question whose demo values are ``values``."""
    title, description, policies = rng.choice(values)
    roll = rng.random()
    if roll < 0.2:  # a new value: two values' policies together
        _, _, others = rng.choice(values)
        mixed = rng.sample(policies, 2) + rng.sample(others, 1)
        return {
            "title": f"{rng.choice(TITLE_WORDS)} {title.split()[-1]}",
            "description": description,
            "policies": mixed,
        }
    if roll < 0.5:  # the same value in other words
        kept = rng.sample(policies, len(policies) - 1)
        return {
            "title": f"{rng.choice(TITLE_WORDS)} {title.split()[0]}",
            "description": f"What matters: {kept[0].lower()}.",
            "policies": kept,
        }
    return {"title": title, "description": description, "policies": list(policies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--score-every", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mge-bench-cost-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "VAR_DIR": str(tmp),
            "CELERY_BROKER_URL": "filesystem://",
            "LLM_MODEL": "offline",
            "EMBEDDING_MODEL": "",
            "OFFLINE_STREAM_DELAY_MS": "0",
            "LOG_LEVEL": "ERROR",
        }
    )
    sys.path.insert(0, str(ROOT))
    try:
        _run(args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import Count
    from django.utils import timezone

    from elicitation.demo import DEMO_QUESTIONS, DEMO_VALUES
    from elicitation.models import (
        Interview,
        LLMCall,
        Message,
        Participant,
        Question,
        Selection,
        Study,
        ValuesCard,
        WiserJudgment,
    )
    from moralgraph import selectors
    from moralgraph.models import UpgradeHypothesis, Value
    from moralgraph.services import reconcile, scoring

    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    study = Study.objects.create(slug="cost", title="Reconcile cost", status=Study.Status.LIVE)
    questions = [
        Question.objects.create(study=study, position=i, **q) for i, q in enumerate(DEMO_QUESTIONS)
    ]
    started = time.monotonic()
    for number in range(args.participants):
        question = questions[number % len(questions)]
        participant = Participant.objects.create(study=study)
        interview = Interview.objects.create(participant=participant, question=question)
        said = rng.sample(ANSWERS[question.key], 2)
        for seq, (role, text) in enumerate(
            [
                ("assistant", "What should the AI attend to?"),
                ("user", said[0]),
                ("assistant", "Tell me more."),
                ("user", said[1]),
            ]  # fmt: skip
        ):
            Message.objects.create(interview=interview, seq=seq, role=role, content=text)
        Interview.objects.filter(pk=interview.pk).update(status=Interview.Status.DONE)
        ValuesCard.objects.create(
            study=study,
            participant=participant,
            interview=interview,
            question=question,
            status=ValuesCard.Status.SUBMITTED,
            submitted_at=timezone.now(),
            **make_card(rng, DEMO_VALUES[question.key]),
        )
        reconcile.reconcile_study(study=study)
        _choose_and_judge(rng, participant, question, selectors, Selection, WiserJudgment)
        if (number + 1) % args.score_every == 0:
            scoring.score_study(study=study)
    wall = time.monotonic() - started

    calls = dict(
        LLMCall.objects.filter(study=study)
        .values_list("stage")
        .annotate(n=Count("id"))
        .values_list("stage", "n")
    )
    cards = args.participants
    stages = {"contexts": "contexts", "dedup": "dedup", "stories": "hypothesis"}
    per_card = {name: round(calls.get(stage, 0) / cards, 3) for name, stage in stages.items()}
    figures = {
        "benchmark": "reconcile_cost",
        "participants": args.participants,
        "calls_per_card": per_card,
        "total_calls_per_card": round(sum(calls.get(s, 0) for s in stages.values()) / cards, 3),
        "llm_calls": {stage: calls.get(stage, 0) for stage in stages.values()},
        "values": Value.objects.filter(study=study, is_active=True).count(),
        "stories": UpgradeHypothesis.objects.filter(study=study, is_active=True).count(),
        "judgments": WiserJudgment.objects.filter(participant__study=study).count(),
        "story_budget": float(study.story_budget),
        "wall_seconds": round(wall, 1),
        "seed": args.seed,
    }
    print(json.dumps(figures))


def _choose_and_judge(rng, participant, question, selectors, Selection, WiserJudgment) -> None:  # noqa: N803
    """Pick three of the question's values as wise, judge two of its stories."""
    from moralgraph.models import UpgradeHypothesis

    study = participant.study
    ids = sorted(selectors.value_ids_by_question(study).get(question.pk, set()))
    for value_id in rng.sample(ids, min(3, len(ids))):
        Selection.objects.create(participant=participant, value_id=value_id, question=question)
    stories = list(
        UpgradeHypothesis.objects.filter(
            study=study, is_active=True, context__questions=question
        ).order_by("id")
    )
    judged: set[str] = set()
    for story in rng.sample(stories, min(2, len(stories))):
        key = WiserJudgment.make_pair_key(story.from_value_id, story.to_value_id)
        if key in judged:
            continue
        judged.add(key)
        WiserJudgment.objects.create(
            participant=participant,
            hypothesis=story,
            pair_key=key,
            verdict=rng.choice(["upgrade", "upgrade", "no_upgrade", "not_sure"]),
        )


if __name__ == "__main__":
    main()
