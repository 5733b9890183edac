"""moralgraph.services.draws: which values a participant selects from and which upgrade
stories they judge, and the step drawers that record them."""

import pytest

from elicitation import selectors
from elicitation.llm import embeddings
from elicitation.models import (
    Impression,
    JudgmentAssignment,
    Participant,
    Selection,
    ValuesCard,
    WiserJudgment,
)
from moralgraph.models import CardMapping, Value, ValueMerge
from moralgraph.services import draws
from tests import factories
from tests.helpers import advance_to, make_study, own_value, seed_stories, seed_values, start

pytestmark = pytest.mark.django_db
Step = Participant.Step


# --- The selection draw ------------------------------------------------------------------------


@pytest.fixture
def carded():
    """A participant with a submitted card about listening, and its value."""
    study = make_study(selection_enabled=False, judgments_enabled=False)
    participant = advance_to(start(study), Step.SURVEY)
    return participant, own_value(participant)


def _embed(value: Value, text: str) -> None:
    value.embedding = embeddings.to_bytes(embeddings.local_embedding(text))
    value.save()


def test_the_draw_leaves_out_the_participants_own_value_and_other_questions(carded):
    participant, own = carded
    mine = seed_values(participant.question, 3)
    other_question = factories.QuestionFactory(study=participant.study, key="other")
    seed_values(other_question, 3, prefix="Elsewhere")
    retired = seed_values(participant.question, 1, prefix="Retired")[0]
    Value.objects.filter(pk=retired.pk).update(is_active=False)
    drawn = draws.draw_values(participant, count=10)
    assert {d.value.pk for d in drawn} == {v.pk for v in mine}
    assert own.pk not in {d.value.pk for d in drawn}


def test_the_draw_takes_at_most_count_and_is_stable_for_a_participant(carded):
    participant, _ = carded
    seed_values(participant.question, 9)
    first = [d.value.pk for d in draws.draw_values(participant, count=6)]
    assert len(first) == 6 == len(set(first))
    assert first == [d.value.pk for d in draws.draw_values(participant, count=6)]


def test_the_draw_mixes_nearest_most_selected_and_least_seen(carded):
    participant, _ = carded
    card = selectors.submitted_card(participant)
    values = seed_values(participant.question, 9)
    for value in values:
        _embed(value, f"unrelated {value.title} gardening recipes")
    near = values[0]
    _embed(near, embeddings.card_text(card.title, card.description, card.policies))
    # values[1] was shown twice and picked both times; others were shown and not picked.
    viewers = [factories.ParticipantFactory(study=participant.study) for _ in range(2)]
    for viewer in viewers:
        for value in values[1:4]:
            Impression.objects.create(
                participant=viewer, value=value, question=participant.question
            )
        Selection.objects.create(participant=viewer, value=values[1], question=participant.question)
    drawn = {d.value.pk: d.reason for d in draws.draw_values(participant, count=6)}
    assert drawn[near.pk] == "near"
    assert drawn[values[1].pk] == "popular"
    # The rest come from the never-shown values.
    sparse = [pk for pk, reason in drawn.items() if reason == "sparse"]
    assert sparse and all(pk not in {v.pk for v in values[1:4]} for pk in sparse)


def test_popular_is_picked_per_impression_on_this_question_counted_without_a_join(carded):
    participant, _ = carded
    question = participant.question
    elsewhere = factories.QuestionFactory(study=participant.study, key="elsewhere")
    often, seldom, *_ = values = seed_values(question, 5)
    # often: shown 4 times here, picked once (1/4); seldom: shown twice, picked twice (1).
    # Shown elsewhere many times, never picked: those impressions count for nothing here.
    for i in range(4):
        viewer = factories.ParticipantFactory(study=participant.study)
        Impression.objects.create(participant=viewer, value=often, question=question)
        for value in values[2:]:
            Impression.objects.create(participant=viewer, value=value, question=question)
            Impression.objects.create(participant=viewer, value=value, question=elsewhere)
        if i < 2:
            Impression.objects.create(participant=viewer, value=seldom, question=question)
            Selection.objects.create(participant=viewer, value=seldom, question=question)
        if i == 0:
            Selection.objects.create(participant=viewer, value=often, question=question)
    drawn = {d.value.pk: d.reason for d in draws.draw_values(participant, count=3)}
    assert drawn[seldom.pk] == "popular"
    # Each value's impressions and selections are counted apart: joining both would make
    # a row for each impression times each selection (quadratic as a study fills).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        draws.draw_values(participant, count=3)
    (candidates,) = [q["sql"] for q in captured if '"moralgraph_value"."embedding"' in q["sql"]]
    assert 'JOIN "elicitation_impression"' not in candidates
    assert 'JOIN "elicitation_selection"' not in candidates


def test_the_draw_skips_the_nearest_part_without_embeddings(carded):
    participant, _ = carded
    seed_values(participant.question, 4)
    reasons = {d.reason for d in draws.draw_values(participant, count=3)}
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
    drawn = draws.draw_hypotheses(participant, count=10)
    keys = [WiserJudgment.make_pair_key(h.from_value_id, h.to_value_id) for h in drawn]
    assert len(keys) == len(set(keys)) == 2
    assert WiserJudgment.make_pair_key(forward.from_value_id, forward.to_value_id) not in keys


