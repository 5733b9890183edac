"""Wiser judgments: one upgrade story at a time."""

from __future__ import annotations

from django.http import Http404
from django.views.decorators.http import require_http_methods

from elicitation import forms, selectors
from elicitation.models import Participant
from elicitation.services import judgments as judgments_service
from elicitation.views import common

Step = Participant.Step


@require_http_methods(["GET", "POST"])
@common.participant_step(Step.JUDGMENTS)
def judgments(request, study, participant):
    status = 200
    form = None
    if request.method == "POST":
        form = forms.JudgmentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            judgment = judgments_service.judgment_record(
                participant=participant,
                hypothesis_id=data["hypothesis"],
                verdict=data["verdict"],
                reason=data["reason"],
                reason_private=data["reason_private"],
            )
            return common.onward(request, judgment.participant)
        status = 400
    remaining, total = selectors.assignments_left(participant)
    if not remaining:
        # Stories withdrawn since the draw: nothing left to judge here.
        moved = judgments_service.judgments_finish(participant=participant)
        return common.onward(request, moved)
    current = remaining[0]
    if form is not None and form.cleaned_data.get("hypothesis") not in (
        None,
        current.hypothesis_id,
    ):
        raise Http404("Not one of your stories")
    context = {
        "study": study,
        "participant": participant,
        "question": participant.question,
        "hypothesis": current.hypothesis,
        "form": form or forms.JudgmentForm(initial={"hypothesis": current.hypothesis_id}),
        "number": total - len(remaining) + 1,
        "total": total,
    }
    return common.page(
        request, "elicitation/judgments.html", context, step=Step.JUDGMENTS, status=status
    )
