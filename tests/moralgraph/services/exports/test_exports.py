"""Exports of the imported reference fixture: each format read back with the tool its users
use, compared with the snapshot; the compat graph against figures worked out by hand;
determinism and anonymisation across every format."""

import csv
import hashlib
import io
import json
import math
import shutil
import zipfile
from datetime import UTC, datetime
from fractions import Fraction

import jsonschema
import networkx as nx
import pytest

from elicitation.models import LLMCall, Participant, Question, Selection, WiserJudgment
from moralgraph.models import TrainingResponse, Value
from moralgraph.services.exports import FORMATS, ExportError, ResponsesMissing, build_export
from moralgraph.services.exports.graph_json import SCHEMA_PATH
from moralgraph.services.importers import import_reference
from tests.moralgraph.support import REFERENCE

AS_OF = datetime(2023, 9, 30, tzinfo=UTC)  # before the one late judgment (104 -> 105)
MOTIVATION = "When a young person is losing motivation"
TRUST = "When trust between two people is strained"

# The fixture's few judgments, scored with thresholds that let them train (conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lenient_statuses")]


@pytest.fixture
def study():
    return import_reference(REFERENCE, study_slug="ref").study


def _export(study, fmt, **options):
    return build_export(study=study, fmt=fmt, generate=True, **options)


def _json(study, fmt, **options):
    return json.loads(_export(study, fmt, **options).content)


def _entropy(*counts):
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c)


def _pk(study, reference_id):
    return str(study.values.get(external_id=str(reference_id)).pk)


# --- reference-json and the compat scoring -----------------------------------------------

# Worked out by hand from tests/fixtures/reference/edge.json, judgments before 30 September.
# (source, wiser): (markedWiser, markedNotWiser, markedLessWise, markedUnsure, impressions)
HAND_COUNTS = {
    # 3 upgrades and 1 no_upgrade of 101 -> 102, and user 1's no_upgrade of 102 -> 101
    # (one more impression, no markedLessWise since it was not an upgrade).
    (101, 102): (3, 1, 0, 0, 5),
    (101, 103): (4, 0, 0, 0, 4),
    # 3 upgrades and 1 not_sure of 102 -> 103; user 2's upgrade of 103 -> 102 marks 102 as
    # less wise... on the pair (102, 103) it is markedLessWise for 103's side.
    (102, 103): (3, 0, 1, 1, 5),
    (103, 104): (2, 2, 0, 0, 4),
}


def test_compat_export_matches_the_counts_entropy_and_edges_worked_by_hand(study):
    document = _json(study, "reference-json", as_of=AS_OF)
    edges = {(e["sourceValueId"], e["wiserValueId"]): e for e in document["edges"]}
    assert set(edges) == set(HAND_COUNTS)
    for pair, (wiser, not_wiser, less_wise, unsure, impressions) in HAND_COUNTS.items():
        edge = edges[pair]
        assert edge["counts"] == {
            "markedWiser": wiser,
            "markedNotWiser": not_wiser,
            "markedLessWise": less_wise,
            "markedUnsure": unsure,
            "impressions": impressions,
        }
        likelihood = (wiser - less_wise) / (wiser + not_wiser + unsure + less_wise)
        assert edge["summary"]["wiserLikelihood"] == pytest.approx(likelihood, abs=1e-15)
        entropy = _entropy(wiser, not_wiser, less_wise, unsure, impressions)
        assert edge["summary"]["entropy"] == pytest.approx(entropy, abs=1e-12)
    # The figures themselves, so that a wrong formula cannot agree with itself above.
    assert edges[(101, 102)]["summary"]["wiserLikelihood"] == 0.75
    assert edges[(102, 103)]["summary"]["wiserLikelihood"] == 0.4
    assert edges[(102, 103)]["summary"]["entropy"] == pytest.approx(1.685475297, abs=1e-9)
    assert edges[(103, 104)]["summary"]["entropy"] == 1.5
    assert edges[(101, 102)]["contexts"] == [MOTIVATION]
    assert edges[(103, 104)]["contexts"] == [TRUST]


