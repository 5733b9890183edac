"""The values card: drafted from the interview, edited or revised by the participant,
then submitted for the graph side to place (announced by the card_submitted signal)."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from elicitation import cards, llm, ratelimit, selectors, signals
from elicitation.models import Interview, Participant, ValuesCard
from elicitation.services import participants, writing

Step = Participant.Step


def card_draft(*, participant: Participant) -> ValuesCard:
    """ "See my card": draft the card from the transcript (once per new message).

    The first draft becomes the card. Once there is a card the participant has seen
    (and perhaps edited or revised), a later draft never replaces it: it is kept
    beside it as the card's ``proposal``, for the participant to take or leave.

    Raises JourneyError before enough turns, RateLimited, LLMError or StepMismatch.
    """
    ready = _draft_begin(participant)
    if isinstance(ready, ValuesCard):
        return ready
    call, counted = ready
    data = _ask(call, counted)
    return _draft_store(participant, data)


async def acard_draft(*, participant: Participant) -> ValuesCard:
    """``card_draft`` for an async view: while the model writes the draft (seconds with
    a real one), the request holds no thread and no database connection."""
    ready = await sync_to_async(_draft_begin)(participant, release=True)
    if isinstance(ready, ValuesCard):
        return ready
    call, counted = ready
    data = await _aask(call, counted)
    # Shielded: a reload or a closed tab now must not lose the draft it paid for.
    return await asyncio.shield(sync_to_async(_draft_store)(participant, data, release=True))


def _ask(call: dict, counted) -> dict:
    """The card writer's answer; a failed call gives the participant's allowance back."""
    try:
        return llm.structured(**call)
    except llm.LLMError:
        ratelimit.release(counted)
        raise


async def _aask(call: dict, counted) -> dict:
    """``_ask`` for async views: the model's wait holds no thread."""
    try:
        return await llm.astructured(**call)
    except llm.LLMError:
        await sync_to_async(ratelimit.release)(counted)
        raise


def _draft_begin(participant: Participant, *, release: bool = False):
    """The checks before drafting: the current draft if nothing new was said since,
    else the call to make and the request that took the allowance (given back if the
    call fails)."""
    try:
        with transaction.atomic():
            participant = participants.lock(participant, Step.INTERVIEW, Step.CARD)
            interview = selectors.interview_for(participant)
            turns = selectors.user_turns(interview)
            needed = participant.study.interview_min_turns
            if turns < needed:
                raise participants.JourneyError(
                    f"Keep talking a little longer: the card is drafted after {needed} of "
                    f"your messages (you have sent {turns})."
                )
            draft = selectors.draft_card(participant)
            last_said = selectors.last_user_message_at(interview)
            if draft is not None and last_said is not None and draft.updated_at >= last_said:
                _to_card_step(participant, interview)
                return draft
            counted = ratelimit.consume(participant=participant, kind="articulate", locked=True)
            history = selectors.chat_history(interview)
        return {
            "stage": "articulate",
            "prompt": llm.load_prompt("elicitation/articulate"),
            "payload": {"question": participant.question.text, "transcript": history},
            "study": participant.study,
        }, counted
    finally:
        if release:
            writing.release_connection()


def _draft_store(participant: Participant, data: dict, *, release: bool = False) -> ValuesCard:
    fields = cards.fit(data)
    try:
        with transaction.atomic():
            participant = participants.lock(participant, Step.INTERVIEW, Step.CARD)
            interview = selectors.interview_for(participant)
            draft = selectors.draft_card(participant)
            if draft is None:
                draft = ValuesCard.objects.create(
                    study=participant.study,
                    participant=participant,
                    interview=interview,
                    question=participant.question,
                    **fields,
                )
            elif any(getattr(draft, name) != value for name, value in fields.items()):
                draft.proposal = fields
                draft.save(update_fields=["proposal", "updated_at"])
            else:
                # The same card again: nothing to choose between; touch it so that "See
                # my card" does not draft again until something new is said.
                draft.proposal = {}
                draft.save(update_fields=["proposal", "updated_at"])
            _to_card_step(participant, interview)
            return draft
    finally:
        if release:
            writing.release_connection()


def _to_card_step(participant: Participant, interview: Interview) -> None:
    Interview.objects.filter(pk=interview.pk).update(status=Interview.Status.CARD)
    if participant.step != Step.CARD:
        participant.step = Step.CARD
        participant.save(update_fields=["step", "updated_at"])


def _own_draft(participant: Participant) -> ValuesCard:
    draft = selectors.draft_card(participant)
    if draft is None:
        raise participants.StepMismatch(participant)
    return draft


def _apply_edits(card: ValuesCard, fields: dict) -> None:
    if any(getattr(card, name) != value for name, value in fields.items()):
        for name, value in fields.items():
            setattr(card, name, value)
        card.edited_by_participant = True
        card.save()


