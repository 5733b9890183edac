"""Moderation: hiding and unhiding cards and values, the audit log, and what leaves the
graph (draws, stories, scoring) until it is shown again."""

import pytest
from django.contrib.auth import get_user_model

from elicitation.llm import embeddings
from elicitation.models import Participant, ValuesCard, WiserJudgment
from moralgraph import selectors
from moralgraph.models import AuditEntry, CardMapping, Context, UpgradeHypothesis, Value
from moralgraph.services import draws, hypotheses, moderation, scoring
from tests.factories import ParticipantFactory, QuestionFactory, StudyFactory
from tests.moralgraph.support import card_value

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher():
    return get_user_model().objects.create_user("moderator")


@pytest.fixture
def graph():
    """Three values of one question, each from one card; stories B over A and C over A,
    judged twice each."""
    study = StudyFactory(selection_count=6, judgment_count=5)
    question = QuestionFactory(study=study)
    context = Context.objects.create(study=study, text="When someone is grieving")
    context.questions.add(question)
    cards, values = zip(
        *(card_value(study, question, t) for t in ("Plain Honesty", "Gentle Presence", "Joke")),
        strict=True,
    )
    a, b, c = values
    stories = [
        UpgradeHypothesis.objects.create(
            study=study, from_value=a, to_value=other, context=context, story="A story."
        )
        for other in (b, c)
    ]
    for story in stories:
        for _ in range(2):
            WiserJudgment.objects.create(
                participant=ParticipantFactory(study=study, step=Participant.Step.DONE),
                hypothesis=story,
                pair_key=WiserJudgment.make_pair_key(story.from_value_id, story.to_value_id),
                verdict="upgrade",
            )
    return study, question, cards, values


def _scored_ids(study):
    return {v["id"] for v in scoring.score_study(study=study).results["values"]}


def _newcomer(study, question):
    return ParticipantFactory(study=study, question=question, step=Participant.Step.SELECTION)


def test_it_hides_a_card_with_a_reason_and_logs_who_and_why(graph, researcher):
    study, _, (card, *_), _ = graph
    assert moderation.hide_card(card=card, reason="joke", actor=researcher, note="a test")
    card.refresh_from_db()
    assert card.hidden_reason == "joke" and card.hidden_at is not None
    entry = AuditEntry.objects.get(study=study)
    assert (entry.action, entry.actor, entry.actor_name) == ("hide", researcher, "moderator")
    assert (entry.target_type, entry.target_id, entry.reason) == (
        "valuescard",
        str(card.pk),
        "a test",
    )
    assert entry.details["reason"] == "joke"
    study.refresh_from_db()
    assert study.graph_changed_at is not None  # a rescore is due


def test_hiding_twice_logs_once_and_unhide_restores(graph, researcher):
    study, _, (card, *_), _ = graph
    assert moderation.hide_card(card=card, reason="abusive", actor=researcher)
    assert not moderation.hide_card(card=card, reason="abusive", actor=researcher)
    assert moderation.unhide_card(card=card, actor=researcher)
    assert not moderation.unhide_card(card=card, actor=researcher)
    card.refresh_from_db()
    assert (card.hidden_reason, card.hidden_at) == ("", None)
    actions = list(AuditEntry.objects.filter(study=study).values_list("action", flat=True))
    assert actions == ["unhide", "hide"]
    # Without a note, the log says the reason in words.
    assert AuditEntry.objects.get(action="hide").reason == "Abusive"


def test_it_rejects_a_reason_that_is_not_moderations(graph, researcher):
    _, _, (card, *_), (value, *_) = graph
    with pytest.raises(ValueError):
        moderation.hide_card(card=card, reason="dislike", actor=researcher)
    with pytest.raises(ValueError):
        moderation.hide_value(value=value, reason="", actor=researcher)
    assert not AuditEntry.objects.exists()


def test_it_refuses_to_hide_a_merged_away_value(graph, researcher):
    _, _, _, (value, *_) = graph
    Value.objects.filter(pk=value.pk).update(is_active=False)
    value.refresh_from_db()
    with pytest.raises(ValueError):
        moderation.hide_value(value=value, reason="joke", actor=researcher)


def test_a_value_leaves_only_when_all_its_cards_are_hidden(graph, researcher):
    study, question, (card_a, *_), (a, *_) = graph
    second, other = card_value(study, question, "Plain Honesty Again")
    CardMapping.objects.filter(card=second).update(value=a)  # two cards, one value
    moderation.hide_card(card=card_a, reason="duplicate_participant", actor=researcher)
    assert a.pk not in selectors.moderated_value_ids(study)
    moderation.hide_card(card=second, reason="duplicate_participant", actor=researcher)
    assert a.pk in selectors.moderated_value_ids(study)
    # A value with no cards at all (imported, say) is not moderated out.
    assert other.pk not in selectors.moderated_value_ids(study)