def test_compat_drops_the_pairs_the_thresholds_reject(study):
    tables = _csv(_export(study, "csv", mode="compat", as_of=AS_OF).content)
    pairs = {(r["source_value_id"], r["wiser_value_id"]): r for r in tables["edges.csv"]}
    # 101 -> 104: 2 upgrades, 1 no_upgrade, 2 not_sure: wL 0.4 but entropy 1.761 > 1.69.
    dropped = pairs[(_pk(study, 101), _pk(study, 104))]
    assert dropped["kept"] == "False"
    assert float(dropped["entropy"]) == pytest.approx(_entropy(2, 1, 0, 2, 5))
    assert float(dropped["entropy"]) > 1.69
    # 104 -> 105: one upgrade before the cut-off, so markedWiser < 2.
    assert pairs[(_pk(study, 104), _pk(study, 105))]["markedWiser"] == "1"
    assert pairs[(_pk(study, 104), _pk(study, 105))]["kept"] == "False"
    # 102 -> 101, the reverse of a kept edge: negative likelihood.
    assert float(pairs[(_pk(study, 102), _pk(study, 101))]["wiserLikelihood"]) == -0.75


def _hand_pagerank(n, ab_share):
    # Kept edges 101 -> 102 (wL 3/4), 101 -> 103 (wL 1), 102 -> 103 (0.4), 103 -> 104 (0.5),
    # and 104 -> 105 (1) when present. 101 splits its rank 3:4 between 102 and 103; every
    # other value has one outgoing edge, so passes all of it on. Nothing flows into 101, so
    # the 100 rounds settle after the longest path; the last value keeps what it gets.
    base = Fraction(15, 100) / n
    d = Fraction(85, 100)
    a = base
    b = base + d * a * ab_share
    c = base + d * (b + a * (1 - ab_share))
    dd = base + d * c
    ranks = {101: a, 102: b, 103: c, 104: dd}
    if n == 5:
        ranks[105] = base + d * dd
    return ranks


def test_compat_pagerank_matches_the_hand_computation(study):
    for as_of, n in ((AS_OF, 4), (None, 5)):
        document = _json(study, "reference-json", as_of=as_of)
        ranks = {v["id"]: v["pageRank"] for v in document["values"]}
        expected = _hand_pagerank(n, Fraction(3, 7))
        assert set(ranks) == set(expected)
        for value_id, rank in expected.items():
            assert ranks[value_id] == pytest.approx(float(rank), rel=1e-12)
    # Rank on the last value is not passed on: the ranks do not sum to 1.
    assert sum(ranks.values()) < 0.4


def test_the_late_judgment_keeps_104_to_105_only_without_a_cut_off(study):
    full = _json(study, "reference-json")
    edges = {(e["sourceValueId"], e["wiserValueId"]): e for e in full["edges"]}
    assert set(edges) == {*HAND_COUNTS, (104, 105)}
    assert edges[(104, 105)]["counts"]["markedWiser"] == 2
    assert edges[(104, 105)]["summary"] == {"wiserLikelihood": 1.0, "entropy": 1.0}


def test_reference_json_has_the_reference_schema_and_ids(study):
    document = _json(study, "reference-json")
    assert list(document) == ["values", "edges"]
    value = next(v for v in document["values"] if v["id"] == 103)
    assert list(value) == [
        "id",
        "title",
        "instructionsShort",
        "instructionsDetailed",
        "evaluationCriteria",
        "createdAt",
        "updatedAt",
        "pageRank",
    ]
    assert value["title"] == "Shared Ownership of Learning"
    assert value["instructionsDetailed"].startswith("A decision the young person helps make")
    assert value["instructionsShort"] != value["instructionsDetailed"]
    assert value["createdAt"] == "2023-09-18T09:10:00.000Z"
    assert value["updatedAt"] == "2023-09-18T09:10:30.000Z"
    assert value["evaluationCriteria"][0] == "CHOICES the child can make for herself"
    edge = document["edges"][0]
    assert list(edge) == ["sourceValueId", "wiserValueId", "contexts", "counts", "summary"]
    assert list(edge["counts"]) == [
        "markedWiser",
        "markedNotWiser",
        "markedLessWise",
        "markedUnsure",
        "impressions",
    ]


