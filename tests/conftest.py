"""Shared fixtures: a real Celery worker process against Redis and the test database; the
offline models without waiting."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def django_env(**overrides: str) -> dict:
    """The environment for a child process that should share this test run's database."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": (
                f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                f"{db['PORT'] or 5432}/{db['NAME']}"
            ),
            "DATABASE_POOL": "false",
            "DEBUG": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


@pytest.fixture(autouse=True)
def _fresh_study_cache():
    """Each test starts with no study kept from another (selectors.published_study): a
    study of the same slug in an earlier test's database is not this test's."""
    from elicitation.selectors import forget_study

    forget_study()
    yield
    forget_study()


@pytest.fixture
def fast_llm(settings):
    """No waiting on the offline models: replies stream at once and a failure is final
    (no retries with backoff). Test packages that need it turn it on in their conftest."""
    settings.OFFLINE_STREAM_DELAY_MS = 0
    settings.LLM_MAX_RETRIES = 0


class WorkerProcess:
    """A `celery worker` child process on its own queue, so tests never share messages."""

    def __init__(self, env: dict, queue: str, log_path: Path):
        self.env = env
        self.queue = queue
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, ready_probe=None, timeout: float = 60) -> "WorkerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                self.queue,
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"{self.queue}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early: {self.log()}")
            if b"ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout}s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL the whole process group, as a machine losing the worker would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_worker(transactional_db, request):
    """A real worker on Redis, reading the test database; tasks sent from the test
    process go to its private queue. Use `celery_worker.kill()` to simulate a crash."""
    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:10]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    worker = WorkerProcess(
        django_env(CELERY_QUEUE=queue),
        queue,
        ARTIFACTS / "workers" / f"{request.node.name}-{queue}.log",
    )
    worker.start()
    yield worker
    worker.stop()
    app.conf.task_default_queue = previous
    # The worker held connections to the test database; make sure they are gone before
    # pytest-django tries to drop it.
    connection.close()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll until predicate() is truthy; return its value or fail with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def pytest_collection_modifyitems(config, items):
    """Skip the PostgreSQL-only tests, with the reason, when the run uses SQLite."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
