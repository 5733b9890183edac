"""``bundle``: every format in one zip, with a datasheet (README.md) that says what the
study was, what is in the files, how they were made, their known limits, the licence, and
each file's SHA-256."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Mapping

from django.db.models import Max, Min

from elicitation.models import ValuesCard
from elicitation.selectors import counted_judgments
from moralgraph.models import TrainingResponse, Value
from moralgraph.services.exports import constitution, graph_json, network, reference, tables
from moralgraph.services.exports import training_data as tdata
from moralgraph.services.exports.data import ExportData, iso, zip_bytes
from moralgraph.services.training import Need

_DESCRIPTIONS = {
    "reference.json": "The graph in the reference app's schema (compat scoring).",
    "graph.json": "The scored graph in our schema (default scoring); see the schema file.",
    "schemas/graph-json.v2.json": "JSON Schema of graph.json.",
    "graph.graphml": "The graph for Gephi, Cytoscape, networkx (one edge per context).",
    "graph.gexf": "The same graph in GEXF 1.2.",
    "sft.jsonl": "Supervised fine-tuning data: one chat per question and confident context.",
    "dpo.jsonl": "Preference pairs: the wiser value's answer chosen, the other rejected.",
    "constitution.md": "The winning values per question and context, readable.",
    "tables/participants.csv": "A participant per row by random id: group, counted or not, "
    "and an answer_<key> column per demographic item (never a recruiter id).",
    "tables/demographic_items.csv": "The demographic items the study asked (key, label, choices).",
}


def build(
    data: ExportData, compat: ExportData, responses: Mapping[Need, TrainingResponse]
) -> bytes:
    files: list[tuple[str, bytes]] = [
        ("reference.json", reference.build(compat)),
        ("graph.json", graph_json.build(data)),
        ("schemas/graph-json.v2.json", graph_json.SCHEMA_PATH.read_bytes()),
        ("graph.graphml", network.build_graphml(data)),
        ("graph.gexf", network.build_gexf(data)),
        *((f"tables/{name}", content) for name, content in tables.files(data)),
        ("sft.jsonl", tdata.build_sft(data, responses)),
        ("dpo.jsonl", tdata.build_dpo(data, responses)),
        ("constitution.md", constitution.build(data)),
    ]
    readme = datasheet(data, compat, dict(files), responses)
    return zip_bytes([("README.md", readme), *files], data.snapshot.created_at)


def _table(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def _share(rows: list[dict], field: str) -> str:
    answered = [int(r[field]) for r in rows if r[field]]
    if not answered:
        return "no answers"
    agree = sum(a >= 4 for a in answered)
    return f"{agree / len(answered):.1%} of {len(answered)} answered 4 or 5 out of 5"


def datasheet(
    data: ExportData,
    compat: ExportData,
    files: dict[str, bytes],
    responses: Mapping[Need, TrainingResponse],
) -> bytes:
    study = data.study
    t = {
        name.removeprefix("tables/"): _table(c)
        for name, c in files.items()
        if name.endswith(".csv")
    }
    # The judgments scored come from the snapshot, the one source every file and page
    # quotes: the table may hold more (a judgment whose two values were merged since
    # carries no information and is left out of scoring).
    scored = data.snapshot.judgment_count
    verdicts = _scored_verdicts(contexts := data.results.get("contexts", []))
    table_rows = len(t["judgments.csv"])
    quality = Counter(r["quality"] for r in t["cards.csv"])
    groups = Counter(r["political_group"] or "(none)" for r in t["participants.csv"])
    span = (
        counted_judgments(study)
        .filter(data.before())
        .aggregate(first=Min("created_at"), last=Max("created_at"))
    )
    winners = [c for c in contexts if c.get("winner")]
    confident = [c for c in winners if c.get("status") == "confident"]
    response_keys = sorted({(r.model, r.prompt_version) for r in responses.values()})
    sft_rows = files["sft.jsonl"].count(b"\n")
    dpo_rows = files["dpo.jsonl"].count(b"\n")
    provenance = data.provenance
    merges = {
        " ".join(filter(None, (m["decided_by"], m["model"]))): m["merges"]
        for m in provenance["merges"]
    }
    stories = {
        " ".join(filter(None, (s["model"] or "model not recorded", s["prompt_version"]))): s[
            "stories"
        ]
        for s in provenance["stories"]
    }

    lines = [f"# {study.title}: moral graph data", ""]
    lines += [
        "A study run with Moral Graph Elicitation (Klingefjord, Lowe and Edelman, 2024): "
        "participants were interviewed by an LLM about how an AI should answer a hard "
        "question, their values were articulated as values cards and merged into canonical "
        "values, and they judged whether one value is wiser than another in a context. "
        "The judgments form the moral graph; the values judged wisest per context are the "
        "alignment target.",
        "",
    ]
    if study.description:
        lines += [study.description, ""]
    lines += ["## Questions", ""]
    for q in data.questions:
        lines.append(f"- **{q.title}** (`{q.key}`): {' '.join(q.text.split())}")
    lines += ["", "## Counts", ""]
    lines += [
        f"- Participants: {len(t['participants.csv'])} "
        f"(political groups: {', '.join(f'{g} {n}' for g, n in sorted(groups.items()))})",
        f"- Values cards: {len(t['cards.csv'])} "
        f"({', '.join(f'{q} {n}' for q, n in sorted(quality.items())) or 'none'})",
        f"- Canonical values: {len(t['values.csv'])}",
        f"- Contexts scored: {len(contexts)}",
        f"- Upgrade stories: {len(t['hypotheses.csv'])}",
        f"- Wiser judgments: {scored} "
        f"({', '.join(f'{v} {n}' for v, n in sorted(verdicts.items())) or 'none'})",
        *(
            [
                f"- tables/judgments.csv has {table_rows} rows: {table_rows - scored} are "
                "not scored (their two values were merged into one since)"
            ]
            if table_rows != scored
            else []
        ),
        f"- Selections: {len(t['selections.csv'])}; impressions: {len(t['impressions.csv'])}",
        f"- Survey answers: {len(t['survey_answers.csv'])}; felt represented: "
        f"{_share(t['survey_answers.csv'], 'represented')}; found their value's position "
        f"fair: {_share(t['survey_answers.csv'], 'fair_position')}",
        f"- Contexts with a winning value: {len(winners)}, of which {len(confident)} "
        f"confident (the only ones in sft.jsonl and the constitution)",
        f"- Kept edges: {sum(e['kept'] for c in contexts for e in c['edges'])} in the default "
        f"scoring, {len(compat.results.get('edges', []))} in the compat scoring",
        f"- Training examples: {sft_rows} SFT, {dpo_rows} DPO",
        _hidden_line(study),
        *([f"- sft.jsonl is empty: {tdata.why_empty(data)}"] if not sft_rows else []),
        *([f"- dpo.jsonl is empty: {tdata.why_no_pairs(data)}"] if not dpo_rows else []),
        "",
        "## Dates",
        "",
        f"- Judgments from {iso(span['first']) or 'n/a'} to {iso(span['last']) or 'n/a'}",
        f"- Judgments made before: {iso(data.as_of) or 'no cut-off (all judgments)'}",
        f"- Default snapshot scored at {iso(data.snapshot.created_at)}; compat at "
        f"{iso(compat.snapshot.created_at)}",
        "",
        "## Scoring",
        "",
        f"- Default mode (graph.json, graphml, gexf, tables, training data, constitution): "
        f"input hash `{data.snapshot.input_hash}`, parameters `{_params(data.snapshot.params)}`",
        f"- Compat mode (reference.json): input hash `{compat.snapshot.input_hash}`, "
        f"parameters `{_params(compat.snapshot.params)}`",
        "",
        "## Models and prompts",
        "",
    ]
    if provenance["llm_calls"]:
        lines += ["| stage | model | prompt | version | calls |", "|---|---|---|---|---|"]
        lines += [
            f"| {c['stage']} | {c['model']} | {c['prompt_name']} | {c['prompt_version']} | "
            f"{c['calls']} |"
            for c in provenance["llm_calls"]
        ]
    else:
        lines.append("- No LLM calls recorded for this study (imported, or run elsewhere).")
    lines += [
        "",
        f"- Value wording: {_counts(provenance['value_wording'])}",
        f"- Merges: {_counts(merges)}",
        f"- Upgrade stories: {_counts(stories)}",
        "- Training responses: "
        + (", ".join(f"{m} (prompt {v})" for m, v in response_keys) or "none needed"),
        "",
        "## Known limits",
        "",
        "- The training answers are written by an LLM under a value's guidance, not by "
        "participants; they show the value as the model understood it.",
        "- Winners from few judgments are uncertain; only contexts whose winner is "
        "`confident` (README: Statuses) are in sft.jsonl, only edges that pass the DPO rule "
        "in dpo.jsonl; every other context and edge is listed below with its reason.",
        "- Political groups are self-reported; participants without one count in the pooled "
        "figures only. A winner or edge that is not bridged is carried by some groups only.",
        "- Compat scoring pools contexts, counts 'not sure' against an edge and keeps the "
        "reference's entropy quirk; it exists to reproduce published graphs.",
        "- No file here carries a recruiter id (participants appear by a random id only); "
        "the recruiter's approval list, downloaded apart from the exports page, is the only "
        "export with recruiter ids.",
        "- Interview transcripts are not included. Reasons a participant marked private are "
        "left out; survey comments are included as typed.",
        "- In the CSV tables, a text cell starting with =, +, -, @, a tab or a carriage "
        "return has an apostrophe (') put in front, so that a spreadsheet shows it instead "
        "of running it as a formula (OWASP's rule for CSV injection); numbers (digits 0-9) "
        "keep their sign. Remove that one leading apostrophe to get such a text exactly as "
        "written. "
        "Line breaks inside a text cell are written as a newline (\\n), never a bare CR.",
        "",
        "## Excluded from training",
        "",
        *(tdata.exclusions(data) or ["- Nothing: every context and edge is in the files."]),
        "",
        "## Licence",
        "",
        f"{study.licence}",
        "",
        "## Files",
        "",
        "| file | what | bytes | SHA-256 |",
        "|---|---|---|---|",
    ]
    for name, content in files.items():
        what = _DESCRIPTIONS.get(name, "A table (CSV, one header row).")
        lines.append(
            f"| `{name}` | {what} | {len(content)} | `{hashlib.sha256(content).hexdigest()}` |"
        )
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "import json, pandas as pd, networkx as nx",
        'graph = json.load(open("graph.json"))',
        'judgments = pd.read_csv("tables/judgments.csv")',
        'g = nx.read_graphml("graph.graphml", force_multigraph=True)  # an edge per context',
        "from datasets import load_dataset  # Hugging Face",
        'sft = load_dataset("json", data_files="sft.jsonl")  # TRL SFTTrainer',
        'dpo = load_dataset("json", data_files="dpo.jsonl")  # TRL DPOTrainer',
        "```",
        "",
    ]
    return "\n".join(lines).encode()


def _hidden_line(study) -> str:
    """What moderation took out of every file, by reason (the items stay stored)."""

    def by_reason(model) -> tuple[int, str]:
        rows = Counter(
            model.objects.filter(study=study, hidden_at__isnull=False).values_list(
                "hidden_reason", flat=True
            )
        )
        return sum(rows.values()), ", ".join(f"{r} {n}" for r, n in sorted(rows.items()))

    cards, card_reasons = by_reason(ValuesCard)
    values, value_reasons = by_reason(Value)
    return (
        f"- Hidden by moderation (left out of every file, as is a value whose cards are all "
        f"hidden): cards: {cards} ({card_reasons or 'none'}); values: {values} "
        f"({value_reasons or 'none'})"
    )


def _scored_verdicts(contexts: list[dict]) -> Counter:
    """Verdicts of the judgments a default snapshot scored: each is counted on one edge."""
    verdicts: Counter = Counter()
    for context in contexts:
        for edge in context.get("edges", []):
            verdicts.update({k: n for k, n in edge.get("counts", {}).items() if n})
    return verdicts


def _params(params: dict) -> str:
    # Nested settings (the pairwise model's) sorted too: jsonb does not keep key order.
    return ", ".join(
        f"{k}={_params(params[k]) if isinstance(params[k], dict) else params[k]}"
        for k in sorted(params)
    )


def _counts(counts: dict) -> str:
    return ", ".join(f"{k}: {n}" for k, n in counts.items()) or "none"
