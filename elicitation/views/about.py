"""About you: the optional answers to the study's own items."""

from __future__ import annotations

from django.views.decorators.http import require_http_methods

from elicitation import forms
from elicitation.models import Participant
from elicitation.services import about as about_service
from elicitation.views import common

Step = Participant.Step


@require_http_methods(["GET", "POST"])
@common.participant_step(Step.ABOUT)
def about(request, study, participant):
    if request.method == "POST":
        if request.POST.get("action") == "skip":
            moved = about_service.demographics_save(participant=participant)
            return common.onward(request, moved)
        form = forms.DemographicsForm(request.POST, study=study)
        if form.is_valid():
            moved = about_service.demographics_save(
                participant=participant, answers=form.cleaned_data
            )
            return common.onward(request, moved)
        status = 400
    else:
        form = forms.DemographicsForm(study=study)
        status = 200
    context = {"study": study, "participant": participant, "form": form}
    return common.page(request, "elicitation/about.html", context, step=Step.ABOUT, status=status)
