"""PostgreSQL (Django's backend) that keeps, for the request watching it, what it wrote.

A request whose connection PostgreSQL cut under it (a restart) can run again on a fresh
connection only if nothing it did was kept: re-running a POST whose transaction
committed would store the message or the judgment twice. When something was kept, the
request's answer is lost but its work is not, and the participant is sent to the page
as it now is. ``elicitation.http.ReconnectMiddleware`` reads the ``Writes`` of the
request to tell which.

A COMMIT cut half way is the one case the client cannot tell by itself: whether it landed
is known only to the server. So while a request watches, each transaction that wrote
something asks the server for its id before its COMMIT (one round trip, on POSTs only),
and after a cut ``Writes.landed`` asks PostgreSQL on a fresh connection what became of
that transaction (``pg_xact_status``): ``kept``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db.backends.postgresql import base

_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)


@dataclass
class Writes:
    """What one request's statements may have committed, in the order they ran."""

    committed: int = 0  # transactions whose COMMIT returned, and autocommit writes that did
    maybe: bool = False  # an autocommit write was cut: it may or may not have been kept
    cut_commits: list[int] = field(default_factory=list)  # transaction ids, COMMIT cut

    def landed(self, status_of) -> bool | None:
        """True if something certainly committed, False if certainly nothing, None if
        it cannot be known. ``status_of(xid)`` is PostgreSQL's ``pg_xact_status``."""
        if self.committed:
            return True
        statuses = {status_of(xid) for xid in self.cut_commits}
        if "committed" in statuses:
            return True
        # "in progress" (the connection was cut, not the server: it may still commit) or
        # unknown to the server: nothing can be said. Only "aborted" means not kept.
        if self.maybe or statuses - {"aborted"}:
            return None
        return False


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writes: Writes | None = None  # set while a request watches (its POSTs)
        self.execute_wrappers.append(self._watch_autocommit_write)

    def watch_writes(self) -> Writes | None:
        """Start keeping this thread's writes for a request; returns them."""
        self.writes = Writes()
        return self.writes

    def stop_watching(self) -> None:
        self.writes = None

    def kept(self, writes: Writes) -> bool | None:
        """Whether ``writes`` committed anything (``Writes.landed``), asking the server
        on this connection (a fresh one, after a cut) about COMMITs cut half way."""
        return writes.landed(self._transaction_status)

    def _transaction_status(self, xid: int) -> str | None:
        # "committed", "aborted", "in progress", or None if PostgreSQL no longer knows.
        with self.cursor() as cursor:
            cursor.execute("SELECT pg_xact_status(%s::text::xid8)", [str(xid)])
            return cursor.fetchone()[0]

    def commit(self):
        writes = self.writes
        if writes is None:
            return super().commit()
        xid = self._transaction_id()
        try:
            super().commit()
        except Exception:
            if xid is not None:
                writes.cut_commits.append(xid)
            raise
        if xid is not None:
            writes.committed += 1
        return None

    def _transaction_id(self) -> int | None:
        # None when the transaction wrote nothing: there is nothing to have landed. A cut
        # here raises before the COMMIT is sent, so the transaction is simply lost.
        if self.connection is None or self.get_autocommit():
            return None
        with self.wrap_database_errors:
            row = self.connection.execute(
                "SELECT pg_current_xact_id_if_assigned()::text"
            ).fetchone()
        return int(row[0]) if row[0] is not None else None

    def _watch_autocommit_write(self, execute, sql, params, many, context):
        writes = self.writes
        if writes is None or self.in_atomic_block or _READ.match(sql):
            return execute(sql, params, many, context)
        try:
            result = execute(sql, params, many, context)
        except Exception:
            if not context.get(REPEATABLE):
                writes.maybe = True
            raise
        if not context.get(REPEATABLE):
            writes.committed += 1
        return result


# Set in an execute wrapper's context by a write that may run twice with the same effect
# (the time a participant was last seen): it does not stop a cut request running again.
REPEATABLE = "repeatable"


def repeatable(execute, sql, params, many, context):
    """An execute wrapper (``connection.execute_wrapper(repeatable)``) for writes that may
    run again after a cut: the request that made them is not kept from running again."""
    context[REPEATABLE] = True
    return execute(sql, params, many, context)
