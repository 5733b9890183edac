"""The datasheet quotes the snapshot's judgment count, the one source: after a merge of
two values judged against each other, those judgments leave scoring, and the datasheet
says so instead of counting table rows."""

import io
import json
import zipfile

import pytest

from elicitation.models import WiserJudgment
from moralgraph.models import ValueMerge
from moralgraph.services.exports import build_export
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


def _readme(study):
    export = build_export(study=study, fmt="bundle", generate=True)
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    graph = json.loads(archive.read("graph.json"))
    return archive.read("README.md").decode(), export.snapshot, graph


def test_the_datasheet_and_the_snapshot_agree_on_judgments(study):
    readme, snapshot, graph = _readme(study)
    assert f"- Wiser judgments: {snapshot.judgment_count} (" in readme
    assert graph["snapshot"]["judgment_count"] == snapshot.judgment_count
    assert "not scored" not in readme


def test_after_a_merge_of_a_judged_pair_they_still_agree(study):
    judgment = WiserJudgment.objects.select_related("hypothesis").first()
    pair = judgment.hypothesis
    between = WiserJudgment.objects.filter(
        hypothesis__from_value__in=[pair.from_value, pair.to_value],
        hypothesis__to_value__in=[pair.from_value, pair.to_value],
    ).count()
    ValueMerge.objects.create(study=study, from_value=pair.from_value, into_value=pair.to_value)
    readme, snapshot, graph = _readme(study)
    total = WiserJudgment.objects.filter(participant__study=study).count()
    assert snapshot.judgment_count == total - between
    assert f"- Wiser judgments: {snapshot.judgment_count} (" in readme
    assert graph["snapshot"]["judgment_count"] == snapshot.judgment_count
    assert f"tables/judgments.csv has {total} rows: {between} are not scored" in readme
