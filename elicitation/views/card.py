"""The card: edit it, ask for a revision, choose between it and a newer draft, submit
it; and, once submitted, see it read-only."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
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
def card(request, study, participant):
    """Every action but asking for a revision: each is quick, and runs as any page does
    (the middleware and the view in one thread hop, config/static.py)."""
    return _card(request, study, participant)


@require_http_methods(["GET", "POST"])
@common.participant_step(Step.CARD)
async def card_revise(request, study, participant):
    """Ask the interviewer to change the card (the button's ``formaction``). Async, and
    at an address of its own: the model takes seconds and must hold no thread of the
    server meanwhile, while an async view pays the middleware's thread hops on every
    request (bench/load.py, 500 people: the card page p50 2.6 s when it was async)."""
    if request.method != "POST":
        return await sync_to_async(common.go)(request, journey.url_for(study, Step.CARD))
    if participant.step != Step.CARD:
        # Submitted meanwhile: the read-only card, which says the request was not taken.
        return await sync_to_async(_card)(request, study, participant)
    return await _revise(request, study, participant)


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

    action = request.POST.get("action", "save")
    if action == "revise":
        # A page without the revise address (an old tab): the browser sends the same
        # form on to it (307 keeps the method and the body).
        return HttpResponseRedirect(
            reverse("elicitation:card_revise", args=[study.slug]), status=307
        )
    form = forms.CardForm.from_post(request.POST)
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
