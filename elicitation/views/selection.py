"""Selection: choose the wise values among those drawn for the participant."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django.views.decorators.http import require_http_methods

from elicitation import forms, selectors
from elicitation.models import Participant
from elicitation.services import selection as selection_service
from elicitation.views import common

Step = Participant.Step


@require_http_methods(["GET", "POST"])
@common.participant_step(Step.SELECTION)
def selection(request, study, participant):
    values = selectors.shown_values(participant)
    status = 200
    if request.method == "POST":
        form = forms.SelectionForm(request.POST, values=values)
        if form.is_valid():
            try:
                moved = selection_service.selection_submit(
                    participant=participant, value_ids=form.cleaned_data["values"]
                )
                return common.onward(request, moved)
            except ValidationError as invalid:
                form.add_error(None, invalid)
        else:
            # A value id that was never shown to this participant.
            raise Http404("Not one of your values")
        status = 400
    else:
        form = forms.SelectionForm(values=values)
    context = {
        "study": study,
        "participant": participant,
        "question": participant.question,
        "values": values,
        "form": form,
        "chosen": {int(v) for v in form.data.getlist("values") if v.isdigit()}
        if form.is_bound
        else set(),
    }
    return common.page(
        request, "elicitation/selection.html", context, step=Step.SELECTION, status=status
    )
