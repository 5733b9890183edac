"""Import of reference dumps: what lands where, the imperfect rows, idempotence, rejection."""

import json
import shutil
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from elicitation.models import (
    Demographics,
    Impression,
    Participant,
    Question,
    Selection,
    Study,
    ValuesCard,
    WiserJudgment,
)
from elicitation.selectors import participant_groups
from moralgraph.models import CardMapping, Context, HypothesisRun, UpgradeHypothesis, Value
from moralgraph.services.importers import ReferenceDumpError, import_reference, read_dump

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REFERENCE = FIXTURES / "reference"
MALFORMED = FIXTURES / "reference-malformed"

pytestmark = pytest.mark.django_db


def _import(directory=REFERENCE, slug="ref"):
    return import_reference(directory, study_slug=slug)


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (
            Study,
            Question,
            Context,
            Value,
            Participant,
            ValuesCard,
            CardMapping,
            HypothesisRun,
            UpgradeHypothesis,
            WiserJudgment,
            Selection,
            Impression,
            Demographics,
        )
    }


def test_it_imports_every_table():
    report = _import()
    study = report.study
    assert study.slug == "ref"
    assert study.questions.count() == 2
    assert study.contexts.count() == 3
    assert study.values.count() == 6
    # Users 1-8 and 10, plus user 9 who is in edge.json only.
    assert study.participants.count() == 10
    assert study.cards.count() == 9
    assert WiserJudgment.objects.filter(participant__study=study).count() == 25
    assert Selection.objects.filter(participant__study=study).count() == 4
    # Eight impression rows, one a repeat of (user 1, value 102, team) in a later draw.
    assert Impression.objects.filter(participant__study=study).count() == 7
    assert Demographics.objects.filter(participant__study=study).count() == 9
    assert report.created["judgments"] == 25


def test_it_keeps_the_original_wording_and_ids():
    study = _import().study
    value = study.values.get(external_id="103")
    assert value.title == "Shared Ownership of Learning"
    assert value.description.startswith("ChatGPT should help the child own the decision")
    assert value.instructions_detailed.startswith("A decision the young person helps make")
    assert value.policies[0] == "CHOICES the child can make for herself"
    assert len(value.policies) == 4
    assert value.wording_source == Value.Wording.IMPORTED
    assert value.created_at == datetime(2023, 9, 18, 9, 10, tzinfo=UTC)
    assert value.updated_at == datetime(2023, 9, 18, 9, 10, 30, tzinfo=UTC)

    question = study.questions.get(external_id="loan")
    assert question.key == "loan"
    assert question.seed_message == ""
    assert question.text.startswith("A friend has borrowed money")
    assert {c.text for c in study.contexts.all()} >= {"When trust between two people is strained"}
    assert study.contexts.get(text="When trust between two people is strained").source == "imported"


def test_it_maps_cards_and_leaves_invalid_ones_unmapped():
    report = _import()
    study = report.study
    card = study.cards.get(external_id="202")
    assert card.title == "Cheering Without Pushing"
    assert card.participant.external_id == "2"
    assert card.question.external_id == "team"
    assert card.status == ValuesCard.Status.SUBMITTED
    assert card.reconcile_status == ValuesCard.Reconcile.DONE
    mapping = card.mappings.get()
    assert mapping.mapped_by == "import"
    assert mapping.value.external_id == "101"

    invalid = study.cards.get(external_id="207")
    assert invalid.quality == ValuesCard.Quality.INVALID
    assert not invalid.mappings.exists()
    # A card with no chat has no participant or question, but keeps its mapping.
    seed = study.cards.get(external_id="209")
    assert seed.participant is None and seed.question is None
    assert seed.mappings.get().value.external_id == "102"
    assert any("'invalid' have no canonical value" in note for note in report.notes)


def test_imported_cards_give_reconciliation_nothing_to_do():
    from datetime import timedelta

    from moralgraph import selectors

    study = _import().study
    assert not selectors.pending_cards(study).exists()
    assert study not in selectors.studies_needing_work(stale_after=timedelta(0))
    # The new judgments do need scoring.
    assert study in selectors.studies_needing_score()


def test_it_imports_judgments_with_their_verdict_reason_and_time():
    study = _import().study
    judgment = WiserJudgment.objects.get(participant__study=study, external_id="4:101:102")
    assert judgment.verdict == "no_upgrade"
    assert judgment.reason == "Both matter the same to me."
    assert judgment.created_at == datetime(2023, 9, 19, 10, 15, tzinfo=UTC)
    assert judgment.hypothesis.from_value.external_id == "101"
    assert judgment.hypothesis.to_value.external_id == "102"
    assert judgment.hypothesis.context.text == "When a young person is losing motivation"
    # A null comment is an empty reason.
    assert WiserJudgment.objects.get(participant__study=study, external_id="2:101:102").reason == ""


