"""The card: edit it, ask for a revision, submit it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.views.decorators.http import require_http_methods

from elicitation import forms, journey, llm, selectors
from elicitation.models import Participant
from elicitation.ratelimit import RateLimited
from elicitation.services import card as card_service
from elicitation.views import common

Step = Participant.Step


def _card_page(request, study, participant, form, *, status=200, saved=False, revise_error=""):
    context = {
        "study": study,
        "participant": participant,
        "question": participant.question,
        "form": form,
        "saved": saved,
        "revise_error": revise_error,
    }
    return common.page(request, "elicitation/card.html", context, step=Step.CARD, status=status)


@require_http_methods(["GET", "POST"])
@common.participant_step(Step.CARD)
def card(request, study, participant):
    draft = selectors.draft_card(participant)
    if draft is None:
        # On the card step with no draft (it was never drafted): back to the interview.
        return common.go(request, journey.url_for(study, Step.INTERVIEW))
    if request.method != "POST":
        return _card_page(request, study, participant, forms.CardForm.from_card(draft))

    form = forms.CardForm.from_post(request.POST)
    if form.errors:
        # Text that cannot be taken (control characters, or far too long): said inline.
        revise_error = " ".join(form.errors.get("request", []))
        return _card_page(request, study, participant, form, status=400, revise_error=revise_error)
    action = request.POST.get("action", "save")
    if action == "add":
        form.add_policy()
        return _card_page(request, study, participant, form)
    if action.startswith("remove-"):
        index = action.removeprefix("remove-")
        form.remove_policy(int(index) if index.isdigit() else -1)
        return _card_page(request, study, participant, form)
    try:
        if action == "submit":
            card_service.card_submit(participant=participant, **form.fields())
            return common.onward(request, participant)
        if action == "revise":
            revised = card_service.card_revise(
                participant=participant, request=request.POST.get("request", ""), **form.fields()
            )
            return _card_page(request, study, participant, forms.CardForm.from_card(revised))
        card = card_service.card_save(participant=participant, **form.fields())
        return _card_page(request, study, participant, forms.CardForm.from_card(card), saved=True)
    except ValidationError as invalid:
        form.set_errors(invalid)
        if "request" in form.errors:
            return _card_page(
                request,
                study,
                participant,
                form,
                status=400,
                revise_error=form.errors["request"][0],
            )
        return _card_page(request, study, participant, form, status=400)
    except RateLimited as limited:
        return _card_page(
            request, study, participant, form, status=429, revise_error=limited.message
        )
    except llm.LLMError as failed:
        return _card_page(
            request, study, participant, form, status=503, revise_error=failed.user_message
        )
