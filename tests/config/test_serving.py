"""config/serving.py: a web process's start-up (its collector set for a server, litellm
imported), through both servers' applications."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("application", ["config.asgi", "config.wsgi"])
def test_a_web_process_freezes_its_start_up_and_collects_young_objects_less_often(application):
    # In a process of its own: the test process keeps the collector as Python sets it.
    probe = (
        f"import gc, sys, {application}; "
        "print(gc.get_threshold(), gc.get_freeze_count() > 100_000, gc.isenabled(), "
        "'litellm' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "(50000, 20, 100) True True True"
