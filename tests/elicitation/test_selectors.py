"""Reads of the journey: transcripts, the selection draw, the story draw, graph position."""

import pytest

from elicitation import selectors
from elicitation.models import (
    Impression,
    JudgmentAssignment,
    Message,
    Participant,
    Selection,
    ValuesCard,
    WiserJudgment,
)
from moralgraph import vectors
from moralgraph.models import CardMapping, GraphSnapshot, Value
from tests import factories
from tests.elicitation.journey_support import (
    advance_to,
    make_study,
    seed_stories,
    seed_values,
    start,
)

pytestmark = pytest.mark.django_db
Step = Participant.Step


@pytest.fixture(autouse=True)
def _fast_llm(settings):
    settings.OFFLINE_STREAM_DELAY_MS = 0
    settings.LLM_MAX_RETRIES = 0


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


# --- The selection draw ------------------------------------------------------------------------


@pytest.fixture
def carded():
    """A participant with a submitted card about listening, and its value."""
    study = make_study(selection_enabled=False, judgments_enabled=False)
    participant = advance_to(start(study), Step.SURVEY)
    card = selectors.submitted_card(participant)
    own = Value.objects.create(
        study=study, title=card.title, description=card.description, policies=card.policies
    )
    CardMapping.objects.create(card=card, value=own)
    return participant, own


def _embed(value: Value, text: str) -> None:
    value.embedding = vectors.to_bytes(vectors.local_embedding(text))
    value.save()


def test_the_draw_leaves_out_the_participants_own_value_and_other_questions(carded):
    participant, own = carded
    mine = seed_values(participant.question, 3)
    other_question = factories.QuestionFactory(study=participant.study, key="other")
    seed_values(other_question, 3, prefix="Elsewhere")
    retired = seed_values(participant.question, 1, prefix="Retired")[0]
    Value.objects.filter(pk=retired.pk).update(is_active=False)
    drawn = selectors.draw_values(participant, count=10)
    assert {d.value.pk for d in drawn} == {v.pk for v in mine}
    assert own.pk not in {d.value.pk for d in drawn}


def test_the_draw_takes_at_most_count_and_is_stable_for_a_participant(carded):
    participant, _ = carded
    seed_values(participant.question, 9)
    first = [d.value.pk for d in selectors.draw_values(participant, count=6)]
    assert len(first) == 6 == len(set(first))
    assert first == [d.value.pk for d in selectors.draw_values(participant, count=6)]


def test_the_draw_mixes_nearest_most_selected_and_least_seen(carded):
    participant, _ = carded
    card = selectors.submitted_card(participant)
    values = seed_values(participant.question, 9)
    for value in values:
        _embed(value, f"unrelated {value.title} gardening recipes")
    near = values[0]
    _embed(near, vectors.card_text(card.title, card.description, card.policies))
    # values[1] was shown twice and picked both times; others were shown and not picked.
    viewers = [factories.ParticipantFactory(study=participant.study) for _ in range(2)]
    for viewer in viewers:
        for value in values[1:4]:
            Impression.objects.create(
                participant=viewer, value=value, question=participant.question
            )
        Selection.objects.create(participant=viewer, value=values[1], question=participant.question)
    drawn = {d.value.pk: d.reason for d in selectors.draw_values(participant, count=6)}
    assert drawn[near.pk] == "near"
    assert drawn[values[1].pk] == "popular"
    # The rest come from the never-shown values.
    sparse = [pk for pk, reason in drawn.items() if reason == "sparse"]
    assert sparse and all(pk not in {v.pk for v in values[1:4]} for pk in sparse)


def test_the_draw_skips_the_nearest_part_without_embeddings(carded):
    participant, _ = carded
    seed_values(participant.question, 4)
    reasons = {d.reason for d in selectors.draw_values(participant, count=3)}
    assert "near" not in reasons


# --- The story draw ------------------------------------------------------------------------


