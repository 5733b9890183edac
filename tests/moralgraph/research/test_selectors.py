"""The dashboard's figures (moralgraph.research.selectors): the funnel, the median time,
question balance, LLM spend per stage, the studies at a glance."""

from decimal import Decimal

import pytest

from elicitation.llm import stages
from elicitation.models import LLMCall, Participant, Study
from moralgraph.research import selectors
from tests import factories
from tests.moralgraph.support import card_value

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_the_funnel_counts_every_step(study):
    funnel = selectors.funnel(study)
    assert (funnel.agreed, funnel.declined, funnel.completed) == (4, 2, 2)
    assert funnel.answered_consent == 6
    reached = {s.step: s.reached for s in funnel.steps}
    assert reached == {
        "about": 4,
        "question": 4,
        "interview": 4,
        "card": 3,
        "selection": 3,
        "judgments": 3,
        "survey": 3,
        "done": 2,
    }
    now = {s.step: s.now for s in funnel.steps}
    assert now["interview"] == 1 and now["survey"] == 1 and now["done"] == 2


def test_the_median_ignores_participants_who_have_not_finished():
    study = factories.StudyFactory(slug="empty", estimated_minutes=15)
    factories.ParticipantFactory(study=study, step=Step.INTERVIEW)
    funnel = selectors.funnel(study)
    assert funnel.median_minutes is None and funnel.completion_percent == 0


def test_the_questions_stay_balanced(study):
    balance = selectors.question_balance(study)
    assert [(b.question.key, b.participants, b.completed) for b in balance] == [
        ("q1", 3, 1),
        ("q2", 1, 1),
    ]


def test_the_llm_spend_per_stage(study):
    spend = selectors.llm_spend(study)
    stages = {s.stage: s for s in spend.stages}
    assert list(stages) == ["interview", "dedup"]
    assert stages["interview"].calls == 2 and stages["interview"].cost == Decimal("0.03")
    assert stages["interview"].input_tokens == 300 and stages["interview"].output_tokens == 150
    assert stages["dedup"].errors == 1
    assert spend.total.calls == 3 and spend.total.cost == Decimal("0.53")
    assert spend.per_completion == Decimal("0.265")


def test_the_median_is_taken_over_finished_participants_only(study):
    funnel = selectors.funnel(study)
    assert funnel.median_minutes == 22.0 and funnel.timed == 2
    assert funnel.overrun_percent == 47 and funnel.over_estimate


def test_stages_are_listed_in_the_order_of_the_stage_table(study):
    for stage in ("response", "hypothesis", "articulate"):
        LLMCall.objects.create(study=study, stage=stage, model="m")
    listed = [s.stage for s in selectors.llm_spend(study).stages]
    assert listed == [name for name in stages.names() if name in listed]
    assert listed.index("articulate") < listed.index("hypothesis") < listed.index("response")


def test_study_summaries_count_each_study_apart(study):
    card_value(study, study.questions.first(), "Careful Listening")
    other = factories.StudyFactory(slug="other")
    factories.ParticipantFactory(study=other, step=Step.DONE)
    summaries = {s.study.slug: s for s in selectors.study_summaries()}
    live = summaries["live"]
    assert (live.started, live.completed, live.cards, live.values, live.questions) == (
        4,
        2,
        1,
        1,
        2,
    )
    assert (summaries["other"].started, summaries["other"].completed) == (1, 1)
    [only] = selectors.study_summaries(Study.objects.filter(pk=other.pk))
    assert only.study == other and only.last_activity is not None
