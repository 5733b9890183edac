"""The study's report: legitimacy, winners per question and context, bridging and
cross-group agreement, as one plain dict that the report page and ``manage.py report``
both render (the page as HTML, the command as JSON or Markdown).

Shape (JSON-ready; every id a string)::

    {"study": slug, "title": str,
     "snapshot": {"id", "created_at", "judgments", "input_hash"} | None,
     "legitimacy": {key: {"yes", "n", "share", "low", "high"}},   # paper's six keys
     "contexts": [{"question_key", "question_title", "context_id", "context", "status",
                   "winner": {"id", "external_id", "title"} | None,
                   "winner_probability", "bridging", "bridging_reason", "reason",
                   "needed", "needed_judgments", "challenger"}],
     "cross_group_agreement": {"edges", "agree", "share"},
     "unlabelled_share": float | None,
     "elicitation": [{"question_key", "question_title", "settled", "participants",
                      "judgments_per_participant",
                      "contexts": [{"context_id", "context", "status", "settled",
                                    "confident_scorings", "judgments", "needed_judgments",
                                    "needed_participants"}]}]}

A context's ``winner`` is the pairwise model's leader whatever its status, so that a
reader sees who leads and whether to trust it; only a ``confident`` one is a winner to
train on. It is None only where the model has no leader (nothing judged). A context
linked to several questions is listed once per question; one linked to none has a None
``question_key``. Where n is 0 a share, its interval and the agreement share are None,
never a paper's figure.
"""

from __future__ import annotations

from typing import Any

from elicitation.models import Study
from moralgraph.models import Context, GraphSnapshot, Value
from moralgraph.research.legitimacy import legitimacy
from moralgraph.research.selectors import elicitation_progress

NO_ANSWERS = "no answers yet"


def _snapshot(snapshot: GraphSnapshot | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    return {
        "id": snapshot.pk,
        "created_at": snapshot.created_at.isoformat(),
        "judgments": snapshot.judgment_count,
        "input_hash": snapshot.input_hash,
    }


def _winner(value: Value | None) -> dict[str, str] | None:
    if value is None:
        return None
    return {"id": str(value.pk), "external_id": value.external_id, "title": value.title}


def _contexts(study: Study, snapshot: GraphSnapshot | None) -> list[dict[str, Any]]:
    if snapshot is None:
        return []
    scored = snapshot.payload.contexts
    context_ids = [int(s.context_id) for s in scored if s.context_id.isdigit()]
    contexts = {
        str(c.pk): c
        for c in Context.objects.filter(study=study, pk__in=context_ids).prefetch_related(
            "questions"
        )
    }
    winner_ids = [int(s.winner.value_id) for s in scored if s.winner]
    values = {str(v.pk): v for v in Value.objects.filter(study=study, pk__in=winner_ids)}
    rows = []
    for s in scored:
        context = contexts.get(s.context_id)
        winner = s.winner
        row = {
            "context_id": s.context_id,
            "context": context.text if context else s.context_id,
            "status": s.status or None,
            "winner": _winner(values.get(winner.value_id)) if winner else None,
            "winner_probability": winner.probability if winner else None,
            "bridging": (winner.bridging_status if winner else "") or s.bridging.get("status"),
            "bridging_reason": (winner.bridging_reason if winner else "")
            or s.bridging.get("reason", ""),
            "reason": s.reason,
            "needed": s.needed_text,
            "needed_judgments": s.needed,
            "challenger": s.challenger,
        }
        questions = (
            sorted(context.questions.all(), key=lambda q: (q.position, q.pk)) if context else []
        )
        for question in questions or [None]:
            rows.append(
                {
                    "question_key": question.key if question else None,
                    "question_title": question.title if question else None,
                    **row,
                }
            )
    positions = {q.key: (q.position, q.pk) for q in study.questions.all()}
    rows.sort(
        key=lambda r: (
            r["question_key"] is None,
            positions.get(r["question_key"], (0, 0)),
            r["context"],
        )
    )
    return rows


def report(study: Study) -> dict[str, Any]:
    """The report of ``study`` from its latest default snapshot and its survey answers."""
    snapshot = GraphSnapshot.latest_for(study)
    graph = snapshot.payload if snapshot else None
    agreement = dict(graph.cross_group_agreement) if graph else {}
    return {
        "study": study.slug,
        "title": study.title,
        "snapshot": _snapshot(snapshot),
        "legitimacy": {
            key: {"yes": s.yes, "n": s.n, "share": s.share, "low": s.low, "high": s.high}
            for key, s in legitimacy(study).items()
        },
        "contexts": _contexts(study, snapshot),
        "cross_group_agreement": {
            "edges": agreement.get("edges", 0),
            "agree": agreement.get("agree", 0),
            "share": agreement.get("share"),
        },
        "unlabelled_share": graph.unlabelled_share if graph else None,
        # Adaptive elicitation: per question, judgments so far and still needed per context.
        "elicitation": elicitation_progress(study, snapshot),
    }
