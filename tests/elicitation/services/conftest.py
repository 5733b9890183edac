"""Fixtures of the journey's service tests: participants on a given step."""

import pytest

from elicitation.models import Participant
from tests.helpers import advance_to, make_study, seed_stories, seed_values, start

Step = Participant.Step


@pytest.fixture(autouse=True)
def _fast_llm(fast_llm):
    """Every test here runs with tests/conftest.py's fast_llm."""


@pytest.fixture
def interviewing():
    """A participant on the interview step, with its opening line."""
    return advance_to(start(make_study()), Step.INTERVIEW)


@pytest.fixture
def selecting():
    """A participant on the selection step of a study with four values and stories on
    three pairs of them; and those values."""
    study = make_study(min_selections=1)
    question = study.questions.get()
    values = seed_values(question, 4)
    seed_stories(study, values, question=question)
    return advance_to(start(study), Step.SELECTION), values
