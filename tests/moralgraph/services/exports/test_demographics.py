"""Demographics in exports: each anonymous participant's answers to the study's "About
you" items, their group and whether they count, in the CSV bundle and graph JSON, with
each edge's votes per group; never a recruiter id."""

import csv
import io
import json
import zipfile

import jsonschema
import pytest

from elicitation.models import Demographics, Participant
from moralgraph.models import Context, UpgradeHypothesis
from moralgraph.services.exports import FORMATS, build_export
from moralgraph.services.exports.graph_json import SCHEMA_PATH
from tests import factories
from tests.moralgraph.support import card_value, judge

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]

SECRET = "PID-NEVER-EXPORTED"


@pytest.fixture
def study():
    """Two values judged by democrats and republicans (and one unlabelled), one judge
    with a recruiter id and a country, one test participant."""
    study = factories.StudyFactory(slug="demo-graphics")
    question = factories.QuestionFactory(study=study)
    context = Context.objects.create(study=study, text="When someone is grieving")
    context.questions.add(question)
    _, a = card_value(study, question, "Plain Honesty")
    _, b = card_value(study, question, "Gentle Presence")
    story = UpgradeHypothesis.objects.create(
        study=study, from_value=a, to_value=b, context=context, story="A story."
    )
    judge(
        study,
        story,
        ["upgrade", "upgrade", "no_upgrade", "upgrade", "not_sure"],
        ["democrat", "democrat", "republican", "republican", None],
    )
    first = Participant.objects.filter(study=study).order_by("pk").first()
    Participant.objects.filter(pk=first.pk).update(recruiter_pid=SECRET)
    Demographics.objects.filter(participant=first).update(
        answers={"political_affiliation": "democrat", "country": "Norway", "age_band": "25-34"}
    )
    last = Participant.objects.filter(study=study).order_by("pk").last()
    Participant.objects.filter(pk=last.pk).update(is_test=True)
    return study, first, last


def _tables(content):
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {
        name: list(csv.DictReader(io.StringIO(archive.read(name).decode())))
        for name in archive.namelist()
    }


def test_the_csv_participants_table_has_answers_group_and_counted(study):
    study, first, last = study
    tables = _tables(build_export(study=study, fmt="csv").content)
    rows = {r["participant_id"]: r for r in tables["participants.csv"]}
    # The test participant is left out, as from every export (the counted rule).
    assert len(rows) == 4 and str(last.public_id) not in rows
    mine = rows[str(first.public_id)]
    assert mine["answer_country"] == "Norway" and mine["answer_age_band"] == "25-34"
    assert mine["group"] == "democrat" and mine["counted"] == "True"
    # The unlabelled judge is the test participant, so every row left has a group.
    assert sorted(r["group"] for r in rows.values()) == ["democrat"] * 2 + ["republican"] * 2
    keys = [r["key"] for r in tables["demographic_items.csv"]]
    assert keys == ["political_affiliation", "age_band", "sex", "country", "other"]
    assert [c for c in tables["participants.csv"][0] if c.startswith("answer_")] == [
        f"answer_{k}" for k in keys
    ]


def test_graph_json_carries_answers_by_anonymous_id_and_votes_per_group(study):
    study, first, _ = study
    document = json.loads(build_export(study=study, fmt="graph-json").content)
    jsonschema.Draft202012Validator(
        json.loads(SCHEMA_PATH.read_text()),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    ).validate(document)
    people = {p["id"]: p for p in document["participants"]}
    assert people[str(first.public_id)]["answers"] == {
        "political_affiliation": "democrat",
        "age_band": "25-34",
        "country": "Norway",
    }
    assert [i["key"] for i in document["demographic_items"]][0] == "political_affiliation"
    (edge,) = document["contexts"][0]["edges"]
    votes = edge["group_votes"]
    assert set(votes) == {"democrat", "republican"}
    # Oriented as the edge is: upgrade is a vote for to_id, whichever way the story ran.
    wiser_is_b = edge["to_id"] == str(UpgradeHypothesis.objects.get().to_value_id)
    up, down = ("upgrade", "no_upgrade") if wiser_is_b else ("no_upgrade", "upgrade")
    assert votes["democrat"] == {up: 2, down: 0, "not_sure": 0}
    assert votes["republican"] == {up: 1, down: 1, "not_sure": 0}
    for verdict in ("upgrade", "no_upgrade"):
        assert sum(v[verdict] for v in votes.values()) <= edge["counts"][verdict]


def test_no_export_carries_a_recruiter_id(study):
    study, _, _ = study
    for fmt in FORMATS:
        content = build_export(study=study, fmt=fmt, generate=True).content
        if content[:2] == b"PK":
            archive = zipfile.ZipFile(io.BytesIO(content))
            content = b"".join(archive.read(name) for name in archive.namelist())
        assert SECRET.encode() not in content, fmt