def test_a_hidden_card_never_words_its_value(graph, researcher):
    study, question, (card_a, *_), (a, *_) = graph
    second, _ = card_value(study, question, "Honest Words")
    CardMapping.objects.filter(card=second).update(value=a)
    # Only embedded cards are candidates for the wording: give both a vector.
    for card in (card_a, second):
        vector = embeddings.local_embedding(card.title)
        ValuesCard.objects.filter(pk=card.pk).update(
            embedding=embeddings.to_bytes(vector), embedded_at=card.submitted_at
        )
    moderation.hide_card(card=card_a, reason="abusive", actor=researcher)
    a.refresh_from_db()
    assert a.title == "Honest Words" and a.representative_card_id == second.pk


def test_a_hidden_value_leaves_draws_stories_and_scoring_and_comes_back(graph, researcher):
    study, question, _, (a, b, c) = graph
    assert _scored_ids(study) == {str(a.pk), str(b.pk), str(c.pk)}

    assert moderation.hide_value(value=c, reason="joke", actor=researcher)
    assert _scored_ids(study) == {str(a.pk), str(b.pk)}
    newcomer = _newcomer(study, question)
    assert c.pk not in {d.value.pk for d in draws.draw_values(newcomer, count=6)}
    drawn = draws.draw_hypotheses(newcomer, count=5)
    assert drawn and all(c.pk not in (h.from_value_id, h.to_value_id) for h in drawn)
    plan = hypotheses.plan_stories(study, hypotheses.HypothesisStats())
    assert all(c.pk not in pair for p in plan for pair in [(t[0], t[1]) for t in p.todo])

    assert moderation.unhide_value(value=c, actor=researcher)
    assert _scored_ids(study) == {str(a.pk), str(b.pk), str(c.pk)}
    later = _newcomer(study, question)
    assert c.pk in {d.value.pk for d in draws.draw_values(later, count=6)}
    assert c.pk in {
        v for h in draws.draw_hypotheses(later, count=5) for v in (h.from_value_id, h.to_value_id)
    }


def test_a_hidden_card_takes_its_only_value_out_of_scoring(graph, researcher):
    study, _, (_, _, card_c), (a, b, c) = graph
    moderation.hide_card(card=card_c, reason="off_topic", actor=researcher)
    assert _scored_ids(study) == {str(a.pk), str(b.pk)}
    judgments = scoring.judgments_for(study)
    assert all(str(c.pk) not in (j.from_id, j.to_id) for j in judgments)
    moderation.unhide_card(card=card_c, actor=researcher)
    assert str(c.pk) in _scored_ids(study)


def test_hiding_queues_a_rescore(graph, researcher, queued, django_capture_on_commit_callbacks):
    _, _, _, (_, _, c) = graph
    with django_capture_on_commit_callbacks(execute=True):
        moderation.hide_value(value=c, reason="joke", actor=researcher)
    assert [name for name, *_ in queued] == ["moralgraph.tasks.score_study"]


def test_a_new_card_never_joins_a_hidden_value(researcher):
    from tests.moralgraph.support import AUTONOMY, AUTONOMY_AGAIN, place_all, submit, value_of

    study = StudyFactory()
    first = submit(study, AUTONOMY)
    place_all(study)
    hidden = Value.objects.get(pk=value_of(first))
    moderation.hide_value(value=hidden, reason="duplicate_participant", actor=researcher)
    again = submit(study, AUTONOMY_AGAIN)  # the offline judge calls these the same
    place_all(study)
    assert value_of(again) != hidden.pk


def test_a_value_only_a_test_participant_wrote_never_reaches_real_participants(graph):
    """A pilot's or a simulation's card becomes a value, but real participants are not
    shown it, and it is no node of the graph, until a counted card shares it."""
    study, question, (_, _, card_c), (a, b, c) = graph
    tester = ParticipantFactory(study=study, question=question, is_test=True)
    ValuesCard.objects.filter(pk=card_c.pk).update(participant=tester)

    assert c.pk in selectors.moderated_value_ids(study)
    newcomer = _newcomer(study, question)
    assert c.pk not in {d.value.pk for d in draws.draw_values(newcomer, count=6)}
    assert all(
        c.pk not in (h.from_value_id, h.to_value_id)
        for h in draws.draw_hypotheses(newcomer, count=5)
    )
    assert _scored_ids(study) == {str(a.pk), str(b.pk)}

    counted, _ = card_value(study, question, "Joke Again")
    CardMapping.objects.filter(card=counted).update(value=c)
    assert c.pk not in selectors.moderated_value_ids(study)


def test_unhiding_makes_the_earlier_snapshot_the_latest_again(graph, researcher):
    from moralgraph.models import GraphSnapshot

    study, _, _, (_, _, c) = graph
    first = scoring.score_study(study=study)
    moderation.hide_value(value=c, reason="joke", actor=researcher)
    hidden = scoring.score_study(study=study)
    assert GraphSnapshot.latest_for(study) == hidden != first
    moderation.unhide_value(value=c, actor=researcher)
    again = scoring.score_study(study=study)
    assert again == first  # the same inputs: the same row, stored once
    assert GraphSnapshot.latest_for(study) == first
