"""Exports of a study's moral graph and alignment target, one module per format.

``build_export(study=..., fmt=..., mode=..., as_of=...)`` scores the study (or finds the
stored snapshot of the same inputs) and returns the file's bytes. The same snapshot and
database state always give the same bytes: rows are ordered by id, zip entries carry the
snapshot's time and nothing records when the export ran. The formats that need LLM-written
training responses (``FORMATS[...].needs_responses``) take them from the cache in
moralgraph.services.training; with ``generate=True`` the missing ones are written first, which is
what the background export job does (moralgraph.services.exports.jobs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from elicitation.models import Study
from moralgraph.models import GraphSnapshot
from moralgraph.services import scoring, training
from moralgraph.services.exports import constitution, graph_json, network, reference, tables
from moralgraph.services.exports import training_data as tdata
from moralgraph.services.exports.data import ExportData, collector_paused, one_reading


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    media_type: str
    modes: tuple[str, ...]  # the first is the default
    needs_responses: bool = False
    description: str = ""


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "reference-json",
            ".json",
            "application/json",
            ("compat",),
            description="The reference app's published schema: values[] and edges[].",
        ),
        Format(
            "graph-json",
            ".json",
            "application/json",
            ("default",),
            description="Our schema (moralgraph/schemas/graph-json.v2.json).",
        ),
        Format(
            "graphml",
            ".graphml",
            "application/graphml+xml",
            ("default", "compat"),
            description="GraphML for Gephi, Cytoscape and networkx.",
        ),
        Format(
            "gexf",
            ".gexf",
            "application/gexf+xml",
            ("default", "compat"),
            description="GEXF 1.2 for Gephi and networkx.",
        ),
        Format(
            "csv",
            ".zip",
            "application/zip",
            ("default", "compat"),
            description="A zip of tidy CSV tables.",
        ),
        Format(
            "sft-jsonl",
            ".jsonl",
            "application/jsonl",
            ("default",),
            needs_responses=True,
            description="Chat-format supervised fine-tuning data.",
        ),
        Format(
            "dpo-jsonl",
            ".jsonl",
            "application/jsonl",
            ("default",),
            needs_responses=True,
            description="Preference pairs (prompt, chosen, rejected).",
        ),
        Format(
            "constitution-md",
            ".md",
            "text/markdown; charset=utf-8",
            ("default",),
            description="A readable constitution per question and context.",
        ),
        Format(
            "bundle",
            ".zip",
            "application/zip",
            ("default",),
            needs_responses=True,
            description="Everything above in one zip, with a datasheet (README.md).",
        ),
    )
}


class ExportError(ValueError):
    """An export that cannot be made as asked (unknown format, wrong mode, ...)."""


class ResponsesMissing(ExportError):
    def __init__(self, count: int):
        self.count = count
        super().__init__(
            f"{count} training responses have not been written yet; generate them first "
            "(the export job does, as does the export command)"
        )


@dataclass(frozen=True)
class Export:
    format: str
    mode: str
    filename: str
    content: bytes
    snapshot: GraphSnapshot
    note: str = ""  # why the training data is empty, for the CLI; "" otherwise

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def resolve_mode(fmt: str, mode: str | None) -> str:
    spec = FORMATS.get(fmt)
    if spec is None:
        raise ExportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if mode is None:
        return spec.modes[0]
    if mode not in spec.modes:
        raise ExportError(f"{fmt} is written from {' or '.join(spec.modes)} scoring, not {mode}")
    return mode


def filename(study: Study, fmt: str, snapshot: GraphSnapshot) -> str:
    return f"{study.slug}-{fmt}-{snapshot.mode}-{snapshot.input_hash[:12]}{FORMATS[fmt].extension}"


def load(*, study: Study, mode: str, as_of: datetime | None = None) -> ExportData:
    snapshot = scoring.score_study(study=study, mode=mode, as_of=as_of)
    return ExportData(study=study, snapshot=snapshot, as_of=as_of)


def needs(fmt: str, data: ExportData) -> list[training.Need]:
    """The training responses a format needs for this (default-mode) snapshot."""
    if fmt == "sft-jsonl":
        return sorted(set(tdata.sft_needs(data)))
    if fmt in ("dpo-jsonl", "bundle"):
        return sorted(set(tdata.sft_needs(data)) | set(tdata.dpo_needs(data)))
    return []


def build_export(
    *,
    study: Study,
    fmt: str,
    mode: str | None = None,
    as_of: datetime | None = None,
    generate: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Export:
    """Build one export; see the module docstring. Raises ExportError, ResponsesMissing."""
    mode = resolve_mode(fmt, mode)
    data = load(study=study, mode=mode, as_of=as_of)
    responses = {}
    if FORMATS[fmt].needs_responses:
        wanted = needs(fmt, data)
        if generate:
            responses = training.generate(study=study, needs=wanted, progress=progress)
        else:
            responses = training.cached(study, wanted)
            if len(responses) < len(set(wanted)):
                raise ResponsesMissing(len(set(wanted)) - len(responses))
    content = render(fmt, data, responses)
    note = ""
    if fmt == "dpo-jsonl":
        note = tdata.why_no_pairs(data)
    elif FORMATS[fmt].needs_responses or fmt == "constitution-md":
        note = tdata.why_empty(data)
    return Export(fmt, mode, filename(study, fmt, data.snapshot), content, data.snapshot, note)


def render(fmt: str, data: ExportData, responses: dict | None = None) -> bytes:
    """The bytes of one format from loaded data (and responses, for the LLM-written ones)."""
    with collector_paused(), one_reading():
        return _render(fmt, data, responses)


def _render(fmt: str, data: ExportData, responses: dict | None) -> bytes:
    if fmt == "reference-json":
        return reference.build(data)
    if fmt == "graph-json":
        return graph_json.build(data)
    if fmt == "graphml":
        return network.build_graphml(data)
    if fmt == "gexf":
        return network.build_gexf(data)
    if fmt == "csv":
        return tables.build(data)
    if fmt == "sft-jsonl":
        return tdata.build_sft(data, responses or {})
    if fmt == "dpo-jsonl":
        return tdata.build_dpo(data, responses or {})
    if fmt == "constitution-md":
        return constitution.build(data)
    if fmt == "bundle":
        from moralgraph.services.exports import bundle

        compat = load(study=data.study, mode=GraphSnapshot.Mode.COMPAT, as_of=data.as_of)
        return bundle.build(data, compat, responses or {})
    raise ExportError(f"unknown format {fmt!r}")
