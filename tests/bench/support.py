"""What the tests of the benchmarks that run as scripts share: a PostgreSQL database of
the run's own beside the test database, the script run in a process of its own, and what
it left in the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def database_url(prefix: str) -> str:
    """A database named for this test run, on the test database's server."""
    from django.db import connection

    db = connection.settings_dict
    return (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{prefix}_{os.getpid()}"
    )


def run(script: str, *args: str) -> dict:
    """Run ``bench/<script>``; its figures (the last line's JSON)."""
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def studies_and_participants_left(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM elicitation_study),"
            " (SELECT count(*) FROM elicitation_participant)"
        ).fetchone()


def drop(url: str) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from _database import drop_postgres_database

    drop_postgres_database(url)
