"""A worker killed with SIGKILL in the middle of a reconcile pass, then a new worker.

The killed pass must leave nothing half written, and the study, once a new worker has
finished it, must hold every card once, the same contexts as one uninterrupted pass, no
value or story twice, and clusters that agree with the uninterrupted pass's on nearly
every pair of cards. Not on every pair: cards judged together share one call, and where
the kill cut a batch the resumed pass forms its batches (and its BM25 statistics) from
the cards still pending, so a borderline card may land differently. A redelivered copy
of the killed message afterwards changes nothing at all.
"""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from bench.dedup import make_card, make_clusters
from elicitation.models import Question, Study, ValuesCard
from moralgraph import tasks
from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value, ValueMerge
from moralgraph.services import reconcile
from tests.conftest import ARTIFACTS, ROOT, WorkerProcess, django_env, wait_until

pytestmark = pytest.mark.worker

CARDS = 60

# Loaded by every Python process started with this folder on PYTHONPATH: it slows the
# offline provider down so that the kill lands in the middle of the pass.
_SLOW_SITE = """
import os, time

_delay = float(os.environ.get("MGE_TEST_OFFLINE_DELAY", "0"))
if _delay:
    import elicitation.llm.offline as _offline

    _respond = _offline.respond

    def _slow(stage, messages):
        time.sleep(_delay)
        return _respond(stage, messages)

    _offline.respond = _slow
"""


def build(slug: str) -> Study:
    import random

    rng = random.Random(11)
    clusters = make_clusters(rng, 12)
    study = Study.objects.create(slug=slug, title=slug, status=Study.Status.LIVE)
    question = Question.objects.create(
        study=study,
        key="q",
        title="Q",
        text="My friend is considering leaving her job. What should I tell her?",
    )
    start = timezone.now() - timedelta(hours=1)  # old enough for the sweep to call it stale
    for i in range(CARDS):
        ValuesCard.objects.create(
            study=study,
            question=question,
            status=ValuesCard.Status.SUBMITTED,
            submitted_at=start + timedelta(seconds=i),
            external_id=f"card-{i}",
            **make_card(rng, clusters[i % len(clusters)]),
        )
    return study


def structure(study: Study) -> dict:
    """What reconciliation made of a study, in terms that do not depend on row ids."""
    key = dict(ValuesCard.objects.filter(study=study).values_list("id", "external_id"))
    members: dict[int, set[str]] = {}
    for card_id, value_id in CardMapping.objects.filter(
        card__study=study, undone_at=None
    ).values_list("card_id", "value_id"):
        members.setdefault(value_id, set()).add(key[card_id])
    name = {value_id: ",".join(sorted(cards)) for value_id, cards in members.items()}
    texts = dict(Context.objects.filter(study=study).values_list("id", "text"))
    return {
        "clusters": sorted(name.values()),
        "contexts": sorted(
            (text, texts.get(dup))
            for text, dup in Context.objects.filter(study=study).values_list("text", "duplicate_of")
        ),
        "stories": sorted(
            (name[a], name[b], texts[c], direction)
            for a, b, c, direction in UpgradeHypothesis.objects.filter(study=study).values_list(
                "from_value", "to_value", "context", "direction"
            )
        ),
        "statuses": sorted(
            ValuesCard.objects.filter(study=study).values_list("external_id", "reconcile_status")
        ),
    }


def assert_consistent(study: Study) -> None:
    cards = ValuesCard.objects.filter(study=study)
    for card in cards:
        current = CardMapping.objects.filter(card=card, undone_at=None)
        if card.reconcile_status == ValuesCard.Reconcile.DONE:
            assert current.count() == 1, card
            assert current.get().value.is_active, card
        else:
            assert not CardMapping.objects.filter(card=card).exists(), card
    # One value per placed card, never two: a half-finished placement left no trace.
    assert (
        Value.objects.filter(study=study).count() == cards.filter(reconcile_status="done").count()
    )
    for value in Value.objects.filter(study=study):
        has_cards = CardMapping.objects.filter(value=value, undone_at=None).exists()
        merged_out = ValueMerge.objects.filter(from_value=value, undone_at=None).count()
        if value.is_active:
            assert has_cards and merged_out == 0, value
        else:
            assert not has_cards and merged_out == 1, value
    for story in UpgradeHypothesis.objects.filter(study=study):
        assert story.from_value.is_active and story.to_value.is_active


def pair_agreement(a: list[str], b: list[str]) -> float:
    """Rand index of two clusterings of the same cards (each a list of "card,card" names)."""

    def label(clusters):
        return {card: i for i, names in enumerate(clusters) for card in names.split(",")}

    la, lb = label(a), label(b)
    assert set(la) == set(lb), "the two passes placed different cards"
    cards = sorted(la)
    same = sum(
        (la[x] == la[y]) == (lb[x] == lb[y]) for i, x in enumerate(cards) for y in cards[i + 1 :]
    )
    return same / (len(cards) * (len(cards) - 1) / 2)


def finished(study: Study, expected: dict) -> dict | None:
    got = structure(study)
    return got if got["statuses"] == expected["statuses"] else None


def succeeded(worker: WorkerProcess, task: str) -> int:
    lines = worker.log_path.read_text(errors="replace").splitlines()
    return sum(f"moralgraph.tasks.{task}[" in line and "succeeded" in line for line in lines)


@pytest.fixture
def queue():
    from config.celery import app

    name = f"test-{uuid.uuid4().hex[:10]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = name
    yield name
    app.conf.task_default_queue = previous


def test_a_worker_killed_mid_reconcile_is_finished_by_the_next(transactional_db, tmp_path, queue):
    reference = build("uninterrupted")
    reconcile.reconcile_study(study=reference)
    expected = structure(reference)

    study = build("crashed")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SLOW_SITE)
    logs = ARTIFACTS / "workers"
    slow = django_env(
        CELERY_QUEUE=queue, PYTHONPATH=f"{site}:{ROOT}", MGE_TEST_OFFLINE_DELAY="0.05"
    )
    first = WorkerProcess(slow, queue, logs / f"crash-first-{queue}.log")
    second = WorkerProcess(
        django_env(CELERY_QUEUE=queue, RECONCILE_SWEEP_SECONDS="5"),
        queue,
        logs / f"crash-second-{queue}.log",
    )
    try:
        first.start()
        tasks.reconcile_study.delay(study.pk)
        done = ValuesCard.objects.filter(study=study, reconcile_status="done")
        wait_until(lambda: done.count() >= 10, timeout=90)
        first.kill()

        assert done.count() < CARDS, "the pass finished before the kill: make it slower"
        assert_consistent(study)

        # The killed message comes back only after the broker's visibility timeout;
        # the beat sweep finds the stale work much sooner.
        second.start()
        tasks.sweep_studies.delay()
        got = wait_until(lambda: finished(study, expected), timeout=180, interval=1)
        assert_consistent(study)
        assert got["contexts"] == expected["contexts"]
        assert len(got["stories"]) == len(set(got["stories"]))
        assert pair_agreement(got["clusters"], expected["clusters"]) >= 0.95

        # A late copy of the lost message (what the broker redelivers) changes nothing.
        ran = wait_until(lambda: succeeded(second, "reconcile_study"), timeout=60)
        structure_after = structure(study)
        tasks.reconcile_study.delay(study.pk)
        wait_until(lambda: succeeded(second, "reconcile_study") > ran, timeout=60)
        assert structure(study) == structure_after
    finally:
        first.stop()
        second.stop()
        connection.close()
