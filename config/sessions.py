"""Django's database sessions, with the read that every request makes written once.

Each request of the journey reads its session row; through the ORM that read cost
about three times the same statement through a cursor (building the SQL and the object
each time). On PostgreSQL this reads the row with SQL of its own, written once per
process from the model's names; saving, creating and deleting stay Django's.
tests/config/test_sessions.py holds it to Django's store.
"""

from __future__ import annotations

import functools

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        alias = router.db_for_read(self.model)
        if connections[alias].vendor != "postgresql":
            return super()._get_session_from_db()
        with connections[alias].cursor() as cursor:
            cursor.execute(_read_sql(self.model, alias), [self.session_key, timezone.now()])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django's: no such session, or it expired
            return None
        return self.model(session_key=self.session_key, session_data=row[0], expire_date=row[1])


@functools.cache
def _read_sql(model, alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = model._meta
    key, data, expires = (
        quote(meta.get_field(name).column)
        for name in ("session_key", "session_data", "expire_date")
    )
    # Names from the model, quoted; values only as parameters.
    return (
        f"SELECT {data}, {expires} FROM {quote(meta.db_table)}"  # noqa: S608
        f" WHERE {key} = %s AND {expires} > %s"
    )