def test_reference_json_uses_our_ids_for_a_study_not_imported():
    from tests.factories import UpgradeHypothesisFactory

    hypothesis = UpgradeHypothesisFactory()
    for _ in range(2):
        participant = Participant.objects.create(study=hypothesis.study)
        WiserJudgment.objects.create(
            participant=participant,
            hypothesis=hypothesis,
            pair_key=WiserJudgment.make_pair_key(hypothesis.from_value_id, hypothesis.to_value_id),
            verdict="upgrade",
        )
    document = _json(hypothesis.study, "reference-json")
    assert [(e["sourceValueId"], e["wiserValueId"]) for e in document["edges"]] == [
        (hypothesis.from_value_id, hypothesis.to_value_id)
    ]
    assert document["edges"][0]["contexts"] == [hypothesis.context.text]


def test_formats_refuse_a_mode_they_do_not_have(study):
    with pytest.raises(ExportError, match="reference-json is written from compat"):
        build_export(study=study, fmt="reference-json", mode="default")
    with pytest.raises(ExportError, match="graph-json is written from default"):
        build_export(study=study, fmt="graph-json", mode="compat")
    with pytest.raises(ExportError, match="unknown format"):
        build_export(study=study, fmt="parquet")


# --- graph-json ----------------------------------------------------------------------------


def _snapshot(study, mode="default", as_of=None):
    from moralgraph.services.scoring import score_study

    return score_study(study=study, mode=mode, as_of=as_of).results


def test_graph_json_validates_against_its_schema_and_matches_the_snapshot(study):
    document = _json(study, "graph-json")
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)

    results = _snapshot(study)
    assert document["schema"] == "graph-json" and document["schema_version"] == 2
    assert document["snapshot"]["input_hash"] == results["input_hash"]
    assert document["snapshot"]["judgment_count"] == 25
    assert document["study"]["licence"] == "CC-BY-4.0"
    assert [c["id"] for c in document["contexts"]] == [c["context_id"] for c in results["contexts"]]
    for ours, theirs in zip(document["contexts"], results["contexts"], strict=True):
        if theirs["winner"] is None:
            assert ours["winner"] is None
        else:
            assert ours["winner"] == {k: theirs["winner"][k] for k in ours["winner"]}
        assert ours["ranks"] == theirs["ranks"]
        # v2: the pairwise model's status and strengths, as scored.
        assert ours["status"] == theirs["status"] in ("confident", "contested", "insufficient")
        assert ours["values"] == theirs["values"] and ours["bridging"] == theirs["bridging"]
        assert [(e["from_id"], e["to_id"], e["counts"]) for e in ours["edges"]] == [
            (e["from_id"], e["to_id"], e["counts"]) for e in theirs["edges"]
        ]
    motivation = next(c for c in document["contexts"] if c["text"] == MOTIVATION)
    assert motivation["winner"]["value_id"] == _pk(study, 103)
    assert all(e["story"] for e in motivation["edges"])
    values = {v["external_id"]: v for v in document["values"]}
    assert values["101"]["cards_merged"] == 2
    assert values["106"]["cards_merged"] == 1  # never judged, still a value of the study
    assert values["106"]["best_pagerank"] is None
    assert document["provenance"]["value_wording"] == {"imported": 6}
    team = next(q for q in document["questions"] if q["key"] == "team")
    assert set(team["contexts"]) == {c["id"] for c in document["contexts"]}


# --- graphml and gexf ----------------------------------------------------------------------


def _read_graphml(source):
    # One edge per context: a pair compared in two contexts has two edges.
    return nx.read_graphml(source, force_multigraph=True)


