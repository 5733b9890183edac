"""Reads of the journey: participants, questions, transcripts, groups."""

import pytest
from django.http import Http404

from elicitation import selectors
from elicitation.models import DemographicItem, Demographics, Impression, Message, Study
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


# --- The study of a participant's request ---------------------------------------------


def test_a_study_read_again_soon_costs_no_query_and_is_a_copy(django_assert_num_queries):
    study = make_study()
    first = selectors.published_study(study.slug)
    first.title = "changed by one request"
    with django_assert_num_queries(0):
        again = selectors.published_study(study.slug)
    assert again.pk == study.pk and again.title == study.title


def test_a_study_saved_in_this_process_is_read_afresh():
    study = make_study()
    selectors.published_study(study.slug)
    study.status = Study.Status.CLOSED
    study.save(update_fields=["status"])
    assert selectors.published_study(study.slug).status == Study.Status.CLOSED


def test_a_change_made_elsewhere_is_seen_once_the_cache_time_is_over(settings, monkeypatch):
    settings.STUDY_CACHE_SECONDS = 2.0
    clock = [1000.0]
    monkeypatch.setattr(selectors.time, "monotonic", lambda: clock[0])
    study = make_study()
    selectors.published_study(study.slug)
    # Another process (a worker, a researcher's web process) sends no signal here.
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSING)
    clock[0] += 1.9
    assert selectors.published_study(study.slug).status == Study.Status.LIVE
    clock[0] += 0.2
    assert selectors.published_study(study.slug).status == Study.Status.CLOSING


def test_no_cache_time_reads_each_time(settings, django_assert_num_queries):
    settings.STUDY_CACHE_SECONDS = 0
    study = make_study()
    selectors.published_study(study.slug)
    with django_assert_num_queries(1):
        selectors.published_study(study.slug)


def test_a_draft_study_is_not_found_until_it_leaves_draft():
    study = make_study(status=Study.Status.DRAFT)
    with pytest.raises(Http404):
        selectors.published_study(study.slug)
    study.status = Study.Status.PILOT
    study.save(update_fields=["status"])
    assert selectors.published_study(study.slug).pk == study.pk


# The participant's two reads of every request (SQL of their own on PostgreSQL), held to
# what the ORM reads.


def _orm_fields(model, obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}


def _participants_in_every_state(study):
    from django.utils import timezone

    from elicitation.models import Participant

    question = study.questions.first()
    now = timezone.now()
    return [
        factories.ParticipantFactory(study=study, question=None),
        factories.ParticipantFactory(study=study, question=question, recruiter_pid="P-1"),
        factories.ParticipantFactory(
            study=study,
            question=question,
            step=Participant.Step.DONE,
            skipped_steps=["about", "selection"],
            consented_at=now,
            completed_at=now,
            completion_code="C0DE",
            is_test=True,
            screened_out_at=now,
            abandoned_at=now,
        ),
    ]


def test_the_participant_is_read_as_the_orm_reads_them(django_assert_num_queries):
    from elicitation.models import Participant, Question

    study = make_study()
    for made in _participants_in_every_state(study):
        expected = Participant.objects.select_related("question").get(pk=made.pk)
        with django_assert_num_queries(1):
            read = selectors.participant_by_public_id(study, str(made.public_id))
            question = read.question  # read with the participant, not afterwards
            assert read.study is study
        assert _orm_fields(Participant, read) == _orm_fields(Participant, expected)
        assert type(read.skipped_steps) is type(expected.skipped_steps)
        if expected.question is None:
            assert question is None
        else:
            assert _orm_fields(Question, question) == _orm_fields(Question, expected.question)
        assert not read._state.adding and read._state.db == "default"
        read.save(update_fields=["step"])  # an object the ORM can save as its own


def test_an_unknown_malformed_or_other_studys_id_is_no_one():
    study, other = make_study(), make_study(slug="other")
    elsewhere = factories.ParticipantFactory(study=other)
    for public_id in ("", None, "not-a-uuid", "\x00", str(elsewhere.public_id)):
        assert selectors.participant_by_public_id(study, public_id) is None
    assert selectors.participant_by_public_id(other, str(elsewhere.public_id)) == elsewhere


def test_the_lock_reads_as_the_orm_and_only_inside_a_transaction():
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from elicitation.models import Participant

    study = make_study()
    for made in _participants_in_every_state(study):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            locked = selectors.participant_for_update(made.pk)
        assert _orm_fields(Participant, locked) == _orm_fields(
            Participant, Participant.objects.get(pk=made.pk)
        )
        if connection.vendor == "postgresql":
            assert queries.captured_queries[-1]["sql"].rstrip().endswith("FOR UPDATE")
    with pytest.raises(Participant.DoesNotExist), transaction.atomic():
        selectors.participant_for_update(10**12)


@pytest.mark.django_db(transaction=True)
def test_a_lock_outside_a_transaction_is_refused_as_the_orm_refuses_it():
    from django.db.transaction import TransactionManagementError

    from elicitation.models import Participant

    made = factories.ParticipantFactory(study=make_study())
    with pytest.raises(TransactionManagementError):
        Participant.objects.select_for_update().get(pk=made.pk)
    with pytest.raises(TransactionManagementError):
        selectors.participant_for_update(made.pk)
