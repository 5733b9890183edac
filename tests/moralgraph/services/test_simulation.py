"""A simulated pilot: personas walk the real journey as test participants, and the run
stores its figures and a cost estimate."""

from decimal import Decimal

import pytest

from elicitation.llm.models import LLMCall
from elicitation.models import Participant
from elicitation.selectors import counted_participants
from moralgraph.models import SimulationRun
from moralgraph.services import simulation
from moralgraph.services.personas import PERSONAS
from tests.helpers import make_study, seed_stories, seed_values

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(fast_llm):
    """No pauses between offline tokens, no retries."""


@pytest.fixture
def small_study():
    """An open study with values to pick and stories to judge."""
    study = make_study(max_completed=40)
    question = study.questions.get()
    values = seed_values(question, 3)
    seed_stories(study, values, question=question)
    return study


def test_three_personas_reach_done_as_test_participants(small_study):
    run = simulation.simulation_create(study=small_study, participants=3)
    run = simulation.simulation_run(run=run, reconcile_after=False)

    assert run.status == SimulationRun.Status.DONE, run.error
    walkers = Participant.objects.filter(study=small_study)
    assert walkers.count() == 3
    assert all(p.is_test for p in walkers)
    assert all(p.step == Participant.Step.DONE for p in walkers)
    assert counted_participants(small_study).count() == 0
    figures = run.figures
    assert figures["completed"] == 3 and figures["test_participants"] == 3
    assert figures["personas"] == sorted(p.key for p in PERSONAS[:3])
    for step in ("consent", "interview", "card", "selection", "judgments", "survey"):
        assert figures["steps"][step]["n"] == 3
        assert figures["steps"][step]["p95_s"] >= figures["steps"][step]["median_s"]
    stages = figures["stages"]
    # Every persona sent at least the study's three messages, each answered once.
    assert stages["interview"]["calls"] >= 9
    per = stages["interview"]["per_participant"]["calls"]
    assert per == pytest.approx(stages["interview"]["calls"] / 3, abs=0.01)
    assert stages["articulate"]["calls"] == 3
    assert stages["simulate"]["calls"] >= stages["interview"]["calls"]
    # The first persona asks for a change to its card.
    assert stages["revise"]["calls"] >= 1
    assert run.planned_participants == 40
    assert figures["estimate"]["total_usd"] is None  # the offline model has no price


def test_the_personas_type_what_their_style_says(small_study):
    run = simulation.simulation_create(study=small_study, participants=2)
    simulation.simulation_run(run=run, reconcile_after=False)
    verbose, terse = Participant.objects.filter(study=small_study).order_by("created_at").all()[:2]
    first = lambda p: p.interviews.get().messages.filter(role="user").order_by("seq").first()  # noqa: E731
    assert len(first(verbose).content.split()) > 40
    assert len(first(terse).content.split()) < 8


def test_the_estimate_prices_known_models_and_says_unknown_for_the_others(small_study):
    small_study.interview_model = "gpt-4o-mini"
    usage = {
        "interview": {"per_participant": {"calls": 4, "input_tokens": 1000, "output_tokens": 200}},
        "articulate": {"per_participant": {"calls": 1, "input_tokens": 500, "output_tokens": 100}},
        "simulate": {"per_participant": {"calls": 5, "input_tokens": 900, "output_tokens": 90}},
    }
    estimate = simulation.cost_estimate(small_study, usage, 500)

    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens.
    assert estimate["stages"]["interview"]["usd"] == pytest.approx(
        500 * (1000 * 0.15 + 200 * 0.6) / 1e6
    )
    assert estimate["stages"]["articulate"]["price"] == "unknown price"  # offline
    assert estimate["total_usd"] is None and estimate["unknown_price"] == ["articulate"]
    assert "simulate" not in estimate["stages"]  # the personas are not participants

    priced = simulation.cost_estimate(small_study, usage, 500, price_model="gpt-4o-mini")
    assert priced["total_usd"] == pytest.approx(
        500 * (1000 * 0.15 + 200 * 0.6 + 500 * 0.15 + 100 * 0.6) / 1e6, abs=0.005
    )
    assert "unknown price" in simulation.format_figures(
        {
            "participants": 1,
            "completed": 1,
            "test_participants": 1,
            "concurrency": 1,
            "wall_seconds": 1.0,
            "steps": {},
            "stages": {},
            "estimate": estimate,
        }
    )


