"""A PostgreSQL database of a benchmark's own, named by a postgres:// URL: created when
missing and, for benchmarks that fill one from nothing, dropped afterwards; Django set up
on it in process, and a stored study removed again."""

from __future__ import annotations

from urllib.parse import urlsplit


def _admin(url: str) -> tuple[str, str]:
    """The URL of the server's ``postgres`` database, and the name in ``url``."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit("--database-url needs a database name")
    return parts._replace(path="/postgres", query="").geturl(), name


def ensure_postgres_database(url: str) -> bool:
    """Create the database named by ``url`` if it does not exist yet; True if created."""
    import psycopg
    from psycopg import sql

    admin, name = _admin(url)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created database {name}", flush=True)
            return True
    except psycopg.OperationalError as error:
        raise SystemExit(f"Cannot reach PostgreSQL for --database-url: {error}") from None


def drop_postgres_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))


def setup_django(url: str, *, name: str) -> None:
    """Django in this process on the database at ``url`` (a PostgreSQL one created when
    missing), migrated: the offline model, nothing queued, a temporary var folder. For
    the benchmarks that store a study and read it in process (scoring_db, draws)."""
    import os
    import tempfile

    if url.startswith("postgres"):
        ensure_postgres_database(url)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": url,
            "CELERY_BROKER_URL": "filesystem://",  # what the bench writes queues nothing
            "VAR_DIR": tempfile.mkdtemp(prefix=f"mge-bench-{name}-"),
            "LLM_MODEL": "offline",
            "EMBEDDING_MODEL": "",
            "LOG_LEVEL": "ERROR",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def remove_study(study) -> None:
    """Delete a study a bench stored, with what its cascade cannot reach: values,
    contexts, stories and the participants' questions are protected, so their children
    go first."""
    from elicitation.models import JudgmentAssignment, Participant, WiserJudgment
    from moralgraph.models import CardMapping, Context, GraphSnapshot, UpgradeHypothesis, Value

    for rows in (
        WiserJudgment.objects.filter(participant__study=study),
        JudgmentAssignment.objects.filter(participant__study=study),
        GraphSnapshot.objects.filter(study=study),
        UpgradeHypothesis.objects.filter(study=study),
        CardMapping.objects.filter(value__study=study),
        Context.objects.filter(study=study),
        Value.objects.filter(study=study),
        Participant.objects.filter(study=study),
    ):
        rows.delete()
    study.delete()
