"""Upgrade stories: candidate pairs, both directions, incremental, never deleted."""

import pytest
from django.utils import timezone

from elicitation import llm
from elicitation.llm import embeddings
from elicitation.models import LLMCall, Selection, ValuesCard
from moralgraph import locks
from moralgraph.models import CardMapping, HypothesisRun, UpgradeHypothesis, Value
from moralgraph.services import hypotheses
from tests.factories import (
    ContextFactory,
    InterviewFactory,
    ParticipantFactory,
    QuestionFactory,
    StudyFactory,
    ValuesCardFactory,
)

pytestmark = pytest.mark.django_db


def value(study, question, title, policies):
    """A value with one card answering ``question``, as dedup would leave it."""
    interview = InterviewFactory(participant=ParticipantFactory(study=study), question=question)
    card = ValuesCardFactory(
        interview=interview,
        title=title,
        policies=policies,
        status=ValuesCard.Status.SUBMITTED,
        submitted_at=timezone.now(),
        reconcile_status=ValuesCard.Reconcile.DONE,
    )
    text = embeddings.card_text(title, card.description, policies)
    made = Value.objects.create(
        study=study,
        title=title,
        description=card.description,
        policies=policies,
        representative_card=card,
        embedding=embeddings.to_bytes(embeddings.local_embedding(text)),
    )
    CardMapping.objects.create(card=card, value=made)
    return made


def write(study):
    with locks.study_lock(study.pk):
        return hypotheses.write_hypotheses(study)


@pytest.fixture
def setting():
    study = StudyFactory()
    question = QuestionFactory(study=study)
    context = ContextFactory(study=study, text="When the user is facing a hard decision")
    context.questions.add(question)
    return study, question, context


def test_each_pair_gets_a_story_in_both_directions(setting):
    study, question, context = setting
    a = value(study, question, "Informed Autonomy", ["OPTIONS she has", "FEELINGS of pressure"])
    b = value(study, question, "Faithful Care", ["PRAYER with her", "FAITH community support"])

    stats = write(study)

    stories = UpgradeHypothesis.objects.filter(context=context)
    assert {(s.from_value_id, s.to_value_id) for s in stories} == {(a.pk, b.pk), (b.pk, a.pk)}
    assert sorted(s.direction for s in stories) == ["forward", "reverse"]
    story = stories.first()
    assert story.story.startswith("I used to live by")
    assert story.mapping and {"from", "to"} <= set(story.mapping[0])
    assert story.model == "offline"
    assert story.prompt_version == llm.load_prompt("moralgraph/hypothesis").version
    run = HypothesisRun.objects.get(study=study)
    assert run.finished_at is not None
    assert run.stats["written"] == 2
    assert stats.written == 2


def test_runs_are_incremental(setting):
    study, question, context = setting
    value(study, question, "Informed Autonomy", ["OPTIONS she has", "FEELINGS of pressure"])
    value(study, question, "Faithful Care", ["PRAYER with her", "FAITH community support"])
    write(study)
    first = set(UpgradeHypothesis.objects.values_list("id", "from_value_id", "to_value_id"))
    calls = LLMCall.objects.filter(stage="hypothesis").count()

    assert write(study).written == 0
    assert LLMCall.objects.filter(stage="hypothesis").count() == calls
    assert HypothesisRun.objects.count() == 1  # a pass with nothing to write leaves no run

    newcomer = value(study, question, "Family Ties", ["PARENTS who listen", "SIBLINGS nearby"])
    stats = write(study)
    now = set(UpgradeHypothesis.objects.values_list("id", "from_value_id", "to_value_id"))
    assert first < now
    assert all(newcomer.pk in pair[1:] for pair in now - first)
    assert stats.written == len(now - first) == 4


def test_values_of_other_questions_are_not_paired(setting):
    study, question, context = setting
    value(study, question, "Informed Autonomy", ["OPTIONS she has", "FEELINGS of pressure"])
    elsewhere = QuestionFactory(study=study)
    value(study, elsewhere, "Homework Patience", ["MOMENTS of frustration", "EFFORT he makes"])
    write(study)
    assert not UpgradeHypothesis.objects.exists()


def test_candidates_are_near_coselected_or_deepening():
    study = StudyFactory()
    question = QuestionFactory(study=study)
    base = value(study, question, "Calm Presence", ["MOMENTS of quiet", "BREATHING together"])
    deeper = value(
        study,
        question,
        "Grounded Presence",
        ["MOMENTS of quiet", "BREATHING together", "MEMORIES that steady her"],
    )
    far = [
        value(study, question, f"Other {n}", [f"TOPIC{n} alpha{n}", f"THEME{n} beta{n}"])
        for n in range(5)
    ]

    pairs = hypotheses.candidate_pairs(
        [base, deeper, *far], coselected={(min(base.pk, far[4].pk), max(base.pk, far[4].pk)): 3}
    )

    # The deeper value contains what the base attends to and more: base -> deeper.
    assert pairs[(base.pk, deeper.pk)] in {"near", "deepening"}
    assert any({base.pk, far[4].pk} == set(pair) for pair in pairs)
    # Bounded: each value brings a handful of partners, not all of them.
    assert len(pairs) <= 7 * (hypotheses.neighbours() + hypotheses.coselected_partners() + 1)


def test_coselection_comes_from_participants_picks(setting):
    study, question, context = setting
    a = value(study, question, "Informed Autonomy", ["OPTIONS she has", "FEELINGS of pressure"])
    b = value(study, question, "Faithful Care", ["PRAYER with her", "FAITH community support"])
    c = value(study, question, "Family Ties", ["PARENTS who listen", "SIBLINGS nearby"])
    for _ in range(2):
        participant = ParticipantFactory(study=study)
        for chosen in (a, c):
            Selection.objects.create(participant=participant, value=chosen, question=question)
    from moralgraph import selectors

    assert selectors.coselected_pairs(question.pk, {}) == {(min(a.pk, c.pk), max(a.pk, c.pk)): 2}
    assert b.pk  # b was never picked with anything


def test_a_refused_story_is_recorded_and_not_asked_again(setting, monkeypatch):
    study, question, context = setting
    value(study, question, "Informed Autonomy", ["OPTIONS she has", "FEELINGS of pressure"])
    value(study, question, "Faithful Care", ["PRAYER with her", "FAITH community support"])

    def structured(**kwargs):
        raise llm.LLMError("content filter", stage="hypothesis", model="x", retryable=False)

    monkeypatch.setattr(llm, "structured", structured)
    stats = write(study)
    assert stats.failures == 2
    assert len(HypothesisRun.objects.get().stats["failed"]) == 2

    monkeypatch.undo()
    assert write(study).planned == 0


def test_a_retired_story_is_not_written_again(setting):
    study, question, context = setting
    value(study, question, "Informed Autonomy", ["OPTIONS she has", "FEELINGS of pressure"])
    value(study, question, "Faithful Care", ["PRAYER with her", "FAITH community support"])
    write(study)
    UpgradeHypothesis.objects.update(is_active=False)
    assert write(study).written == 0
    assert UpgradeHypothesis.objects.count() == 2
