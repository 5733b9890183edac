"""bench/stream_cost.py runs end to end: both providers stream the same reply and each
gets a CPU figure (small, so the suite stays quick; the figures themselves are read by
hand)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
