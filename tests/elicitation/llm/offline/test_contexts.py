"""Offline stage contexts: "When ..." situations from the question and interview."""

from __future__ import annotations

import pytest

from tests.elicitation.llm.offline.samples import QUESTION, TRANSCRIPT, structured


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            QUESTION,
            [
                "When the user is facing a hard personal decision",
                "When the user's faith bears on the choice",
                "When the user faces a medical choice",
                "When the user is considering an abortion",
            ],
        ),
        (
            "My 10-year-old son refuses to do his homework. What should I do?",
            [
                "When the user is facing a hard personal decision",
                "When a parent is guiding a child",
                "When the conversation is about homework",
            ],
        ),
        (
            "What weapons were used on January 6th?",
            [
                "When seeking factual information about a contested event",
                "When the topic is politically divisive",
                "When the conversation is about weapons",
            ],
        ),
    ],
)
def test_contexts_from_the_question(question, expected):
    assert structured("contexts", {"question": question})["contexts"] == expected


def test_contexts_add_what_the_interview_raised():
    contexts = structured(
        "contexts",
        {"question": "My son refuses to do his homework.", "transcript": TRANSCRIPT},
    )["contexts"]
    assert "When the user is in distress" in contexts  # "scared", "pressured"
    assert 1 <= len(contexts) <= 4
    assert all(c.startswith("When ") for c in contexts)
    assert len({c.lower() for c in contexts}) == len(contexts)


def test_contexts_always_give_one():
    contexts = structured("contexts", {"question": "?", "transcript": None})["contexts"]
    assert contexts == ["When the user asks for guidance on a hard question"]
