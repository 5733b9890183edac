"""The researchers' pages: the studies, a study's live dashboard, the graph review (with
"split" for a merge), and the exports. Each checks the user's role on the study
(research/access.py): viewers read and download, analysts also act on the graph and
start export jobs.

Exports: start an export job, watch its progress, download the file. Formats that need
no LLM can also be downloaded at once, built in the request (no worker needed); the
LLM-written ones (and the bundle) go through a background job.

Setting a study up is on its settings page (setup_views).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
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
from moralgraph.research.access import Role, has_role, studies_for, study_role
from moralgraph.services import merges, reconcile
from moralgraph.services.exports import FORMATS, ExportError, approval, build_export
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


@study_role(Role.VIEWER)
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def exports(request, study):
    error = ""
    if request.method == "POST":
        if not has_role(request.user, study, Role.ANALYST):
            raise PermissionDenied("Starting an export needs the analyst role on the study.")
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
        "approval_short_words": approval.SHORT_INTERVIEW_WORDS,
        "approval_pasted_chars": approval.PASTED_CHARS,
    }
    template = "research/exports.html#jobs" if request.htmx else "research/exports.html"
    return render(request, template, context, status=400 if error else 200)


@study_role(Role.VIEWER)
@require_GET
def download_job(request, study, job_id):
    job = get_object_or_404(ExportJob, pk=job_id, study=study, status=ExportJob.Status.DONE)
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


@study_role(Role.VIEWER)
@require_GET
def download_now(request, study, fmt):
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


@login_required
@require_GET
def studies(request):
    """The studies the user has a role on; nobody else's, staff or not."""
    rows = [
        {
            "summary": summary,
            "link": _participant_link(request, summary.study),
            "owner": has_role(request.user, summary.study, Role.OWNER),
        }
        for summary in selectors.study_summaries(studies_for(request.user))
    ]
    context = {
        "rows": rows,
        "section": "studies",
        "can_create": request.user.has_perm("elicitation.add_study"),
    }
    return render(request, "research/studies.html", context)


def _dashboard_context(request, study: Study) -> dict:
    # The "show test participants" toggle: every figure leaves them out unless asked.
    include_test = request.GET.get("test") == "1"
    return {
        "study": study,
        "section": "dashboard",
        "include_test": include_test,
        "summary": selectors.study_summaries(
            Study.objects.filter(pk=study.pk), include_test=include_test
        )[0],
        "funnel": selectors.funnel(study, include_test=include_test),
        "balance": selectors.question_balance(study, include_test=include_test),
        "legitimacy": legitimacy.figures(study, include_test=include_test),
        "spend": selectors.llm_spend(study),
        "progress": selectors.elicitation_progress(study),
        "budget_banner": selectors.budget_banner(study),
        "backlog": review.backlog(study),
        "snapshot": GraphSnapshot.latest_for(study),
        "participant_link": _participant_link(request, study),
        "follow_up_link": _follow_up_link(request, study),
        "poll_seconds": POLL_SECONDS,
        "updated_at": timezone.now(),
    }


@study_role(Role.VIEWER)
@vary_on_headers("HX-Request")
@require_GET
def dashboard(request, study):
    template = "research/dashboard.html#live" if request.htmx else "research/dashboard.html"
    return render(request, template, _dashboard_context(request, study))


@study_role(Role.ANALYST)
@require_POST
def reconcile_now(request, study):
    """Enqueue a reconciliation pass (it places pending cards, reads new interviews for
    contexts, writes missing stories); a pass already running does this work instead."""
    enqueue_on_commit("moralgraph.tasks.reconcile_study", study.pk)
    messages.success(
        request,
        "Reconciliation queued: pending cards are placed as soon as a worker takes it.",
    )
    return redirect("research:dashboard", slug=study.slug)


@study_role(Role.ANALYST)
@require_POST
def rescore_now(request, study):
    """Enqueue scoring. The task scores only when the graph changed since the last score
    (the same judgments give the same snapshot), at most once per debounce period."""
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


@study_role(Role.ANALYST)
@require_POST
def retry_failed(request, study):
    count = reconcile.retry_failed_cards(ValuesCard.objects.filter(study=study))
    messages.success(request, f"{count} failed card(s) queued again.")
    return redirect("research:dashboard", slug=study.slug)


REVIEW_ROWS = 50


def _page(request, rows: list, param: str):
    """One page of ``rows`` (REVIEW_ROWS a page) by the ``param`` query parameter; a
    number out of range gives the last page, as a stale link should."""
    return Paginator(rows, REVIEW_ROWS).get_page(request.GET.get(param))


def _paged_review(request, whole: review.GraphReview):
    """The review with REVIEW_ROWS of its contexts (in question order; a question with
    none counts as one row, for its "nothing scored yet" note), and that page."""
    rows = [
        (index, context)
        for index, question in enumerate(whole.questions)
        for context in (question.contexts or [None])
    ]
    page = _page(request, rows, "contexts_page")
    questions: list[review.QuestionReview] = []
    for index, context in page:
        if not questions or questions[-1].question is not whole.questions[index].question:
            questions.append(review.QuestionReview(whole.questions[index].question, []))
        if context is not None:
            questions[-1].contexts.append(context)
    return dataclasses.replace(whole, questions=questions), page


@study_role(Role.VIEWER)
@vary_on_headers("HX-Request")
@require_GET
def review_page(request, study):
    """The graph review as text, linked from the picture: every context's ranking and
    kept edges, then the values with their cards and the merges, a page at a time."""
    mode = request.GET.get("mode", "")
    if mode not in GraphSnapshot.Mode.values:
        mode = GraphSnapshot.Mode.DEFAULT
    snapshot = review.pick_snapshot(study, mode=mode, snapshot_id=request.GET.get("snapshot"))
    if request.GET.get("snapshot") and snapshot is None:
        raise Http404("no such snapshot")
    context = {
        "study": study,
        "section": "review",
        "snapshot": snapshot,
        "snapshots": review.snapshots(study),
        "mode": snapshot.mode if snapshot else mode,
        "modes": GraphSnapshot.Mode.choices,
        "review": None,
        "latest": review.pick_snapshot(study, mode=snapshot.mode) if snapshot else None,
        "backlog": review.backlog(study),
    }
    if snapshot is not None:
        context["review"], context["context_pages"] = _paged_review(
            request, review.graph_review(study, snapshot)
        )
    if request.htmx:
        return render(request, "research/review.html#review", context)
    values = _page(request, review.values_with_cards(study), "page")
    merge_rows = _page(request, review.merges(study), "merges_page")
    context.update(values=values, merges=merge_rows)
    return render(request, "research/review.html", context)


@study_role(Role.ANALYST)
@require_POST
def split(request, study, merge_id):
    """Undo a merge; the service schedules the rescoring that follows."""
    merge = get_object_or_404(ValueMerge, pk=merge_id, study=study)
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
    return redirect(reverse("research:review", args=[study.slug]) + "#merges")