@pytest.mark.parametrize(("fmt", "read"), [("graphml", _read_graphml), ("gexf", nx.read_gexf)])
def test_networkx_reads_the_graph_back(study, fmt, read):
    graph = read(io.BytesIO(_export(study, fmt).content))
    results = _snapshot(study)
    # networkx reads a MultiDiGraph back only when some pair was compared in two contexts.
    assert graph.is_directed()
    assert graph.number_of_nodes() == 6
    node = graph.nodes[_pk(study, 103)]
    assert node["label"] == "Shared Ownership of Learning"
    assert node["policies"].split("\n")[0] == "CHOICES the child can make for herself"
    expected = {
        (e["from_id"], e["to_id"], c["context_id"]): e
        for c in results["contexts"]
        for e in c["edges"]
    }
    seen = {}
    for source, target, data in graph.edges(data=True):
        seen[(source, target, data["context_id"])] = data
    assert set(seen) == set(expected)
    for key, data in seen.items():
        assert data["upgrade"] == expected[key]["counts"]["upgrade"]
        assert data["kept"] == expected[key]["kept"]
        assert data["interval_low"] == pytest.approx(expected[key]["interval"][0])
    # Votes per political group, as the JSON export's group_votes, on every edge.
    document = _json(study, "graph-json")
    group_votes = {
        (e["from_id"], e["to_id"], c["id"]): e["group_votes"]
        for c in document["contexts"]
        for e in c["edges"]
    }
    assert any(group_votes.values())
    for key, data in seen.items():
        for group in ("democrat", "republican"):
            for verdict in ("upgrade", "no_upgrade", "not_sure"):
                voted = group_votes[key].get(group, {}).get(verdict, 0)
                assert data[f"{verdict}:{group}"] == voted


def test_compat_graphml_is_the_kept_graph_with_pagerank(study):
    graph = nx.read_graphml(io.BytesIO(_export(study, "graphml", mode="compat").content))
    assert isinstance(graph, nx.DiGraph) and not graph.is_multigraph()
    kept = {(e["sourceValueId"], e["wiserValueId"]) for e in _snapshot(study, "compat")["edges"]}
    assert set(graph.edges()) == kept
    ranks = {v["id"]: v["pageRank"] for v in _snapshot(study, "compat")["values"]}
    for value_id, rank in ranks.items():
        assert graph.nodes[value_id]["pageRank"] == rank


# --- csv -----------------------------------------------------------------------------------


def _csv(content):
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {
        name: list(csv.DictReader(io.StringIO(archive.read(name).decode())))
        for name in archive.namelist()
    }


def test_csv_is_a_zip_of_tidy_tables(study):
    tables = _csv(_export(study, "csv").content)
    assert set(tables) == {
        "questions.csv",
        "contexts.csv",
        "values.csv",
        "cards.csv",
        "hypotheses.csv",
        "judgments.csv",
        "selections.csv",
        "impressions.csv",
        "survey_answers.csv",
        "participants.csv",
        "demographic_items.csv",
        "edges.csv",
        "ranks.csv",
        "winners.csv",
    }
    judgments = tables["judgments.csv"]
    assert len(judgments) == 25
    # Imported judgments were drawn by the reference app: no draw policy of ours.
    assert {(r["draw_policy"], r["context_status"]) for r in judgments} == {("", "")}
    assert sum(r["verdict"] == "upgrade" for r in judgments) == 17
    public_ids = {str(p.public_id) for p in study.participants.all()}
    assert {r["participant_id"] for r in judgments} <= public_ids
    participants = {r["participant_id"]: r for r in tables["participants.csv"]}
    assert len(participants) == 10
    assert sorted(r["political_group"] for r in participants.values()).count("democrat") == 3
    cards = {r["external_id"]: r for r in tables["cards.csv"]}
    assert (
        json.loads(cards["203"]["policies"])[0]
        == "QUESTIONS that invite the child to explain herself"
    )
    assert cards["207"]["value_id"] == "" and cards["207"]["quality"] == "invalid"
    assert cards["202"]["value_id"] == _pk(study, 101)
    assert len(tables["selections.csv"]) == 4 and len(tables["impressions.csv"]) == 7
    results = _snapshot(study)
    assert len(tables["edges.csv"]) == sum(len(c["edges"]) for c in results["contexts"])
    assert [r["value_id"] for r in tables["winners.csv"]] == [
        c["winner"]["value_id"] for c in results["contexts"] if c["winner"]
    ]


def test_csv_as_of_leaves_out_later_rows(study):
    tables = _csv(_export(study, "csv", as_of=AS_OF).content)
    assert len(tables["judgments.csv"]) == 24


# --- sft-jsonl and dpo-jsonl ---------------------------------------------------------------


def _lines(content):
    return [json.loads(line) for line in content.decode().splitlines()]


