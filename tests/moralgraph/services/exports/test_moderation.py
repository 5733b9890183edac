"""Moderation in exports: a value whose cards are all hidden (or a hidden value) leaves
scoring and every export format, and comes back when shown again."""

import csv
import io
import json
import zipfile

import pytest
from django.contrib.auth import get_user_model

from moralgraph.models import Value
from moralgraph.services import moderation
from moralgraph.services.exports import FORMATS, build_export
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]

TITLE = "Shared Ownership of Learning"  # reference value 103, judged in two contexts


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


@pytest.fixture
def researcher():
    return get_user_model().objects.create_user("moderator")


def _all_exports(study) -> dict[str, bytes]:
    return {fmt: build_export(study=study, fmt=fmt, generate=True).content for fmt in FORMATS}


def _graph_json_ids(content: bytes) -> set[str]:
    document = json.loads(content)
    ids = {v["id"] for v in document["values"]}
    for context in document["contexts"]:
        ids |= {e[k] for e in context["edges"] for k in ("from_id", "to_id")}
    return ids


def _zip_tables(content: bytes) -> dict[str, list[dict]]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {
        name.rsplit("/", 1)[-1]: list(csv.DictReader(io.StringIO(archive.read(name).decode())))
        for name in archive.namelist()
        if name.endswith(".csv")
    }


def _assert_absent(study, value, exports):
    vid = str(value.pk)
    for fmt, content in exports.items():
        assert TITLE.encode() not in content, fmt
    assert vid not in _graph_json_ids(exports["graph-json"])
    reference = json.loads(exports["reference-json"])
    assert all(v["title"] != TITLE for v in reference["values"])
    tables = _zip_tables(exports["csv"])
    assert all(r["value_id"] != vid for r in tables["values.csv"])
    assert all(r["value_id"] != vid for r in tables["cards.csv"])
    assert all(vid not in (r["from_value_id"], r["to_value_id"]) for r in tables["judgments.csv"])
    assert all(vid not in (r["from_value_id"], r["to_value_id"]) for r in tables["hypotheses.csv"])
    assert all(r["value_id"] != vid for r in tables["impressions.csv"])
    assert all(TITLE not in cell for rows in tables.values() for r in rows for cell in r.values())


def test_a_hidden_cards_value_leaves_every_export_and_comes_back(study, researcher):
    value = Value.objects.get(study=study, title=TITLE)
    cards = list(study.cards.filter(mappings__value=value, mappings__undone_at=None))
    assert cards
    _all_exports(study)  # writes the training answers, which provenance then counts
    before = _all_exports(study)
    assert TITLE.encode() in before["graph-json"]
    assert str(value.pk) in _graph_json_ids(before["graph-json"])

    for card in cards:
        moderation.hide_card(card=card, reason="off_topic", actor=researcher)
    _assert_absent(study, value, _all_exports(study))

    for card in cards:
        moderation.unhide_card(card=card, actor=researcher)
    after = _all_exports(study)
    # The same inputs again: the same snapshot (scored at a later time, as the latest).
    assert _graph_json_ids(after["graph-json"]) == _graph_json_ids(before["graph-json"])
    assert _zip_tables(after["csv"]) == _zip_tables(before["csv"])
    for fmt in ("reference-json", "sft-jsonl", "dpo-jsonl", "constitution-md"):
        assert after[fmt] == before[fmt], fmt


def test_a_hidden_value_leaves_every_export_and_the_datasheet_counts_it(study, researcher):
    value = Value.objects.get(study=study, title=TITLE)
    moderation.hide_value(value=value, reason="abusive", actor=researcher)
    card = study.cards.exclude(mappings__value=value).first()
    moderation.hide_card(card=card, reason="joke", actor=researcher)
    exports = _all_exports(study)
    _assert_absent(study, value, exports)
    datasheet = zipfile.ZipFile(io.BytesIO(exports["bundle"])).read("README.md").decode()
    assert "all hidden): cards: 1 (joke 1); values: 1 (abusive 1)" in datasheet
