"""Benchmark deduplication: synthetic cards in known clusters, the offline judge.

    python bench/dedup.py [--cards 10000] [--clusters N] [--seed 7]

Builds one study of ``--cards`` submitted cards in about cards/10 true clusters, runs
the dedup step exactly as a reconcile pass does (embed, top-k candidates, the offline
LLM judge, union-find merges, every merge recorded), and prints the wall time, the LLM
judge calls per card and the pairwise precision and recall of the values found against
the true clusters. The last line is one JSON object.

It runs on SQLite in a temporary folder with the offline provider, so it needs neither
PostgreSQL nor a network, and leaves nothing behind.

How the cards are made, so that the offline judge (elicitation/llm/offline/dedup.py: Jaccard of
crude-stemmed policy words >= 0.5 and a shared title word, or >= 0.7) can recognise
paraphrases and the figures mean something:

- each cluster has ten core words (invented, so no two clusters share one by accident)
  and a four-word title vocabulary drawn from them;
- a card takes seven to ten of its cluster's core words, spreads them over four
  policies with filler words the judge ignores, adds one or two words common to all
  clusters ("feelings", "moments"), and takes two of the four title words;
- clusters come in pairs of siblings sharing three core words (same topic, different
  value), and one pair in ten are cousins sharing six (one broader than the other):
  those are the near misses a judge should keep apart.
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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Invented words are syllables: an onset, a vowel, then a closing consonant. No final
# "e" or "s": the offline stemmer trims those and could make two words one.
_ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr pl sh st th tr".split()  # noqa: SIM905
_VOWELS = "a i o u ai au oa ou ia io".split()  # noqa: SIM905
_CODAS = "k l m n p r t x".split()  # noqa: SIM905
_COMMON = [
    "feelings", "moments", "people", "choices", "options", "signs", "worries", "hopes",
    "memories", "voices", "doubts", "needs", "fears", "questions", "habits", "stories",
]  # fmt: skip
_FILLERS = ["of", "that", "the", "when", "with", "for", "about", "and their", "in the"]


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    """Invented words, so that no two clusters share a word by accident."""
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(2, 3)
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
        words.add(word + rng.choice(_CODAS))
    ordered = sorted(words)  # a set's order is not reproducible; the shuffle is
    rng.shuffle(ordered)
    return ordered


def make_clusters(rng: random.Random, count: int) -> list[list[str]]:
    """Ten core words per cluster; siblings share three, one cousin pair in ten six."""
    pool = iter(_vocabulary(rng, count * 10 + 100))
    clusters: list[list[str]] = []
    for index in range(count):
        own = [next(pool) for _ in range(10)]
        if index % 2 == 1:
            shared = 6 if index % 20 == 1 else 3
            own[-shared:] = clusters[index - 1][:shared]
        clusters.append(own)
    return clusters


def make_card(rng: random.Random, core: list[str]) -> dict:
    words = rng.sample(core, rng.randint(7, 10))
    words += rng.sample(_COMMON, rng.randint(1, 2))
    rng.shuffle(words)
    policies = []
    for i in range(4):
        chunk = words[i::4]
        if not chunk:
            continue
        head, *rest = chunk
        tail = " ".join(f"{rng.choice(_FILLERS)} {word}" for word in rest)
        policies.append(f"{head.upper()} {tail}".strip())
    title_words = rng.sample(core[:4], 2)
    return {
        "title": " ".join(w.capitalize() for w in title_words),
        "description": f"ChatGPT should attend to {policies[0].lower()} and {policies[1].lower()}.",
        "policies": policies,
    }


def pairwise_scores(truth: list[int], found: list[int]) -> tuple[float, float]:
    """Pairwise precision and recall of a clustering, from the contingency counts."""

    def pairs(counter: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    together = pairs(Counter(zip(truth, found, strict=True)))
    predicted = pairs(Counter(found))
    actual = pairs(Counter(truth))
    precision = together / predicted if predicted else 1.0
    recall = together / actual if actual else 1.0
    return precision, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--clusters", type=int, default=None, help="default: cards / 10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top-k", type=int, default=None, help="default: DEDUP_TOP_K")
    parser.add_argument(
        "--min-similarity", type=float, default=None, help="default: DEDUP_MIN_SIMILARITY"
    )
    parser.add_argument(
        "--members-per-value", type=int, default=None, help="default: DEDUP_MEMBERS_PER_VALUE"
    )
    args = parser.parse_args()
    n_clusters = args.clusters or max(1, args.cards // 10)

    tmp = Path(tempfile.mkdtemp(prefix="mge-bench-dedup-"))
    # Before django.setup(): a throwaway SQLite database and the offline provider.
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "VAR_DIR": str(tmp),
            "CELERY_BROKER_URL": "filesystem://",
            "LLM_MODEL": "offline",
            "LLM_DEDUP_MODEL": "offline",
            "EMBEDDING_MODEL": "",
            "LOG_LEVEL": "ERROR",
        }
    )
    sys.path.insert(0, str(ROOT))
    try:
        _run(args, n_clusters, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args, n_clusters: int, tmp: Path) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from elicitation.models import LLMCall, Question, Study, ValuesCard
    from moralgraph import locks, selectors
    from moralgraph.services import dedup
    from moralgraph.models import CardMapping, ValueMerge

    call_command("migrate", verbosity=0)
    if args.top_k is not None:
        settings.DEDUP_TOP_K = args.top_k
    if args.min_similarity is not None:
        settings.DEDUP_MIN_SIMILARITY = args.min_similarity
    if args.members_per_value is not None:
        settings.DEDUP_MEMBERS_PER_VALUE = args.members_per_value
    rng = random.Random(args.seed)
    clusters = make_clusters(rng, n_clusters)
    truth_of = [rng.randrange(n_clusters) if i >= n_clusters else i for i in range(args.cards)]
    rng.shuffle(truth_of)

    study = Study.objects.create(slug="bench", title="Dedup benchmark")
    question = Question.objects.create(study=study, key="q", title="Q", text="A hard question?")
    now = timezone.now()
    cards = ValuesCard.objects.bulk_create(
        ValuesCard(
            study=study,
            question=question,
            status=ValuesCard.Status.SUBMITTED,
            submitted_at=now,
            **make_card(rng, clusters[truth]),
        )
        for truth in truth_of
    )
    truth = {card.pk: t for card, t in zip(cards, truth_of, strict=True)}

    last = [0.0]

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "dedup" and (done == total or time.monotonic() - last[0] > 15):
            last[0] = time.monotonic()
            print(f"  {done}/{total} cards placed", file=sys.stderr, flush=True)

    stats = dedup.DedupStats()
    started = time.monotonic()
    with locks.study_lock(study.pk):
        dedup.place_pending_cards(study, stats, progress=progress)
    wall = time.monotonic() - started

    roots = selectors.value_roots(study)
    current = dict(CardMapping.objects.filter(undone_at=None).values_list("card_id", "value_id"))
    found = [roots.get(current[pk], current[pk]) for pk in truth]
    precision, recall = pairwise_scores(list(truth.values()), found)
    calls = LLMCall.objects.filter(study=study, stage="dedup").count()
    figures = {
        "benchmark": "dedup",
        "cards": args.cards,
        "true_clusters": len(set(truth_of)),
        "values_found": len(set(found)),
        "merges": ValueMerge.objects.filter(study=study).count(),
        "failed_cards": stats.failed,
        "wall_seconds": round(wall, 2),
        "cards_per_second": round(args.cards / wall, 1) if wall else None,
        "llm_calls": calls,
        "llm_calls_per_card": round(calls / args.cards, 3),
        "pairwise_precision": round(precision, 4),
        "pairwise_recall": round(recall, 4),
        "top_k": dedup.top_k(),
        "min_similarity": dedup.min_similarity(),
        "members_per_value": dedup.members_per_value(),
        "embedding": "local-hash-256",
        "database": "sqlite",
        "seed": args.seed,
    }
    print(
        f"{args.cards} cards in {figures['true_clusters']} true clusters -> "
        f"{figures['values_found']} values, {figures['merges']} merges, in {wall:.1f}s"
    )
    print(
        f"LLM judge calls: {calls} ({figures['llm_calls_per_card']} per card); pairwise "
        f"precision {precision:.3f}, recall {recall:.3f}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
