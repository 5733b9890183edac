"""The JSON every export writes (json_bytes, jsonl_bytes) and canonical key order: read
back by the standard library as the same document, floats exact, text unescaped. Times
written by the database (IsoTime) as ``iso`` writes them, on PostgreSQL and SQLite."""

import gc
import json
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from elicitation.models import Participant
from moralgraph.services.exports.data import (
    IsoTime,
    Unindexed,
    UuidText,
    canonical,
    collector_paused,
    iso,
    json_bytes,
    jsonl_bytes,
    one_reading,
)
from tests import factories

# What a snapshot's results hold: text, whole numbers, finite floats, booleans, nulls,
# nested in lists and objects.
SCALARS = (
    st.text()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(DOCUMENTS)
def test_json_bytes_reads_back_as_the_same_document(document):
    content = json_bytes(document)
    assert content.endswith(b"\n")
    assert json.loads(content) == document


@given(st.lists(st.dictionaries(st.text(), SCALARS, max_size=4), max_size=5))
def test_jsonl_bytes_is_one_document_a_line(rows):
    lines = jsonl_bytes(rows).decode().split("\n")
    assert lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == rows


def test_json_bytes_indents_keeps_key_order_and_writes_text_as_is():
    document = {"title": "Écoute — 傾聴", "b": [1, 0.1], "a": {"z": None, "y": True}}
    assert json_bytes(document).decode() == (
        "{\n"
        '  "title": "Écoute — 傾聴",\n'
        '  "b": [\n'
        "    1,\n"
        "    0.1\n"
        "  ],\n"
        '  "a": {\n'
        '    "z": null,\n'
        '    "y": true\n'
        "  }\n"
        "}\n"
    )
    # Script in text stays text: escaped as JSON needs, never changed otherwise.
    assert json.loads(json_bytes({"t": '</script><b>"x"</b>'})) == {"t": '</script><b>"x"</b>'}


def test_a_float_goes_out_in_its_shortest_exact_form():
    content = json_bytes({"strength": -9.175233482194716e-05})
    assert json.loads(content)["strength"] == -9.175233482194716e-05
    # JSON has no NaN: one would go out as null, never as invalid JSON.
    assert json.loads(json_bytes({"share": float("nan")})) == {"share": None}


def test_canonical_sorts_every_objects_keys_and_keeps_list_order():
    document = {"b": [{"z": 1, "a": 2}, 3], "a": {"y": {"d": 1, "c": 2}}}
    assert json.dumps(canonical(document)) == json.dumps(document, sort_keys=True)
    assert canonical(document) == document
    # What scoring builds may hold numpy numbers before it is stored: plain ones come out.
    read = canonical({"share": np.float64(0.25), "n": np.int64(3)})
    assert read == {"n": 3, "share": 0.25} and type(read["share"]) is float


# Times with and without a fraction, at the edges of a second, a day and a year.
TIMES = [
    datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC),
    datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC),
    datetime(2024, 3, 1, 10, 0, 0, 1, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 2, 29, 0, 0, 0, 500, tzinfo=UTC),
    # Given in another zone: written in UTC.
    datetime(2024, 7, 1, 1, 30, 5, 120000, tzinfo=ZoneInfo("Europe/Helsinki")),
]


@pytest.mark.django_db
def test_iso_time_in_the_database_writes_what_iso_writes():
    participant = factories.ParticipantFactory()
    for moment in TIMES:
        Participant.objects.filter(pk=participant.pk).update(created_at=moment)
        written = (
            Participant.objects.filter(pk=participant.pk)
            .annotate(at=IsoTime("created_at"))
            .values_list("at", flat=True)
            .get()
        )
        assert written == iso(moment)
    assert Participant.objects.annotate(at=IsoTime("completed_at")).first().at is None


def test_iso_time_in_sqlite_writes_what_iso_writes():
    """SQLite holds what Django stores there: the time in UTC, as text."""
    database = sqlite3.connect(":memory:")
    database.execute("CREATE TABLE t (at datetime)")
    for moment in TIMES:
        stored = str(moment.astimezone(UTC).replace(tzinfo=None))  # Django's SQLite format
        database.execute("DELETE FROM t")
        database.execute("INSERT INTO t VALUES (?)", [stored])
        sql = IsoTime.SQLITE % {"expressions": "at"}
        assert database.execute(f"SELECT {sql} FROM t").fetchone()[0] == iso(moment)


@pytest.mark.django_db
def test_uuid_text_in_the_database_writes_a_public_id_as_python_does():
    participant = factories.ParticipantFactory()
    written = (
        Participant.objects.filter(pk=participant.pk)
        .annotate(public=UuidText("public_id"))
        .values_list("public", flat=True)
        .get()
    )
    assert written == str(participant.public_id)


def test_uuid_text_in_sqlite_writes_a_public_id_as_python_does():
    """Django stores a UUID in SQLite as its 32 hex digits."""
    database = sqlite3.connect(":memory:")
    value = uuid.uuid4()
    sql = UuidText.SQLITE % {"expressions": "x"}
    database.execute("CREATE TABLE t (x char(32))")
    database.execute("INSERT INTO t VALUES (?)", [value.hex])
    assert database.execute(f"SELECT {sql} FROM t").fetchone()[0] == str(value)


def test_the_collector_is_paused_while_any_export_runs_and_only_if_it_was_on():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # another export at once (a thread of the same process)
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first one still runs
    assert gc.isenabled()
    gc.disable()  # someone else turned it off: an export leaves it off
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_comes_back_on_when_an_export_fails():
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_exports_from_threads_leave_the_collector_on():
    barrier = threading.Barrier(4)

    def export():
        with collector_paused():
            barrier.wait()  # every thread inside at once
        return gc.isenabled()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: export(), range(4)))
    assert gc.isenabled()


@pytest.mark.django_db(transaction=True)
def test_an_export_reads_in_one_transaction_without_jit_on_postgresql():
    assert not connection.in_atomic_block
    with one_reading():
        if connection.vendor == "postgresql":
            assert connection.in_atomic_block
            with connection.cursor() as cursor:
                cursor.execute("SHOW jit")
                assert cursor.fetchone()[0] == "off"
        else:  # SQLite's transactions take the write lock (IMMEDIATE): none for a read
            assert not connection.in_atomic_block
    assert not connection.in_atomic_block
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # only for the export's own transaction
            cursor.execute("SHOW jit")
            assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db
def test_unindexed_keeps_the_rows_and_on_sqlite_the_read_in_id_order():
    participants = [factories.ParticipantFactory() for _ in range(3)]
    wanted = Participant.objects.filter(pk__in=[p.pk for p in participants[:2]]).values("pk")
    plain = Participant.objects.filter(pk__in=wanted).order_by("pk")
    unindexed = Participant.objects.alias(by=Unindexed("id")).filter(by__in=wanted).order_by("pk")
    assert list(unindexed) == list(plain) == participants[:2]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            sql, params = unindexed.query.sql_with_params()
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(row[-1] for row in cursor.fetchall())
        assert "TEMP B-TREE" not in plan and "SCAN elicitation_participant" in plan
