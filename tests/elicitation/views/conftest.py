"""Fixtures of the journey's view tests."""

import pytest

from moralgraph.models import Value
from tests.helpers import XSS, make_study, seed_stories, seed_values


@pytest.fixture(autouse=True)
def _fast_llm(fast_llm):
    """Every test here runs with tests/conftest.py's fast_llm."""


@pytest.fixture
def graph_study():
    """An open study with three values to select from (one titled with markup) and
    stories on their pairs, sending finishers to a recruiter with a code."""
    study = make_study(completion_url="https://example.org/done", completion_code="C0DE")
    question = study.questions.get()
    values = seed_values(question, 3)
    Value.objects.filter(pk=values[0].pk).update(title=XSS, policies=[XSS, "B", "C"])
    seed_stories(study, values, question=question)
    return study
