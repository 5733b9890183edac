"""The export command: formats, modes, --as-of, -o, --background."""

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from moralgraph.models import ExportJob
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

# The fixture's few judgments, scored with thresholds that let them train (conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("export", "--study", "ref", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_writes_the_file_given_with_o(study, tmp_path):
    path = tmp_path / "graph.json"
    _, err = _run("--format", "graph-json", "-o", str(path))
    document = json.loads(path.read_text())
    assert document["schema"] == "graph-json"
    assert f"Wrote {path}" in err and "25 judgments" in err


def test_it_names_the_file_after_the_study_format_mode_and_snapshot(study, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run("--format", "csv", "--mode", "compat")
    [written] = list(tmp_path.iterdir())
    assert written.name.startswith("ref-csv-compat-") and written.suffix == ".zip"
    assert "edges.csv" in zipfile.ZipFile(written).namelist()


def test_as_of_takes_a_date(study, tmp_path):
    path = tmp_path / "reference.json"
    _run("--format", "reference-json", "--as-of", "2023-09-30", "-o", str(path))
    edges = json.loads(path.read_text())["edges"]
    assert len(edges) == 4  # the late 104 -> 105 judgment is left out
    _run("--format", "reference-json", "--as-of", "2023-10-03T00:00:00Z", "-o", str(path))
    assert len(json.loads(path.read_text())["edges"]) == 5


def test_it_writes_to_stdout(study, capsysbinary):
    call_command("export", "--study", "ref", "--format", "constitution-md", "-o", "-")
    assert capsysbinary.readouterr().out.startswith(b"# Constitution: ref")


def test_it_generates_training_responses_with_progress(study, tmp_path):
    path = tmp_path / "sft.jsonl"
    _, err = _run("--format", "sft-jsonl", "-o", str(path))
    assert "Training responses: 1/1" in err
    assert len(path.read_text().splitlines()) == 1
    _, err = _run("--format", "sft-jsonl", "-o", str(path))
    assert "Training responses: all cached" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "reference-json", "--mode", "default"], "written from compat"),
        (["--format", "graph-json", "--as-of", "last tuesday"], "--as-of must be an ISO date"),
    ],
)
def test_it_refuses_bad_options(study, args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)


def test_it_refuses_an_unknown_study():
    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        call_command("export", "--study", "nope", "--format", "csv")


def test_background_queues_a_job(study, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = _run("--format", "bundle", "--background")
    job = ExportJob.objects.get()
    assert queued == [("moralgraph.tasks.run_export", (job.pk,), None)]
    assert job.status == ExportJob.Status.PENDING
    assert (job.format, job.mode) == ("bundle", "default")
    assert f"Export job {job.pk} queued" in out


def test_with_nothing_confident_the_training_files_are_empty_and_it_says_why(
    study, tmp_path, settings
):
    settings.PAIRWISE_PARAMS = {}  # the calibrated defaults: 25 judgments settle nothing
    path = tmp_path / "sft.jsonl"
    _, err = _run("--format", "sft-jsonl", "-o", str(path))
    assert path.read_bytes() == b""
    assert "No training examples: no context has a confident winner" in err
    assert "2 insufficient" in err
    dpo = tmp_path / "dpo.jsonl"
    _, err = _run("--format", "dpo-jsonl", "-o", str(dpo))
    # DPO pairs need no confident winner, only an edge that passes the DPO rule.
    rows = [json.loads(line) for line in dpo.read_text().splitlines()]
    assert all(r["metadata"]["decisive"] >= 5 and r["metadata"]["stability"] >= 0.8 for r in rows)
    _run("--format", "bundle", "-o", str(tmp_path / "b.zip"))
    readme = zipfile.ZipFile(tmp_path / "b.zip").read("README.md").decode()
    excluded = readme.split("## Excluded from training")[1].split("## Licence")[0]
    assert excluded.count("insufficient") == 2 and "needs 10" in excluded
    assert "decisive votes (needs 5)" in excluded  # an edge left out of DPO, with its reason
