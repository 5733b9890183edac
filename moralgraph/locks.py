"""One reconciliation at a time per study.

Two workers deduplicating the same study at once could each decide that a new card is
unlike every value and create two values for one meaning, or merge A into B while the
other merges B into A. So every step that reads values to decide what to write holds
the study's lock.

On PostgreSQL this is an advisory lock keyed on the study id. The session-level form
is held across many short transactions (an LLM call must never sit inside an open
transaction) and is released by the server when the connection drops, so a worker
killed with SIGKILL never leaves a study locked. On SQLite (the one-machine demo) an
flock on a file in VAR_DIR does the same between processes, and the kernel releases it
when the process dies.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

# High 32 bits of the advisory key: keeps our keys apart from any other user of
# advisory locks in the same database.
_NAMESPACE = 0x4D47_5354  # "MGST"


class StudyBusy(Exception):
    """Another process is reconciling this study right now."""


def _key(study_id: int) -> int:
    return (_NAMESPACE << 32) | (int(study_id) & 0xFFFF_FFFF)


@contextmanager
def study_lock(study_id: int, *, wait: bool = True) -> Iterator[bool]:
    """Hold the study's reconciliation lock for the block; yields whether it was taken.

    With ``wait=False`` the block runs at once with ``False`` when someone else holds
    it, so a task can retry later instead of tying up a worker.
    """
    if connection.vendor == "postgresql":
        with _pg_lock(study_id, wait=wait) as acquired:
            yield acquired
    else:
        with _file_lock(study_id, wait=wait) as acquired:
            yield acquired


@contextmanager
def _pg_lock(study_id: int, *, wait: bool) -> Iterator[bool]:
    key = _key(study_id)
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
            acquired = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            # Pooled connections go back to the pool: never hand one on still locked.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def is_locked(study_id: int) -> bool:
    """Whether some session holds the study's lock (PostgreSQL only; False elsewhere)."""
    if connection.vendor != "postgresql":
        return False
    key = _key(study_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND classid = %s AND objid = %s AND objsubid = 1 AND granted",
            [key >> 32, key & 0xFFFF_FFFF],
        )
        return cursor.fetchone()[0] > 0


@contextmanager
def _file_lock(study_id: int, *, wait: bool) -> Iterator[bool]:
    folder = settings.VAR_DIR / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"study-{int(study_id)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            acquired = True
        except BlockingIOError:
            acquired = False
        try:
            yield acquired
        finally:
            if acquired:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
