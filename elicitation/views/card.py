"""The card: edit it, ask for a revision, choose between it and a newer draft, submit
it; and, once submitted, see it read-only."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.views.decorators.http import require_http_methods

from elicitation import cards, forms, journey, llm, selectors
from elicitation.models import Participant
from elicitation.ratelimit import RateLimited
from elicitation.services import card as card_service
from elicitation.views import common

Step = Participant.Step


def _card_page(
    request,
    study,
    participant,
    form,
    *,
    card=None,
    status=200,
    saved=False,
    revise_error="",
    revise_request="",
):
    context = {
        "study": study,
        "participant": participant,
        "question": participant.question,
        "form": form,
        "saved": saved,
        "revise_error": revise_error,
        # A refused request stays in its box, to fix or send again.
        "revise_request": revise_request,
        "proposal": (card.proposal if card is not None else None) or None,
    }
    return common.page(request, "elicitation/card.html", context, step=Step.CARD, status=status)


def _submitted_page(request, study, participant, *, status=200, not_saved=False):
    """The submitted card, read-only: it says so, and says so again if changes came."""
    card = selectors.submitted_card(participant)
    context = {
        "study": study,
        "participant": participant,
        "question": participant.question,
        "card": card,
        "not_saved": not_saved,
        "onward_url": journey.url_for(study, participant.step),
    }
    return common.page(
        request, "elicitation/card_submitted.html", context, step=participant.step, status=status
    )


def _same_as(card, form) -> bool:
    try:
        fields = cards.normalise(**form.fields())
    except ValidationError:
        return False
    return all(getattr(card, name) == value for name, value in fields.items())


@require_http_methods(["GET", "POST"])
@common.participant_step(Step.CARD)
async def card(request, study, participant):
    """Async for one action: a revision waits seconds on the model, and must hold no
    thread of the server meanwhile. Every other action is quick and runs as before."""
    if (
        request.method == "POST"
        and participant.step == Step.CARD
        and request.POST.get("action") == "revise"
    ):
        return await _revise(request, study, participant)
    return await sync_to_async(_card)(request, study, participant)


async def _revise(request, study, participant):
    draft = await sync_to_async(selectors.draft_card)(participant)
    if draft is None:
        return await sync_to_async(common.go)(request, journey.url_for(study, Step.INTERVIEW))
    form = forms.CardForm.from_post(request.POST)
    if form.errors:
        return await sync_to_async(_refused)(request, study, participant, form, draft)
    try:
        revised = await card_service.acard_revise(
            participant=participant, request=form.revise_request, **form.fields()
        )
    except (ValidationError, RateLimited, llm.LLMError) as refused:
        return await sync_to_async(_refused)(request, study, participant, form, draft, refused)
    return await sync_to_async(_card_page)(
        request, study, participant, forms.CardForm.from_card(revised), card=revised
    )


def _refused(request, study, participant, form, draft, refused=None):
    """The card page again after a refused request: the card as typed, the request in
    its box, and why it was refused (to fix, or to send again)."""
    status, message, retry_after = 400, " ".join(form.errors.get("request", [])), None
    if isinstance(refused, ValidationError):
        form.set_errors(refused)
        message = form.errors["request"][0] if "request" in form.errors else ""
    elif isinstance(refused, RateLimited):
        status, message, retry_after = 429, refused.message, refused.retry_after
    elif isinstance(refused, llm.LLMError):
        status, message = 503, refused.user_message
    response = _card_page(
        request,
        study,
        participant,
        form,
        card=draft,
        status=status,
        revise_error=message,
        revise_request=form.revise_request,
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _card(request, study, participant):
    if participant.step != Step.CARD:
        # Past the card: the submitted card, read-only. A double click on "submit" goes
        # on to where they are; any other change is refused, out loud.
        submitted = selectors.submitted_card(participant)
        if request.method != "POST" or submitted is None:
            return _submitted_page(request, study, participant)
        if request.POST.get("action") == "submit" and _same_as(
            submitted, forms.CardForm.from_post(request.POST)
        ):
            return common.to_step(request, participant)
        return _submitted_page(request, study, participant, status=409, not_saved=True)

    draft = selectors.draft_card(participant)
    if draft is None:
        # On the card step with no draft (it was never drafted): back to the interview.
        return common.go(request, journey.url_for(study, Step.INTERVIEW))
    if request.method != "POST":
        return _card_page(request, study, participant, forms.CardForm.from_card(draft), card=draft)

    form = forms.CardForm.from_post(request.POST)
    action = request.POST.get("action", "save")
    if form.errors:
        # Text that cannot be taken (control characters, far over a limit): said inline,
        # the rest given back, nothing saved or sent.
        return _refused(request, study, participant, form, draft)
    if action == "add":
        form.add_policy()
        return _card_page(request, study, participant, form, card=draft)
    if action.startswith("remove-"):
        index = action.removeprefix("remove-")
        form.remove_policy(int(index) if index.isdigit() else -1)
        return _card_page(request, study, participant, form, card=draft)
    if action == "back":
        # Back to the conversation, keeping what is in the form (unfinished or not).
        card_service.card_keep(participant=participant, **form.fields())
        return common.go(request, journey.url_for(study, Step.INTERVIEW))
    if action in ("use-proposal", "keep-mine"):
        chosen = card_service.card_proposal_choose(
            participant=participant, use_proposal=action == "use-proposal", **form.fields()
        )
        return _card_page(
            request, study, participant, forms.CardForm.from_card(chosen), card=chosen
        )
    try:
        if action == "submit":
            submitted = card_service.card_submit(participant=participant, **form.fields())
            return common.onward(request, submitted.participant)
        saved = card_service.card_save(participant=participant, **form.fields())
        return _card_page(
            request, study, participant, forms.CardForm.from_card(saved), card=saved, saved=True
        )
    except ValidationError as invalid:
        return _refused(request, study, participant, form, draft, invalid)
