"""bench/stream_cost.py runs end to end: both providers stream the same reply and each
gets a CPU figure (small, so the suite stays quick; the figures themselves are read by
hand)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stream_cost():
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(
        "bench_stream_cost", ROOT / "bench" / "stream_cost.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_a_count_below_one_is_refused_before_anything_runs(stream_cost, bad):
    with pytest.raises(SystemExit):
        stream_cost.parse_args(["--replies", bad])
    with pytest.raises(SystemExit):
        stream_cost.parse_args(["--rounds", bad])
    assert stream_cost.parse_args(["--replies", "3"]).replies == 3


def test_both_providers_stream_the_same_words_and_are_measured():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "stream_cost.py"), "--replies", "3", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "stream_cost" and result["words"] > 10
    assert set(result["cpu_ms_per_reply"]) == {"offline", "openai_loopback"}
    assert all(v > 0 for v in result["cpu_ms_per_reply"].values())
    assert all(v > 0 for v in result["us_per_chunk"].values())
    assert result["real_over_offline"] > 0 and result["machine_speed_ms"] > 0
