"""python manage.py simulate: walks, prints the figures and stores the run."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from elicitation.models import Participant
from moralgraph.models import SimulationRun
from tests.helpers import make_study, seed_stories, seed_values

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(fast_llm):
    """No pauses between offline tokens."""


@pytest.fixture
def study():
    study = make_study()
    question = study.questions.get()
    seed_stories(study, seed_values(question, 3), question=question)
    return study


def _simulate(*args) -> str:
    out = StringIO()
    call_command("simulate", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_prints_the_figures_and_stores_the_run(study):
    out = _simulate("--study", study.slug, "--participants", "2", "--planned", "300")

    assert "Simulated participants: 2 (2 reached done, 2 marked as test)" in out
    assert "interview" in out and "median s" in out and "calls/p" in out
    assert "Cost estimate for 300 participants:" in out
    assert "unknown price" in out  # the offline model has no price
    run = SimulationRun.objects.get(study=study)
    assert run.status == SimulationRun.Status.DONE and run.planned_participants == 300
    assert run.figures["stages"]["interview"]["calls"] >= 6
    # The reconciliation pass after the walk is measured too.
    assert "contexts" in run.figures["stages"]
    assert Participant.objects.filter(study=study, is_test=False).count() == 0


def test_a_price_model_gives_a_number(study):
    out = _simulate(
        "--study",
        study.slug,
        "--participants",
        "1",
        "--no-reconcile",
        "--price-model",
        "gpt-4o-mini",
    )
    assert "priced as gpt-4o-mini" in out
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert "$" in total and "unknown" not in total


def test_it_refuses_an_unknown_study_and_a_bad_budget(study):
    with pytest.raises(CommandError, match="No study"):
        _simulate("--study", "nope", "--participants", "1")
    with pytest.raises(CommandError, match="--budget"):
        _simulate("--study", study.slug, "--participants", "1", "--budget", "lots")