def test_a_run_budget_stops_new_participants(small_study):
    LLMCall.objects.create(stage="interview", model="x", study=small_study, cost=Decimal("5"))
    run = simulation.simulation_create(study=small_study, participants=2)
    run = simulation.simulation_run(run=run, budget_usd=Decimal("0"), reconcile_after=False)

    assert run.status == SimulationRun.Status.DONE
    assert run.figures["completed"] == 0
    assert "budget" in run.error
    assert not Participant.objects.filter(study=small_study).exists()


def test_the_task_claims_a_queued_run_once(small_study):
    run = simulation.simulation_create(study=small_study, participants=1)
    SimulationRun.objects.filter(pk=run.pk).update(status=SimulationRun.Status.RUNNING)
    assert simulation.simulation_start(run_id=run.pk) is None  # someone else has it
    assert not Participant.objects.filter(study=small_study).exists()


@pytest.mark.django_db(transaction=True)
def test_participants_walk_at_once_in_threads():
    study = make_study()
    question = study.questions.get()
    seed_stories(study, seed_values(question, 3), question=question)

    run = simulation.simulation_create(study=study, participants=3)
    run = simulation.simulation_run(run=run, concurrency=3, reconcile_after=False)

    assert run.status == SimulationRun.Status.DONE, run.error
    assert run.figures["completed"] == 3 and run.figures["concurrency"] == 3
    assert Participant.objects.filter(study=study, is_test=True, step="done").count() == 3


def test_a_page_is_read_as_a_browser_reads_it():
    page = simulation.parse_page(
        """<div hx-get="/s/x/card/status/" hx-trigger="every 1s"></div>
        <div data-stream-url="/s/x/interview/reply/7/?after=0"></div>
        <form method="post" action="/s/x/survey/">
          <input type="hidden" name="csrfmiddlewaretoken" value="tok">
          <input type="radio" name="fair" value="1"><input type="radio" name="fair" value="2">
          <input type="checkbox" name="private" checked>
          <select name="age"><option value="">--</option><option value="18-24">a</option></select>
          <textarea name="note">kept &amp; sent</textarea>
          <button name="action" value="save">Save</button>
        </form>"""
    )
    assert page.polls == ["/s/x/card/status/"]
    assert page.stream_urls == ["/s/x/interview/reply/7/?after=0"]
    form = page.forms[0]
    assert (form.action, form.method) == ("/s/x/survey/", "post")
    assert simulation.Walker._values(form) == {
        "csrfmiddlewaretoken": "tok",
        "private": "on",
        "note": "kept & sent",
    }
    chosen = simulation.Walker._values(form, lambda field, options: options[-1:])
    assert chosen["fair"] == "2" and chosen["age"] == "18-24"


def test_it_walks_a_site_served_over_https_with_its_own_host(small_study, settings):
    settings.ALLOWED_HOSTS = ["mge.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    run = simulation.simulation_create(study=small_study, participants=1)
    run = simulation.simulation_run(run=run, reconcile_after=False)
    assert run.figures["completed"] == 1, run.error


def test_the_sweep_fails_a_run_its_worker_left_running():
    from datetime import timedelta

    from django.utils import timezone

    from moralgraph.services import sweep

    study = make_study()
    old = timezone.now() - timedelta(hours=3)
    lost = SimulationRun.objects.create(
        study=study, participants=5, status=SimulationRun.Status.RUNNING, created_at=old
    )
    going = SimulationRun.objects.create(
        study=study, participants=5, status=SimulationRun.Status.RUNNING
    )
    done = SimulationRun.objects.create(
        study=study, participants=5, status=SimulationRun.Status.DONE, created_at=old
    )

    sweep.sweep()

    lost.refresh_from_db(), going.refresh_from_db(), done.refresh_from_db()
    assert lost.status == SimulationRun.Status.FAILED and "Start it again" in lost.error
    assert going.status == SimulationRun.Status.RUNNING
    assert done.status == SimulationRun.Status.DONE
