"""``manage.py preflight``: what it checks, what it says is missing, and its exit code."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from config.celery import app
from elicitation.llm.stages import STAGES
from elicitation.models import WorkerHeartbeat
from tests import factories
from tests.elicitation.llm import loopback

pytestmark = pytest.mark.django_db
LOOPBACK = f"openai/{loopback.MODEL}"


@pytest.fixture(autouse=True)
def offline(settings, monkeypatch):
    """Every stage offline, a live worker, no provider keys: a ready installation."""
    for stage in STAGES:
        setattr(settings, stage.model_setting, "offline")
    settings.EMBEDDING_MODEL = ""
    settings.LLM_API_BASE = ""
    settings.LLM_TIMEOUT = 2.0
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    WorkerHeartbeat.objects.create(name="worker", seen_at=timezone.now())


def preflight(*args) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("preflight", *args, stdout=out, no_color=True)
    except CommandError as failed:
        return failed.returncode, out.getvalue() + str(failed)
    return 0, out.getvalue()


def line(output: str, name: str) -> str:
    return next(row for row in output.splitlines() if f" {name} " in row)


def test_the_offline_provider_passes_without_keys():
    code, output = preflight()
    assert code == 0, output
    for stage in STAGES:
        assert line(output, stage.name).lstrip().startswith("ok")
    assert "the offline provider: no key, no network" in line(output, "interview")
    assert "the local deterministic embedding" in line(output, "embed")
    assert line(output, "database").lstrip().startswith("ok")
    assert line(output, "broker").lstrip().startswith("ok")
    assert line(output, "worker").lstrip().startswith("ok")
    assert "Ready: nothing missing." in output


def test_a_missing_key_is_named_and_fails(settings):
    settings.LLM_DEDUP_MODEL = "openai/gpt-4o-mini"
    code, output = preflight("--no-call")
    assert code == 1
    for stage in ("dedup", "contexts", "screen"):  # the stages LLM_DEDUP_MODEL serves
        row = line(output, stage)
        assert "MISSING" in row and "missing in the environment: OPENAI_API_KEY" in row
    assert line(output, "interview").lstrip().startswith("ok")
    assert "3 problems" in output


def test_a_model_litellm_does_not_know_fails(settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key")
    settings.LLM_HYPOTHESIS_MODEL = "openai/gpt-4o-minni"
    settings.LLM_RESPONSE_MODEL = "gpt-4o-minni"
    code, output = preflight("--no-call")
    assert code == 1
    assert "not in litellm's local cost map" in line(output, "hypothesis")
    assert "cannot tell which provider" in line(output, "response")


def test_a_self_hosted_model_behind_the_api_base_needs_no_price(settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key")
    settings.LLM_API_BASE = "http://127.0.0.1:9/v1"
    settings.LLM_INTERVIEW_MODEL = LOOPBACK
    code, output = preflight("--no-call")
    assert code == 0, output
    assert "logged at no cost" in line(output, "interview")


@pytest.fixture
def server(settings, monkeypatch):
    running = loopback.Loopback().start()
    settings.LLM_API_BASE = running.url
    settings.LLM_INTERVIEW_MODEL = LOOPBACK
    settings.LLM_ARTICULATE_MODEL = LOOPBACK
    monkeypatch.setenv("OPENAI_API_KEY", "loopback-not-a-secret")
    yield running
    running.stop()


def test_it_makes_one_1_token_call_per_model(server):
    code, output = preflight()
    assert code == 0, output
    # interview, articulate and revise share the model: one call.
    [request] = server.requests
    assert request["body"]["model"] == loopback.MODEL
    assert request["body"]["max_tokens"] == 1
    assert "a 1-token call answered" in line(output, "revise")


def test_no_call_makes_none(server):
    code, output = preflight("--no-call")
    assert code == 0, output
    assert server.requests == []


def test_a_failing_call_is_reported(server):
    server.push(loopback.status(401, "invalid api key"))
    code, output = preflight()
    assert code == 1
    assert "a 1-token call failed" in line(output, "interview")
    assert "invalid api key" in line(output, "interview")


def test_a_studys_own_models_are_checked(settings):
    factories.StudyFactory(slug="pilot", interview_model="openai/gpt-4o-mini")
    code, output = preflight("--no-call", "--study", "pilot")
    assert code == 1
    assert "OPENAI_API_KEY" in line(output, "interview")
    assert line(output, "dedup").lstrip().startswith("ok")
    code, output = preflight("--no-call", "--study", "nope")
    assert code == 1 and "no study 'nope'" in output


def test_a_broker_that_is_down_fails(monkeypatch):
    real = app.connection_for_write
    monkeypatch.setattr(app, "connection_for_write", lambda: real(url="redis://127.0.0.1:9/0"))
    code, output = preflight("--no-call")
    assert code == 1
    assert "cannot connect" in line(output, "broker")


def test_no_worker_or_a_silent_one_fails():
    WorkerHeartbeat.objects.all().delete()
    code, output = preflight("--no-call")
    assert code == 1 and "never seen" in line(output, "worker")
    WorkerHeartbeat.objects.create(name="worker", seen_at=timezone.now() - timedelta(minutes=5))
    code, output = preflight("--no-call")
    assert code == 1 and "over 2 minutes ago" in line(output, "worker")
