"""``reference-json``: the graph in the reference app's published schema, exactly.

``{"values": [...], "edges": [...]}`` with the reference's field names (MGE.md). Values are
those that a kept edge touches, with their ``pageRank``; edges are the kept pairs with their
counts and summary. For a study imported from the reference, ids are the reference's ids
and contexts its "When ..." texts, so that the file can be compared with a graph it
published. A value with no detailed wording of its own (one not imported from the
reference) repeats its description as ``instructionsDetailed``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from moralgraph.services.exports.data import ExportData, json_bytes

# The reference's key order.
COUNTS = ("markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions")
SUMMARY = ("wiserLikelihood", "entropy")


def build(data: ExportData) -> bytes:
    ids = data.reference_ids or {}

    def out_id(value_id: str) -> int:
        return ids.get(value_id, int(value_id))

    ranks = {v["id"]: v["pageRank"] for v in data.results["values"]}
    values = []
    for value_id in sorted(ranks, key=out_id):
        value = data.values[value_id]
        values.append(
            {
                "id": out_id(value_id),
                "title": value.title,
                "instructionsShort": value.description,
                "instructionsDetailed": value.instructions_detailed or value.description,
                "evaluationCriteria": list(value.policies),
                "createdAt": _reference_time(value.created_at),
                "updatedAt": _reference_time(value.updated_at),
                "pageRank": ranks[value_id],
            }
        )
    edges = []
    for edge in data.results["edges"]:
        edges.append(
            {
                "sourceValueId": out_id(edge["sourceValueId"]),
                "wiserValueId": out_id(edge["wiserValueId"]),
                "contexts": [data.contexts[c].text for c in edge["contexts"]],
                "counts": {key: edge["counts"][key] for key in COUNTS},
                "summary": {key: edge["summary"][key] for key in SUMMARY},
            }
        )
    return json_bytes({"values": values, "edges": edges})


def _reference_time(moment: datetime) -> str:
    # As the reference's JavaScript Date.toISOString() wrote it: milliseconds and a Z.
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
