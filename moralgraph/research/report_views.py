"""The study's report page, for any member of the study (viewer and up): printable,
with the legitimacy shares and their intervals, the winners per question and context
with their status, bridging, and the cross-group agreement. The data is
moralgraph.research.report's, as the command's is.

Charts are inline SVG with attributes (the Content-Security-Policy forbids inline
styles), so that they print without any script.
"""

from __future__ import annotations

from itertools import groupby

from django.shortcuts import render
from django.views.decorators.http import require_GET

from elicitation.models import SURVEY_ITEMS
from moralgraph.research.access import Role, study_role
from moralgraph.research.report import NO_ANSWERS, report

STATUS_PILL = {"confident": "pill-ok", "contested": "pill-warn", "insufficient": "pill-muted"}
BRIDGING_PILL = {"bridges": "pill-ok", "divides": "pill-warn", "unknown": "pill-muted"}


def _percent(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 1)


def _legitimacy_rows(shares: dict) -> list[dict]:
    labels = {item.key: item for item in SURVEY_ITEMS}
    rows = []
    for key, share in shares.items():
        item = labels.get(key)
        rows.append(
            {
                "key": key,
                "label": item.label if item else key,
                "question": item.question if item else "",
                "n": share["n"],
                "yes": share["yes"],
                "percent": _percent(share["share"]),
                "low": _percent(share["low"]),
                "high": _percent(share["high"]),
                # The interval's whisker, in the SVG's 0–100 coordinates.
                "span": None
                if share["low"] is None
                else round(100 * (share["high"] - share["low"]), 1),
            }
        )
    return rows


def _questions(contexts: list[dict]) -> list[dict]:
    rows = [
        {
            **c,
            "percent": _percent(c["winner_probability"]),
            "status_pill": STATUS_PILL.get(c["status"], "pill-muted"),
            "bridging_pill": BRIDGING_PILL.get(c["bridging"], "pill-muted"),
        }
        for c in contexts
    ]
    return [
        {"key": key, "title": group[0]["question_title"], "contexts": group}
        for key, group in ((k, list(g)) for k, g in groupby(rows, key=lambda r: r["question_key"]))
    ]


@study_role(Role.VIEWER)
@require_GET
def report_page(request, study):
    data = report(study)
    agreement = data["cross_group_agreement"]
    context = {
        "study": study,
        "section": "report",
        "report": data,
        "legitimacy": _legitimacy_rows(data["legitimacy"]),
        "questions": _questions(data["contexts"]),
        "agreement": agreement,
        "agreement_percent": _percent(agreement["share"]),
        "unlabelled_percent": _percent(data["unlabelled_share"]),
        "no_answers": NO_ANSWERS,
        "progress": data["elicitation"],
    }
    return render(request, "research/report.html", context)
