"""The session store (``SESSION_ENGINE``): Django's database sessions, whose save at the
end of a request is made once more, on a fresh connection, when a database restart cut
it.

Django turns any database error in that save into "the session was deleted" (a 400,
``SessionInterrupted``), so a restart in the last moment of a request that had done all
its work (a participant agreeing, say) showed the participant an error page and lost the
session's news: the participant the browser now is. Saving a session twice writes the
same row: it may always run again.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import UpdateError
from django.db import InterfaceError, OperationalError

from elicitation.http import connection_lost


class SessionStore(db.SessionStore):
    def save(self, must_create=False):
        try:
            super().save(must_create=must_create)
        except (UpdateError, OperationalError, InterfaceError) as error:
            # An update's database error comes wrapped in UpdateError; a create's as is.
            cause = error.__context__ if isinstance(error, UpdateError) else error
            lost = isinstance(cause, (OperationalError, InterfaceError)) and connection_lost(cause)
            if not lost:
                raise
            super().save(must_create=must_create)
