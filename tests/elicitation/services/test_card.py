"""services.card: drafting, editing, revising and submitting the values card."""

from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from elicitation import llm, selectors, signals
from elicitation.models import Impression, Interview, LLMRequest, Participant, ValuesCard
from elicitation.services import card as card_service
from elicitation.services import participants
from tests.helpers import ANSWERS, fresh, seed_values, talk

pytestmark = pytest.mark.django_db
Step = Participant.Step


def test_the_card_needs_enough_turns(interviewing):
    talk(interviewing, ANSWERS[:2])
    with pytest.raises(participants.JourneyError, match="after 3"):
        card_service.card_draft(participant=fresh(interviewing))
    assert not ValuesCard.objects.exists()


def test_the_card_is_drafted_from_the_participants_words(interviewing):
    talk(interviewing)
    card = card_service.card_draft(participant=fresh(interviewing))
    assert card.status == ValuesCard.Status.DRAFT
    assert 3 <= len(card.policies) <= 7
    assert any("pressured" in p.lower() for p in card.policies)
    assert fresh(interviewing).step == Step.CARD
    assert Interview.objects.get(participant=interviewing).status == Interview.Status.CARD


def test_see_my_card_twice_drafts_once(interviewing):
    talk(interviewing)
    first = card_service.card_draft(participant=fresh(interviewing))
    again = card_service.card_draft(participant=fresh(interviewing))
    assert again.pk == first.pk
    assert LLMRequest.objects.filter(kind="articulate").count() == 1


def test_talking_more_after_the_card_offers_a_new_draft_beside_it(interviewing):
    talk(interviewing)
    first = card_service.card_draft(participant=fresh(interviewing))
    drafted = (first.title, first.description, first.policies)
    talk(interviewing, ["I also pay attention to her faith and her hopes for the future."])
    assert fresh(interviewing).step == Step.INTERVIEW
    again = card_service.card_draft(participant=fresh(interviewing))
    assert again.pk == first.pk
    assert LLMRequest.objects.filter(kind="articulate").count() == 2
    assert ValuesCard.objects.count() == 1
    # The card is the one the participant saw; the new draft waits beside it.
    again.refresh_from_db()
    assert (again.title, again.description, again.policies) == drafted
    assert any("faith" in p.lower() for p in again.proposal["policies"])
    assert fresh(interviewing).step == Step.CARD


@pytest.fixture
def carding(interviewing):
    talk(interviewing)
    card_service.card_draft(participant=fresh(interviewing))
    return fresh(interviewing)


CARD = {
    "title": "Patient Listening",
    "description": "Giving her time to think.",
    "policies": ["MOMENTS of silence", "FEELINGS she names", "PEOPLE she trusts"],
}


def test_saving_edits_marks_the_card_edited(carding):
    card = card_service.card_save(participant=carding, **CARD)
    assert card.edited_by_participant
    assert (card.title, card.policies) == (CARD["title"], CARD["policies"])


def test_saving_the_card_unchanged_is_not_an_edit(carding):
    draft = selectors.draft_card(carding)
    card = card_service.card_save(
        participant=carding,
        title=draft.title,
        description=draft.description,
        policies=draft.policies,
    )
    assert not card.edited_by_participant


@pytest.mark.parametrize(
    "change, field",
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"description": ""}, "description"),
        ({"policies": ["ONE", "TWO"]}, "policies"),
        ({"policies": [f"P{i}" for i in range(8)]}, "policies"),
        ({"policies": ["A", "B", "C" * 301]}, "policies"),
        ({"policies": ["A", "", "  ", "B"]}, "policies"),
    ],
)
def test_an_invalid_card_is_refused_by_field(carding, change, field):
    with pytest.raises(ValidationError) as invalid:
        card_service.card_save(participant=carding, **{**CARD, **change})
    assert field in invalid.value.message_dict


def test_the_interviewer_revises_the_card_on_request(carding):
    card = card_service.card_revise(
        participant=carding, request="rename it to Gentle Presence", **CARD
    )
    assert card.title == "Gentle Presence"
    assert card.policies == CARD["policies"]
    assert LLMRequest.objects.filter(kind="revise").count() == 1


def test_an_empty_revision_request_is_refused(carding):
    with pytest.raises(ValidationError):
        card_service.card_revise(participant=carding, request=" ", **CARD)


def test_a_revision_that_fails_keeps_the_card(carding, monkeypatch):
    monkeypatch.setenv("LLM_OFFLINE_FAULT", "revise:timeout")
    with pytest.raises(llm.LLMError):
        card_service.card_revise(participant=carding, request="remove the second", **CARD)
    assert selectors.draft_card(carding).policies == CARD["policies"]


