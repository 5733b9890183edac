"""The study lock: one holder at a time, released at the end of the block or on death."""

import subprocess
import sys
import textwrap

import pytest
from django.db import connection

from moralgraph import locks
from tests.conftest import ROOT, django_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

_HOLDER = textwrap.dedent(
    """
    import sys, time, django
    django.setup()
    from moralgraph.locks import study_lock
    with study_lock(int(sys.argv[1])) as acquired:
        print("locked", acquired, flush=True)
        time.sleep(60)
    """
)


def _holder(study_id: int, **env):
    return subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(study_id)],
        cwd=ROOT,
        env=django_env(**env),
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_second_holder_is_refused_until_the_first_dies():
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks need PostgreSQL")
    holder = _holder(4242)
    try:
        assert holder.stdout.readline().strip() == "locked True"
        assert locks.is_locked(4242)
        with locks.study_lock(4242, wait=False) as acquired:
            assert acquired is False
        with locks.study_lock(4243, wait=False) as acquired:
            assert acquired is True
    finally:
        holder.kill()  # SIGKILL: the server drops the session and its locks
        holder.wait()
    wait_until(lambda: not locks.is_locked(4242), timeout=10)
    with locks.study_lock(4242, wait=False) as acquired:
        assert acquired is True
    assert not locks.is_locked(4242)


def test_the_file_lock_works_the_same_way(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    holder = _holder(7, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", VAR_DIR=str(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "locked True"
        with locks._file_lock(7, wait=False) as acquired:
            assert acquired is False
    finally:
        holder.kill()
        holder.wait()
    with locks._file_lock(7, wait=False) as acquired:
        assert acquired is True