def test_sft_jsonl_has_one_chat_per_confident_winner_and_question(study):
    rows = _lines(_export(study, "sft-jsonl").content)
    results = _snapshot(study)
    # Motivation: 103 won 7 of 8, confident; Trust: 105 won 2 of 2, too few votes (3).
    confident = [c for c in results["contexts"] if c["status"] == "confident"]
    assert len(confident) == 1
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {"messages", "metadata"}
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert all(isinstance(m["content"], str) and m["content"] for m in row["messages"])
    assert MOTIVATION in row["messages"][0]["content"]
    assert row["messages"][1]["content"] == Question.objects.get(key="team").text
    assert row["metadata"]["value"]["external_id"] == "103"
    assert row["metadata"]["snapshot"] == results["input_hash"]
    response = TrainingResponse.objects.get(
        value_id=int(_pk(study, 103)), question__key="team", context__text=MOTIVATION
    )
    assert row["messages"][2]["content"] == response.response


def test_dpo_jsonl_prefers_the_wiser_values_answer(study):
    rows = _lines(_export(study, "dpo-jsonl").content)
    results = _snapshot(study)
    # Motivation: three kept edges, one question. Trust: two kept, two questions.
    assert len(rows) == 3 + 2 * 2
    kept = {
        (e["from_id"], e["to_id"]) for c in results["contexts"] for e in c["edges"] if e["kept"]
    }
    for row in rows:
        assert {"prompt", "chosen", "rejected"} <= set(row)
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert [m["role"] for m in row["chosen"]] == ["assistant"]
        assert [m["role"] for m in row["rejected"]] == ["assistant"]
        assert row["chosen"][0]["content"] != row["rejected"][0]["content"]
        pair = (row["metadata"]["rejected_value"]["id"], row["metadata"]["chosen_value"]["id"])
        assert pair in kept


def test_training_responses_are_cached(study):
    _export(study, "dpo-jsonl")
    written = TrainingResponse.objects.count()
    calls = LLMCall.objects.filter(stage="response").count()
    assert written == calls > 0
    first = _export(study, "bundle").content
    assert LLMCall.objects.filter(stage="response").count() == calls
    assert _export(study, "bundle").content == first


def test_without_generation_missing_responses_are_refused(study):
    with pytest.raises(ResponsesMissing):
        build_export(study=study, fmt="sft-jsonl")


# --- constitution-md -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_constitution_names_the_winners_their_policies_support_and_stories(study):
    text = _export(study, "constitution-md").content.decode()
    assert text.startswith("# Constitution: ref\n")
    assert "## Quitting the team" in text and "## A friend who keeps borrowing" in text
    assert f"### {MOTIVATION}" in text
    assert "**Shared Ownership of Learning**" in text
    assert "- CHOICES the child can make for herself" in text
    assert "preferred in 7 of 8 decisive judgments" in text
    assert "Now she helps set the goals" in text  # the story of the strongest edge into it
    # Motivation's winner holds in both groups (at the fixture's 2 votes per group).
    assert "Bridging: bridges; holds in every group: democrat 3–0, republican 2–1." in text
    # Trust's leader (2 of 2) is no confident winner: the constitution says what it needs.
    trust = text.split(f"### {TRUST}")[1]
    assert trust.lstrip().startswith("No confident winner yet (insufficient): ")
    assert "needs about" in trust


# --- bundle --------------------------------------------------------------------------------


def test_bundle_holds_every_format_and_a_datasheet_with_their_hashes(study):
    archive = zipfile.ZipFile(io.BytesIO(_export(study, "bundle").content))
    names = archive.namelist()
    assert names[0] == "README.md"
    for name in (
        "reference.json",
        "graph.json",
        "schemas/graph-json.v2.json",
        "graph.graphml",
        "graph.gexf",
        "tables/judgments.csv",
        "sft.jsonl",
        "dpo.jsonl",
        "constitution.md",
    ):
        assert name in names
    readme = archive.read("README.md").decode()
    for name in names[1:]:
        assert f"`{name}`" in readme
        assert hashlib.sha256(archive.read(name)).hexdigest() in readme
    assert "Wiser judgments: 25 (no_upgrade 5, not_sure 3, upgrade 17)" in readme
    assert "## Licence\n\nCC-BY-4.0" in readme
    assert "Judgments from 2023-09-19T10:00:00Z to 2023-10-02T12:00:00Z" in readme
    assert "offline" in readme  # the model that wrote the training responses
    assert archive.read("reference.json") == _export(study, "reference-json").content
    assert archive.read("graph.json") == _export(study, "graph-json").content


