"""The exports of one snapshot are the same bytes whatever happens after it: provenance is
keyed by the snapshot, and a later training run (its response calls) leaves it alone."""

import pytest

from elicitation.models import LLMCall
from moralgraph.models import TrainingResponse
from moralgraph.services.exports import build_export
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


@pytest.mark.parametrize("fmt", ["graph-json", "bundle"])
def test_a_later_training_export_leaves_the_snapshots_exports_alone(study, fmt):
    first = build_export(study=study, fmt=fmt, generate=True)
    # A training run of the same snapshot writes responses (LLM calls) afterwards.
    TrainingResponse.objects.all().delete()
    calls = LLMCall.objects.filter(stage="response").count()
    build_export(study=study, fmt="dpo-jsonl", generate=True)
    assert LLMCall.objects.filter(stage="response").count() > calls
    again = build_export(study=study, fmt=fmt, generate=True)
    assert again.snapshot.pk == first.snapshot.pk
    assert again.content == first.content


def test_provenance_counts_only_what_came_before_the_snapshot(study):
    export = build_export(study=study, fmt="graph-json")
    LLMCall.objects.create(
        study=study, stage="dedup", model="late/model", prompt_name="x", prompt_version="v"
    )
    assert build_export(study=study, fmt="graph-json").content == export.content
