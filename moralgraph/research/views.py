"""The researchers' pages, staff only: the studies, a study's live dashboard, the graph
review (with "split" for a merge), and the exports.

Exports: start an export job, watch its progress, download the file. Formats that need
no LLM can also be downloaded at once, built in the request (no worker needed); the
LLM-written ones (and the bundle) go through a background job.

Setting a study up stays in the Django admin; these pages link to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from elicitation.models import Study, ValuesCard
from elicitation.queue import enqueue_on_commit
from moralgraph.locks import StudyBusy
from moralgraph.models import ExportJob, GraphSnapshot, ValueMerge
from moralgraph.research import legitimacy, review, selectors
from moralgraph.services import merges, reconcile
from moralgraph.services.exports import FORMATS, ExportError, build_export
from moralgraph.services.exports.jobs import start_export

RECENT_JOBS = 20


def _as_of(text: str):
    """An ISO date from the form: judgments before that day's start (UTC)."""
    if not text:
        return None
    day = parse_date(text)
    if day is None:
        raise ExportError(f"not a date: {text!r}")
    return datetime.combine(day, time.min, tzinfo=UTC)


def _jobs(study: Study):
    return list(ExportJob.objects.filter(study=study).order_by("-created_at", "-pk")[:RECENT_JOBS])


@staff_member_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def exports(request, slug):
    study = get_object_or_404(Study, slug=slug)
    error = ""
    if request.method == "POST":
        try:
            start_export(
                study=study,
                fmt=request.POST.get("format", ""),
                mode=request.POST.get("mode") or None,
                as_of=_as_of(request.POST.get("as_of", "")),
            )
        except ExportError as problem:
            error = str(problem)
        else:
            return redirect("research:exports", slug=study.slug)
    jobs = _jobs(study)
    context = {
        "study": study,
        "section": "exports",
        "formats": FORMATS.values(),
        "jobs": jobs,
        "busy": any(j.status in (ExportJob.Status.PENDING, ExportJob.Status.RUNNING) for j in jobs),
        "error": error,
    }
    template = "research/exports.html#jobs" if request.htmx else "research/exports.html"
    return render(request, template, context, status=400 if error else 200)


@staff_member_required
@require_GET
def download_job(request, slug, job_id):
    job = get_object_or_404(ExportJob, pk=job_id, study__slug=slug, status=ExportJob.Status.DONE)
    path = Path(job.path)
    root = Path(settings.EXPORT_ROOT).resolve()
    if not path.resolve().is_relative_to(root) or not path.is_file():
        raise Http404("the export's file is gone")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=path.name,
        content_type=FORMATS[job.format].media_type,
    )


