"""The read API's request and response shapes; the OpenAPI schema at /api/openapi.json is
written from them. Ids of graph objects are strings where the snapshot writes them so
(edges, winners, ranks), integers where they are rows (values, contexts, jobs)."""

from datetime import date, datetime
from typing import Literal

from ninja import Field, Path, Schema
from pydantic import ConfigDict

from moralgraph.services.exports import FORMATS

Mode = Literal["default", "compat"]
FormatName = Literal[tuple(FORMATS)]  # graph-json, reference-json, graphml, ...
# A study's slug in a path: what a SlugField holds.
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
Slug = Path(..., pattern=SLUG_PATTERN, max_length=50)


class Error(Schema):
    detail: str


class Invalid(Schema):
    """A request whose parameters or body do not fit the schema (django-ninja's 422)."""

    detail: list[dict]


# --- Studies and what they asked -----------------------------------------------------------


class StudyOut(Schema):
    slug: str
    title: str
    description: str
    status: str = Field(description="draft, pilot, live, closing or closed")
    role: str = Field(description="Your role on the study: viewer, analyst or owner")
    created_at: datetime


class Counts(Schema):
    """What the study's figures count: test participants and hidden cards left out."""

    participants: int
    cards: int
    judgments: int
    values: int = Field(description="Values in the graph: active and not hidden")
    contexts: int


class SnapshotOut(Schema):
    id: int
    mode: str
    created_at: datetime
    as_of: datetime | None
    judgment_count: int
    input_hash: str
    params: dict


class StudyDetail(StudyOut):
    estimated_minutes: int
    licence: str
    closed_at: datetime | None
    counts: Counts
    latest_snapshot: SnapshotOut | None = Field(description="The latest default-mode scoring")


class QuestionOut(Schema):
    id: int
    key: str
    title: str
    text: str
    position: int
    external_id: str


class ContextOut(Schema):
    id: int
    text: str
    source: str
    question_keys: list[str]
    duplicate_of: int | None = Field(description="The context this one duplicates, if any")
    external_id: str


class ValueOut(Schema):
    id: int
    title: str
    description: str
    policies: list[str]
    wording_source: str
    external_id: str
    created_at: datetime


# --- The scored graph ------------------------------------------------------------------------


class GroupShareOut(Schema):
    group: str
    decisive: int
    share: float | None


class EdgeOut(Schema):
    """One compared pair in one context, pointing at the value judged wiser (to_id)."""

    context_id: str = Field(description='A context id; "pooled" in compat mode')
    from_id: str
    to_id: str
    kept: bool
    share: float | None = Field(description="Share judging to_id wiser (compat: likelihood)")
    decisive: int
    counts: dict[str, int]
    interval: list[float] | None
    bridging: float | None
    bridged: bool
    groups: list[GroupShareOut]
    dpo: bool


class RankOut(Schema):
    value_id: str
    score: float


class WinnerOut(Schema):
    value_id: str
    probability: float | None
    status: str
    bridging_status: str


class ScoredContextOut(Schema):
    context_id: str
    status: str
    reason: str
    needed: int | None
    winner: WinnerOut | None
    ranks: list[RankOut]
    edges: int


class SnapshotDetail(SnapshotOut):
    contexts: list[ScoredContextOut]
    cross_group_agreement: dict
    unlabelled_share: float | None


# --- The report (moralgraph.research.report, as `manage.py report --format json`) ---------
# Extra keys pass through, so the API gives the report's JSON whole even where the report
# grows a key before this schema names it.


class _Open(Schema):
    model_config = ConfigDict(extra="allow")


class ReportSnapshot(_Open):
    id: int
    created_at: str
    judgments: int
    input_hash: str


class ReportShare(_Open):
    yes: int
    n: int
    share: float | None
    low: float | None
    high: float | None


class ReportWinner(_Open):
    id: str
    external_id: str
    title: str


class ReportContext(_Open):
    question_key: str | None
    question_title: str | None
    context_id: str
    context: str
    status: str | None
    winner: ReportWinner | None
    winner_probability: float | None
    bridging: str | None
    bridging_reason: str | None
    reason: str | None
    needed: str | None
    needed_judgments: int | None
    challenger: str | None


class ReportAgreement(_Open):
    edges: int
    agree: int
    share: float | None


class ReportElicitationContext(_Open):
    context_id: str
    context: str
    status: str | None
    settled: bool
    confident_scorings: int
    judgments: int
    needed_judgments: int | None
    needed_participants: int | None


class ReportElicitation(_Open):
    """Adaptive elicitation per question: settled or not, and what each context needs."""

    question_key: str
    question_title: str
    settled: bool
    participants: int | None
    judgments_per_participant: int | None
    contexts: list[ReportElicitationContext]


class ReportOut(_Open):
    study: str
    title: str
    snapshot: ReportSnapshot | None
    legitimacy: dict[str, ReportShare]
    contexts: list[ReportContext]
    cross_group_agreement: ReportAgreement
    unlabelled_share: float | None
    elicitation: list[ReportElicitation]


# --- Export jobs ------------------------------------------------------------------------------


class ExportIn(Schema):
    format: FormatName = Field(description="One of the research exports page's formats")
    mode: Mode | None = Field(None, description="Scoring; the format's own when left out")
    as_of: date | None = Field(None, description="Only judgments made before this day (UTC)")


class ExportJobOut(Schema):
    id: int
    format: str
    mode: str
    as_of: datetime | None
    status: str = Field(description="pending, running, done or failed")
    progress: int
    total: int
    error: str
    sha256: str
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None = Field(description="Set once the job is done")
