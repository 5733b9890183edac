"""elicitation/http.py: a request whose database connection was cut under it runs once
more, a POST only if nothing it did was kept; otherwise the browser goes to the page as
it now is (the input guard has its own tests in test_input_safety.py)."""

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from django.test import Client
from django.utils import timezone
from psycopg_pool import PoolTimeout

from config.postgresql.base import repeatable
from elicitation.models import Demographics, Participant
from elicitation.services import lifecycle, participants
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


@pytest.fixture
def inside():
    """A browser (errors as pages, as the server sends them) whose participant agreed to
    an open study: (client, study, participant)."""
    client = Client(raise_request_exception=False)
    study = make_study()
    return client, study, agree(client, study)


def _other_connection():
    """A connection of the test's own to the test database, beside Django's."""
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        dbname=settings["NAME"],
        autocommit=True,
    )


def _terminate_this_connection():
    """Have the server end this test's database connection, as a restart does."""
    pid = connection.connection.info.backend_pid
    with _other_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def _status_seen_elsewhere(xid: int) -> str | None:
    """What another connection sees of transaction ``xid``."""
    with _other_connection() as other:
        return other.execute("SELECT pg_xact_status(%s::text::xid8)", [str(xid)]).fetchone()[0]


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


def test_a_post_cut_before_anything_committed_runs_again_and_is_saved_once(inside, monkeypatch):
    client, study, participant = inside
    calls = _cut_once(monkeypatch)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert response.status_code == 200 and response["HX-Push-Url"] == url(study, "question")
    assert calls == ["POST", "POST", "GET"]  # cut, run again, then the next step shown
    assert Demographics.objects.filter(participant=participant).count() == 1
    assert fresh(participant).step == Step.QUESTION


def test_a_post_cut_inside_its_transaction_runs_again_and_is_saved_once(inside, monkeypatch):
    """The usual case in a restart: the service's transaction is cut half way; its
    rollback fails and Django closes the connection; nothing was kept."""
    client, study, participant = inside
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


def test_a_post_cut_after_noting_the_participant_seen_still_runs_again(inside, monkeypatch):
    # The time last seen, written outside the service's transaction, may be written twice.
    client, study, participant = inside
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=None)
    note_seen = lifecycle.note_seen
    seen = []

    def note_then_cut(who):
        note_seen(who)
        seen.append(who.last_seen_at)
        if len(seen) == 1:
            _terminate_this_connection()

    monkeypatch.setattr(lifecycle, "note_seen", note_then_cut)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert response.status_code == 200 and response["HX-Push-Url"] == url(study, "question")
    assert len(seen) >= 2 and fresh(participant).last_seen_at is not None
    assert Demographics.objects.filter(participant=participant).count() == 1
    assert fresh(participant).step == Step.QUESTION


def test_a_post_cut_after_something_was_kept_sends_the_browser_to_the_page_as_it_is(
    inside, monkeypatch
):
    client, study, participant = inside

    def commit_something():
        # A statement outside a transaction commits by itself (as the time last seen does).
        Participant.objects.filter(pk=participant.pk).update(last_seen_at=timezone.now())

    calls = _cut_once(monkeypatch, before=commit_something)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert calls == ["POST"]  # not run again: what it kept might be doubled
    # No error page: a full navigation to the same address, whose GET shows the step.
    assert response.status_code == 200 and response["HX-Redirect"] == url(study, "about")
    assert fresh(participant).step == Step.ABOUT
    assert b'id="step"' in client.get(url(study, "about")).content


def _cut_first_commit(monkeypatch, *, after_it_landed: bool):
    """The next COMMIT of a watched request is cut, as in a restart: before it reaches
    the server (nothing kept), or after it landed, its answer lost on the way back."""
    commit = connection._commit
    cuts = []

    def cut():
        if cuts or connection.writes is None:
            return commit()
        cuts.append(1)
        if after_it_landed:
            commit()
            _terminate_this_connection()
            raise OperationalError("server closed the connection unexpectedly") from (
                psycopg.OperationalError("server closed the connection unexpectedly")
            )
        _terminate_this_connection()
        return commit()

    monkeypatch.setattr(connection, "_commit", cut)
    return cuts


def test_a_post_whose_commit_was_cut_before_it_landed_runs_again_and_is_saved_once(
    inside, monkeypatch
):
    client, study, participant = inside
    cuts = _cut_first_commit(monkeypatch, after_it_landed=False)
    response = client.post(url(study, "about"), {"action": "skip"}, **BOOSTED)
    assert cuts == [1]
    assert response.status_code == 200 and response["HX-Push-Url"] == url(study, "question")
    assert Demographics.objects.filter(participant=participant).count() == 1
    assert fresh(participant).step == Step.QUESTION


@pytest.mark.parametrize("htmx", [True, False])
def test_a_post_whose_commit_landed_but_whose_answer_was_cut_is_not_run_again(
    inside, monkeypatch, htmx
):
    client, study, participant = inside
    cuts = _cut_first_commit(monkeypatch, after_it_landed=True)
    headers = BOOSTED if htmx else {}
    response = client.post(url(study, "about"), {"action": "skip"}, **headers)
    assert cuts == [1]
    # PostgreSQL says the transaction committed: the participant goes on to the page as
    # it now is (the next step), and nothing is saved twice.
    if htmx:
        assert response.status_code == 200 and response["HX-Redirect"] == url(study, "about")
    else:
        assert response.status_code == 302 and response["Location"] == url(study, "about")
    assert Demographics.objects.filter(participant=participant).count() == 1
    assert fresh(participant).step == Step.QUESTION
    assert client.get(url(study, "about"))["Location"] == url(study, "question")


