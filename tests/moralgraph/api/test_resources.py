"""Each resource on a small scored study: what it returns, and that it is what the pages,
the snapshot and the report command say."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from moralgraph.models import Context, GraphSnapshot
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(scored, researcher, member):
    member(researcher, scored[0], "viewer")
    return scored


def test_the_study_has_its_counts_and_latest_snapshot(api, study):
    graph, _, _, _, snapshot = study
    body = api.get("/api/studies/graph").json()
    assert body["slug"] == "graph" and body["title"] == "Graph study"
    assert body["role"] == "viewer" and body["status"] == "live"
    # Eight judging participants (test ones would not count), three cards, three values.
    assert body["counts"] == {
        "participants": 8,
        "cards": 3,
        "judgments": 8,
        "values": 3,
        "contexts": 1,
    }
    assert body["latest_snapshot"]["id"] == snapshot.pk
    assert body["latest_snapshot"]["judgment_count"] == 8


def test_questions_and_contexts(api, study):
    graph, question, context, _, _ = study
    factories.QuestionFactory(study=graph, key="later", position=5)
    Context.objects.create(study=graph, text="When grief is new", duplicate_of=context)
    questions = api.get("/api/studies/graph/questions").json()
    assert [q["key"] for q in questions["items"]] == ["q", "later"]
    assert questions["items"][0]["text"] == question.text
    contexts = api.get("/api/studies/graph/contexts").json()
    assert contexts["count"] == 2
    first, duplicate = contexts["items"]
    assert first == {
        "id": context.pk,
        "text": "When someone is grieving",
        "source": "question",
        "question_keys": ["q"],
        "duplicate_of": None,
        "external_id": "",
    }
    assert duplicate["duplicate_of"] == context.pk


def test_values_leave_out_hidden_and_merged_away_ones(api, study):
    graph, _, _, (a, b, c), _ = study
    b.hidden_at, b.hidden_reason = timezone.now(), "joke"
    b.save()
    c.is_active = False
    c.save()
    body = api.get("/api/studies/graph/values").json()
    assert body["count"] == 1
    (value,) = body["items"]
    assert value["id"] == a.pk and value["title"] == "Plain Honesty"
    assert value["policies"] == a.policies


def test_lists_are_paginated(api, study):
    graph = study[0]
    for n in range(5):
        factories.ValueFactory(study=graph, title=f"Extra {n}")
    page = api.get("/api/studies/graph/values?limit=2&offset=3").json()
    assert page["count"] == 8 and len(page["items"]) == 2
    assert api.get("/api/studies/graph/values?limit=0").status_code == 422
    assert api.get("/api/studies/graph/values?limit=100000").status_code == 422


def test_edges_come_from_the_latest_snapshot(api, study):
    _, _, context, (a, b, c), snapshot = study
    body = api.get("/api/studies/graph/edges").json()
    edges = {(e["from_id"], e["to_id"]): e for e in body["items"]}
    assert set(edges) == {(str(a.pk), str(b.pk)), (str(a.pk), str(c.pk))}
    ab = edges[(str(a.pk), str(b.pk))]
    assert ab["context_id"] == str(context.pk)
    assert ab["decisive"] == 5 and ab["share"] == pytest.approx(0.8)
    assert {g["group"] for g in ab["groups"]} == {"democrat", "republican"}
    expected = next(e for e in snapshot.payload.contexts[0].edges if e.to_id == str(b.pk))
    assert ab["kept"] == expected.kept and ab["bridged"] == expected.bridged
    kept = api.get("/api/studies/graph/edges?kept=true").json()
    assert kept["count"] == sum(e.kept for e in snapshot.payload.contexts[0].edges)
    assert api.get("/api/studies/graph/edges?context_id=999").json()["count"] == 0


def test_edges_are_empty_before_the_first_scoring(api, researcher, member):
    member(researcher, factories.StudyFactory(slug="new"))
    assert api.get("/api/studies/new/edges").json() == {"items": [], "count": 0}
    assert api.get("/api/studies/new/snapshots/latest").status_code == 404


def test_snapshots_and_the_latest(api, study):
    graph, _, context, (a, b, c), snapshot = study
    from moralgraph.services import scoring

    compat = scoring.score_study(study=graph, mode="compat")
    listed = api.get("/api/studies/graph/snapshots").json()
    assert {s["id"] for s in listed["items"]} == {snapshot.pk, compat.pk}
    only = api.get("/api/studies/graph/snapshots?mode=compat").json()
    assert [s["id"] for s in only["items"]] == [compat.pk]
    latest = api.get("/api/studies/graph/snapshots/latest").json()
    assert latest["id"] == GraphSnapshot.latest_for(graph).pk == snapshot.pk
    (scored,) = latest["contexts"]
    assert scored["context_id"] == str(context.pk)
    assert scored["winner"]["value_id"] == snapshot.payload.contexts[0].winner.value_id
    assert [r["value_id"] for r in scored["ranks"]][0] == scored["winner"]["value_id"]
    assert scored["edges"] == 2
    assert api.get("/api/studies/graph/snapshots/latest?mode=compat").json()["id"] == compat.pk


def test_the_report_is_the_report_command_json(api, study):
    out = StringIO()
    call_command("report", study="graph", format="json", stdout=out)
    body = api.get("/api/studies/graph/report").json()
    assert body == json.loads(out.getvalue())
    assert body["contexts"][0]["winner"] is not None


def test_a_control_character_in_a_parameter_gets_a_json_400(api, study):
    response = api.get("/api/studies/graph/edges?context_id=a%00b")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "control character" in response.json()["detail"]


def test_a_slug_that_no_study_could_have_is_refused(api, study):
    assert api.get("/api/studies/no%20such/values").status_code == 422
