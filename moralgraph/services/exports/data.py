"""What every export reads: one snapshot and the study rows around it, loaded once.

Ids in exports are strings of our primary keys, as in the snapshot's results; participants
appear only by their random ``public_id``. Everything is ordered by id (or by the order
the snapshot gives), so the same database state and snapshot give the same bytes.
"""

from __future__ import annotations

import csv
import gc
import io
import queue
import re
import threading
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from itertools import islice
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import CharField, Count, Exists, Func, OuterRef, Q

from elicitation import llm
from elicitation.models import (
    DemographicItem,
    Impression,
    LLMCall,
    Question,
    Selection,
    Study,
    SurveyAnswer,
    ValuesCard,
    WiserJudgment,
)
from elicitation.selectors import counted_cards, counted_participants, participant_groups
from moralgraph import selectors
from moralgraph.graph.payload import ScoredGraph
from moralgraph.models import (
    CardMapping,
    Context,
    GraphSnapshot,
    UpgradeHypothesis,
    Value,
    ValueMerge,
)
from moralgraph.services import scoring


class ExportData:
    """One snapshot of a study and the rows its exports describe."""

    def __init__(self, *, study: Study, snapshot: GraphSnapshot, as_of: datetime | None = None):
        self.study = study
        self.snapshot = snapshot
        # Results read back from PostgreSQL's jsonb come with their keys reordered, fresh
        # ones in the order scoring built them: sort every object's keys so that both
        # export alike.
        self.results: dict = canonical(snapshot.results)
        self.mode: str = snapshot.mode
        # The as_of asked for: a stored snapshot of the same inputs may carry another one.
        self.as_of = as_of

    @cached_property
    def graph(self) -> ScoredGraph:
        """The same results, typed: what a format reads unless it copies the JSON as is
        (built on first use: a third of a second at 200,000 judgments, for the training
        formats only)."""
        return ScoredGraph.from_json(self.results)

    def before(self, field: str = "created_at") -> Q:
        """Rows made before the snapshot's as_of (every row when there is none)."""
        return Q() if self.as_of is None else Q(**{f"{field}__lt": self.as_of})

    # --- The graph ---------------------------------------------------------------------

    @cached_property
    def roots(self) -> dict[int, int]:
        return selectors.value_roots(self.study)

    @cached_property
    def scored_value_ids(self) -> set[str]:
        if self.mode == GraphSnapshot.Mode.COMPAT:
            ids = set()
            for pair in self.results.get("all_pairs", []):
                ids.add(pair["sourceValueId"])
                ids.add(pair["wiserValueId"])
            return ids
        return {v["id"] for v in self.results.get("values", [])}

    @cached_property
    def hidden_value_ids(self) -> set[int]:
        """Values moderation keeps out (moralgraph.selectors.moderated_value_ids)."""
        return selectors.moderated_value_ids(self.study)

    @cached_property
    def hidden_or_merged_into_hidden(self) -> frozenset[int]:
        hidden = self.hidden_value_ids
        return frozenset(hidden | {v for v, root in self.roots.items() if root in hidden})

    def is_hidden(self, value_id) -> bool:
        """Is this value, or the value it was merged into, out of the graph by moderation?
        (Asked for each row of the largest tables: one set lookup.)"""
        return int(value_id) in self.hidden_or_merged_into_hidden

    @cached_property
    def values(self) -> dict[str, Value]:
        """The study's active values made before as_of, and every value the snapshot scored;
        never one that moderation hid. A value whose every card is uncounted (a test
        participant's, say) is left out unless scored: only counted cards bring a value
        into an export."""
        scored = self.scored_value_ids
        uncounted_only = self._uncounted_only
        values = {}
        for value in Value.objects.filter(study=self.study).order_by("pk").iterator():
            if self.is_hidden(value.pk):
                continue
            made = self.as_of is None or value.created_at < self.as_of
            if str(value.pk) in scored or (
                value.is_active and made and value.pk not in uncounted_only
            ):
                values[str(value.pk)] = value
        return values

    @cached_property
    def _uncounted_only(self) -> set[int]:
        """Values with cards, none of them counted (elicitation.selectors.counted_cards)."""
        mapped = CardMapping.objects.filter(value__study=self.study, undone_at=None)
        counted = mapped.filter(card__in=counted_cards(self.study).values("pk"))

        def with_roots(rows) -> set[int]:
            # A card mapped to a value merged away counts toward the value it merged into.
            # Each value once, from the database: not a row per card.
            ids = set(rows.order_by().values_list("value_id", flat=True).distinct())
            return ids | {self.roots[i] for i in ids if i in self.roots}

        return with_roots(mapped) - with_roots(counted)

    @cached_property
    def contexts(self) -> dict[str, Context]:
        """Contexts the snapshot scored, by id."""
        if self.mode == GraphSnapshot.Mode.COMPAT:
            ids = {c for pair in self.results.get("all_pairs", []) for c in pair["contexts"]}
        else:
            ids = {c["context_id"] for c in self.results.get("contexts", [])}
        rows = Context.objects.filter(study=self.study, pk__in=[int(i) for i in ids])
        return {str(c.pk): c for c in rows.order_by("pk")}

    @cached_property
    def questions(self) -> list[Question]:
        return list(Question.objects.filter(study=self.study).order_by("position", "pk"))

    @cached_property
    def question_links(self) -> dict[str, list[str]]:
        """Question ids per scored context, from the recorded links only (no fallback)."""
        through = Context.questions.through
        links: dict[str, list[str]] = defaultdict(list)
        rows = through.objects.filter(context_id__in=[int(c) for c in self.contexts])
        for context_id, question_id in rows.order_by("context_id", "question_id").values_list(
            "context_id", "question_id"
        ):
            links[str(context_id)].append(str(question_id))
        return dict(links)

    @cached_property
    def context_questions(self) -> dict[str, list[str]]:
        """Question ids per scored context; a context tied to no question applies to all."""
        every = [str(q.pk) for q in self.questions]
        return {c: self.question_links.get(c) or every for c in self.contexts}

    @cached_property
    def card_counts(self) -> dict[str, int]:
        """Counted cards that count toward each value now (through merges)."""
        rows = (
            CardMapping.objects.filter(value__study=self.study, undone_at=None)
            .filter(card__in=counted_cards(self.study).values("pk"))
            .filter(self.before("card__created_at"))
            .values("value_id")
            .annotate(n=Count("card_id", distinct=True))
        )
        counts: Counter = Counter()
        for row in rows:
            counts[str(self.roots.get(row["value_id"], row["value_id"]))] += row["n"]
        return dict(counts)

    @cached_property
    def stories(self) -> selectors.EdgeStories:
        return selectors.EdgeStories(self.study)

    def story(self, from_id: str, to_id: str, context_id: str) -> str | None:
        """The story shown for an edge (moralgraph.selectors.EdgeStories has the rule)."""
        found = self.stories.for_edge(context_id, from_id, to_id)
        return found.text if found else None

    @cached_property
    def reference_ids(self) -> dict[str, int] | None:
        """Value id -> the reference's id, when every value of the study was imported with one
        (values left out of the export, such as a test participant's, are not asked)."""
        pairs = ((pk, value.external_id) for pk, value in self.values.items())
        mapping = {}
        for pk, external_id in pairs:
            if not external_id.isdigit():
                return None
            mapping[str(pk)] = int(external_id)
        if not mapping or len(set(mapping.values())) != len(mapping):
            return None
        return mapping

    # --- Participants and their groups --------------------------------------------------

    @cached_property
    def demographic_items(self) -> list[DemographicItem]:
        """The "About you" items the study asked, in its order."""
        return list(DemographicItem.objects.filter(study=self.study).order_by("position", "pk"))

    @cached_property
    def participants(self) -> list[dict[str, Any]]:
        """Every participant with a row in the export (made before as_of): their random
        id, question, answers to the study's items, group, whether they count. Never a
        recruiter id. Subqueries, not a list of ids: a large study's ids would pass the
        database's limit on query parameters."""
        before = self.before()

        def made(model: type) -> Exists:
            return Exists(model.objects.filter(before, participant=OuterRef("pk")))

        keys = [item.key for item in self.demographic_items]
        groups = participant_groups(self.study)
        counted = set(counted_participants(self.study).values_list("pk", flat=True))
        # Test participants never leave the study; an abandoned one's rows do, marked.
        rows = (
            counted_participants(self.study, include_abandoned=True)
            .filter(
                made(WiserJudgment)
                | made(Selection)
                | made(Impression)
                | made(ValuesCard)
                | made(SurveyAnswer)
            )
            .order_by("pk")
            .annotate(public=UuidText("public_id"))
            .values_list("pk", "public", "question_id", "completed_at", "demographics__answers")
        )
        out = []
        # The answers as the driver gives them, JSON text, read with orjson: Django's own
        # reading of 66,000 of them was a tenth of a large study's CSV export.
        for pk, public_id, question, completed, answers in raw_rows(rows):
            answers = orjson.loads(answers) if answers is not None else {}
            answers = answers if isinstance(answers, dict) else {}
            out.append(
                {
                    "pk": pk,
                    "id": public_id,
                    "question_id": None if question is None else str(question),
                    "completed": completed is not None,
                    "answers": {k: answers[k] for k in keys if answers.get(k) not in (None, "")},
                    "group": groups.get(pk),
                    "counted": pk in counted,
                }
            )
        return out

    @cached_property
    def group_votes(self) -> dict[tuple[str, str, str], dict[str, dict[str, int]]]:
        """Per scored edge (context, from, to as the snapshot orients it), the votes of each
        of the study's groups: upgrade for to_id, no_upgrade for from_id, not_sure. From the
        judgments scoring read; unlabelled participants count in no group."""
        # Counted by (context, from, to, group, verdict) in one pass of Counter's C loop,
        # then spread over both orientations: per judgment, as this once did, it was a
        # quarter of the graph-json export's time at 200,000 judgments.
        tally = Counter(
            (context_id, from_id, to_id, group, verdict)
            for from_id, to_id, context_id, verdict, group, _ in scoring.judgment_rows(
                self.study, as_of=self.as_of
            )
            if group is not None
        )
        votes: dict[tuple[str, str, str], dict[str, Counter]] = defaultdict(
            lambda: defaultdict(Counter)
        )
        flip = {"upgrade": "no_upgrade", "no_upgrade": "upgrade", "not_sure": "not_sure"}
        for (context_id, from_id, to_id, group, verdict), n in tally.items():
            votes[(context_id, from_id, to_id)][group][verdict] += n
            # The same judgments seen from the edge oriented the other way round.
            votes[(context_id, to_id, from_id)][group][flip[verdict]] += n
        return {
            key: {
                group: {v: counts[v] for v in ("upgrade", "no_upgrade", "not_sure")}
                for group, counts in sorted(by_group.items())
            }
            for key, by_group in votes.items()
        }

    # --- Provenance --------------------------------------------------------------------

    @cached_property
    def provenance(self) -> dict[str, Any]:
        """How the snapshot's graph was made, keyed by the snapshot: rows made before its
        as_of (or before it was scored), and no export-stage calls (training responses
        are written for exports, after the graph), so that a later training run or card
        never changes the exports of this snapshot."""
        moment = self.as_of or self.snapshot.created_at
        cut = Q(created_at__lt=moment)
        export_stages = [s.name for s in llm.STAGES if s.phase == llm.EXPORT]
        calls = (
            LLMCall.objects.filter(study=self.study, error="")
            .exclude(stage__in=export_stages)
            .filter(cut)
            .values("stage", "model", "prompt_name", "prompt_version")
            .annotate(calls=Count("id"))
            .order_by("stage", "model", "prompt_name", "prompt_version")
        )
        merges = (
            ValueMerge.objects.filter(study=self.study)
            .filter(Q(undone_at=None) | Q(undone_at__gte=moment), cut)
            .values("decided_by", "model", "prompt_version")
            .annotate(merges=Count("id"))
            .order_by("decided_by", "model", "prompt_version")
        )
        stories = (
            UpgradeHypothesis.objects.filter(study=self.study)
            .filter(cut)
            .values("model", "prompt_version")
            .annotate(stories=Count("id"))
            .order_by("model", "prompt_version")
        )
        wording = (
            Value.objects.filter(pk__in=[int(i) for i in self.values])
            .values("wording_source")
            .annotate(values=Count("id"))
            .order_by("wording_source")
        )
        return {
            "llm_calls": list(calls),
            "merges": list(merges),
            "stories": list(stories),
            "value_wording": {row["wording_source"]: row["values"] for row in wording},
        }

    # --- Small shared helpers ----------------------------------------------------------

    def snapshot_header(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "params": canonical(self.snapshot.params),
            "input_hash": self.snapshot.input_hash,
            "as_of": iso(self.as_of),
            "created_at": iso(self.snapshot.created_at),
            "judgment_count": self.snapshot.judgment_count,
        }

    def value_title(self, value_id: str) -> str:
        value = self.values.get(value_id)
        return value.title if value else f"value {value_id}"


