"""Import a study run with the reference app from its JSON table dumps (MGE.md, "The
reference's raw data format").

``import_reference(directory, study_slug=...)`` reads every file first and checks each row,
so that malformed input stops the import before anything is written, with the file, the row
(1-based position in the file's array) and the field named. It then writes everything in one
transaction. Rows already imported (matched on the reference's ids, kept as ``external_id``)
are left as they are, so a second run with the same dump changes nothing.

Files read: ``case.json``, ``context.json``, ``canonicalValuesCard.json`` and ``edge.json``
(required); ``valuesCard.json``, ``edgeHypothesis.json``, ``vote.json``, ``impression.json``,
``demographic.json`` and ``chat.json`` (optional; of ``chat.json`` only ``id``, ``userId`` and
``questionId``/``caseId`` are read, never the transcript). Only the fields named below are read
from any row, so extra columns (a recruiter id in ``demographic.json``, say) are never
stored. ``user.json`` and ``emailCodes.json`` hold emails and recruiter ids: never opened.

Decisions worth knowing:

- ``vote.json`` and ``impression.json`` rows point at canonical values (``valuesCardId``).
- The reference's edge table is keyed on (userId, fromId, toId), so a participant could judge
  A -> B and later B -> A. We keep both, because the compat reproduction counts every row:
  the first (by createdAt, then row) gets the usual ``pair_key`` "low:high" and a later one
  "low:high#2", which keeps the database's one-judgment-per-pair rule for new judgments and
  marks the repeat. Two rows with the same (userId, fromId, toId) cannot come from the
  reference and are rejected.
- Each (fromId, toId, contextId) judged becomes an UpgradeHypothesis with the row's story.
  Hypotheses known only from ``edge.json`` (the reference deleted each run's stories when it
  wrote new ones) are imported as retired (``is_active=False``), so they are never drawn
  again if the study is reopened.
- Cards are submitted and already reconciled: the reference's canonicalCardId becomes a
  CardMapping(mapped_by="import"); a card with none (quality "invalid", say) has no mapping.
- Contexts are linked to the questions whose values were judged in them (values are tied
  to questions through chats, votes and impressions).
- ``instructionsShort`` becomes the description and ``instructionsDetailed`` is kept
  beside it (``instructions_detailed``), for values and cards alike.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone
from django.utils.text import slugify

from elicitation.models import (
    Demographics,
    Impression,
    Participant,
    Question,
    Selection,
    Study,
    ValuesCard,
    WiserJudgment,
)
from moralgraph.models import CardMapping, Context, HypothesisRun, UpgradeHypothesis, Value

REQUIRED_FILES = ("case.json", "context.json", "canonicalValuesCard.json", "edge.json")
OPTIONAL_FILES = (
    "valuesCard.json",
    "edgeHypothesis.json",
    "vote.json",
    "impression.json",
    "demographic.json",
    "chat.json",
)
# Personal data: the import never opens these.
IGNORED_FILES = ("user.json", "emailCodes.json")

VERDICTS = ("upgrade", "no_upgrade", "not_sure")
QUALITIES = ("ok", "invalid")
BATCH = 2000

Progress = Callable[[str], None]


class ReferenceDumpError(Exception):
    """Malformed input: names the file and, where it applies, the row and the field."""

    def __init__(self, file: str, message: str, *, row: int | None = None, field: str = ""):
        self.file, self.row, self.field, self.message = file, row, field, message
        where = file
        if row is not None:
            where += f", row {row}"
        if field:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


@dataclass
class ImportReport:
    study: Study
    created: Counter = field(default_factory=Counter)
    existing: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(self.created.values())


# --- Reading and checking -------------------------------------------------------------------


class _Row:
    """One row of a dump file, with typed accessors that fail naming file, row and field."""

    __slots__ = ("file", "number", "data")

    def __init__(self, file: str, number: int, data: dict):
        self.file, self.number, self.data = file, number, data

    def error(self, field_name: str, message: str) -> ReferenceDumpError:
        return ReferenceDumpError(self.file, message, row=self.number, field=field_name)

    def _get(self, name: str, null: bool) -> Any:
        if name not in self.data:
            if null:
                return None
            raise self.error(name, "missing")
        value = self.data[name]
        if value is None and not null:
            raise self.error(name, "is null")
        return value

    def int(self, name: str, *, null: bool = False) -> int | None:
        value = self._get(name, null)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {_show(value)}")
        return value

    def text(
        self, name: str, *, null: bool = False, blank: bool = True, max_length: int | None = None
    ) -> str | None:
        value = self._get(name, null)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {_show(value)}")
        if not blank and not value.strip():
            raise self.error(name, "is empty")
        if max_length is not None and len(value) > max_length:
            raise self.error(name, f"is longer than {max_length} characters")
        return value

    def key(self, name: str) -> str:
        """An id that the reference stored as an integer or a string: kept as a string."""
        value = self._get(name, False)
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            raise self.error(name, f"expected an integer or string id, got {_show(value)}")
        return str(value)

    def texts(self, name: str) -> list[str]:
        value = self._get(name, False)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(name, f"expected an array of strings, got {_show(value)}")
        return value

    def time(self, name: str, *, null: bool = False) -> datetime | None:
        value = self._get(name, null)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(name, f"expected an ISO-8601 time, got {_show(value)}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.error(name, f"expected an ISO-8601 time, got {_show(value)}") from None
        # The dumps are UTC; a time without an offset is read as UTC.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def choice(self, name: str, choices: tuple[str, ...], *, null: bool = False) -> str | None:
        value = self._get(name, null)
        if value is None:
            return None
        if value not in choices:
            raise self.error(name, f"expected one of {', '.join(choices)}, got {_show(value)}")
        return value


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _rows(directory: Path, name: str, *, required: bool) -> Iterator[_Row]:
    path = directory / name
    if not path.is_file():
        if required:
            raise ReferenceDumpError(name, f"missing from {directory}")
        return
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as error:
        raise ReferenceDumpError(
            name, f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except UnicodeDecodeError:
        raise ReferenceDumpError(name, "not UTF-8 text") from None
    if not isinstance(data, list):
        raise ReferenceDumpError(name, "expected a JSON array of rows")
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise ReferenceDumpError(name, f"expected an object, got {_show(item)}", row=number)
        yield _Row(name, number, item)


@dataclass
class _Case:
    id: str
    title: str
    question: str
    seed: str


@dataclass
class _Wording:
    row: int
    id: int
    title: str
    short: str
    detailed: str
    criteria: list[str]
    created: datetime
    updated: datetime
    canonical: int | None = None
    chat: str | None = None
    quality: str = "ok"


@dataclass
class _Edge:
    row: int
    user: int
    from_id: int
    to_id: int
    context: str
    story: str
    run: str | None
    verdict: str
    comment: str | None
    created: datetime


@dataclass
class _Hypothesis:
    row: int
    from_id: int
    to_id: int
    context: str
    story: str
    run: str | None
    created: datetime


@dataclass
class _Draw:
    row: int
    id: int
    user: int
    value: int
    case: str
    draw: str
    created: datetime


@dataclass
class _Demographic:
    row: int
    user: int
    politics: str | None
    age: int | None
    sex: str | None


@dataclass
class _Dump:
    cases: list[_Case]
    contexts: list[str]
    values: list[_Wording]
    cards: list[_Wording]
    edges: list[_Edge]
    hypotheses: list[_Hypothesis]
    votes: list[_Draw]
    impressions: list[_Draw]
    demographics: list[_Demographic]
    chats: dict[str, tuple[int, str | None]]  # chat id -> (userId, case id)


def read_dump(directory: Path | str, progress: Progress | None = None) -> _Dump:
    """Read and check every file of a dump; raise ReferenceDumpError on the first problem."""
    directory = Path(directory)
    say = progress or (lambda message: None)
    if not directory.is_dir():
        raise ReferenceDumpError(str(directory), "not a directory")

    cases = []
    case_rows: dict[str, int] = {}
    for r in _rows(directory, "case.json", required=True):
        case_id = r.key("id")
        _unique(r, "id", case_id, case_rows)
        title = r.text("title", blank=False, max_length=200)
        cases.append(
            _Case(
                case_id,
                title,
                r.text("question", blank=False),
                r.text("seedMessage", null=True) or "",
            )
        )
    say(f"case.json: {len(cases)} questions")

    contexts = []
    context_rows: dict[str, int] = {}
    for r in _rows(directory, "context.json", required=True):
        text = r.text("id", blank=False, max_length=300)
        _unique(r, "id", text, context_rows)
        contexts.append(text)
    say(f"context.json: {len(contexts)} contexts")

    values = []
    value_rows: dict[int, int] = {}
    for r in _rows(directory, "canonicalValuesCard.json", required=True):
        value = _wording(r)
        _unique(r, "id", value.id, value_rows)
        values.append(value)
    say(f"canonicalValuesCard.json: {len(values)} canonical values")

    chats: dict[str, tuple[int, str | None]] = {}
    for r in _rows(directory, "chat.json", required=False):
        chat_id = r.key("id")
        if chat_id in chats:
            raise r.error("id", f"duplicate id {chat_id!r}")
        case_field = "questionId" if "questionId" in r.data else "caseId"
        case_id = None if r.data.get(case_field) is None else r.key(case_field)
        if case_id is not None and case_id not in case_rows:
            raise r.error(case_field, f"no question with id {case_id!r} in case.json")
        chats[chat_id] = (r.int("userId"), case_id)
    if chats:
        say(f"chat.json: {len(chats)} chats (ids, participants and questions only)")

    cards = []
    card_rows: dict[int, int] = {}
    for r in _rows(directory, "valuesCard.json", required=False):
        card = _wording(r)
        _unique(r, "id", card.id, card_rows)
        card.canonical = r.int("canonicalCardId", null=True)
        if card.canonical is not None and card.canonical not in value_rows:
            raise r.error(
                "canonicalCardId",
                f"no canonical value {card.canonical} in canonicalValuesCard.json",
            )
        chat = r.data.get("chatId")
        card.chat = None if chat is None else r.key("chatId")
        if card.chat is not None and chats and card.chat not in chats:
            raise r.error("chatId", f"no chat {card.chat!r} in chat.json")
        card.quality = r.choice("quality", QUALITIES, null=True) or "ok"
        cards.append(card)
    say(f"valuesCard.json: {len(cards)} cards")

    def _value_ref(r: _Row, name: str) -> int:
        value_id = r.int(name)
        if value_id not in value_rows:
            raise r.error(name, f"no canonical value {value_id} in canonicalValuesCard.json")
        return value_id

    def _context_ref(r: _Row, name: str) -> str:
        text = r.text(name)
        if text not in context_rows:
            raise r.error(name, f"no context {_show(text)} in context.json")
        return text

    hypotheses = []
    for r in _rows(directory, "edgeHypothesis.json", required=False):
        from_id, to_id = _value_ref(r, "fromId"), _value_ref(r, "toId")
        if from_id == to_id:
            raise r.error("toId", "equals fromId")
        hypotheses.append(
            _Hypothesis(
                r.number,
                from_id,
                to_id,
                _context_ref(r, "contextId"),
                r.text("story", null=True) or "",
                _optional_key(r, "runId"),
                r.time("createdAt"),
            )
        )
    if hypotheses:
        say(f"edgeHypothesis.json: {len(hypotheses)} hypotheses")

    edges = []
    edge_rows: dict[tuple[int, int, int], int] = {}
    for r in _rows(directory, "edge.json", required=True):
        user = r.int("userId")
        from_id, to_id = _value_ref(r, "fromId"), _value_ref(r, "toId")
        if from_id == to_id:
            raise r.error("toId", "equals fromId")
        first = edge_rows.setdefault((user, from_id, to_id), r.number)
        if first != r.number:
            raise r.error(
                "toId",
                f"same userId, fromId and toId as row {first}; the reference keyed judgments "
                "on these, so the dump is corrupt",
            )
        # Later reference versions call the verdict "type".
        verdict_field = "relationship" if "relationship" in r.data else "type"
        edges.append(
            _Edge(
                r.number,
                user,
                from_id,
                to_id,
                _context_ref(r, "contextId"),
                r.text("story", null=True) or "",
                _optional_key(r, "runId"),
                r.choice(verdict_field, VERDICTS),
                r.text("comment", null=True),
                r.time("createdAt"),
            )
        )
    say(f"edge.json: {len(edges)} judgments")

    def _draws(name: str) -> list[_Draw]:
        draws = []
        ids: dict[int, int] = {}
        for r in _rows(directory, name, required=False):
            draw_id = r.int("id")
            _unique(r, "id", draw_id, ids)
            case_id = r.key("caseId")
            if case_id not in case_rows:
                raise r.error("caseId", f"no question with id {case_id!r} in case.json")
            draws.append(
                _Draw(
                    r.number,
                    draw_id,
                    r.int("userId"),
                    _value_ref(r, "valuesCardId"),
                    case_id,
                    _optional_key(r, "drawId") or "",
                    r.time("createdAt"),
                )
            )
        if draws:
            say(f"{name}: {len(draws)} rows")
        return draws

    votes = _draws("vote.json")
    impressions = _draws("impression.json")

    demographics = []
    demographic_rows: dict[int, int] = {}
    for r in _rows(directory, "demographic.json", required=False):
        user = r.int("userId")
        _unique(r, "userId", user, demographic_rows)
        demographics.append(
            _Demographic(
                r.number,
                user,
                r.text("usPoliticalAffiliation", null=True, max_length=200),
                r.int("age", null=True),
                r.text("sex", null=True, max_length=40),
            )
        )
    if demographics:
        say(f"demographic.json: {len(demographics)} rows")

    return _Dump(
        cases, contexts, values, cards, edges, hypotheses, votes, impressions, demographics, chats
    )


def _unique(r: _Row, name: str, key: Any, seen: dict) -> None:
    first = seen.setdefault(key, r.number)
    if first != r.number:
        raise r.error(name, f"duplicate id {_show(key)} (first at row {first})")


def _optional_key(r: _Row, name: str) -> str | None:
    return None if r.data.get(name) is None else r.key(name)


def _wording(r: _Row) -> _Wording:
    return _Wording(
        r.number,
        r.int("id"),
        r.text("title", blank=False, max_length=120),
        r.text("instructionsShort", null=True) or "",
        r.text("instructionsDetailed", null=True) or "",
        r.texts("evaluationCriteria"),
        r.time("createdAt"),
        r.time("updatedAt", null=True) or r.time("createdAt"),
    )


# --- Writing --------------------------------------------------------------------------------


def import_reference(
    directory: Path | str,
    *,
    study_slug: str,
    title: str = "",
    progress: Progress | None = None,
) -> ImportReport:
    """Import a reference dump into the study ``study_slug`` (created if missing)."""
    dump = read_dump(directory, progress)
    with transaction.atomic():
        return _Writer(dump, progress or (lambda message: None)).run(study_slug, title)


class _Writer:
    def __init__(self, dump: _Dump, say: Progress):
        self.dump = dump
        self.say = say

    def run(self, slug: str, title: str) -> ImportReport:
        study, created = Study.objects.get_or_create(
            slug=slug,
            defaults={
                "title": title or slug,
                "description": "Imported from the reference app's table dumps.",
                "status": Study.Status.CLOSED,
            },
        )
        self.study = study
        self.report = ImportReport(study=study)
        self.report.created["study"] += created
        self.report.existing["study"] += not created

        self._questions()
        self._contexts()
        self._values()
        self._participants()
        self._cards()
        self._hypotheses()
        self._judgments()
        self._draws("selections", Selection, self.dump.votes)
        self._draws("impressions", Impression, self.dump.impressions)
        self._demographics()
        self._link_contexts()
        if self.report.changed:
            # New judgments: the graph needs scoring (the sweep picks this up).
            Study.objects.filter(pk=study.pk).update(graph_changed_at=timezone.now())
        return self.report

    def _tally(self, kind: str, created: int, existing: int) -> None:
        self.report.created[kind] += created
        self.report.existing[kind] += existing
        self.say(f"{kind}: {created} imported, {existing} already there")

    def _questions(self) -> None:
        existing = {q.external_id: q for q in self.study.questions.exclude(external_id="")}
        keys = set(self.study.questions.values_list("key", flat=True))
        new = []
        for position, case in enumerate(self.dump.cases):
            if case.id in existing:
                continue
            key = base = slugify(case.id)[:70] or f"case-{position}"
            n = 1
            while key in keys:
                n += 1
                key = f"{base}-{n}"
            keys.add(key)
            new.append(
                Question(
                    study=self.study,
                    key=key,
                    title=case.title,
                    text=case.question,
                    seed_message=case.seed,
                    position=position,
                    external_id=case.id,
                )
            )
        Question.objects.bulk_create(new)
        self._tally("questions", len(new), len(self.dump.cases) - len(new))
        self.questions = {q.external_id: q for q in self.study.questions.exclude(external_id="")}

    def _contexts(self) -> None:
        existing = set(self.study.contexts.values_list("text", flat=True))
        # A context dates from its first use: context.json carries no time.
        first_use: dict[str, datetime] = {}
        for row in [*self.dump.hypotheses, *self.dump.edges]:
            if row.context not in first_use or row.created < first_use[row.context]:
                first_use[row.context] = row.created
        new = [
            Context(
                study=self.study,
                text=text,
                source=Context.Source.IMPORTED,
                external_id=text,
                **({"created_at": first_use[text]} if text in first_use else {}),
            )
            for text in self.dump.contexts
            if text not in existing
        ]
        Context.objects.bulk_create(new)
        self._tally("contexts", len(new), len(self.dump.contexts) - len(new))
        self.contexts = {c.text: c for c in self.study.contexts.all()}

    def _values(self) -> None:
        existing = set(
            self.study.values.exclude(external_id="").values_list("external_id", flat=True)
        )
        new_rows = [v for v in self.dump.values if str(v.id) not in existing]
        Value.objects.bulk_create(
            [
                Value(
                    study=self.study,
                    title=v.title,
                    description=v.short,
                    instructions_detailed=v.detailed,
                    policies=v.criteria,
                    wording_source=Value.Wording.IMPORTED,
                    external_id=str(v.id),
                    created_at=v.created,
                )
                for v in new_rows
            ],
            batch_size=BATCH,
        )
        self.values = {int(v.external_id): v for v in self.study.values.exclude(external_id="")}
        # auto_now stamped the import time; keep the reference's updatedAt instead.
        _set_updated_at(Value, {self.values[v.id].pk: v.updated for v in new_rows})
        self._tally("values", len(new_rows), len(self.dump.values) - len(new_rows))

    def _participants(self) -> None:
        sources = {
            "edge.json": {e.user for e in self.dump.edges},
            "other": {d.user for d in [*self.dump.votes, *self.dump.impressions]}
            | {d.user for d in self.dump.demographics}
            | {user for user, _ in self.dump.chats.values()},
        }
        users = sorted(sources["edge.json"] | sources["other"])
        existing = set(
            self.study.participants.exclude(external_id="").values_list("external_id", flat=True)
        )
        new = [
            Participant(study=self.study, external_id=str(u), step=Participant.Step.DONE)
            for u in users
            if str(u) not in existing
        ]
        Participant.objects.bulk_create(new, batch_size=BATCH)
        self._tally("participants", len(new), len(users) - len(new))
        only_judged = len(sources["edge.json"] - sources["other"])
        if only_judged:
            self.report.notes.append(
                f"{only_judged} participants appear only in edge.json (no chat, vote, "
                "impression or demographic row)"
            )
        self.participants = {
            int(p.external_id): p for p in self.study.participants.exclude(external_id="")
        }

    def _cards(self) -> None:
        cards = self.dump.cards
        existing = set(
            self.study.cards.exclude(external_id="").values_list("external_id", flat=True)
        )
        new_rows = [c for c in cards if str(c.id) not in existing]
        new = []
        for c in new_rows:
            user, case_id = self.dump.chats.get(c.chat, (None, None)) if c.chat else (None, None)
            new.append(
                ValuesCard(
                    study=self.study,
                    participant=self.participants.get(user) if user is not None else None,
                    question=self.questions.get(case_id) if case_id is not None else None,
                    title=c.title,
                    description=c.short,
                    instructions_detailed=c.detailed,
                    policies=c.criteria,
                    status=ValuesCard.Status.SUBMITTED,
                    quality=c.quality,
                    submitted_at=c.created,
                    external_id=str(c.id),
                    created_at=c.created,
                    # Reconciled in the reference, not here (so no reconciled_at): done,
                    # never to be redone.
                    reconcile_status=ValuesCard.Reconcile.DONE,
                )
            )
        ValuesCard.objects.bulk_create(new, batch_size=BATCH)
        by_external = {
            int(card.external_id): card
            for card in self.study.cards.filter(external_id__in=[str(c.id) for c in new_rows])
        }
        mappings = [
            CardMapping(
                card=by_external[c.id],
                value=self.values[c.canonical],
                mapped_by="import",
                reason="canonicalCardId in valuesCard.json",
                created_at=c.created,
            )
            for c in new_rows
            if c.canonical is not None
        ]
        CardMapping.objects.bulk_create(mappings, batch_size=BATCH)
        self._tally("cards", len(new), len(cards) - len(new))
        self._tally("card mappings", len(mappings), 0)
        unmapped = Counter(c.quality for c in cards if c.canonical is None)
        for quality, n in sorted(unmapped.items()):
            self.report.notes.append(f"{n} cards of quality {quality!r} have no canonical value")

    def _hypotheses(self) -> None:
        runs_seen: dict[str, list[datetime]] = defaultdict(list)
        for row in [*self.dump.hypotheses, *self.dump.edges]:
            if row.run:
                runs_seen[row.run].append(row.created)
        existing_runs = set(
            self.study.hypothesis_runs.exclude(external_id="").values_list("external_id", flat=True)
        )
        new_runs = [
            HypothesisRun(
                study=self.study,
                external_id=run,
                started_at=min(times),
                finished_at=max(times),
            )
            for run, times in sorted(runs_seen.items())
            if run not in existing_runs
        ]
        HypothesisRun.objects.bulk_create(new_runs)
        self._tally("hypothesis runs", len(new_runs), len(runs_seen) - len(new_runs))
        runs = {r.external_id: r for r in self.study.hypothesis_runs.exclude(external_id="")}

        # edgeHypothesis.json first (the stories as written), then the earliest judgment of
        # each story that is no longer there.
        wanted: dict[tuple[int, int, str], tuple[_Hypothesis | _Edge, bool]] = {}
        for row in self.dump.hypotheses:
            key = (row.from_id, row.to_id, row.context)
            if key not in wanted:
                wanted[key] = (row, True)
        from_edges = 0
        for row in sorted(self.dump.edges, key=lambda e: (e.created, e.row)):
            key = (row.from_id, row.to_id, row.context)
            if key not in wanted:
                wanted[key] = (row, False)
                from_edges += 1

        existing = {
            (h.from_value_id, h.to_value_id, h.context_id): h for h in self.study.hypotheses.all()
        }
        new = []
        for (from_id, to_id, context), (row, active) in wanted.items():
            from_value, to_value = self.values[from_id], self.values[to_id]
            context_row = self.contexts[context]
            if (from_value.pk, to_value.pk, context_row.pk) in existing:
                continue
            new.append(
                UpgradeHypothesis(
                    study=self.study,
                    from_value=from_value,
                    to_value=to_value,
                    context=context_row,
                    story=row.story,
                    run=runs.get(row.run) if row.run else None,
                    is_active=active,
                    external_id=f"{from_id}:{to_id}",
                    created_at=row.created,
                )
            )
        UpgradeHypothesis.objects.bulk_create(new, batch_size=BATCH)
        self._tally("hypotheses", len(new), len(wanted) - len(new))
        if from_edges:
            self.report.notes.append(
                f"{from_edges} hypotheses are known only from edge.json and were imported "
                "as retired"
            )
        self.hypotheses = {
            (h.from_value_id, h.to_value_id, h.context_id): h for h in self.study.hypotheses.all()
        }

    def _judgments(self) -> None:
        edges = sorted(self.dump.edges, key=lambda e: (e.created, e.row))
        existing = set(
            WiserJudgment.objects.filter(participant__study=self.study).values_list(
                "participant_id", "hypothesis_id"
            )
        )
        seen_pairs: Counter = Counter()
        new = []
        repeats = 0
        for e in edges:
            participant = self.participants[e.user]
            from_value, to_value = self.values[e.from_id], self.values[e.to_id]
            hypothesis = self.hypotheses[(from_value.pk, to_value.pk, self.contexts[e.context].pk)]
            base = WiserJudgment.make_pair_key(from_value.pk, to_value.pk)
            seen_pairs[(participant.pk, base)] += 1
            n = seen_pairs[(participant.pk, base)]
            if n > 1:
                repeats += 1
            if (participant.pk, hypothesis.pk) in existing:
                continue
            new.append(
                WiserJudgment(
                    participant=participant,
                    hypothesis=hypothesis,
                    pair_key=base if n == 1 else f"{base}#{n}",
                    verdict=e.verdict,
                    reason=e.comment or "",
                    external_id=f"{e.user}:{e.from_id}:{e.to_id}",
                    created_at=e.created,
                )
            )
            if len(new) % 10000 == 0:
                self.say(f"judgments: {len(new)} of {len(edges)} prepared")
        WiserJudgment.objects.bulk_create(new, batch_size=BATCH)
        self._tally("judgments", len(new), len(edges) - len(new))
        if repeats:
            self.report.notes.append(
                f"{repeats} judgments repeat a pair the same participant had judged the other "
                "way round; kept, with pair_key suffixed #2"
            )
        no_comment = sum(e.comment is None for e in edges)
        if no_comment:
            self.report.notes.append(f"{no_comment} judgments have no comment")

    def _draws(self, kind: str, model: type, rows: list[_Draw]) -> None:
        imported = set(
            model.objects.filter(participant__study=self.study)
            .exclude(external_id="")
            .values_list("external_id", flat=True)
        )
        taken = set(
            model.objects.filter(participant__study=self.study).values_list(
                "participant_id", "value_id", "question_id"
            )
        )
        new = []
        already = repeats = 0
        for d in sorted(rows, key=lambda d: (d.created, d.row)):
            if str(d.id) in imported:
                already += 1
                continue
            participant = self.participants[d.user]
            value, question = self.values[d.value], self.questions[d.case]
            key = (participant.pk, value.pk, question.pk)
            if key in taken:
                # The same value shown to (or picked by) the same participant for the same
                # question in a later draw: one row here, the first.
                repeats += 1
                continue
            taken.add(key)
            new.append(
                model(
                    participant=participant,
                    value=value,
                    question=question,
                    draw_id=d.draw[:64],
                    external_id=str(d.id),
                    created_at=d.created,
                )
            )
        model.objects.bulk_create(new, batch_size=BATCH)
        self._tally(kind, len(new), already)
        if repeats:
            self.report.notes.append(
                f"{repeats} {kind} repeat a participant, value and question of an earlier "
                "row and were skipped"
            )

    def _demographics(self) -> None:
        existing = set(
            Demographics.objects.filter(participant__study=self.study).values_list(
                "participant_id", flat=True
            )
        )
        new = []
        for d in self.dump.demographics:
            participant = self.participants[d.user]
            if participant.pk in existing:
                continue
            new.append(
                Demographics(
                    participant=participant,
                    political_affiliation=_politics(d.politics),
                    age_band=_age_band(d.age),
                    sex=d.sex or "",
                    extra={"usPoliticalAffiliation": d.politics} if d.politics else {},
                )
            )
        Demographics.objects.bulk_create(new, batch_size=BATCH)
        self._tally("demographics", len(new), len(self.dump.demographics) - len(new))

    def _link_contexts(self) -> None:
        # A value belongs to the questions its cards, votes and impressions were about.
        value_questions: dict[int, set[int]] = defaultdict(set)
        for card in self.dump.cards:
            case_id = self.dump.chats.get(card.chat, (None, None))[1] if card.chat else None
            if card.canonical is not None and case_id is not None:
                value_questions[card.canonical].add(self.questions[case_id].pk)
        for d in [*self.dump.votes, *self.dump.impressions]:
            value_questions[d.value].add(self.questions[d.case].pk)
        links: set[tuple[int, int]] = set()
        for row in [*self.dump.hypotheses, *self.dump.edges]:
            context = self.contexts[row.context]
            for value_id in (row.from_id, row.to_id):
                links.update((context.pk, q) for q in value_questions[value_id])
        through = Context.questions.through
        existing = set(
            through.objects.filter(context__study=self.study).values_list(
                "context_id", "question_id"
            )
        )
        new = [through(context_id=c, question_id=q) for c, q in sorted(links - existing)]
        through.objects.bulk_create(new)
        self._tally("context-question links", len(new), len(links) - len(new))


def _set_updated_at(model: type, times: dict[int, datetime]) -> None:
    items = sorted(times.items())
    for start in range(0, len(items), BATCH):
        chunk = dict(items[start : start + BATCH])
        model.objects.filter(pk__in=chunk).update(
            updated_at=Case(*(When(pk=pk, then=t) for pk, t in chunk.items()))
        )


_POLITICS = {
    "democrat": Demographics.Politics.DEMOCRAT,
    "republican": Demographics.Politics.REPUBLICAN,
    "independent": Demographics.Politics.INDEPENDENT,
    "prefer not to say": Demographics.Politics.PREFER_NOT,
}


def _politics(raw: str | None) -> str:
    if not raw or not raw.strip():
        return ""
    return _POLITICS.get(raw.strip().lower(), Demographics.Politics.OTHER)


def _age_band(age: int | None) -> str:
    if age is None:
        return ""
    for upper, band in ((24, "18-24"), (34, "25-34"), (44, "35-44"), (54, "45-54"), (64, "55-64")):
        if age <= upper:
            return band if age >= 18 else ""
    return "65+"
