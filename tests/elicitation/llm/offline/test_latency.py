"""LLM_OFFLINE_LATENCY_SECONDS: the offline provider waits like a real model on
non-streamed calls, by stage or for all."""

import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import settings as config_settings
from elicitation.llm.offline import provider


def test_it_is_zero_by_default(settings):
    settings.LLM_OFFLINE_LATENCY_SECONDS = {}
    assert provider.latency("articulate") == 0


def test_it_reads_one_number_or_stages(monkeypatch):
    monkeypatch.setenv("LLM_OFFLINE_LATENCY_SECONDS", "5")
    assert config_settings._offline_latency("LLM_OFFLINE_LATENCY_SECONDS") == {"*": 5.0}
    monkeypatch.setenv("LLM_OFFLINE_LATENCY_SECONDS", "articulate:5, revise:2.5,*:1")
    assert config_settings._offline_latency("LLM_OFFLINE_LATENCY_SECONDS") == {
        "articulate": 5.0,
        "revise": 2.5,
        "*": 1.0,
    }


@pytest.mark.parametrize("bad", ["soon", "articulate:-1", "revise:9999"])
def test_a_bad_value_fails_loudly(monkeypatch, bad):
    monkeypatch.setenv("LLM_OFFLINE_LATENCY_SECONDS", bad)
    with pytest.raises(ImproperlyConfigured):
        config_settings._offline_latency("LLM_OFFLINE_LATENCY_SECONDS")


def test_a_stage_waits_its_own_time_and_the_rest_the_default(settings):
    settings.LLM_OFFLINE_LATENCY_SECONDS = {"articulate": 0.3, "*": 0.0}
    assert provider.latency("articulate") == 0.3
    assert provider.latency("dedup") == 0.0


@pytest.mark.django_db
def test_a_non_streamed_call_waits(settings):
    from elicitation import llm

    settings.LLM_OFFLINE_LATENCY_SECONDS = {"revise": 0.4}
    began = time.perf_counter()
    llm.structured(
        stage="revise",
        prompt=llm.load_prompt("elicitation/revise"),
        payload={
            "question": "Q?",
            "card": {"title": "Two Words", "description": "D.", "policies": ["A", "B", "C"]},
            "request": "shorter",
        },
    )
    assert time.perf_counter() - began >= 0.4
