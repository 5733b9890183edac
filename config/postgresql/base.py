"""PostgreSQL (Django's backend) that counts the moments something may have committed.

A request whose connection PostgreSQL cut under it (a restart) can run again on a fresh
connection only if nothing it did may have been kept: re-running a POST whose
transaction committed would store the message or the judgment twice.
``elicitation.http.ReconnectMiddleware`` compares ``commits_begun`` before and after.

``commits_begun`` counts each COMMIT begun, and each statement other than a SELECT run
outside a transaction (autocommit: it commits by itself). Begun, not finished: a
connection cut during the COMMIT leaves it unknown whether it landed, and that counts
as maybe.
"""

from __future__ import annotations

import re

from django.db.backends.postgresql import base

_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commits_begun = 0
        self.execute_wrappers.append(self._count_autocommit_write)

    def commit(self):
        self.commits_begun += 1
        super().commit()

    def _count_autocommit_write(self, execute, sql, params, many, context):
        if not self.in_atomic_block and not _READ.match(sql):
            self.commits_begun += 1
        return execute(sql, params, many, context)
