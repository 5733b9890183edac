"""Training responses: the cache, generation with progress, and a failed call."""

import pytest

from elicitation import llm
from elicitation.models import LLMCall
from moralgraph.models import TrainingResponse
from moralgraph.services import training
from moralgraph.services.exports import load, needs
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

# Thresholds that let the fixture train, so that responses are needed (conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


@pytest.fixture
def wanted(study):
    return needs("dpo-jsonl", load(study=study, mode="default"))


def test_it_writes_each_missing_response_once_with_progress(study, wanted):
    seen = []
    written = training.generate(study=study, needs=wanted, progress=lambda *p: seen.append(p))
    assert set(written) == set(wanted)
    assert seen[0] == (0, len(wanted)) and seen[-1] == (len(wanted), len(wanted))
    assert TrainingResponse.objects.count() == len(wanted)
    row = TrainingResponse.objects.first()
    assert (row.model, row.prompt_version) == training.current_key(study)
    assert row.response

    calls = LLMCall.objects.filter(stage="response").count()
    again = training.generate(study=study, needs=wanted)
    assert LLMCall.objects.filter(stage="response").count() == calls
    assert {n: r.pk for n, r in again.items()} == {n: r.pk for n, r in written.items()}


def test_the_cache_is_keyed_by_model(study, wanted):
    training.generate(study=study, needs=wanted)
    study.response_model = "offline/response"  # the same provider under another name
    study.save()
    assert training.missing(study, wanted) == sorted(set(wanted))
    training.generate(study=study, needs=wanted)
    assert TrainingResponse.objects.count() == 2 * len(set(wanted))


def test_a_failed_call_keeps_what_was_written(study, wanted, monkeypatch):
    real = llm.structured
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise llm.LLMError("rate limited", stage="response", model="offline", retryable=True)
        return real(**kwargs)

    monkeypatch.setattr(llm, "structured", flaky)
    with pytest.raises(llm.LLMError):
        training.generate(study=study, needs=wanted)
    assert TrainingResponse.objects.count() == 2
    training.generate(study=study, needs=wanted)
    assert TrainingResponse.objects.count() == len(set(wanted))
