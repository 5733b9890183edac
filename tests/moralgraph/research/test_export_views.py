"""The researchers' exports page."""

import hashlib
import io
import json
import zipfile

import pytest

from moralgraph.models import ExportJob
from moralgraph.services.exports import jobs
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


def test_it_is_for_members_only(client, study, django_user_model):
    response = client.get("/research/ref/exports/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(django_user_model.objects.create_user("stranger", is_staff=True))
    assert client.get("/research/ref/exports/").status_code == 404
    assert client.get("/research/ref/exports/now/csv/").status_code == 404


def test_it_lists_the_formats(staff, study):
    page = staff.get("/research/ref/exports/").content.decode()
    assert "graph-json" in page and "dpo-jsonl" in page
    assert "/research/ref/exports/now/reference-json/" in page
    assert "/research/ref/exports/now/sft-jsonl/" not in page  # LLM-written: a job


def test_it_starts_a_job_and_polls_while_it_runs(
    staff, study, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            "/research/ref/exports/", {"format": "sft-jsonl", "mode": "", "as_of": "2023-09-30"}
        )
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert queued == [("moralgraph.tasks.run_export", (job.pk,), None)]
    assert job.as_of.date().isoformat() == "2023-09-30"
    partial = staff.get("/research/ref/exports/", headers={"HX-Request": "true"})
    text = partial.content.decode()
    assert text.lstrip().startswith('<div id="jobs"') and 'hx-trigger="every 2s"' in text
    assert "Pending" in text


def test_it_refuses_a_mode_the_format_lacks(staff, study):
    response = staff.post("/research/ref/exports/", {"format": "graph-json", "mode": "compat"})
    assert response.status_code == 400
    assert "graph-json is written from default" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_a_finished_job_downloads_with_its_hash(staff, study, settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path
    job = ExportJob.objects.create(study=study, format="bundle", mode="default")
    job = jobs.run_export_job(job.pk)
    page = staff.get("/research/ref/exports/").content.decode()
    assert f"/research/ref/exports/{job.pk}/download/" in page
    response = staff.get(f"/research/ref/exports/{job.pk}/download/")
    content = b"".join(response.streaming_content)
    assert response["Content-Type"] == "application/zip"
    assert hashlib.sha256(content).hexdigest() == job.sha256
    assert "README.md" in zipfile.ZipFile(io.BytesIO(content)).namelist()


def test_it_builds_a_format_without_llm_at_once(staff, study):
    response = staff.get("/research/ref/exports/now/reference-json/?as_of=2023-09-30")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert len(json.loads(response.content)["edges"]) == 4
    assert response["X-Content-SHA256"] == hashlib.sha256(response.content).hexdigest()
    assert staff.get("/research/ref/exports/now/sft-jsonl/").status_code == 404
