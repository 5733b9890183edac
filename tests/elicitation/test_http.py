"""elicitation/http.py: a request whose database connection was cut under it runs once
more, a POST only if nothing it did may have committed (the input guard has its own
tests in test_input_safety.py)."""

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from django.test import Client
from django.utils import timezone
from psycopg_pool import PoolTimeout

from elicitation.http import drop_broken_connections
from elicitation.models import Demographics, Participant
from elicitation.services import participants
from elicitation.views import common
from tests.helpers import BOOSTED, agree, fresh, make_study, url

Step = Participant.Step

# The connection is really cut: the test needs its own transactions.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_broken_connection_left():
    # In a server, the end of the request drops a broken connection; the test client
    # leaves that to the test.
    yield
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _terminate_this_connection():
    """Have the server end this test's database connection, as a restart does."""
    pid = connection.connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def _cut_once(monkeypatch, before=None):
    """The step views' first look-up finds its connection terminated by the server, as
    in a PostgreSQL restart (after running ``before``); later ones run as usual. Returns
    the calls made."""
    calls = []
    resolve_step = common._resolve_step

    def cut(request, *args):
        calls.append(request.method)
        if len(calls) == 1:
            if before is not None:
                before()
            _terminate_this_connection()
        return resolve_step(request, *args)

    monkeypatch.setattr(common, "_resolve_step", cut)
    return calls


def test_a_get_whose_connection_was_cut_runs_again_on_a_fresh_one(client, monkeypatch):
    study = make_study()
    agree(client, study)
    calls = _cut_once(monkeypatch)
    response = client.get(url(study, "about"), **BOOSTED)
    assert response.status_code == 200
    assert calls == ["GET", "GET"]
    assert 'id="step"' in response.content.decode()


def test_a_post_cut_before_anything_committed_runs_again_and_is_saved_once(monkeypatch):
    client = Client(raise_request_exception=False)
    study = make_study()
    participant = agree(client, study)
    calls = _cut_once(monkeypatch)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert response.status_code == 200 and response["HX-Push-Url"] == url(study, "question")
    assert calls == ["POST", "POST", "GET"]  # cut, run again, then the next step shown
    assert Demographics.objects.filter(participant=participant).count() == 1
    assert fresh(participant).step == Step.QUESTION


def test_a_post_cut_inside_its_transaction_runs_again_and_is_saved_once(monkeypatch):
    """The usual case in a restart: the service's transaction is cut half way; its
    rollback fails and Django closes the connection; nothing was kept."""
    client = Client(raise_request_exception=False)
    study = make_study()
    participant = agree(client, study)
    advance = participants.advance
    calls = []

    def cut_then_advance(moving):
        calls.append(moving.pk)
        if len(calls) == 1:
            _terminate_this_connection()
        return advance(moving)

    monkeypatch.setattr(participants, "advance", cut_then_advance)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert response.status_code == 200 and response["HX-Push-Url"] == url(study, "question")
    assert len(calls) == 2
    assert Demographics.objects.filter(participant=participant).count() == 1
    assert fresh(participant).step == Step.QUESTION


def test_a_post_cut_after_something_may_have_committed_is_not_run_again(monkeypatch):
    client = Client(raise_request_exception=False)
    study = make_study()
    participant = agree(client, study)

    def commit_something():
        # A statement outside a transaction commits by itself (as the time last seen does).
        Participant.objects.filter(pk=participant.pk).update(last_seen_at=timezone.now())

    calls = _cut_once(monkeypatch, before=commit_something)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert response.status_code == 500
    assert calls == ["POST"]
    drop_broken_connections()  # as the end of a request in the server does
    assert fresh(participant).step == Step.ABOUT


def test_the_backend_counts_each_commit_begun_and_each_write_that_commits_by_itself():
    study = make_study()
    begun = connection.commits_begun
    Participant.objects.filter(study=study).count()  # a read commits nothing
    assert connection.commits_begun == begun
    Participant.objects.filter(study=study).update(abandoned_at=None)  # autocommit write
    assert connection.commits_begun == begun + 1
    with transaction.atomic():
        Participant.objects.create(study=study)
        assert connection.commits_begun == begun + 1  # not until the COMMIT
    assert connection.commits_begun == begun + 2
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        Participant.objects.create(study=study)
        1 / 0  # noqa: B018  rolled back: nothing begun to commit
    assert connection.commits_begun == begun + 2


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_database_error_on_a_working_connection_is_not_run_again(monkeypatch, method):
    client = Client(raise_request_exception=False)
    study = make_study()
    agree(client, study)
    calls = []

    def failing(request, *args):
        calls.append(request.method)
        with connection.cursor() as cursor:  # a real one: the server cancels the query
            cursor.execute("SET statement_timeout = 1")
            try:
                cursor.execute("SELECT pg_sleep(1)")
            finally:
                cursor.execute("SET statement_timeout = 0")

    monkeypatch.setattr(common, "_resolve_step", failing)
    send = getattr(client, method)
    assert send(url(study, "about"), {"action": "skip"}, **BOOSTED).status_code == 500
    assert calls == [method.upper()]


def test_no_connection_free_in_time_is_not_run_again(monkeypatch):
    # The pool's timeout (every connection busy): waiting once more would only double it.
    client = Client(raise_request_exception=False)
    study = make_study()
    agree(client, study)
    calls = []

    def pool_empty(request, *args):
        calls.append(request.method)
        raise OperationalError("couldn't get a connection after 10.00 sec") from PoolTimeout()

    monkeypatch.setattr(common, "_resolve_step", pool_empty)
    assert client.post(url(study, "about"), {"action": "skip"}, **BOOSTED).status_code == 500
    assert calls == ["POST"]
