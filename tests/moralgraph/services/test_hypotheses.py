"""Upgrade stories: candidate pairs, both directions, incremental, never deleted."""

from decimal import Decimal

import pytest
from django.utils import timezone

from elicitation import llm
from elicitation.llm import embeddings
from elicitation.models import LLMCall, Selection, ValuesCard, WiserJudgment
from moralgraph import locks
from moralgraph.models import CardMapping, HypothesisRun, UpgradeHypothesis, Value
from moralgraph.services import hypotheses, scoring
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


# --- Story cost: batches, the budget, the most informative pairs first ------------------

AUTONOMY = ("Informed Autonomy", ["OPTIONS she has", "FEELINGS of pressure"])
CARE = ("Faithful Care", ["PRAYER with her", "FAITH community support"])
FAMILY = ("Family Ties", ["PARENTS who listen", "SIBLINGS nearby"])
HONESTY = ("Plain Honesty", ["FACTS she asks for", "RISKS stated plainly"])


def test_one_call_writes_the_stories_of_several_pairs(setting, settings):
    settings.HYPOTHESIS_BATCH_PAIRS = 3
    study, question, context = setting
    for title, policies in (AUTONOMY, CARE, FAMILY):
        value(study, question, title, policies)

    stats = write(study)

    assert stats.written == 6  # three pairs, both directions
    assert LLMCall.objects.filter(study=study, stage="hypothesis").count() == 1
    assert HypothesisRun.objects.get().calls == 1


def test_the_story_budget_caps_the_calls_and_the_rest_waits(setting, settings):
    settings.HYPOTHESIS_BATCH_PAIRS = 1
    study, question, context = setting
    study.story_budget = Decimal("0.5")
    study.save()
    for title, policies in (AUTONOMY, CARE, FAMILY, HONESTY):
        value(study, question, title, policies)

    stats = write(study)

    # Four cards at half a call each: two calls, one pair each.
    assert LLMCall.objects.filter(study=study, stage="hypothesis").count() == 2
    assert stats.written == 4
    assert stats.deferred == stats.planned - 4 > 0
    assert write(study).written == 0  # spent: nothing until more cards come

    study.story_budget = Decimal("0")
    study.save()
    value(study, question, "Quiet Presence", ["SILENCE she may need", "TIME to think"])
    assert write(study).written == 0
    study.story_budget = Decimal("1")
    study.save()
    assert write(study).written > 0


def test_the_budget_counts_refused_calls_too(setting, settings, monkeypatch):
    settings.HYPOTHESIS_BATCH_PAIRS = 3
    study, question, context = setting
    for title, policies in (AUTONOMY, CARE):
        value(study, question, title, policies)

    def structured(**kwargs):
        raise llm.LLMError("content filter", stage="hypothesis", model="x", retryable=False)

    monkeypatch.setattr(llm, "structured", structured)
    write(study)

    # The pair's call, then one call per story to find which the model refuses.
    assert HypothesisRun.objects.get().calls == 3
    assert hypotheses.budget_left(study) == 0


def test_unjudged_pairs_and_pairs_near_the_top_come_first(setting, monkeypatch):
    study, question, context = setting
    a, b, c, d = (value(study, question, *card) for card in (AUTONOMY, CARE, FAMILY, HONESTY))
    monkeypatch.setattr(
        hypotheses, "candidate_pairs", lambda values, together: {
            (a.pk, b.pk): "near", (a.pk, c.pk): "near", (b.pk, d.pk): "near", (c.pk, d.pk): "near"
        }
    )  # fmt: skip
    # a-b was judged (in a story of another context); d is the context's wisest, then c.
    other = ContextFactory(study=study)
    story = UpgradeHypothesis.objects.create(
        study=study, from_value=a, to_value=b, context=other, story="s"
    )
    WiserJudgment.objects.create(
        participant=ParticipantFactory(study=study),
        hypothesis=story,
        pair_key=WiserJudgment.make_pair_key(a.pk, b.pk),
        verdict="upgrade",
    )
    monkeypatch.setattr(hypotheses, "_ranks", lambda study: {context.pk: {d.pk: 0, c.pk: 1}})

    plan = hypotheses.plan_stories(study, hypotheses.HypothesisStats())

    pairs = [{src for src, _, _ in p.todo} for p in plan]
    assert pairs == [{c.pk, d.pk}, {b.pk, d.pk}, {a.pk, c.pk}, {a.pk, b.pk}]


def test_ranks_come_from_the_latest_snapshot(setting):
    study, question, context = setting
    a, b = value(study, question, *AUTONOMY), value(study, question, *CARE)
    assert hypotheses._ranks(study) == {}
    story = UpgradeHypothesis.objects.create(
        study=study, from_value=a, to_value=b, context=context, story="s"
    )
    for _ in range(3):
        WiserJudgment.objects.create(
            participant=ParticipantFactory(study=study),
            hypothesis=story,
            pair_key=WiserJudgment.make_pair_key(a.pk, b.pk),
            verdict="upgrade",
        )
    scoring.score_study(study=study)

    assert hypotheses._ranks(study)[context.pk] == {b.pk: 0, a.pk: 1}
