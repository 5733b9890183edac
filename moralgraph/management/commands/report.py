"""python manage.py report --study SLUG [--format json|md]

The study's report (moralgraph.research.report, the data of /research/SLUG/report/) as
JSON or as Markdown with one table per question.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from elicitation.models import SURVEY_ITEMS, Study
from moralgraph.research.report import NO_ANSWERS, report

LABELS = {item.key: item.label for item in SURVEY_ITEMS}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _cell(text) -> str:
    # A pipe or a line break would end a Markdown table cell.
    return str(text if text not in (None, "") else "—").replace("|", "\\|").replace("\n", " ")


def as_markdown(data: dict) -> str:
    lines = [f"# Report: {data['title']} ({data['study']})", ""]
    snap = data["snapshot"]
    lines += [
        f"Scored over {snap['judgments']} judgments, {snap['created_at']}."
        if snap
        else "Not scored yet.",
        "",
        "## Legitimacy",
        "",
        "| Item | Share | 95% interval | n |",
        "|---|---|---|---|",
    ]
    for key, s in data["legitimacy"].items():
        if s["n"]:
            row = [_pct(s["share"]), f"{_pct(s['low'])}–{_pct(s['high'])}", s["n"]]
        else:
            row = [NO_ANSWERS, "—", 0]
        lines.append("| " + " | ".join(_cell(c) for c in [LABELS.get(key, key), *row]) + " |")
    agreement = data["cross_group_agreement"]
    lines += ["", "## Cross-group agreement", ""]
    lines.append(
        f"{_pct(agreement['share'])}: every group's majority agrees on {agreement['agree']} "
        f"of {agreement['edges']} pairs with enough votes in every group."
        if agreement["edges"]
        else "No pair has enough votes in every group yet."
    )
    lines.append(f"Unlabelled judgments: {_pct(data['unlabelled_share'])}.")
    lines += ["", "## Winners per question and context", ""]
    if not data["contexts"]:
        lines.append("No scored contexts yet.")
    question = object()
    for row in data["contexts"]:
        if row["question_key"] != question:
            question = row["question_key"]
            title = f"{row['question_title']} ({question})" if question else "No question"
            lines += [
                "",
                f"### {title}",
                "",
                "| Context | Leader | Status | Winner probability | Bridging | Still needed |",
                "|---|---|---|---|---|---|",
            ]
        winner = row["winner"]["title"] if row["winner"] else None
        cells = [
            row["context"],
            winner,
            row["status"],
            _pct(row["winner_probability"]),
            row["bridging"],
            row["needed"],
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += _elicitation_markdown(data.get("elicitation", []))
    return "\n".join(lines) + "\n"


def _elicitation_markdown(questions: list[dict]) -> list[str]:
    lines = ["", "## Elicitation progress", ""]
    for q in questions:
        if q["settled"]:
            state = "every context settled"
        elif q["participants"] is not None:
            state = f"about {q['participants']} more participants"
        else:
            state = "some contexts not judged yet"
        lines += [
            f"### {q['question_title']} ({q['question_key']}): {state}",
            "",
            "| Context | Status | Judgments | Still needed | Participants |",
            "|---|---|---|---|---|",
        ]
        for c in q["contexts"]:
            status = "settled" if c["settled"] else c["status"]
            cells = [c["context"], status, c["judgments"], c["needed_judgments"]]
            lines.append(
                "| " + " | ".join(_cell(x) for x in [*cells, c["needed_participants"]]) + " |"
            )
        lines.append("")
    return lines


class Command(BaseCommand):
    help = (
        "Print a study's report: legitimacy with 95% intervals, each context's leader "
        "with its status and bridging, and cross-group agreement (JSON or Markdown)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, metavar="SLUG")
        parser.add_argument("--format", choices=["json", "md"], default="json", dest="fmt")

    def handle(self, *, study: str, fmt: str, **options):
        found = Study.objects.filter(slug=study).first()
        if found is None:
            raise CommandError(f"no study with slug {study!r}")
        data = report(found)
        if fmt == "json":
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            self.stdout.write(as_markdown(data), ending="")