def test_it_keeps_both_judgments_of_a_pair_seen_both_ways():
    report = _import()
    study = report.study
    a, b = study.values.get(external_id="101"), study.values.get(external_id="102")
    key = WiserJudgment.make_pair_key(a.pk, b.pk)
    first = WiserJudgment.objects.get(participant__external_id="1", external_id="1:101:102")
    again = WiserJudgment.objects.get(participant__external_id="1", external_id="1:102:101")
    assert first.pair_key == key
    assert again.pair_key == f"{key}#2"
    assert any("repeat a pair" in note for note in report.notes)


def test_it_creates_hypotheses_from_stories_and_retires_those_only_in_edges():
    report = _import()
    study = report.study
    # Six in edgeHypothesis.json; 101 -> 102, 102 -> 101 and 103 -> 102 only from edges.
    assert study.hypotheses.count() == 9
    retired = study.hypotheses.filter(is_active=False)
    assert {(h.from_value.external_id, h.to_value.external_id) for h in retired} == {
        ("101", "102"),
        ("102", "101"),
        ("103", "102"),
    }
    assert retired.get(from_value__external_id="101").story.startswith("I used to think")
    unjudged = study.hypotheses.get(from_value__external_id="101", to_value__external_id="105")
    assert unjudged.is_active and not unjudged.judgments.exists()
    assert unjudged.run.external_id == "run-2"
    assert set(study.hypothesis_runs.values_list("external_id", flat=True)) == {"run-1", "run-2"}
    assert any("only from edge.json" in note for note in report.notes)


def test_it_imports_political_affiliation_and_nothing_personal():
    study = _import().study
    answers = {
        p.external_id: p.demographics.answer("political_affiliation")
        for p in study.participants.exclude(demographics=None).select_related("demographics")
    }
    assert answers["1"] == "democrat"
    assert answers["2"] == "republican"
    assert answers["3"] == "independent"
    assert answers["7"] == "prefer_not"
    assert answers["10"] == "other"
    assert "9" not in answers
    # Only the study's groups label a participant: independents and the rest do not.
    groups = {
        study.participants.get(pk=pk).external_id: group
        for pk, group in participant_groups(study).items()
    }
    assert groups["1"] == "democrat" and groups["2"] == "republican"
    assert groups["3"] is groups["7"] is groups["10"] is groups["9"] is None
    four = Demographics.objects.get(participant__external_id="4").answers
    assert four == {"political_affiliation": "democrat", "age_band": "65+"}
    assert Demographics.objects.get(participant__external_id="1").answer("sex") == "female"
    for participant in study.participants.all():
        assert participant.recruiter_pid == ""
        assert participant.recruiter_study_id == ""
        assert participant.recruiter_session_id == ""
    assert Demographics.objects.get(participant__external_id="10").extra == {
        "usPoliticalAffiliation": "Libertarian"
    }


def test_it_never_reads_the_files_with_personal_data(tmp_path, monkeypatch):
    directory = tmp_path / "dump"
    shutil.copytree(REFERENCE, directory)
    opened = []
    real_read_bytes = Path.read_bytes

    def spy(path):
        opened.append(path.name)
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", spy)
    _import(directory)
    assert "user.json" not in opened and "emailCodes.json" not in opened
    assert "edge.json" in opened


def test_it_works_without_the_personal_and_optional_files(tmp_path):
    directory = tmp_path / "dump"
    directory.mkdir()
    for name in ("case.json", "context.json", "canonicalValuesCard.json", "edge.json"):
        shutil.copy(REFERENCE / name, directory / name)
    study = _import(directory).study
    assert WiserJudgment.objects.filter(participant__study=study).count() == 25
    assert study.cards.count() == 0


def test_it_links_contexts_to_the_questions_of_their_values():
    study = _import().study
    motivation = study.contexts.get(text="When a young person is losing motivation")
    assert [q.external_id for q in motivation.questions.all()] == ["team"]
    trust = study.contexts.get(text="When trust between two people is strained")
    assert {q.external_id for q in trust.questions.all()} == {"team", "loan"}
    unused = study.contexts.get(text="When the choice has lasting consequences")
    assert not unused.questions.exists()


def test_a_second_run_changes_nothing():
    first = _import()
    before = _counts()
    stamps = sorted(Value.objects.values_list("pk", "updated_at"))
    changed_at = Study.objects.get().graph_changed_at
    second = _import()
    assert Study.objects.get().graph_changed_at == changed_at
    assert not second.changed
    assert _counts() == before
    assert sorted(Value.objects.values_list("pk", "updated_at")) == stamps
    assert second.existing["judgments"] == first.created["judgments"]