def test_directions_are_balanced_across_participants(judging):
    study, question, values = judging
    seed_stories(study, values[:2], question=question)  # one pair, both directions
    first = start(study, session_key="a")
    (one,) = draws.draw_hypotheses(first, count=1)
    JudgmentAssignment.objects.create(participant=first, hypothesis=one)
    second = start(study, session_key="b")
    (two,) = draws.draw_hypotheses(second, count=1)
    assert (two.from_value_id, two.to_value_id) == (one.to_value_id, one.from_value_id)


def test_stories_of_the_participants_question_come_first(judging):
    study, question, values = judging
    elsewhere = factories.QuestionFactory(study=study, key="elsewhere")
    seed_stories(study, values[:2], question=elsewhere, both_ways=False)
    on_topic = seed_stories(study, values[2:], question=question, both_ways=False)
    participant = start(study)
    (drawn,) = draws.draw_hypotheses(participant, count=1)
    assert drawn == on_topic[0]


def test_retired_stories_and_values_are_not_drawn(judging):
    study, question, values = judging
    stories = seed_stories(study, values[:3], question=question, both_ways=False)
    stories[0].is_active = False
    stories[0].save()
    Value.objects.filter(pk=values[2].pk).update(is_active=False)
    assert draws.draw_hypotheses(start(study), count=5) == []


def _with_own_card(participant, value: Value) -> ValuesCard:
    card = ValuesCard.objects.create(
        study=participant.study,
        participant=participant,
        question=participant.question,
        title="My Own Value",
        description="Mine.",
        policies=["MINE one", "MINE two", "MINE three"],
        status=ValuesCard.Status.SUBMITTED,
    )
    CardMapping.objects.create(card=card, value=value)
    return card


def test_a_participant_never_judges_a_story_about_their_own_value(judging):
    study, question, values = judging
    seed_stories(study, values, question=question)  # 0-1, 1-2, 2-3, both ways
    participant = start(study)
    _with_own_card(participant, values[1])
    (drawn,) = draws.draw_hypotheses(participant, count=10)  # one story per pair
    assert {drawn.from_value_id, drawn.to_value_id} == {values[2].pk, values[3].pk}


def test_nor_about_the_value_their_card_was_merged_into(judging):
    from moralgraph.services.merges import merge_values

    study, question, values = judging
    seed_stories(study, values, question=question)
    participant = start(study)
    own = seed_values(question, 1, prefix="Own")[0]
    _with_own_card(participant, own)
    seed_stories(study, [own, values[0]], question=question)  # on the participant's value
    # Deduplication folds the participant's value into values[1]: it is theirs now.
    merge_values(study=study, source=own, target=values[1], decided_by="llm")
    drawn = draws.draw_hypotheses(participant, count=10)
    involved = {v for h in drawn for v in (h.from_value_id, h.to_value_id)}
    assert drawn and values[1].pk not in involved and own.pk not in involved
    assert involved == {values[2].pk, values[3].pk}
    # Selection leaves it out too.
    assert values[1].pk not in {d.value.pk for d in draws.draw_values(participant, count=10)}


def test_merges_are_followed_even_where_a_mapping_was_not_moved(judging):
    study, question, values = judging
    seed_stories(study, values, question=question)
    participant = start(study)
    own = seed_values(question, 1, prefix="Own")[0]
    _with_own_card(participant, own)
    # An imported merge whose cards' mappings still name the merged-away value.
    ValueMerge.objects.create(study=study, from_value=own, into_value=values[1])
    assert draws.own_value_ids(participant) == {own.pk, values[1].pk}
    drawn = draws.draw_hypotheses(participant, count=10)
    assert all(values[1].pk not in (h.from_value_id, h.to_value_id) for h in drawn)


# --- The step drawers ------------------------------------------------------------------------


def test_the_selection_drawer_records_the_draw_once(carded):
    participant, _ = carded
    seed_values(participant.question, 4)
    assert draws.draw_selection(participant)
    first = list(
        Impression.objects.filter(participant=participant).values_list("value_id", "reason")
    )
    assert len(first) == 4 and len({reason for _, reason in first}) >= 1
    # A second call (a reload, a resent form) draws nothing new.
    assert draws.draw_selection(participant)
    again = list(
        Impression.objects.filter(participant=participant).values_list("value_id", "reason")
    )
    assert again == first


def test_the_selection_drawer_draws_nothing_from_too_few_values(carded):
    participant, _ = carded
    seed_values(participant.question, draws.MIN_VALUES_FOR_SELECTION - 1)
    assert not draws.draw_selection(participant)
    assert not Impression.objects.filter(participant=participant).exists()


