"""Researchers' exports page: start an export job, watch its progress, download the file.

Staff only. Formats that need no LLM can also be downloaded at once, built in the request
(no worker needed); the LLM-written ones (and the bundle) go through a background job.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from elicitation.models import Study
from moralgraph.exports import FORMATS, ExportError, build_export
from moralgraph.exports.jobs import start_export
from moralgraph.models import ExportJob

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
            return redirect("moralgraph:exports", slug=study.slug)
    jobs = _jobs(study)
    context = {
        "study": study,
        "formats": FORMATS.values(),
        "jobs": jobs,
        "busy": any(j.status in (ExportJob.Status.PENDING, ExportJob.Status.RUNNING) for j in jobs),
        "error": error,
    }
    template = "moralgraph/exports.html#jobs" if request.htmx else "moralgraph/exports.html"
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