def test_a_watched_connection_keeps_what_committed_and_asks_the_server_about_a_cut_commit():
    study = make_study()
    writes = connection.watch_writes()
    try:
        Participant.objects.filter(study=study).count()  # a read commits nothing
        with transaction.atomic():
            Participant.objects.filter(study=study).exists()  # nor a read-only transaction
        assert writes.committed == 0 and connection.kept(writes) is False
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            Participant.objects.create(study=study)
            1 / 0  # noqa: B018  rolled back: nothing kept
        assert connection.kept(writes) is False
        with connection.execute_wrapper(repeatable):  # may run twice: not counted
            Participant.objects.filter(study=study).update(abandoned_at=None)
        assert connection.kept(writes) is False
        Participant.objects.filter(study=study).update(abandoned_at=None)  # autocommit write
        assert writes.committed == 1
        with transaction.atomic():
            Participant.objects.create(study=study)
        assert writes.committed == 2 and connection.kept(writes) is True
    finally:
        connection.stop_watching()

    def transaction_id(commit: bool) -> int:
        with transaction.atomic():
            Participant.objects.create(study=study)
            xid = connection._transaction_id()
            if not commit:
                transaction.set_rollback(True)
        return xid

    committed, aborted = transaction_id(commit=True), transaction_id(commit=False)
    cut = type(writes)(cut_commits=[aborted])
    assert connection.kept(cut) is False  # PostgreSQL says the cut COMMIT never landed
    cut.cut_commits.append(committed)
    assert connection.kept(cut) is True
    assert connection.kept(type(writes)(maybe=True)) is None  # cannot be known
    # A transaction still running (the connection was cut, not the server) may yet commit.
    with transaction.atomic():
        Participant.objects.create(study=study)
        running = connection._transaction_id()
        assert type(writes)(cut_commits=[running]).landed(_status_seen_elsewhere) is None


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_database_error_on_a_working_connection_is_not_run_again(inside, monkeypatch, method):
    client, study, _ = inside
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


def test_no_connection_free_in_time_is_not_run_again(inside, monkeypatch):
    # The pool's timeout (every connection busy): waiting once more would only double it.
    client, study, _ = inside
    calls = []

    def pool_empty(request, *args):
        calls.append(request.method)
        raise OperationalError("couldn't get a connection after 10.00 sec") from PoolTimeout()

    monkeypatch.setattr(common, "_resolve_step", pool_empty)
    assert client.post(url(study, "about"), {"action": "skip"}, **BOOSTED).status_code == 500
    assert calls == ["POST"]


def test_a_consent_cut_after_the_participant_committed_keeps_them_in_this_browser(monkeypatch):
    # A restart between the participant's commit and the end of the request: the browser
    # is sent back to the consent page, which must go on as that participant (recruiter
    # ids and all), not start a second one without them.
    client = Client(raise_request_exception=False)
    study = make_study()
    client.get(url(study) + "?PROLIFIC_PID=cut-at-consent&STUDY_ID=s&SESSION_ID=x")
    issue = participants.resume_code_issue
    cuts = []

    def cut_then_issue(**kwargs):
        if not cuts:
            cuts.append(1)
            _terminate_this_connection()
        return issue(**kwargs)

    monkeypatch.setattr(participants, "resume_code_issue", cut_then_issue)
    response = client.post(url(study, "consent"), {"action": "agree"}, **BOOSTED)
    assert cuts and response["HX-Redirect"] == url(study, "consent")
    page = client.get(url(study, "consent"), follow=True)
    assert page.status_code == 200
    (participant,) = Participant.objects.filter(study=study)
    assert participant.recruiter_pid == "cut-at-consent"
    assert common.session_participant(page.wsgi_request, study) == participant
    assert participant.step == Step.ABOUT and participant.resume_code_hash


def test_a_session_save_cut_by_a_restart_is_made_again_not_a_400(monkeypatch):
    # The consent's work is done; the restart comes as the session is saved at the end.
    # Django calls any error there "the session was deleted" (400): the save is made
    # again on a fresh connection, and the browser is the participant who agreed.
    from django.contrib.sessions.backends import db

    client = Client(raise_request_exception=False)
    study = make_study()
    client.get(url(study) + "?PROLIFIC_PID=cut-at-save&STUDY_ID=s&SESSION_ID=x")
    build = db.SessionStore.create_model_instance
    cuts = []

    def cut_then_build(self, data):
        if not cuts:
            cuts.append(1)
            _terminate_this_connection()
        return build(self, data)

    monkeypatch.setattr(db.SessionStore, "create_model_instance", cut_then_build)
    response = client.post(url(study, "consent"), {"action": "agree"}, **BOOSTED)
    assert cuts and response.status_code == 200, response.status_code
    assert response["HX-Push-Url"] == url(study, "about")
    (participant,) = Participant.objects.filter(study=study)
    assert participant.recruiter_pid == "cut-at-save"
    page = client.get(url(study, "about"))
    assert common.session_participant(page.wsgi_request, study) == participant


def test_a_session_save_refused_on_a_working_connection_is_not_made_again(monkeypatch):
    # Only a cut connection is worth a second save; any other database error stays
    # Django's answer (the session could not be saved: 400), after one attempt.
    from django.contrib.sessions.models import Session

    client = Client(raise_request_exception=False)
    study = make_study()
    client.get(url(study) + "?PROLIFIC_PID=refused-save&STUDY_ID=s&SESSION_ID=x")
    attempts = []

    def refuse(self, *args, **kwargs):
        attempts.append(1)
        raise OperationalError("refused, the connection fine")

    monkeypatch.setattr(Session, "save", refuse)
    response = client.post(url(study, "consent"), {"action": "agree"}, **BOOSTED)
    assert response.status_code == 400
    assert len(attempts) == 1
    assert connection.is_usable()
