"""Reads of the journey: participants, questions, transcripts."""

import pytest

from elicitation import selectors
from elicitation.models import (
    Message,
)
from tests import factories
from tests.helpers import make_study

pytestmark = pytest.mark.django_db


def test_least_filled_question_prefers_the_emptiest_then_the_first():
    study = make_study()
    second = factories.QuestionFactory(study=study, key="b", position=1)
    assert selectors.least_filled_question(study).key == "main"
    factories.ParticipantFactory(study=study, question=study.questions.get(key="main"))
    assert selectors.least_filled_question(study) == second


def test_chat_history_leaves_out_replies_without_text():
    interview = factories.InterviewFactory()
    make = Message.objects.create
    make(interview=interview, seq=1, role="assistant", content="Hello")
    make(interview=interview, seq=2, role="user", content="Hi")
    make(interview=interview, seq=3, role="assistant", content="", status="failed")
    make(interview=interview, seq=4, role="user", content="Again")
    make(interview=interview, seq=5, role="assistant", content="Cut o", status="interrupted")
    make(interview=interview, seq=6, role="user", content="Still there?")
    make(interview=interview, seq=7, role="assistant", content="", status="pending")
    assert [m["content"] for m in selectors.chat_history(interview)] == [
        "Hello",
        "Hi",
        "Again",
        "Cut o",
        "Still there?",
    ]
    assert len(selectors.chat_history(interview, before_seq=4)) == 2