_collector_lock = threading.Lock()
_collector_pauses = 0
_collector_was_on = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while an export is written, on again after.

    An export makes millions of short-lived rows and cells: each allocation counts toward
    the collector's next pass, and its full passes walk every object alive, the export's
    loaded study included; about a tenth of a large CSV's time went there. The rows hold
    no cycles (reference counting frees them), so nothing is kept longer. Counted, so that
    exports written at once in threads of one process turn it on again only when the
    last one ends, and only if it was on."""
    global _collector_pauses, _collector_was_on
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_on = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_on:
                gc.enable()


@contextmanager
def one_reading(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """An export's reads in one transaction, on PostgreSQL, for speed: outside a
    transaction Django declares its server-side cursors (``raw_rows``) WITH HOLD, and
    PostgreSQL then computes and stores a query's every row before handing over the
    first; inside one, rows stream. And JIT compilation is off for these reads: the
    largest tables' queries cost enough by the planner's estimate to be compiled, which
    took longer than it saved (about 0.7 s of a 200,000-judgment study's CSV export).
    Not on SQLite, where a transaction begins IMMEDIATE (config.settings): it would hold
    the write lock, and every participant's request, for the whole export."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        yield


def canonical(obj: Any) -> Any:
    """``obj`` with every object's keys sorted, recursively (a round trip through orjson:
    twice as fast as walking it in Python, for a snapshot of 200,000 dicts)."""
    # A snapshot just scored holds what scoring built, not yet read back from JSON: numpy
    # numbers are read as plain ones.
    return orjson.loads(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY))