# --- determinism and anonymisation ---------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_same_snapshot_exports_the_same_bytes(study, fmt):
    first = _export(study, fmt)
    second = _export(study, fmt)
    assert first.content == second.content
    assert first.filename == second.filename


def test_zip_entries_carry_the_snapshots_time(study):
    export = _export(study, "csv")
    moment = export.snapshot.created_at.astimezone(UTC)
    for info in zipfile.ZipFile(io.BytesIO(export.content)).infolist():
        assert info.date_time[:5] == (
            moment.year,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
        )


def _texts(content):
    """Every text in an export, unpacking zips (and zips in zips)."""
    if content[:2] == b"PK":
        archive = zipfile.ZipFile(io.BytesIO(content))
        return [text for name in archive.namelist() for text in _texts(archive.read(name))]
    return [content.decode()]


def test_no_recruiter_id_email_transcript_or_private_reason_in_any_export(study):
    # A participant who came through a recruiter, and a reason kept private.
    live = Participant.objects.create(study=study, recruiter_pid="FAKEPROLIFIC-LIVE-4242")
    Selection.objects.create(
        participant=live,
        value=Value.objects.get(external_id="103"),
        question=Question.objects.get(key="team"),
    )
    private = WiserJudgment.objects.get(external_id="4:101:102")
    private.reason = "PRIVATE-REASON-do-not-publish"
    private.reason_private = True
    private.save()

    fixture_personal = set()
    for name in ("user.json", "emailCodes.json"):
        for row in json.loads((REFERENCE / name).read_text()):
            fixture_personal.add(row["email"])
            if row.get("prolificId"):
                fixture_personal.add(row["prolificId"])
    for row in json.loads((REFERENCE / "demographic.json").read_text()):
        if row["prolificId"]:
            fixture_personal.add(row["prolificId"])
    forbidden = [
        *fixture_personal,
        "FAKEPROLIFIC",
        "@example.invalid",
        "TRANSCRIPT-NOT-TO-BE-STORED",
        "PRIVATE-REASON",
    ]
    for fmt in FORMATS:
        for mode in FORMATS[fmt].modes:
            for text in _texts(_export(study, fmt, mode=mode).content):
                for secret in forbidden:
                    assert secret not in text, (fmt, mode, secret)
    # The participant is there, by the random public id only.
    tables = _csv(_export(study, "csv").content)
    assert str(live.public_id) in {r["participant_id"] for r in tables["participants.csv"]}


def _first_met_pairs(edges: list[dict]) -> list[tuple[int, int]]:
    # The reference's pair map, read from its own dump: judged pairs as first met, then
    # the reverse pairs its second pass adds.
    order: dict[tuple[int, int], None] = {}
    for edge in edges:
        order.setdefault((edge["fromId"], edge["toId"]))
    for edge in edges:
        order.setdefault((edge["toId"], edge["fromId"]))
    return list(order)


def test_reference_json_lists_edges_and_contexts_in_the_order_first_met(tmp_path):
    # The dump's judgments made in reverse order, so that the order in which they were
    # made differs from a sort of the ids.
    dump = tmp_path / "reference"
    shutil.copytree(REFERENCE, dump)
    edges = json.loads((dump / "edge.json").read_text())[::-1]
    for minute, edge in enumerate(edges):
        edge["createdAt"] = f"2023-09-20T10:{minute:02d}:00.000Z"
    (dump / "edge.json").write_text(json.dumps(edges))
    study = import_reference(dump, study_slug="ref-reversed").study

    document = _json(study, "reference-json")

    listed = [(e["sourceValueId"], e["wiserValueId"]) for e in document["edges"]]
    assert listed == [pair for pair in _first_met_pairs(edges) if pair in set(listed)]
    assert listed != sorted(listed)
    for edge in document["edges"]:
        first_met = [
            e["contextId"]
            for e in edges
            if (e["fromId"], e["toId"]) == (edge["sourceValueId"], edge["wiserValueId"])
        ]
        assert edge["contexts"][: len(set(first_met))] == list(dict.fromkeys(first_met))
