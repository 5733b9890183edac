"""manage.py dedup: a dry run shows the candidates and the calls, and writes nothing."""

import pytest
from django.core.management import CommandError, call_command

from elicitation.models import LLMCall, ValuesCard
from tests.factories import StudyFactory
from tests.moralgraph.support import AUTONOMY, AUTONOMY_AGAIN, dedup_state, place_all, submit

pytestmark = pytest.mark.django_db

# Nothing like the autonomy cards, not even their little words.
MONEY = ("Tidy Accounts", ["INVOICES overdue", "RECEIPTS filed monthly", "SAVINGS goals"])


@pytest.fixture
def study():
    study = StudyFactory(slug="dry")
    submit(study, AUTONOMY)
    place_all(study)
    submit(study, AUTONOMY_AGAIN)
    money = submit(study, MONEY)
    ValuesCard.objects.filter(pk=money.pk).update(description="Tracking household money.")
    return study


def test_a_dry_run_prints_candidates_and_calls_and_writes_nothing(study, capsys):
    state, calls = dedup_state(study), LLMCall.objects.count()

    call_command("dedup", "--study", "dry", "--dry-run")

    out = capsys.readouterr().out
    assert f"{AUTONOMY_AGAIN[0]!r} (call 1)" in out
    assert f"{MONEY[0]!r} (no call: no candidate)" in out
    assert f"via card {ValuesCard.objects.get(title=AUTONOMY[0]).pk} {AUTONOMY[0]!r}" in out
    assert "a pass would make 1 judge call(s). Nothing was written." in out
    assert "judge:" not in out
    assert dedup_state(study) == state
    assert LLMCall.objects.count() == calls
    assert ValuesCard.objects.filter(study=study, embedded_at=None).count() == 2


def test_with_judge_it_asks_and_prints_decisions_but_merges_nothing(study, capsys):
    state = dedup_state(study)

    call_command("dedup", "--study", "dry", "--dry-run", "--judge")

    out = capsys.readouterr().out
    value = ValuesCard.objects.get(title=AUTONOMY[0]).mappings.get().value_id
    assert f"judge: same as value {value}" in out
    assert "; asked. Nothing was written." in out
    assert LLMCall.objects.filter(study=study, stage="dedup").count() == 1  # logged
    assert dedup_state(study) == state


def test_without_dry_run_it_places_the_pending_cards(study, capsys):
    call_command("dedup", "--study", "dry")

    assert '"placed": 2' in capsys.readouterr().out
    assert not ValuesCard.objects.filter(study=study, reconcile_status="pending").exists()


def test_it_refuses_judge_without_dry_run_and_an_unknown_study():
    with pytest.raises(CommandError, match="no study"):
        call_command("dedup", "--study", "nope", "--dry-run")
    StudyFactory(slug="s")
    with pytest.raises(CommandError, match="--judge goes with --dry-run"):
        call_command("dedup", "--study", "s", "--judge")