def test_submitting_enqueues_the_card_work_on_commit_and_moves_on(
    carding, django_capture_on_commit_callbacks
):
    with mock.patch("elicitation.queue.enqueue") as enqueue:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            card = card_service.card_submit(participant=carding, **CARD)
            enqueue.assert_not_called()  # not before the card is committed
        assert enqueue.call_args_list == [
            mock.call("moralgraph.tasks.process_card", card.pk, countdown=None),
            mock.call("moralgraph.tasks.screen_card", card.pk, countdown=None),
        ]
    assert len(callbacks) == 2
    card.refresh_from_db()
    assert card.status == ValuesCard.Status.SUBMITTED and card.submitted_at
    # Too few values to select from and no stories yet: both steps are skipped.
    assert fresh(carding).step == Step.SURVEY


def test_submitting_announces_the_card(carding):
    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    signals.card_submitted.connect(receiver)
    try:
        card = card_service.card_submit(participant=carding, **CARD)
    finally:
        signals.card_submitted.disconnect(receiver)
    assert heard == [
        {"signal": signals.card_submitted, "card_id": card.pk, "study_id": card.study_id}
    ]


def test_the_submitted_card_reaches_the_broker_as_process_card(
    carding, django_capture_on_commit_callbacks
):
    from config.celery import app

    with (
        mock.patch.object(app, "send_task") as send_task,
        django_capture_on_commit_callbacks(execute=True),
    ):
        card = card_service.card_submit(participant=carding, **CARD)
    # Placing it in the graph, and the pre-screen for the moderation page.
    sent = [(call.args[0], call.kwargs["args"]) for call in send_task.call_args_list]
    assert sent == [
        ("moralgraph.tasks.process_card", (card.pk,)),
        ("moralgraph.tasks.screen_card", (card.pk,)),
    ]


def test_submitting_twice_submits_once(carding):
    card_service.card_submit(participant=carding, **CARD)
    with pytest.raises(participants.StepMismatch):
        card_service.card_submit(participant=carding, **CARD)
    assert ValuesCard.objects.filter(status=ValuesCard.Status.SUBMITTED).count() == 1


def test_submitting_draws_the_values_to_select_from(carding):
    seed_values(carding.question, 3)
    card_service.card_submit(participant=carding, **CARD)
    assert fresh(carding).step == Step.SELECTION
    assert Impression.objects.filter(participant=carding).count() == 3


# --- No lost edits ------------------------------------------------------------------------


def _talk_and_redraft(participant):
    talk(participant, ["I also pay attention to her faith and her hopes for the future."])
    return card_service.card_draft(participant=fresh(participant))


def test_a_new_draft_never_replaces_an_edited_card(carding):
    card_service.card_save(participant=carding, **CARD)
    card = _talk_and_redraft(carding)
    card.refresh_from_db()
    assert (card.title, card.description, card.policies) == tuple(CARD.values())
    assert card.edited_by_participant
    assert card.proposal and card.proposal["title"] != CARD["title"]


def test_keeping_mine_drops_the_offer_and_keeps_the_card_as_in_the_form(carding):
    card_service.card_save(participant=carding, **CARD)
    _talk_and_redraft(carding)
    edited = {**CARD, "title": "Patient Quiet Listening"}
    card = card_service.card_proposal_choose(
        participant=fresh(carding), use_proposal=False, **edited
    )
    assert card.title == "Patient Quiet Listening" and card.proposal == {}
    assert card.edited_by_participant


def test_using_the_new_draft_takes_it_whole(carding):
    card_service.card_save(participant=carding, **CARD)
    offered = _talk_and_redraft(carding).proposal
    card = card_service.card_proposal_choose(participant=fresh(carding), use_proposal=True, **CARD)
    assert (card.title, card.description, card.policies) == (
        offered["title"],
        offered["description"],
        offered["policies"],
    )
    assert card.proposal == {} and not card.edited_by_participant


def test_going_back_keeps_even_an_unfinished_card(carding):
    unfinished = {**CARD, "title": "Listening", "policies": ["MOMENTS of silence", ""]}
    card = card_service.card_keep(participant=carding, **unfinished)
    card.refresh_from_db()
    assert card.title == "Listening" and card.policies == ["MOMENTS of silence"]
    assert card.edited_by_participant
    # Submitting still holds the card to the rules.
    with pytest.raises(ValidationError):
        card_service.card_submit(
            participant=fresh(carding),
            title=card.title,
            description=card.description,
            policies=card.policies,
        )


def test_submitting_lets_an_open_offer_lapse(carding):
    card_service.card_save(participant=carding, **CARD)
    _talk_and_redraft(carding)
    card = card_service.card_submit(participant=fresh(carding), **CARD)
    assert card.proposal == {} and card.title == CARD["title"]
