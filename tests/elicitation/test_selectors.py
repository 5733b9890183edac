"""Reads of the journey: participants, questions, transcripts, groups."""

import pytest

from elicitation import selectors
from elicitation.models import DemographicItem, Demographics, Impression, Message
from tests import factories
from tests.helpers import make_study, seed_values

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


# ---------------------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------------------


def _with_answers(study, answers):
    participant = factories.ParticipantFactory(study=study)
    if answers is not None:
        Demographics.objects.create(participant=participant, answers=answers)
    return participant


def test_only_the_studys_group_answers_form_groups():
    study = make_study()
    people = {
        label: _with_answers(study, answers)
        for label, answers in {
            "democrat": {"political_affiliation": "democrat"},
            "republican": {"political_affiliation": "republican", "age_band": "25-34"},
            "independent": {"political_affiliation": "independent"},
            "other": {"political_affiliation": "other"},
            "prefer_not": {"political_affiliation": "prefer_not"},
            "unanswered": {"age_band": "18-24"},  # answered the page, not this item
            "skipped": {},  # skipped the page
            "expired": None,  # never reached it
        }.items()
    }
    groups = selectors.participant_groups(study)
    assert groups == {
        people["democrat"].pk: "democrat",
        people["republican"].pk: "republican",
        **{
            people[label].pk: None
            for label in ("independent", "other", "prefer_not", "unanswered", "skipped", "expired")
        },
    }
    assert selectors.study_groups(study) == [("democrat", "Democrat"), ("republican", "Republican")]


def test_a_study_defines_its_own_groups():
    study = make_study(group_item_key="region", group_answers=["north", "south"])
    DemographicItem.objects.create(
        study=study, key="region", label="Region", choices=[["north", "North"], ["south", "South"]]
    )
    north = _with_answers(study, {"region": "north", "political_affiliation": "democrat"})
    democrat = _with_answers(study, {"political_affiliation": "democrat"})
    elsewhere = _with_answers(factories.StudyFactory(), {"region": "north"})
    groups = selectors.participant_groups(study)
    assert groups == {north.pk: "north", democrat.pk: None}
    assert elsewhere.pk not in groups
    assert selectors.study_groups(study) == [("north", "North"), ("south", "South")]


def test_no_group_item_means_no_groups():
    study = make_study(group_item_key="")
    person = _with_answers(study, {"political_affiliation": "democrat"})
    assert selectors.participant_groups(study) == {person.pk: None}
    assert selectors.study_groups(study) == []


def test_saw_others_values_means_an_impression_or_a_judgment():
    study = make_study()
    question = study.questions.get()
    participant = factories.ParticipantFactory(study=study, question=question)
    assert not selectors.saw_others_values(participant)
    [value] = seed_values(question, 1)
    Impression.objects.create(participant=participant, value=value, question=question)
    assert selectors.saw_others_values(participant)
