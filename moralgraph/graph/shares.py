"""Shares with a 95 % interval, for the legitimacy figures of a study's survey.

A share counts the answers that agree (4 or 5 on a 1–5 item, or yes on a yes/no item)
over the answers given; a missing answer is not an answer. Its interval is Wilson's score
interval, which stays inside [0, 1] and is honest at small n. With no answer the share
is None (the report says "no answers yet"), never 0 and never a paper's figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from moralgraph.graph.bridging import wilson_interval

AGREE_FROM = 4  # on a 1–5 scale, 4 and 5 agree


@dataclass(frozen=True)
class Share:
    yes: int
    n: int
    share: float | None
    low: float | None
    high: float | None


def share_of(yes: int, n: int, *, z: float = 1.96) -> Share:
    """Return yes / n with its Wilson score interval (None throughout when n is 0)."""
    if not 0 <= yes <= n:
        raise ValueError(f"need 0 <= yes <= n, not {yes} of {n}")
    if n == 0:
        return Share(yes=0, n=0, share=None, low=None, high=None)
    low, high = wilson_interval(yes, n, z)
    return Share(yes=yes, n=n, share=yes / n, low=low, high=high)


def agreeing(answer: int | bool | None) -> bool | None:
    """Whether one answer agrees: True/False for a yes/no, >= 4 for 1–5; None if not given."""
    if answer is None:
        return None
    if isinstance(answer, bool):
        return answer
    if not 1 <= answer <= 5:
        raise ValueError(f"a 1–5 answer, not {answer!r}")
    return answer >= AGREE_FROM


def legitimacy_share(answers: Iterable[int | bool | None], *, z: float = 1.96) -> Share:
    """The share of agreeing answers among those given, with its interval."""
    given = [a for a in (agreeing(answer) for answer in answers) if a is not None]
    return share_of(sum(given), len(given), z=z)
