"""``graph-json``: our own schema for the scored moral graph, versioned.

The JSON Schema is ``moralgraph/schemas/graph-json.v2.json`` (v2 added the pairwise
model: strengths, statuses, bridging over the study's groups, the DPO rule; later, as
optional fields, each participant's "About you" answers by their random id and each
edge's votes per group); a document
names its schema and version in ``schema`` and ``schema_version``. A new version gets a new
schema file, and a change to an existing version may only add optional fields. Written from
default-mode snapshots: it is per context, with uncertainty and bridging, which compat
scoring lacks.
"""

from __future__ import annotations

from pathlib import Path

from moralgraph.services.exports.data import ExportData, json_bytes

SCHEMA_NAME = "graph-json"
SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "graph-json.v2.json"

_EDGE_KEYS = (
    "from_id",
    "to_id",
    "counts",
    "by_direction",
    "decisive",
    "wiser_share",
    "interval",
    "kept",
    "groups",
    "bridging",
    "bridged",
    "carried_by",
    "dpo",
)
_WINNER_KEYS = (
    "value_id",
    "pagerank",
    "margin",
    "wins",
    "decisive",
    "win_share",
    "interval",
    "confidence",
    "groups",
    "bridging",
    "bridged",
    "carried_by",
    "carried_by_one_group",
    "participants",
    "strength",
    "strength_interval",
    "winner_probability",
    "status",
    "confident",
    "bridging_status",
    "bridging_reason",
)
_CONTEXT_KEYS = (
    "status",
    "reason",
    "needed",
    "values",
    "challenger",
    "challenger_probability",
    "pagerank_winner",
    "bridging",
)


def _verdicts(counts: dict) -> dict:
    return {key: counts[key] for key in ("upgrade", "no_upgrade", "not_sure")}


def document(data: ExportData) -> dict:
    study = data.study
    scored = {v["id"]: v for v in data.results.get("values", [])}
    contexts_by_question: dict[str, list[str]] = {str(q.pk): [] for q in data.questions}
    for context_id, question_ids in data.context_questions.items():
        for question_id in question_ids:
            contexts_by_question[question_id].append(context_id)

    values = []
    for value_id, value in data.values.items():
        figures = scored.get(value_id, {})
        values.append(
            {
                "id": value_id,
                "external_id": value.external_id or None,
                "title": value.title,
                "description": value.description,
                "policies": list(value.policies),
                "wording_source": value.wording_source,
                "is_active": value.is_active,
                "cards_merged": data.card_counts.get(value_id, 0),
                "contexts_won": figures.get("contexts_won", []),
                "best_pagerank": figures.get("best_pagerank"),
            }
        )

    contexts = []
    for scored_context in data.results.get("contexts", []):
        context_id = scored_context["context_id"]
        context = data.contexts[context_id]
        edges = []
        for edge in scored_context["edges"]:
            row = {key: edge[key] for key in _EDGE_KEYS}
            row["counts"] = _verdicts(edge["counts"])
            row["by_direction"] = {
                side: _verdicts(edge["by_direction"][side]) for side in ("forward", "reverse")
            }
            row["story"] = data.story(edge["from_id"], edge["to_id"], context_id)
            row["group_votes"] = data.group_votes.get(
                (context_id, edge["from_id"], edge["to_id"]), {}
            )
            edges.append(row)
        winner = scored_context.get("winner")
        contexts.append(
            {
                "id": context_id,
                "text": context.text,
                "questions": data.context_questions[context_id],
                "edges": edges,
                "ranks": [dict(r) for r in scored_context["ranks"]],
                "winner": None if winner is None else {k: winner[k] for k in _WINNER_KEYS},
                **{k: scored_context[k] for k in _CONTEXT_KEYS},
            }
        )

    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "study": {
            "slug": study.slug,
            "title": study.title,
            "description": study.description,
            "licence": study.licence,
        },
        "snapshot": data.snapshot_header(),
        "questions": [
            {
                "id": str(q.pk),
                "key": q.key,
                "title": q.title,
                "text": q.text,
                "contexts": contexts_by_question[str(q.pk)],
            }
            for q in data.questions
        ],
        "values": values,
        "contexts": contexts,
        "groups": data.results.get("groups", []),
        "unlabelled_share": data.results.get("unlabelled_share"),
        "cross_group_agreement": data.results.get(
            "cross_group_agreement", {"edges": 0, "agree": 0, "share": None}
        ),
        "provenance": data.provenance,
        "demographic_items": [
            {"key": i.key, "label": i.label, "kind": i.kind, "choices": list(i.choices)}
            for i in data.demographic_items
        ],
        "participants": [
            {k: row[k] for k in ("id", "question_id", "answers", "group", "counted")}
            for row in data.participants
        ],
    }


def build(data: ExportData) -> bytes:
    return json_bytes(document(data))
