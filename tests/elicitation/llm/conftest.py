"""Every LLM test starts with the offline models, no offline faults and no real waiting."""

from __future__ import annotations

import pytest

from elicitation.llm import retry
from elicitation.llm.offline import provider
from elicitation.llm.stages import STAGES


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch, settings):
    """Backoff is recorded instead of slept; every test starts with no offline faults."""
    sleeps: list[float] = []

    async def asleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(retry, "_sleep", sleeps.append)
    monkeypatch.setattr(retry, "_asleep", asleep)
    monkeypatch.delenv("LLM_OFFLINE_FAULT", raising=False)
    monkeypatch.setattr(provider, "_fault_counts", {})
    settings.LLM_MAX_RETRIES = 3
    settings.LLM_RETRY_BASE_SECONDS = 1.0
    settings.EMBEDDING_MODEL = ""
    for stage in STAGES:
        if stage.offline:
            setattr(settings, stage.model_setting, "offline")
    return sleeps


@pytest.fixture
def sleeps(_no_waiting):
    return _no_waiting
