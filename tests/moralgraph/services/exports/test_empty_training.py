"""An empty training file is an honest result, never a silent one: the CLI, the exports
page and the datasheet say why (no confident context, no pair passing the DPO rule)."""

import io
import zipfile

import pytest

from moralgraph.models import ExportJob
from moralgraph.services.exports import build_export
from moralgraph.services.exports.jobs import run_export_job
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


@pytest.fixture
def nothing_confident(settings):
    settings.PAIRWISE_PARAMS = {}  # the calibrated defaults: 25 judgments settle nothing


def test_the_datasheet_says_why_sft_is_empty(study, nothing_confident):
    export = build_export(study=study, fmt="bundle", generate=True)
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    assert archive.read("sft.jsonl") == b""
    readme = archive.read("README.md").decode()
    assert "- sft.jsonl is empty: no context has a confident winner" in readme


def test_a_background_export_of_an_empty_file_says_why(
    study, nothing_confident, settings, tmp_path, admin_client
):
    settings.EXPORT_ROOT = tmp_path
    job = ExportJob.objects.create(study=study, format="sft-jsonl", mode="default")
    job = run_export_job(job.pk)
    assert job.status == ExportJob.Status.DONE
    assert job.error.startswith("No training examples: no context has a confident winner")
    page = admin_client.get(f"/research/{study.slug}/exports/").content.decode()
    assert "No training examples: no context has a confident winner" in page


def test_no_note_when_the_file_has_rows(study):
    for fmt in ("sft-jsonl", "dpo-jsonl"):
        export = build_export(study=study, fmt=fmt, generate=True)
        assert export.content and export.note == ""


def test_an_empty_dpo_file_says_why(study, settings):
    settings.PAIRWISE_PARAMS = {"dpo_min_votes": 1000}
    export = build_export(study=study, fmt="dpo-jsonl", generate=True)
    assert export.content == b""
    assert export.note.startswith("none of the") and "passes the DPO rule" in export.note
