"""The study's simulate page: start a simulated pilot in the background and read the
figures of every run (time per step, LLM calls and tokens per stage, cost estimate).

The same run as ``manage.py simulate``, queued as ``moralgraph.tasks.run_simulation``;
the page polls (htmx) while a run is queued or running.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from elicitation.queue import enqueue_on_commit
from moralgraph.models import SimulationRun
from moralgraph.research.access import Role, study_role
from moralgraph.services import simulation

RECENT_RUNS = 10
POLL_SECONDS = 3
MAX_PARTICIPANTS = 200


class SimulationForm(forms.Form):
    participants = forms.IntegerField(
        min_value=1,
        max_value=MAX_PARTICIPANTS,
        initial=20,
        help_text="Simulated participants who walk the study as test participants.",
    )
    planned = forms.IntegerField(
        min_value=1,
        required=False,
        help_text="Participants to estimate the cost for (blank: the study's maximum "
        f"completed, else {simulation.DEFAULT_PLANNED}).",
    )


def _context(study, form) -> dict:
    runs = list(SimulationRun.objects.filter(study=study).order_by("-created_at")[:RECENT_RUNS])
    return {
        "study": study,
        "section": "simulate",
        "form": form,
        "runs": runs,
        "busy": any(
            run.status in (SimulationRun.Status.QUEUED, SimulationRun.Status.RUNNING)
            for run in runs
        ),
        "poll_seconds": POLL_SECONDS,
        "planned_default": simulation.planned_for(study, None),
    }


@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
@study_role(Role.ANALYST)
def simulate_page(request, study):
    form = SimulationForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            run = simulation.simulation_create(
                study=study,
                participants=form.cleaned_data["participants"],
                planned=form.cleaned_data["planned"],
            )
            enqueue_on_commit("moralgraph.tasks.run_simulation", run.pk)
            messages.success(
                request, f"Simulation {run.pk} queued: {run.participants} participants."
            )
            return redirect("research:simulate", slug=study.slug)
        return render(request, "research/simulate.html", _context(study, form), status=400)
    template = "research/simulate.html#runs" if request.htmx else "research/simulate.html"
    return render(request, template, _context(study, form))
