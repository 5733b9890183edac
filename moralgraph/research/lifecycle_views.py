"""Moving a study along its lifecycle by hand (draft, pilot, live, closing, closed): the
buttons in every research page's head. Owners only; the move and its reason go into the
study's audit log (moralgraph.apps writes every move, by hand or automatic)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from elicitation.models import Study
from elicitation.services import lifecycle
from moralgraph.research.access import study_role

REASON_MAX = 500

_DONE = {
    Study.Status.DRAFT: "Back to draft: nobody can take part.",
    Study.Status.PILOT: "Piloting: only the test link admits participants, marked as test.",
    Study.Status.LIVE: "Live: the study admits participants.",
    Study.Status.CLOSING: "Closing: no new participants; everyone inside can finish. It "
    "closes by itself once the last one is done.",
    Study.Status.CLOSED: "Closed: only finished participants' done page stays open.",
}


@require_POST
@study_role("owner")
def change_status(request, study):
    to = request.POST.get("to", "")
    reason = request.POST.get("reason", "").strip()[:REASON_MAX]
    try:
        lifecycle.transition(study, to, reason=reason, actor=request.user)
    except lifecycle.TransitionError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, _DONE[to])
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        return redirect(back)
    return redirect("research:dashboard", slug=study.slug)