def raw_rows(queryset, *, chunk_size: int = 5000) -> Iterator[tuple]:
    """The rows of a ``values_list`` queryset as the database driver gives them, in
    chunks (a server-side cursor on PostgreSQL), skipping Django's per-value converters.

    For the largest tables (judgments, draws): the converters cost more than the rest
    of the CSV together. Only for columns whose raw value reads the same: numbers, text,
    booleans used as conditions; times as ``IsoTime`` text."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows


class UuidText(Func):
    """A public id as text ("1b4e28ba-2fa1-41d2-883f-0016d3cca427"), written by the
    database: the largest tables' rows then need no Python (``table_csv``), and no UUID
    is made per participant to be turned back into text. PostgreSQL has a uuid type;
    Django stores one in SQLite as its 32 hex digits."""

    output_field = CharField()
    SQLITE = (
        "SUBSTR(%(expressions)s, 1, 8) || '-' || SUBSTR(%(expressions)s, 9, 4) || '-' || "
        "SUBSTR(%(expressions)s, 13, 4) || '-' || SUBSTR(%(expressions)s, 17, 4) || '-' || "
        "SUBSTR(%(expressions)s, 21)"
    )
    POSTGRESQL = "CAST(%(expressions)s AS text)"

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=self.SQLITE)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=self.POSTGRESQL)


class Unindexed(Func):
    """A column that SQLite's planner must not look up by its index ("+column"): for a
    large table read whole in id order (``table_csv``), where SQLite otherwise drives the
    read from an ``IN`` on an indexed column and sorts every row afterwards (a 266,668-row
    impressions table: 0.37 s with the sort, 0.22 s without). PostgreSQL plans these well:
    there, the column as it is."""

    template = "%(expressions)s"

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="+%(expressions)s")


class IsoTime(Func):
    """A time column as ``iso`` writes it ("2024-03-01T10:00:00.250000Z"; no fraction when it is
    whole), written by the database: reading 666,000 times of a 200,000-judgment study's
    tables as datetimes and writing them back out cost about a fifth of its CSV export
    (Django's SQLite converter parses each with a regular expression; on PostgreSQL its
    loader is in Python too). Tested against ``iso`` on both databases."""

    output_field = CharField()
    # Django stores a time in SQLite as text, in UTC: "2024-03-01 10:00:00.250000".
    SQLITE = "REPLACE(%(expressions)s, ' ', 'T') || 'Z'"
    POSTGRESQL = (
        "TO_CHAR(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        "CASE WHEN TO_CHAR(%(expressions)s, 'US') = '000000' THEN '' "
        "ELSE TO_CHAR(%(expressions)s, '.US') END || 'Z'"
    )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=self.SQLITE)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=self.POSTGRESQL)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not UTC:  # rows come back in UTC already: no conversion then
        moment = moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


# orjson writes what the standard encoder would (UTF-8, keys in the order built), at C
# speed with the indent: the standard one falls back to pure Python when indenting, which
# was a third of the graph-json export's time. Floats are written in their shortest exact
# form (0.00009175 rather than 9.175e-05); a NaN or infinity, which scoring never stores
# (PostgreSQL's jsonb refuses them), would go out as null.
_JSON = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY


def json_bytes(document: Any) -> bytes:
    """JSON as exports write it: UTF-8, indented, keys in the order built, a final newline."""
    return orjson.dumps(document, option=_JSON)


def jsonl_bytes(rows: list[dict]) -> bytes:
    option = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
    return b"".join(orjson.dumps(row, option=option) for row in rows)


# A text cell that a spreadsheet would run as a formula: one starting with =, +, -, @, a
# tab or a carriage return (OWASP's list). Numbers keep their sign: "-0.25" is data.
_FORMULA_FIRST = frozenset("=+-@\t\r")
# Only ASCII digits make a number ("-٣" gets its apostrophe), as in the same rule in
# PostgreSQL (``table_csv``), whose \d would depend on the locale.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell that a spreadsheet shows and never runs: formula-like text
    gets a leading apostrophe (OWASP's rule); anything else is unchanged, except that line
    breaks inside text are written as \n (csv quotes a cell holding \n, but not one
    holding a lone \r, which readers then take for the end of the row)."""
    if value.__class__ is not str:
        return value
    if value[:1] in _FORMULA_FIRST and not _NUMBER.fullmatch(value):
        value = "'" + value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _maybe_unsafe(text: str) -> bool:
    """Might a cell of this written CSV need ``safe_cell``? A cell starts the text or
    follows a comma or a line break, after csv's opening quote when it quotes the cell; a
    carriage return can only be inside a cell (rows end in \n). Every such cell is found,
    and some harmless ones too (a comma and a minus inside a quoted text, a negative
    number): the caller then writes the rows again cell by cell, so the bytes never depend
    on this shortcut. Substring searches (memchr and friends), not a regular expression,
    which took ten times longer: "-" is in every id and time, the others are rare."""
    if "\r" in text:
        return True
    for c in "=+@\t":
        if c in text and (text[0] == c or "," + c in text or "\n" + c in text or '"' + c in text):
            return True
    return text[:1] == "-" or ",-" in text or "\n-" in text or '"-' in text


