"""Export jobs: start one (analyst or owner), poll it, download its file. The same jobs
as the research exports page: an ExportJob row built in the background by
moralgraph.tasks.run_export (moralgraph.services.exports.jobs)."""

from datetime import UTC, datetime, time
from pathlib import Path

from django.conf import settings
from django.http import FileResponse
from ninja import Path as PathParam
from ninja import Router
from ninja.errors import HttpError
from ninja.pagination import paginate
from ninja.responses import Status

from moralgraph.api.auth import study_for
from moralgraph.api.errors import ERRORS
from moralgraph.api.pagination import Paginated
from moralgraph.api.schemas import Error, ExportIn, ExportJobOut, Slug
from moralgraph.models import ExportJob
from moralgraph.research.access import Role
from moralgraph.services.exports import FORMATS, ExportError
from moralgraph.services.exports.jobs import start_export

router = Router(tags=["exports"])

JobId = PathParam(..., ge=1, le=2**63 - 1)

# The download's body is the file, in its format's media type (JSON ones are JSON).
BINARY = {"type": "string", "format": "binary"}
FILE_RESPONSE = {
    "responses": {
        200: {
            "description": "The export's file",
            "content": {
                media_type: {"schema": {} if media_type == "application/json" else BINARY}
                for media_type in sorted({f.media_type.split(";")[0] for f in FORMATS.values()})
            },
        }
    }
}


def _job(job: ExportJob) -> dict:
    done = job.status == ExportJob.Status.DONE
    return {
        "id": job.pk,
        "format": job.format,
        "mode": job.mode,
        "as_of": job.as_of,
        "status": job.status,
        "progress": job.progress,
        "total": job.total,
        "error": job.error,
        "sha256": job.sha256,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "download_url": (
            f"/api/studies/{job.study.slug}/exports/{job.pk}/download" if done else None
        ),
    }


def _get_job(request, slug: str, job_id: int) -> ExportJob:
    study = study_for(request, slug)
    job = ExportJob.objects.filter(pk=job_id, study=study).select_related("study").first()
    if job is None:
        raise HttpError(404, "No such export job in this study.")
    return job


@router.post("/studies/{slug}/exports", response={202: ExportJobOut, 400: Error, **ERRORS})
def create_export(request, payload: ExportIn, slug: str = Slug):
    """Start an export job (needs the analyst role). Poll it until ``status`` is done,
    then fetch ``download_url``. Formats: the research exports page's list."""
    study = study_for(request, slug, Role.ANALYST)
    as_of = datetime.combine(payload.as_of, time.min, tzinfo=UTC) if payload.as_of else None
    try:
        job = start_export(study=study, fmt=payload.format, mode=payload.mode, as_of=as_of)
    except ExportError as problem:
        raise HttpError(400, str(problem)) from None
    return Status(202, _job(job))


@router.get("/studies/{slug}/exports", response={200: list[ExportJobOut], **ERRORS})
@paginate(Paginated)
def list_exports(request, slug: str = Slug):
    """The study's export jobs, newest first."""
    jobs = ExportJob.objects.filter(study=study_for(request, slug)).select_related("study")
    return [_job(job) for job in jobs.order_by("-created_at", "-pk")]


@router.get("/studies/{slug}/exports/{job_id}", response={200: ExportJobOut, **ERRORS})
def get_export(request, slug: str = Slug, job_id: int = JobId):
    """One export job: its status and progress."""
    return _job(_get_job(request, slug, job_id))


@router.get(
    "/studies/{slug}/exports/{job_id}/download",
    response={200: None, 409: Error, **ERRORS},
    openapi_extra=FILE_RESPONSE,
)
def download_export(request, slug: str = Slug, job_id: int = JobId):
    """The finished job's file (409 while it is pending or running, or if it failed)."""
    job = _get_job(request, slug, job_id)
    if job.status != ExportJob.Status.DONE:
        raise HttpError(409, f"The export job is {job.status}, not done.")
    path = Path(job.path)
    root = Path(settings.EXPORT_ROOT).resolve()
    if not path.resolve().is_relative_to(root) or not path.is_file():
        raise HttpError(404, "The export's file is gone.")
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=path.name,
        content_type=FORMATS[job.format].media_type,
    )
    response["X-Content-SHA256"] = job.sha256
    return response