def test_the_judgments_drawer_records_the_stories_in_order(judging):
    study, question, values = judging
    seed_stories(study, values, question=question)
    participant = start(study)
    assert draws.draw_judgments(participant)
    assigned = list(JudgmentAssignment.objects.filter(participant=participant).order_by("position"))
    assert [a.position for a in assigned] == list(range(study.judgment_count))
    assert draws.draw_judgments(participant)  # drawn already: the same stories stay
    assert JudgmentAssignment.objects.filter(participant=participant).count() == len(assigned)


def test_the_judgments_drawer_has_nothing_once_every_story_is_judged(judging):
    study, question, values = judging
    seed_stories(study, values[:2], question=question, both_ways=False)
    participant = start(study)
    assert draws.draw_judgments(participant)
    (assignment,) = JudgmentAssignment.objects.filter(participant=participant)
    story = assignment.hypothesis
    WiserJudgment.objects.create(
        participant=participant,
        hypothesis=story,
        pair_key=WiserJudgment.make_pair_key(story.from_value_id, story.to_value_id),
        verdict="upgrade",
    )
    assert not draws.draw_judgments(participant)


def test_without_stories_the_judgments_drawer_draws_nothing(judging):
    study, _, _ = judging
    participant = start(study)
    assert not draws.draw_judgments(participant)
    assert not JudgmentAssignment.objects.filter(participant=participant).exists()


# --- Adaptive elicitation ----------------------------------------------------------------


def _state(study, **contexts):
    """A latest snapshot whose adaptive block gives these contexts' states."""
    from moralgraph.models import GraphSnapshot

    return GraphSnapshot.objects.create(
        study=study,
        input_hash="a" * 64,
        results={"adaptive": {"contexts": {str(k): v for k, v in contexts.items()}}},
    )


def _contexts_of(stories):
    return {h.context_id for h in stories}


def test_a_settled_context_is_drawn_only_in_the_uniform_share(judging):
    study, question, values = judging
    settled = seed_stories(study, values, question=question, both_ways=False)
    others = seed_values(question, 4, prefix="Open")
    open_ = seed_stories(study, others, question=question, both_ways=False)
    done, live = settled[0].context_id, open_[0].context_id
    _state(
        study,
        **{
            str(done): {"status": "confident", "settled": True, "duels": []},
            str(live): {"status": "contested", "settled": False, "duels": []},
        },
    )
    study.uniform_share = 0.0
    study.save()
    for n in range(6):
        drawn = draws.draw_stories(start(study, session_key=f"s{n}"), count=2)
        assert {d.hypothesis.context_id for d in drawn} == {live}
        assert {(d.policy, d.context_status) for d in drawn} == {("adaptive", "contested")}


def test_the_judgments_drawer_records_policy_and_status(judging):
    study, question, values = judging
    stories = seed_stories(study, values, question=question)
    _state(study, **{str(stories[0].context_id): {"status": "insufficient", "duels": []}})
    participant = start(study)
    assert draws.draw_judgments(participant)
    rows = set(
        JudgmentAssignment.objects.filter(participant=participant).values_list(
            "policy", "context_status"
        )
    )
    assert rows <= {("adaptive", "insufficient"), ("uniform", "insufficient")} and rows


def test_the_adaptive_draw_never_shows_the_participants_own_value(judging):
    study, question, values = judging
    stories = seed_stories(study, values, question=question)  # 0-1, 1-2, 2-3
    participant = start(study)
    _with_own_card(participant, values[1])
    # The scoring says the top two are the participant's own value and another.
    duels = [
        [str(values[1].pk), str(values[2].pk), 0.9],
        [str(values[2].pk), str(values[3].pk), 0.1],
    ]
    _state(study, **{str(stories[0].context_id): {"status": "contested", "duels": duels}})
    study.uniform_share = 0.0
    study.save()
    drawn = draws.draw_stories(participant, count=10)
    involved = {v for d in drawn for v in (d.hypothesis.from_value_id, d.hypothesis.to_value_id)}
    assert drawn and values[1].pk not in involved


# --- What a draw reads ---------------------------------------------------------------------


def _reads(draw, table: str) -> str:
    """The SELECT lists of the queries ``draw()`` runs on ``table``'s rows (at least one)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert draw()
    selects = [
        q["sql"].split(" FROM ", 1)[0]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]
    ]
    assert selects
    return " ".join(selects)


def test_the_draws_read_ids_and_counts_not_the_texts_of_every_candidate(judging):
    # Every story of the study and every value of the question is a candidate on every
    # participant's draw: their texts and policies are read for the few drawn, by the page.
    study, question, values = judging
    seed_stories(study, values, question=question)
    participant = start(study)
    stories = _reads(
        lambda: draws.draw_stories(participant, count=2), "moralgraph_upgradehypothesis"
    )
    assert '"story"' not in stories and '"mapping"' not in stories
    assert '"policies"' not in stories  # no value joined in whole
    carded = advance_to(start(study, session_key="carded"), Step.SURVEY)
    candidates = _reads(lambda: draws.draw_values(carded, count=3), "moralgraph_value")
    assert '"policies"' not in candidates and '"description"' not in candidates
