"""A real worker process picks up a task, with Redis and with the embedded broker."""

import subprocess
import sys
import uuid

import pytest

from elicitation.models import WorkerHeartbeat
from elicitation.tasks import heartbeat
from tests.conftest import ROOT, WorkerProcess, django_env, wait_until

pytestmark = pytest.mark.worker


def test_a_worker_on_redis_runs_a_task(celery_worker):
    name = f"probe-{uuid.uuid4().hex[:6]}"
    heartbeat.delay(name)
    beat = wait_until(lambda: WorkerHeartbeat.objects.filter(name=name).first())
    assert beat.seen_at is not None


def test_the_embedded_demo_setup_runs_a_task_across_processes(tmp_path):
    """The demo's defaults: SQLite and kombu's filesystem broker, no eager mode. One
    process enqueues, a separate worker process runs it."""
    env = django_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_URL="filesystem://",
        VAR_DIR=str(tmp_path),
        CELERY_QUEUE="embedded",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    worker = WorkerProcess(env, "embedded", tmp_path / "worker.log").start()
    try:
        subprocess.run(
            [
                *manage,
                "shell",
                "-c",
                "from elicitation.tasks import heartbeat; heartbeat.delay('fs')",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=60,
        )
        probe = [
            *manage,
            "shell",
            "-c",
            "from elicitation.models import WorkerHeartbeat as W; "
            "print(W.objects.filter(name='fs').exists())",
        ]

        def ran() -> bool:
            result = subprocess.run(probe, cwd=ROOT, env=env, capture_output=True, text=True)
            return result.stdout.strip().endswith("True")

        assert wait_until(ran, timeout=60, interval=1), worker.log()
        assert (tmp_path / "broker" / "out").is_dir()
    finally:
        worker.stop()
