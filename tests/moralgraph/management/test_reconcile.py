"""manage.py reconcile: here and now with --sync, else queued for a worker."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.factories import (
    StudyFactory,
)
from tests.moralgraph.support import make_study

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_reconcile_sync_prints_what_it_did():
    study = make_study()
    out = run("reconcile", "--study", study.slug, "--sync")

    assert f"Reconciled {study.slug}" in out
    assert "cards embedded:   4" in out
    assert "cards placed:     4 (0 failed)" in out
    assert "values:           3 new, 1 merges" in out
    assert "contexts:" in out and "4 interviews read" in out
    assert "upgrade stories:" in out
    assert "LLM calls:" in out and "(cost $0.0000)" in out

    again = run("reconcile", "--study", study.slug, "--sync")
    assert "cards embedded:   0" in again
    assert "LLM calls:        0" in again


def test_reconcile_without_sync_queues_the_task(queued):
    study = StudyFactory()
    out = run("reconcile", "--study", study.slug)
    assert queued == [("moralgraph.tasks.reconcile_study", (study.pk,), None)]
    assert "Queued" in out and "--sync" in out


def test_an_unknown_study_is_an_error():
    with pytest.raises(CommandError, match="no study"):
        run("reconcile", "--study", "nope", "--sync")
    with pytest.raises(CommandError, match="no study"):
        run("score", "--study", "nope")