@pytest.fixture
def judging():
    study = make_study(selection_enabled=False, judgment_count=2)
    question = study.questions.get()
    values = seed_values(question, 4)
    return study, question, values


def test_a_pair_is_never_drawn_twice_in_either_direction(judging):
    study, question, values = judging
    stories = seed_stories(study, values, question=question)
    participant = start(study)
    forward = stories[0]
    WiserJudgment.objects.create(
        participant=participant,
        hypothesis=forward,
        pair_key=WiserJudgment.make_pair_key(forward.from_value_id, forward.to_value_id),
        verdict="upgrade",
    )
    drawn = selectors.draw_hypotheses(participant, count=10)
    keys = [WiserJudgment.make_pair_key(h.from_value_id, h.to_value_id) for h in drawn]
    assert len(keys) == len(set(keys)) == 2
    assert WiserJudgment.make_pair_key(forward.from_value_id, forward.to_value_id) not in keys


def test_directions_are_balanced_across_participants(judging):
    study, question, values = judging
    seed_stories(study, values[:2], question=question)  # one pair, both directions
    first = start(study, session_key="a")
    (one,) = selectors.draw_hypotheses(first, count=1)
    JudgmentAssignment.objects.create(participant=first, hypothesis=one)
    second = start(study, session_key="b")
    (two,) = selectors.draw_hypotheses(second, count=1)
    assert (two.from_value_id, two.to_value_id) == (one.to_value_id, one.from_value_id)


def test_stories_of_the_participants_question_come_first(judging):
    study, question, values = judging
    elsewhere = factories.QuestionFactory(study=study, key="elsewhere")
    seed_stories(study, values[:2], question=elsewhere, both_ways=False)
    on_topic = seed_stories(study, values[2:], question=question, both_ways=False)
    participant = start(study)
    (drawn,) = selectors.draw_hypotheses(participant, count=1)
    assert drawn == on_topic[0]


def test_retired_stories_and_values_are_not_drawn(judging):
    study, question, values = judging
    stories = seed_stories(study, values[:3], question=question, both_ways=False)
    stories[0].is_active = False
    stories[0].save()
    Value.objects.filter(pk=values[2].pk).update(is_active=False)
    assert selectors.draw_hypotheses(start(study), count=5) == []


# --- Where the value sits --------------------------------------------------------------------


def test_value_position_reads_the_latest_snapshot(carded):
    participant, own = carded
    wiser, less = (
        factories.ValueFactory(study=participant.study),
        factories.ValueFactory(study=participant.study),
    )
    context = factories.ContextFactory(study=participant.study, text="When it matters")
    assert selectors.value_position(participant) is None  # no snapshot yet
    GraphSnapshot.objects.create(
        study=participant.study,
        input_hash="h1",
        results={
            "contexts": [
                {
                    "context_id": str(context.pk),
                    "edges": [
                        {"from_id": str(own.pk), "to_id": str(wiser.pk), "kept": True},
                        {"from_id": str(less.pk), "to_id": str(own.pk), "kept": True},
                        {"from_id": str(own.pk), "to_id": "999999", "kept": False},
                    ],
                    "winner": {"value_id": str(own.pk)},
                }
            ]
        },
    )
    position = selectors.value_position(participant)
    assert position.wiser == [wiser] and position.less_wise == [less]
    assert position.contexts_won == ["When it matters"]


def test_no_position_while_the_value_is_on_no_kept_edge(carded):
    participant, _ = carded
    GraphSnapshot.objects.create(study=participant.study, input_hash="h", results={})
    assert selectors.value_position(participant) is None


def test_no_position_before_the_card_has_a_value():
    study = make_study(selection_enabled=False, judgments_enabled=False)
    participant = advance_to(start(study), Step.SURVEY)
    assert selectors.submitted_card(participant).status == ValuesCard.Status.SUBMITTED
    assert selectors.value_position(participant) is None
