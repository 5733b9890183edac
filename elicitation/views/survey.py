"""The closing survey, the done page, and the follow-up asked once the graph is scored.

The done page and the follow-up show where the participant's value sits in the graph:
as entry points they may ask the graph side (moralgraph.services.positions) directly.
"""

from __future__ import annotations

from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from elicitation import forms, journey, selectors
from elicitation.models import Participant
from elicitation.services import participants
from elicitation.services import survey as survey_service
from elicitation.views import common
from moralgraph.services import positions

Step = Participant.Step


@require_http_methods(["GET", "POST"])
@common.participant_step(Step.SURVEY)
def survey(request, study, participant):
    status = 200
    saw_others = selectors.saw_others_values(participant)
    if request.method == "POST":
        form = forms.SurveyForm(request.POST, saw_others=saw_others)
        if form.is_valid():
            answer = survey_service.survey_save(participant=participant, **form.cleaned_data)
            return common.onward(request, answer.participant)
        status = 400
    else:
        form = forms.SurveyForm(saw_others=saw_others)
    context = {"study": study, "participant": participant, "form": form}
    return common.page(request, "elicitation/survey.html", context, step=Step.SURVEY, status=status)


@require_GET
@common.participant_step(Step.DONE, when_closed=True)
def done(request, study, participant):
    context = {
        "study": study,
        "participant": participant,
        "card": selectors.submitted_card(participant),
        "position": positions.value_position(participant),
        # The participant's own code (one finished before codes were per participant: the
        # study's).
        "completion_code": participant.completion_code or study.completion_code,
        "redirect_url": journey.recruiter_url(
            study, participant.completion_code or study.completion_code
        ),
        "redirect_seconds": 10,
    }
    return common.page(request, "elicitation/done.html", context, step=Step.DONE)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def follow_up(request, slug):
    """ "Is the position of your value in the final graph fair?" (yes or no, then how fair
    from 1 to 5), asked of a finished participant later on:
    /s/<slug>/follow-up/?PROLIFIC_PID=... (or in the same browser).

    Works on a closed study too: the follow-up usually comes after it closed.
    """
    study = common.study_or_404(request, slug)
    pid = (request.GET.get("PROLIFIC_PID") or request.GET.get("pid") or "").strip()
    follow_up_key = f"mge.follow-up.{study.pk}"
    if pid:
        participant = selectors.participant_by_recruiter_pid(
            study, pid[: participants.RECRUITER_ID_MAX]
        )
        if participant is None:
            raise Http404("No participant with this id in this study")
        if participant.step != Step.DONE:
            # The journey itself continues only in its own browser or with the resume
            # code: the entry link decides, never this page.
            return redirect(reverse("elicitation:entry", args=[study.slug]) + f"?pid={quote(pid)}")
        # This browser may answer the follow-up for this finished participant, and
        # nothing else: the session is not bound to them for the journey's pages.
        request.session[follow_up_key] = str(participant.public_id)
    else:
        participant = common.session_participant(request, study) or (
            selectors.participant_by_public_id(study, request.session.get(follow_up_key))
        )
        if participant is None:
            raise Http404("No participant in this session")
    if participant.step != Step.DONE:
        return common.refuse_inside(request, study, participant) or common.to_step(
            request, participant
        )

    position = positions.follow_up(participant)
    answer = getattr(participant, "survey", None)
    saved = False
    status = 200
    ready = position.snapshot is not None and position.value is not None
    if request.method == "POST" and not ready:
        # Nothing to judge yet: the page says so and asks nothing.
        form = forms.FollowUpForm()
        status = 409
    elif request.method == "POST":
        form = forms.FollowUpForm(request.POST)
        if form.is_valid():
            try:
                answer = survey_service.follow_up_save(
                    participant=participant,
                    fair=form.cleaned_data["fair"],
                    fair_position=form.cleaned_data["fair_position"],
                    card_id=form.cleaned_data["card"],
                )
            except participants.NotFound:
                raise Http404("Not your card") from None
            except ValidationError as invalid:
                form.add_error(None, invalid)
                status = 400
            else:
                saved = True
        else:
            status = 400
    else:
        initial = {"card": position.card.pk if position.card else None}
        if answer is not None and answer.fair is not None:
            initial["fair"] = "yes" if answer.fair else "no"
        if answer is not None and answer.fair_position:
            initial["fair_position"] = answer.fair_position
        form = forms.FollowUpForm(initial=initial)
    context = {
        "study": study,
        "participant": participant,
        "position": position,
        "form": form,
        "answer": answer,
        "saved": saved,
    }
    name = "elicitation/follow_up.html" + ("#step" if request.htmx else "")
    return render(request, name, context, status=status)
