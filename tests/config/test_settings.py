"""Settings fail at start, naming the variable, when a value is bad."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env
from tests.conftest import ROOT


def _start(**variables: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in variables}
    environment.update(variables)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"CELERY_BROKER_URL": "kafka://nowhere"}, "CELERY_BROKER_URL"),
        ({"LLM_TIMEOUT": "soon"}, "LLM_TIMEOUT"),
        ({"LLM_MAX_RETRIES": "-1"}, "LLM_MAX_RETRIES"),
        ({"PAIRWISE_PARAMS": "resamples"}, "PAIRWISE_PARAMS"),
        ({"PAIRWISE_PARAMS": "confident_probabilty=0.9"}, "PAIRWISE_PARAMS"),
        # The pool exists only on PostgreSQL, so name a PostgreSQL URL whatever the run uses.
        (
            {"DATABASE_URL": "postgres://x@127.0.0.1/z", "DATABASE_POOL_MAX": "lots"},
            "DATABASE_POOL_MAX",
        ),
    ],
)
def test_it_refuses_to_start_on_a_bad_value(variables, named):
    result = _start(**variables)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr.splitlines()[-1]


def test_it_starts_on_the_embedded_defaults(tmp_path):
    result = _start(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr


def test_env_bool_reads_the_usual_spellings(monkeypatch):
    for raw, expected in [("1", True), ("yes", True), ("ON", True), ("0", False), ("no", False)]:
        monkeypatch.setenv("FLAG", raw)
        assert env.env_bool("FLAG") is expected
    monkeypatch.delenv("FLAG")
    assert env.env_bool("FLAG", True) is True


def test_env_int_names_the_variable(monkeypatch):
    monkeypatch.setenv("COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="COUNT must be a whole number"):
        env.env_int("COUNT", 1)
    monkeypatch.setenv("COUNT", "3")
    with pytest.raises(ImproperlyConfigured, match="COUNT must be at least 5"):
        env.env_int("COUNT", 1, minimum=5)


def test_env_list_and_choice(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , b.example,, ")
    assert env.env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("MODE", "loud")
    with pytest.raises(ImproperlyConfigured, match="MODE must be one of quiet, calm"):
        env.env_choice("MODE", "quiet", ("quiet", "calm"))
