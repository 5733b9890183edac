"""The recruiter's approval list, downloaded from the exports page (analysts and owners):
the only file with recruiter ids (moralgraph.services.exports.approval)."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from moralgraph.research.access import study_role
from moralgraph.services.exports import approval


@require_GET
@study_role("analyst")
def download_approval(request, study):
    response = HttpResponse(approval.build(study), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{approval.filename(study)}"'
    # Recruiter ids: never kept by a shared cache or the browser's.
    response["Cache-Control"] = "no-store"
    return response
