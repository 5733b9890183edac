"""Contexts: from questions once, from each interview once, deduplicated."""

import pytest
from django.utils import timezone

from elicitation import llm
from elicitation.models import Interview, LLMCall, Message, ValuesCard
from moralgraph import locks
from moralgraph.models import Context, UpgradeHypothesis
from moralgraph.services import contexts, reconcile
from tests.factories import (
    ContextFactory,
    InterviewFactory,
    ParticipantFactory,
    QuestionFactory,
    StudyFactory,
    UpgradeHypothesisFactory,
    ValueFactory,
    ValuesCardFactory,
)

pytestmark = pytest.mark.django_db

ABORTION = "I am a Christian girl and am considering getting an abortion. What should I do?"
HOMEWORK = "My 10-year-old son refuses to do his homework. What should I do?"


def interview_with_card(question, said):
    interview = InterviewFactory(
        participant=ParticipantFactory(study=question.study), question=question
    )
    Message.objects.create(interview=interview, seq=0, role="assistant", content="Hello")
    Message.objects.create(interview=interview, seq=1, role="user", content=said)
    ValuesCardFactory(
        interview=interview, status=ValuesCard.Status.SUBMITTED, submitted_at=timezone.now()
    )
    return interview


def test_each_question_gets_its_contexts_once():
    study = StudyFactory()
    abortion = QuestionFactory(study=study, text=ABORTION)
    homework = QuestionFactory(study=study, text=HOMEWORK)

    created = reconcile.extract_question_contexts(study)

    texts = set(abortion.contexts.values_list("text", flat=True))
    assert "When the user's faith bears on the choice" in texts
    assert "When a parent is guiding a child" in homework.contexts.values_list("text", flat=True)
    assert created == Context.objects.filter(study=study).count()
    assert all(c.source == Context.Source.QUESTION for c in Context.objects.filter(study=study))
    calls = LLMCall.objects.filter(stage="contexts").count()
    assert calls == 2

    assert reconcile.extract_question_contexts(study) == 0
    assert LLMCall.objects.filter(stage="contexts").count() == calls


def test_a_context_two_questions_share_is_one_row_linked_to_both():
    study = StudyFactory()
    first = QuestionFactory(study=study, text="Should I tell my boss? I have a decision to make.")
    second = QuestionFactory(study=study, text="Should I move abroad? It is a hard decision.")
    reconcile.extract_question_contexts(study)
    shared = Context.objects.get(
        study=study, text="When the user is facing a hard personal decision"
    )
    assert set(shared.questions.all()) == {first, second}


def test_an_interview_adds_its_contexts_once():
    study = StudyFactory()
    question = QuestionFactory(study=study, text="What should I tell my friend about this job?")
    interview = interview_with_card(question, "She is scared and anxious, and feels pressured.")

    with locks.study_lock(study.pk):
        stats = contexts.extract_interview_contexts(study, interview)
    again = Interview.objects.get(pk=interview.pk)
    with locks.study_lock(study.pk):
        contexts.extract_interview_contexts(study, again)

    distress = Context.objects.get(study=study, text="When the user is in distress")
    assert distress.source == Context.Source.INTERVIEW
    assert list(distress.questions.all()) == [question]
    assert again.contexts_extracted_at is not None
    assert stats.interviews == 1
    assert LLMCall.objects.filter(stage="contexts").count() == 1


def test_a_permanent_failure_on_an_interview_is_not_paid_for_again(monkeypatch):
    study = StudyFactory()
    interview = interview_with_card(QuestionFactory(study=study), "Something went wrong.")

    def structured(**kwargs):
        raise llm.LLMError("refused", stage="contexts", model="x", retryable=False)

    monkeypatch.setattr(llm, "structured", structured)
    with locks.study_lock(study.pk):
        stats = contexts.extract_interview_contexts(study, interview)
    interview.refresh_from_db()
    assert interview.contexts_extracted_at is not None
    assert stats.failures == 1


def test_contexts_worded_alike_are_folded_into_the_older_one():
    study = StudyFactory()
    question = QuestionFactory(study=study)
    older = ContextFactory(study=study, text="When the user is in distress")
    older.questions.add(question)
    other_question = QuestionFactory(study=study)
    newer = ContextFactory(study=study, text="When the user is distressed")
    newer.questions.add(other_question)
    unrelated = ContextFactory(study=study, text="When a parent is guiding a child")

    with locks.study_lock(study.pk):
        stats = contexts.dedup_contexts(study)

    newer.refresh_from_db()
    unrelated.refresh_from_db()
    assert newer.duplicate_of == older
    assert unrelated.duplicate_of is None
    assert set(older.questions.all()) == {question, other_question}
    assert stats.merged == 1
    # Every context is now embedded, which is what "already deduplicated" means.
    assert not Context.objects.filter(study=study, embedding=None).exists()
    calls = LLMCall.objects.count()
    with locks.study_lock(study.pk):
        contexts.dedup_contexts(study)
    assert LLMCall.objects.count() == calls


def test_stories_written_for_a_duplicate_context_are_retired():
    study = StudyFactory()
    older = ContextFactory(study=study, text="When the user is in distress")
    with locks.study_lock(study.pk):
        contexts.dedup_contexts(study)
    newer = ContextFactory(study=study, text="When the user is distressed")
    story = UpgradeHypothesisFactory(
        study=study,
        context=newer,
        from_value=ValueFactory(study=study),
        to_value=ValueFactory(study=study),
    )
    with locks.study_lock(study.pk):
        contexts.dedup_contexts(study)
    story.refresh_from_db()
    assert story.is_active is False
    assert UpgradeHypothesis.objects.filter(pk=story.pk).exists()
    newer.refresh_from_db()
    assert newer.duplicate_of == older


def test_context_text_is_cleaned():
    assert contexts.clean_text("  when the user   is sad. ") == "When the user is sad"
