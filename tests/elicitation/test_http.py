"""elicitation/http.py: a GET whose database connection was cut under it runs once more
(the input guard has its own tests in test_input_safety.py)."""

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import Client

from elicitation.views import common
from tests.helpers import BOOSTED, agree, make_study, url

# The connection is really cut: the test needs its own transactions.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_broken_connection_left():
    # In a server, the end of the request drops a broken connection; the test client
    # leaves that to the test.
    yield
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _cut_once(monkeypatch):
    """The step views' first look-up finds its connection terminated by the server, as
    in a PostgreSQL restart; later ones run as usual. Returns the calls made."""
    calls = []
    resolve_step = common._resolve_step

    def cut(request, *args):
        calls.append(request.method)
        if len(calls) == 1:
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


def test_a_post_whose_connection_was_cut_is_not_run_again(monkeypatch):
    client = Client(raise_request_exception=False)
    study = make_study()
    agree(client, study)
    calls = _cut_once(monkeypatch)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert response.status_code == 500
    assert calls == ["POST"]


def test_a_database_error_on_a_working_connection_is_not_run_again(monkeypatch):
    client = Client(raise_request_exception=False)
    study = make_study()
    agree(client, study)
    calls = []

    def failing(request, *args):
        calls.append(request.method)
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(common, "_resolve_step", failing)
    assert client.get(url(study, "about"), **BOOSTED).status_code == 500
    assert calls == ["GET"]