CSV_CHUNK = 5000


def csv_bytes(header: list[str], rows: Iterable, *, plain: Iterable[int] = ()) -> bytes:
    """A CSV table; every CSV the app writes goes through here, so every cell is made
    safe to open in a spreadsheet (``safe_cell``).

    Rows are written by csv's C writer a chunk at a time and the chunk's text searched
    once (``_maybe_unsafe``): a large table's rows (hundreds of thousands) need no Python
    per row, unless the caller transforms them. ``plain``: positions of cells the app
    itself writes and that can never look like a formula (ids, public ids, ISO times,
    numbers); a chunk written again cell by cell looks only at the others."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(cell) for cell in header])
    plain = set(plain)
    looked_at = [i for i in range(len(header)) if i not in plain]
    first = _FORMULA_FIRST
    chunk_buffer = io.StringIO()
    chunk_writer = csv.writer(chunk_buffer, lineterminator="\n")
    rows = iter(rows)
    while chunk := list(islice(rows, CSV_CHUNK)):
        chunk_buffer.seek(0)
        chunk_buffer.truncate()
        chunk_writer.writerows(chunk)
        text = chunk_buffer.getvalue()
        if not _maybe_unsafe(text):
            buffer.write(text)
            continue
        for row in chunk:
            for i in looked_at:
                cell = row[i]
                if cell.__class__ is str and (cell[:1] in first or "\r" in cell):
                    row = [safe_cell(cell) for cell in row]
                    break
            writer.writerow(row)
    return buffer.getvalue().encode()


def table_csv(header: list[str], queryset, *, plain: Iterable[int] = ()) -> bytes:
    """``csv_bytes(header, raw_rows(queryset), plain=plain)``, byte for byte; on
    PostgreSQL written by the database itself (``COPY ... TO STDOUT``), with ``safe_cell``
    in SQL on every cell but the plain ones: no row comes into Python. For the largest
    tables (a 200,000-judgment study's judgments, selections and impressions: 600,000
    rows), whose reading and writing row by row was most of the CSV export's time; the
    database writes them on a core of its own while this process reads. Tested against
    ``csv_bytes`` with generated text.

    The queryset's cells must be text, numbers or NULL."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return csv_bytes(header, raw_rows(queryset), plain=plain)
    plain = set(plain)
    columns = [f"c{i}" for i in range(len(header))]
    cells = ", ".join(c if i in plain else _safe_cell_sql(c) for i, c in enumerate(columns))
    sql, params = queryset.query.sql_with_params()
    blocks = [csv_bytes(header, ())]  # the header line, as every CSV writes it
    with connection.cursor() as cursor:
        # COPY takes no parameters: the query with its values in it, as Django itself
        # sends it (client-side binding); nothing else is ours but column names. The
        # subquery's ordering stands: PostgreSQL flattens it into the outer query.
        query = cursor.mogrify(sql, params)
        select = f"SELECT {cells} FROM ({query}) AS t({', '.join(columns)}) ORDER BY c0"  # noqa: S608
        statement = f"COPY ({select}) TO STDOUT WITH (FORMAT csv)"
        with cursor.copy(statement) as copy:
            blocks.extend(bytes(block) for block in copy)
    return b"".join(blocks)


