"""bench/_machine.py: the reference work every CPU-bound bench times first."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _machine  # noqa: E402


def test_the_machine_speed_is_the_fastest_round_of_the_reference_work(monkeypatch):
    assert _machine.machine_speed_ms(rounds=1) > 0  # really timed
    # Rounds of 0.3, 0.1 and 0.2 s: the fastest says what the machine can do.
    ticks = iter([0.0, 0.3, 1.0, 1.1, 2.0, 2.2])
    monkeypatch.setattr(_machine, "perf_counter", lambda: next(ticks))
    assert _machine.machine_speed_ms(rounds=3) == 100.0
