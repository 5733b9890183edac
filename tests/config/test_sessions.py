"""config/sessions.py: the session read of every request, held to Django's store."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from config.sessions import SessionStore

pytestmark = pytest.mark.django_db


def _both(key):
    ours, djangos = SessionStore(key), db.SessionStore(key)
    return (ours.load(), ours.session_key), (djangos.load(), djangos.session_key)


def test_the_setting_names_this_store(settings):
    assert settings.SESSION_ENGINE == "config.sessions"


def test_a_session_reads_as_djangos_store_reads_it(django_assert_num_queries):
    store = SessionStore()
    store["mge.participant.1"] = "9b1c8e0e-2d1f-4a53-9a5e-7c1d2f3a4b5c"
    store["nested"] = {"list": [1, "two"], "text": "<é>"}
    store.create()
    store.save()
    with django_assert_num_queries(1):
        ours = SessionStore(store.session_key).load()
    assert ours == {
        "mge.participant.1": "9b1c8e0e-2d1f-4a53-9a5e-7c1d2f3a4b5c",
        "nested": {"list": [1, "two"], "text": "<é>"},
    }
    assert _both(store.session_key)[0] == _both(store.session_key)[1]


def test_an_expired_unknown_or_odd_key_is_an_empty_session_as_in_djangos():
    store = SessionStore()
    store["a"] = 1
    store.create()
    store.save()
    Session.objects.filter(pk=store.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    for key in (store.session_key, "nosuchsessionkey00000000", "short", None):
        ours, djangos = _both(key)
        assert ours == djangos
        assert ours == ({}, None)


def test_the_session_read_is_saved_and_read_again_by_the_same_store():
    store = SessionStore()
    store.create()
    again = SessionStore(store.session_key)
    again["step"] = "about"
    again.save()
    assert SessionStore(store.session_key)["step"] == "about"
    assert db.SessionStore(store.session_key)["step"] == "about"