def _safe_cell_sql(column: str) -> str:
    """``safe_cell`` in PostgreSQL. csv writes an empty text as it writes a missing one,
    unquoted; COPY quotes an empty text to tell it from NULL: NULLIF makes it NULL."""
    x = f"NULLIF(CAST({column} AS text), '')"
    return (
        f"REPLACE(REPLACE(CASE WHEN LEFT({x}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') "
        f"AND {x} !~ '^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?$' "
        f"THEN '''' || {x} ELSE {x} END, E'\\r\\n', E'\\n'), E'\\r', E'\\n')"
    )


# Deflate's fastest level: about a fifth of level 6's time on the CSV tables, for files
# a little larger (the tables of a 200k-judgment study: seconds saved, a few MB more).
ZIP_LEVEL = 1


def zip_bytes(files: Iterable[tuple[str, bytes]], moment: datetime) -> bytes:
    """A zip whose bytes depend only on the files and ``moment`` (every entry's time).

    Each file is deflated in a thread while the caller makes the next one (``files`` may
    be a generator): zlib lets go of the interpreter while it works, so a large CSV
    export's half-second of deflating overlaps writing its tables."""
    stamp = moment.astimezone(UTC).timetuple()[:6]
    stamp = max(stamp, (1980, 1, 1, 0, 0, 0))
    buffer = io.BytesIO()
    made: queue.SimpleQueue = queue.SimpleQueue()
    failed: list[BaseException] = []

    def deflate() -> None:
        try:
            with zipfile.ZipFile(buffer, "w") as archive:
                while (file := made.get()) is not None:
                    name, content = file
                    info = zipfile.ZipInfo(name, date_time=stamp)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.create_system = 3  # Unix, whatever machine wrote it
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, content, compresslevel=ZIP_LEVEL)
        except BaseException as error:  # raised again in the caller's thread
            failed.append(error)

    worker = threading.Thread(target=deflate, name="zip-deflate", daemon=True)
    worker.start()
    try:
        for file in files:
            if failed:
                break
            made.put(file)
    finally:
        made.put(None)
        worker.join()
    if failed:
        raise failed[0]
    return buffer.getvalue()
