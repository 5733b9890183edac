"""bench/export.py on PostgreSQL: a database of its own, created, analyzed, exported from
and dropped; one that exists already is refused and left alone (small, so the suite stays
quick; the figures themselves are read by hand)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from moralgraph.services.exports import FORMATS

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _server() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"


def _exists(name: str) -> bool:
    with psycopg.connect(f"{_server()}/postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return found.fetchone() is not None


def _bench(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "export.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_it_builds_exports_and_drops_a_database_of_its_own():
    name = f"mge_test_bench_export_{os.getpid()}"
    assert not _exists(name)
    done = _bench("--judgments", "600", "--database-url", f"{_server()}/{name}")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["database"] == "postgresql" and result["judgments"] == 600
    supported = {"reference-json", "graph-json", "graphml", "gexf", "csv", "constitution-md"}
    assert set(result["formats"]) == supported and supported <= set(FORMATS)
    assert all(f["bytes"] > 0 and f["seconds"] >= 0 for f in result["formats"].values())
    assert not _exists(name)


def test_a_database_that_exists_is_refused_and_left_alone():
    name = connection.settings_dict["NAME"]  # this run's own test database
    done = _bench("--judgments", "600", "--database-url", f"{_server()}/{name}")
    assert done.returncode == 2
    assert "exists already" in done.stderr
    assert _exists(name)


def test_a_database_url_that_is_not_postgresql_is_refused():
    done = _bench("--judgments", "600", "--database-url", "sqlite:////tmp/bench.sqlite3")
    assert done.returncode == 2
    assert "must be postgres://" in done.stderr
