"""How fast this machine runs Python, so that figures from different days can be compared.

Machines of one kind differ: on 30 November 2026 two of them ran the same commit's
server at twice the CPU per journey of each other. Benchmarks take ``machine_speed_ms``
before their work, with nothing else running, and print it beside their figures.
"""

from __future__ import annotations

from time import perf_counter


def _reference_work() -> int:
    # Small dicts, f-strings, a list and a join: the kind of work a request does.
    rows = [{"id": n, "title": f"value {n}"} for n in range(100_000)]
    return len(",".join(row["title"] for row in rows if row["id"] % 3))


def machine_speed_ms(rounds: int = 5) -> float:
    """Milliseconds for a fixed piece of pure-Python work, the fastest of ``rounds``:
    lower is a faster machine."""
    best = float("inf")
    for _ in range(rounds):
        began = perf_counter()
        _reference_work()
        best = min(best, perf_counter() - began)
    return round(best * 1000, 1)
