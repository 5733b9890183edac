"""litellm is imported on the first model call, not at start-up: every command that
never calls a model (check, export, report) would otherwise pay seconds for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from elicitation.llm.lazy import LazyModule

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import sys
import django
from django.core.management import call_command

django.setup()
call_command("check")
import elicitation.llm, elicitation.llm.gateway, elicitation.llm.checks
heavy = sorted(name for name in ("litellm", "openai") if name in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def test_setup_and_check_do_not_import_litellm():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "HEAVY=\n" in done.stdout, done.stdout + done.stderr


def test_the_first_use_imports_and_sets_up_litellm():
    from elicitation.llm.lazy import litellm

    # The first attribute read imports it, quietened, with the offline provider in.
    assert litellm.suppress_debug_info is True
    assert "litellm" in sys.modules
    assert any(item.get("provider") == "offline" for item in litellm.custom_provider_map)


def test_a_lazy_module_imports_once_and_runs_its_setup_once():
    calls = []
    lazy = LazyModule("json", setup=calls.append)
    assert "not loaded" in repr(lazy)
    assert lazy.dumps([1]) == "[1]"
    assert lazy.loads("2") == 2
    assert len(calls) == 1 and calls[0].__name__ == "json"