def test_the_command_prints_progress_and_counts():
    out = StringIO()
    call_command("import_reference", str(REFERENCE), "--study", "ref", stdout=out)
    text = out.getvalue()
    assert "edge.json: 25 judgments" in text
    assert "judgments: 25 imported, 0 already there" in text
    assert "Imported" in text
    out = StringIO()
    call_command("import_reference", str(REFERENCE), "--study", "ref", stdout=out)
    assert "Nothing new" in out.getvalue()


def test_it_rejects_a_malformed_row_naming_file_row_and_field():
    with pytest.raises(CommandError) as caught:
        call_command("import_reference", str(MALFORMED), "--study", "bad", stdout=StringIO())
    message = str(caught.value)
    assert "edge.json, row 3, field 'toId'" in message
    assert "expected an integer" in message
    assert not Study.objects.exists()
    assert not Value.objects.exists()


def _broken(tmp_path, name, mutate):
    directory = tmp_path / "dump"
    shutil.copytree(REFERENCE, directory)
    rows = json.loads((directory / name).read_text())
    mutate(rows)
    (directory / name).write_text(json.dumps(rows))
    return directory


@pytest.mark.parametrize(
    ("name", "mutate", "expected"),
    [
        (
            "edge.json",
            lambda rows: rows[4].update(relationship="maybe"),
            "edge.json, row 5, field 'relationship': expected one of upgrade, no_upgrade",
        ),
        (
            "edge.json",
            lambda rows: rows[6].update(contextId="When nobody said so"),
            "edge.json, row 7, field 'contextId': no context",
        ),
        (
            "edge.json",
            lambda rows: rows.append(dict(rows[0], relationship="not_sure")),
            "edge.json, row 26, field 'toId': same userId, fromId and toId as row 1",
        ),
        (
            "valuesCard.json",
            lambda rows: rows[0].update(canonicalCardId=999),
            "valuesCard.json, row 1, field 'canonicalCardId': no canonical value 999",
        ),
        (
            "canonicalValuesCard.json",
            lambda rows: rows[2].update(createdAt="yesterday"),
            "canonicalValuesCard.json, row 3, field 'createdAt': expected an ISO-8601 time",
        ),
        (
            "canonicalValuesCard.json",
            lambda rows: rows[1].update(id=101),
            "canonicalValuesCard.json, row 2, field 'id': duplicate id 101",
        ),
        (
            "impression.json",
            lambda rows: rows[0].pop("userId"),
            "impression.json, row 1, field 'userId': missing",
        ),
        (
            "canonicalValuesCard.json",
            lambda rows: rows[0].update(evaluationCriteria="EFFORT"),
            "canonicalValuesCard.json, row 1, field 'evaluationCriteria': expected an array",
        ),
    ],
)
def test_it_rejects_malformed_rows(tmp_path, name, mutate, expected):
    directory = _broken(tmp_path, name, mutate)
    with pytest.raises(ReferenceDumpError) as caught:
        _import(directory)
    assert expected in str(caught.value)
    assert not Study.objects.exists()


def test_it_rejects_a_file_that_is_not_json(tmp_path):
    directory = tmp_path / "dump"
    shutil.copytree(REFERENCE, directory)
    (directory / "vote.json").write_text('[{"id": 1,')
    with pytest.raises(ReferenceDumpError, match=r"vote.json: not valid JSON"):
        read_dump(directory)


def test_it_rejects_a_dump_without_a_required_file(tmp_path):
    directory = tmp_path / "dump"
    shutil.copytree(REFERENCE, directory)
    (directory / "edge.json").unlink()
    with pytest.raises(ReferenceDumpError, match=r"edge.json: missing"):
        read_dump(directory)


def test_nothing_is_left_behind_when_writing_fails(monkeypatch):
    from moralgraph.services.importers import participants

    def explode(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(participants, "write_demographics", explode)
    with pytest.raises(RuntimeError):
        _import()
    assert not Study.objects.exists()
    assert not WiserJudgment.objects.exists()


@pytest.mark.postgres
def test_the_planner_knows_the_imported_tables_straight_away():
    """An import is a bulk load: the tables are analyzed, so that PostgreSQL does not plan
    an export of a fresh study as if they were empty (its autovacuum may be late, or off)."""
    from django.db import connection

    _import()

    def planned_rows(model):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
            )
            return cursor.fetchone()[0]

    # ANALYZE's estimate, transactional like the rows themselves: -1 if never analyzed.
    for model in (WiserJudgment, CardMapping, Value, Participant):
        assert planned_rows(model) == model.objects.count() > 0, model.__name__
