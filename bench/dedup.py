"""Benchmark deduplication: synthetic cards in known clusters, some in their own words.

    python bench/dedup.py [--cards 10000] [--clusters N] [--own-share 0.3] [--seed 7]
                          [--top-k K] [--skip-offline]

Builds a study of ``--cards`` submitted cards in about cards/10 true clusters and runs
the dedup step exactly as a reconcile pass does (embed, hybrid retrieval, the batch
judge, union-find merges, every merge recorded), twice: with an ORACLE judge, which
knows each card's true value but may only pick among the candidates it is shown (so
the figures measure retrieval and batching), and with the offline heuristic judge
(the baseline a demo without a key gets). The last line is one JSON object: the
oracle's figures at the top level (moralgraph/services/dedup_eval.py says what each
means), the heuristic's under "offline_judge".

It runs on SQLite in a temporary folder with the offline provider, so it needs neither
PostgreSQL nor a network, and leaves nothing behind.

How the cards are made, so that the offline judge (elicitation/llm/offline/dedup.py: Jaccard of
crude-stemmed policy words >= 0.5 and a shared title word, or >= 0.7) can recognise
near-verbatim copies and the figures mean something:

- each cluster has ten core words (invented, so no two clusters share one by accident)
  and a four-word title vocabulary drawn from them;
- a card takes seven to ten of its cluster's core words, spreads them over four
  policies with filler words the judge ignores, adds one or two words common to all
  clusters ("feelings", "moments"), and takes two of the four title words;
- clusters come in pairs of siblings sharing three core words (same topic, different
  value), and one pair in ten are cousins sharing six (one broader than the other):
  those are the near misses a judge should keep apart (distractors that share
  surface words);
- a card in its own words (``--own-share`` of them) says the same thing otherwise: each
  core word has an invented synonym, and such a card keeps six to nine core words,
  writes half of them (at least two) as their synonyms, drops a policy one time in two,
  shuffles the policies and takes its title from the synonyms of the title words.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
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


def make_synonyms(rng: random.Random, clusters: list[list[str]]) -> dict[str, str]:
    """One invented synonym per core word, shared by the clusters that share the word."""
    words = sorted({word for core in clusters for word in core})
    taken = set(words)
    fresh = [w for w in _vocabulary(rng, 2 * len(words) + 100) if w not in taken]
    return dict(zip(words, fresh, strict=False))


def make_own_card(rng: random.Random, core: list[str], synonyms: dict[str, str]) -> dict:
    """A card of the same value in the participant's own words (see the module)."""
    kept = rng.sample(core, rng.randint(6, 9))
    swapped = set(rng.sample(range(len(kept)), max(2, len(kept) // 2)))
    words = [synonyms[w] if i in swapped else w for i, w in enumerate(kept)]
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
    if rng.random() < 0.5:
        policies.pop(rng.randrange(len(policies)))
    rng.shuffle(policies)
    title_words = [synonyms[w] for w in rng.sample(core[:4], 2)]
    return {
        "title": " ".join(w.capitalize() for w in title_words),
        "description": f"Attending to {policies[0].lower()}, and to {policies[-1].lower()}.",
        "policies": policies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--clusters", type=int, default=None, help="default: cards / 10")
    parser.add_argument("--own-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top-k", type=int, default=None, help="default: DEDUP_TOP_K")
    parser.add_argument("--min-similarity", type=float, default=None)
    parser.add_argument("--min-overlap", type=float, default=None)
    parser.add_argument("--batch-cards", type=int, default=None)
    parser.add_argument("--skip-offline", action="store_true", help="the oracle only")
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
        _run(args, n_clusters)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_cards(args, n_clusters: int) -> list:
    from moralgraph.services.dedup_eval import LabelledCard

    rng = random.Random(args.seed)
    clusters = make_clusters(rng, n_clusters)
    synonyms = make_synonyms(rng, clusters)
    truth_of = [rng.randrange(n_clusters) if i >= n_clusters else i for i in range(args.cards)]
    rng.shuffle(truth_of)
    cards = []
    for truth in truth_of:
        own = rng.random() < args.own_share
        card = (
            make_own_card(rng, clusters[truth], synonyms)
            if own
            else make_card(rng, clusters[truth])
        )
        cards.append(LabelledCard(label=str(truth), own_wording=own, **card))
    return cards


def _run(args, n_clusters: int) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from moralgraph.services import dedup_eval

    call_command("migrate", verbosity=0)
    for name in ("top_k", "min_similarity", "min_overlap", "batch_cards"):
        if getattr(args, name) is not None:
            setattr(settings, f"DEDUP_{name.upper()}", getattr(args, name))
    cards = make_cards(args, n_clusters)
    print(
        f"{len(cards)} cards, {sum(c.own_wording for c in cards)} in their own words",
        file=sys.stderr,
    )
    oracle = dedup_eval.run(cards, slug="bench-oracle", oracle=True)
    print(f"oracle: {oracle}", file=sys.stderr)
    figures = {"benchmark": "dedup", **oracle}
    if not args.skip_offline:
        offline = dedup_eval.run(cards, slug="bench-offline", oracle=False)
        print(f"offline judge: {offline}", file=sys.stderr)
        figures["offline_judge"] = offline
    figures.update(
        {
            "top_k": settings.DEDUP_TOP_K,
            "min_similarity": settings.DEDUP_MIN_SIMILARITY,
            "min_overlap": settings.DEDUP_MIN_OVERLAP,
            "batch_cards": settings.DEDUP_BATCH_CARDS,
            "own_share": args.own_share,
            "embedding": "local-hash-256",
            "database": "sqlite",
            "seed": args.seed,
        }
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