@staff_member_required
@require_GET
def download_now(request, slug, fmt):
    study = get_object_or_404(Study, slug=slug)
    spec = FORMATS.get(fmt)
    if spec is None or spec.needs_responses:
        raise Http404("this format is built by a background job")
    try:
        export = build_export(
            study=study,
            fmt=fmt,
            mode=request.GET.get("mode") or None,
            as_of=_as_of(request.GET.get("as_of", "")),
        )
    except ExportError as problem:
        return HttpResponse(str(problem), status=400, content_type="text/plain")
    response = HttpResponse(export.content, content_type=spec.media_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Content-SHA256"] = export.sha256
    return response


# ---------------------------------------------------------------------------------------
# Studies, the live dashboard, the graph review
# ---------------------------------------------------------------------------------------

# Prolific fills these placeholders in with each participant's ids.
PROLIFIC_QUERY = (
    "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
)
FOLLOW_UP_QUERY = "?PROLIFIC_PID={{%PROLIFIC_PID%}}"
POLL_SECONDS = 5


def _participant_link(request, study: Study) -> str:
    return request.build_absolute_uri(reverse("elicitation:entry", args=[study.slug])) + (
        PROLIFIC_QUERY
    )


def _follow_up_link(request, study: Study) -> str:
    return request.build_absolute_uri(reverse("elicitation:follow_up", args=[study.slug])) + (
        FOLLOW_UP_QUERY
    )


@staff_member_required
@require_GET
def studies(request):
    rows = [
        {"summary": summary, "link": _participant_link(request, summary.study)}
        for summary in selectors.study_summaries()
    ]
    return render(request, "research/studies.html", {"rows": rows, "section": "studies"})


def _dashboard_context(request, study: Study) -> dict:
    return {
        "study": study,
        "section": "dashboard",
        "summary": selectors.study_summaries(Study.objects.filter(pk=study.pk))[0],
        "funnel": selectors.funnel(study),
        "balance": selectors.question_balance(study),
        "legitimacy": legitimacy.figures(study),
        "spend": selectors.llm_spend(study),
        "budget_banner": selectors.budget_banner(study),
        "backlog": review.backlog(study),
        "snapshot": GraphSnapshot.latest_for(study),
        "participant_link": _participant_link(request, study),
        "follow_up_link": _follow_up_link(request, study),
        "poll_seconds": POLL_SECONDS,
        "updated_at": timezone.now(),
    }


@staff_member_required
@vary_on_headers("HX-Request")
@require_GET
def dashboard(request, slug):
    study = get_object_or_404(Study, slug=slug)
    template = "research/dashboard.html#live" if request.htmx else "research/dashboard.html"
    return render(request, template, _dashboard_context(request, study))


@staff_member_required
@require_POST
def reconcile_now(request, slug):
    """Enqueue a reconciliation pass (it places pending cards, reads new interviews for
    contexts, writes missing stories); a pass already running does this work instead."""
    study = get_object_or_404(Study, slug=slug)
    enqueue_on_commit("moralgraph.tasks.reconcile_study", study.pk)
    messages.success(
        request,
        "Reconciliation queued: pending cards are placed as soon as a worker takes it.",
    )
    return redirect("research:dashboard", slug=study.slug)


@staff_member_required
@require_POST
def rescore_now(request, slug):
    """Enqueue scoring. The task scores only when the graph changed since the last score
    (the same judgments give the same snapshot), at most once per debounce period."""
    study = get_object_or_404(Study, slug=slug)
    enqueue_on_commit("moralgraph.tasks.score_study", study.pk)
    if review.backlog(study).score_due:
        messages.success(
            request,
            "Scoring queued: a new snapshot appears once a worker runs it (at most one "
            f"score every {settings.SCORE_DEBOUNCE_SECONDS} seconds).",
        )
    else:
        messages.info(
            request,
            "Scoring queued, but the graph has not changed since it was last scored: "
            "the latest snapshot is up to date.",
        )
    return redirect("research:dashboard", slug=study.slug)


@staff_member_required
@require_POST
def retry_failed(request, slug):
    study = get_object_or_404(Study, slug=slug)
    count = reconcile.retry_failed_cards(ValuesCard.objects.filter(study=study))
    messages.success(request, f"{count} failed card(s) queued again.")
    return redirect("research:dashboard", slug=study.slug)


@staff_member_required
@vary_on_headers("HX-Request")
@require_GET
def graph(request, slug):
    study = get_object_or_404(Study, slug=slug)
    mode = request.GET.get("mode", "")
    if mode not in GraphSnapshot.Mode.values:
        mode = GraphSnapshot.Mode.DEFAULT
    snapshot = review.pick_snapshot(study, mode=mode, snapshot_id=request.GET.get("snapshot"))
    if request.GET.get("snapshot") and snapshot is None:
        raise Http404("no such snapshot")
    context = {
        "study": study,
        "section": "graph",
        "snapshot": snapshot,
        "snapshots": review.snapshots(study),
        "mode": snapshot.mode if snapshot else mode,
        "modes": GraphSnapshot.Mode.choices,
        "review": review.graph_review(study, snapshot) if snapshot else None,
        "latest": review.pick_snapshot(study, mode=snapshot.mode) if snapshot else None,
        "backlog": review.backlog(study),
    }
    if request.htmx:
        return render(request, "research/graph.html#review", context)
    context.update(values=review.values_with_cards(study), merges=review.merges(study))
    return render(request, "research/graph.html", context)


@staff_member_required
@require_POST
def split(request, slug, merge_id):
    """Undo a merge; the service schedules the rescoring that follows."""
    merge = get_object_or_404(ValueMerge, pk=merge_id, study__slug=slug)
    try:
        moved = merges.split_merge(merge=merge, actor=request.user, reason="On the graph review.")
    except StudyBusy:
        messages.error(
            request, "The study is being reconciled right now; try the split again in a minute."
        )
    else:
        if moved:
            messages.success(
                request,
                f"Split: {len(moved)} card(s) back in their own value. The graph is rescored "
                "shortly.",
            )
        else:
            messages.info(request, "That merge was already undone.")
    return redirect(reverse("research:graph", args=[slug]) + "#merges")
