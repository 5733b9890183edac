"""A PostgreSQL database of a benchmark's own, named by a postgres:// URL: created when
missing and, for benchmarks that fill one from nothing, dropped afterwards."""

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