@transaction.atomic
def card_save(
    *, participant: Participant, title: str, description: str, policies: list[str]
) -> ValuesCard:
    """Save the participant's own edits to their draft card. Raises ValidationError."""
    # The step first: a resent form after the card was submitted goes to where they are.
    participant = participants.lock(participant, Step.CARD)
    fields = cards.normalise(title=title, description=description, policies=policies)
    card = _own_draft(participant)
    _apply_edits(card, fields)
    return card


@transaction.atomic
def card_keep(
    *, participant: Participant, title: str, description: str, policies: list[str]
) -> ValuesCard:
    """Keep the card as it stands in the form, unfinished or not, on the way back to the
    conversation: nothing typed is lost (the checks come when the card is submitted)."""
    participant = participants.lock(participant, Step.CARD)
    card = _own_draft(participant)
    _apply_edits(
        card, cards.fit({"title": title, "description": description, "policies": policies})
    )
    return card


@transaction.atomic
def card_proposal_choose(
    *,
    participant: Participant,
    use_proposal: bool,
    title: str,
    description: str,
    policies: list[str],
) -> ValuesCard:
    """The participant's choice between their card (as it stands in the form) and the
    newer draft offered beside it. Either way the offer is then gone."""
    participant = participants.lock(participant, Step.CARD)
    card = _own_draft(participant)
    proposal = card.proposal or {}
    if use_proposal and proposal:
        for name, value in cards.fit(proposal).items():
            setattr(card, name, value)
        card.edited_by_participant = False  # the card is the interviewer's draft again
    else:
        fields = cards.fit({"title": title, "description": description, "policies": policies})
        if any(getattr(card, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(card, name, value)
            card.edited_by_participant = True
    card.proposal = {}
    card.save()
    return card


def card_revise(
    *,
    participant: Participant,
    request: str,
    title: str,
    description: str,
    policies: list[str],
) -> ValuesCard:
    """Ask the card writer to change the card as the participant describes.

    The card as it stands in the form (edits included) is what gets revised. Raises
    ValidationError, RateLimited, LLMError or StepMismatch.
    """
    card, call, counted = _revise_begin(participant, request, title, description, policies)
    data = _ask(call, counted)
    return _revise_store(participant, card, data)


async def acard_revise(
    *,
    participant: Participant,
    request: str,
    title: str,
    description: str,
    policies: list[str],
) -> ValuesCard:
    """``card_revise`` for an async view: the participant's edits are saved first, then
    the model's wait holds no thread and no database connection."""
    card, call, counted = await sync_to_async(_revise_begin)(
        participant, request, title, description, policies, release=True
    )
    data = await _aask(call, counted)
    return await asyncio.shield(sync_to_async(_revise_store)(participant, card, data, release=True))


def _revise_begin(participant, request, title, description, policies, *, release=False):
    try:
        request = cards.revise_request(request)
        card = card_save(
            participant=participant, title=title, description=description, policies=policies
        )
        with transaction.atomic():
            locked = participants.lock(participant, Step.CARD)
            counted = ratelimit.consume(participant=locked, kind="revise", locked=True)
        call = {
            "stage": "revise",
            "prompt": llm.load_prompt("elicitation/revise"),
            "payload": {
                "question": participant.question.text,
                "card": {
                    "title": card.title,
                    "description": card.description,
                    "policies": card.policies,
                },
                "request": request,
            },
            "study": participant.study,
        }
        return card, call, counted
    finally:
        if release:
            writing.release_connection()


def _revise_store(participant, card, data: dict, *, release=False) -> ValuesCard:
    fields = cards.fit(data)
    try:
        with transaction.atomic():
            participants.lock(participant, Step.CARD)
            card.refresh_from_db()
            for name, value in fields.items():
                setattr(card, name, value)
            card.save()
        return card
    finally:
        if release:
            writing.release_connection()


@transaction.atomic
def card_submit(
    *, participant: Participant, title: str, description: str, policies: list[str]
) -> ValuesCard:
    """Submit the card as it stands in the form. The card_submitted signal lets the graph
    side queue its work (embedding, deduplication, contexts) once the card is committed."""
    # The step first: a resent form after the card was submitted goes to where they are.
    participant = participants.lock(participant, Step.CARD)
    fields = cards.normalise(title=title, description=description, policies=policies)
    card = _own_draft(participant)
    if any(getattr(card, name) != value for name, value in fields.items()):
        card.edited_by_participant = True
    for name, value in fields.items():
        setattr(card, name, value)
    card.status = ValuesCard.Status.SUBMITTED
    card.submitted_at = timezone.now()
    card.proposal = {}  # submitted as it stood in the form: an offer left open lapses
    card.save()
    Interview.objects.filter(pk=card.interview_id).update(status=Interview.Status.DONE)
    signals.card_submitted.send(sender=ValuesCard, card_id=card.pk, study_id=card.study_id)
    participants.advance(participant)
    return card
