"""Export jobs through the API: start (analyst), poll, download; the same jobs and files
as the research exports page."""

import hashlib
import json

import pytest

from moralgraph.models import ExportJob
from moralgraph.services.exports import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst(scored, researcher, member):
    member(researcher, scored[0], "analyst")
    return scored


def _start(api, **body):
    return api.post("/api/studies/graph/exports", body, content_type="application/json")


def test_an_export_goes_from_start_to_download(
    api, analyst, queued, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.EXPORT_ROOT = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        response = _start(api, format="graph-json")
    assert response.status_code == 202
    started = response.json()
    assert started["status"] == "pending" and started["download_url"] is None
    job = ExportJob.objects.get()
    assert started["id"] == job.pk and job.mode == "default"
    assert queued == [("moralgraph.tasks.run_export", (job.pk,), None)]

    poll = f"/api/studies/graph/exports/{job.pk}"
    assert api.get(f"{poll}/download").status_code == 409
    jobs.run_export_job(job.pk)  # what the worker does with the queued task
    done = api.get(poll).json()
    assert done["status"] == "done" and done["finished_at"] is not None
    assert done["download_url"] == f"{poll}/download"

    download = api.get(done["download_url"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert download["Content-Type"] == "application/json"
    assert "attachment" in download["Content-Disposition"]
    assert hashlib.sha256(content).hexdigest() == done["sha256"] == download["X-Content-SHA256"]
    assert {v["title"] for v in json.loads(content)["values"]} >= {"Plain Honesty"}

    listed = api.get("/api/studies/graph/exports").json()
    assert [j["id"] for j in listed["items"]] == [job.pk]


def test_it_takes_a_mode_and_a_cut_off(api, analyst, queued):
    response = _start(api, format="graphml", mode="compat", as_of="2024-03-01")
    assert response.status_code == 202
    job = ExportJob.objects.get()
    assert job.mode == "compat" and job.as_of.isoformat() == "2024-03-01T00:00:00+00:00"


def test_it_refuses_an_export_it_cannot_make(api, analyst):
    response = _start(api, format="graph-json", mode="compat")
    assert response.status_code == 400
    assert "graph-json is written from default" in response.json()["detail"]
    # A format the schema does not list is refused before any export code runs.
    assert _start(api, format="pdf").status_code == 422
    assert not ExportJob.objects.exists()


def test_a_job_of_another_study_is_not_found(api, analyst, member, researcher):
    from tests import factories

    other = factories.StudyFactory(slug="other")
    member(researcher, other, "viewer")
    job = ExportJob.objects.create(study=other, format="csv")
    assert api.get(f"/api/studies/graph/exports/{job.pk}").status_code == 404
    assert api.get(f"/api/studies/other/exports/{job.pk}").status_code == 200


def test_a_failed_job_says_why_and_has_no_file(api, analyst):
    job = ExportJob.objects.create(
        study=analyst[0], format="csv", status=ExportJob.Status.FAILED, error="boom"
    )
    body = api.get(f"/api/studies/graph/exports/{job.pk}").json()
    assert body["status"] == "failed" and body["error"] == "boom"
    assert api.get(f"/api/studies/graph/exports/{job.pk}/download").status_code == 409
