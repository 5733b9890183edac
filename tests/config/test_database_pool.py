"""The psycopg pool checks each connection it hands out: after the database drops every
connection (a restart), the next request is served, not a 500.

A uvicorn child process with the pool on serves two requests; between them every other
backend of the test database is terminated, as a PostgreSQL restart would."""

import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from elicitation.models import Study
from tests.conftest import ARTIFACTS, ROOT, django_env
from tests.helpers import make_study, url

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(address: str) -> int:
    try:
        with urllib.request.urlopen(address, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def serve(transactional_db, tmp_path, request):
    """Start uvicorn with the pool on (and its check on or off); yields its base URL."""
    started = []

    def start(check: bool) -> str:
        port = _free_port()
        log_path = ARTIFACTS / "pool" / f"{request.node.name}-{check}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = django_env(
            DATABASE_POOL="true",
            DATABASE_POOL_MIN="2",
            DATABASE_POOL_CHECK="true" if check else "false",
            CELERY_BROKER_URL="filesystem://",
            VAR_DIR=str(tmp_path / "var"),
            DEBUG="false",
            SECRET_KEY="pool-test-" + "k" * 50,
            SECURE_SSL_REDIRECT="false",
            ALLOWED_HOSTS="127.0.0.1",
        )
        log = open(log_path, "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        started.append((proc, log))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                if _status(f"{base}/healthz") == 200:
                    return base
            except OSError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)

    yield start
    for proc, log in started:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    connection.close()


def _requests_after_a_restart(base: str, study: Study) -> list[int]:
    page = f"{base}{url(study)}"
    assert _status(page) in (200, 302)
    assert _terminate_other_backends() >= 1  # the server's pooled connections
    return [_status(page), _status(f"{base}/healthz"), _status(page)]


def test_after_the_database_drops_every_connection_the_next_request_is_served(serve):
    study = make_study()
    base = serve(check=True)
    for _ in range(2):
        statuses = _requests_after_a_restart(base, study)
        assert all(status < 500 for status in statuses), statuses


def test_without_the_check_the_pool_would_serve_a_dead_connection(serve):
    """The same steps with the check off: proof that the test above can fail."""
    study = make_study()
    base = serve(check=False)
    statuses = _requests_after_a_restart(base, study)
    assert any(status >= 500 for status in statuses), statuses
