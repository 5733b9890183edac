"""The legitimacy figures of a study: the paper's survey items as shares of agreeing
answers, each with its n and a 95 % interval.

A share counts answers of 4 or 5 on a 1–5 item (yes on the yes/no fairness question)
over the answers given, from the app's own survey and follow-up and from imported
responses alike. With no answer a figure has n = 0 and no share: the pages say "no
answers yet", never a paper's number.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from elicitation.models import SURVEY_ITEMS, Study
from elicitation.selectors import counted_survey_answers
from moralgraph.graph.shares import AGREE_FROM, Share, share_of

LEGITIMACY_KEYS = tuple(item.key for item in SURVEY_ITEMS)
_ITEMS = {item.key: item for item in SURVEY_ITEMS}
# The follow-up's earlier 1–5 fairness question, kept beside the paper's yes / no.
FAIR_SCALE = "fair_position"


def _agreeing(key: str) -> Q:
    return Q(fair=True) if key == "fair" else Q(**{f"{key}__gte": AGREE_FROM})


def _shares(study: Study, keys: tuple[str, ...], *, include_test: bool = False) -> dict[str, Share]:
    aggregates = {}
    for key in keys:
        aggregates[f"{key}_n"] = Count(key)
        aggregates[f"{key}_yes"] = Count("pk", filter=_agreeing(key))
    counts = counted_survey_answers(study, include_test=include_test).aggregate(**aggregates)
    return {key: share_of(counts[f"{key}_yes"], counts[f"{key}_n"]) for key in keys}


def legitimacy(study: Study) -> dict[str, Share]:
    """{represented, clarified, learned, respect, trust, fair} -> Share(yes, n, share,
    low, high), in the order asked; share, low and high are None where n is 0."""
    return _shares(study, LEGITIMACY_KEYS)


@dataclass(frozen=True)
class LegitimacyFigure:
    key: str
    label: str
    question: str
    share: Share

    @property
    def percent(self) -> float | None:
        return None if self.share.share is None else round(100 * self.share.share, 1)

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.share.low is None:
            return None
        return round(100 * self.share.low, 1), round(100 * self.share.high, 1)


def figures(study: Study, *, include_test: bool = False) -> list[LegitimacyFigure]:
    """The dashboard's figures: the paper's six, then the 1–5 fairness item when some
    participant answered it (test participants' answers only with ``include_test``)."""
    shares = _shares(study, (*LEGITIMACY_KEYS, FAIR_SCALE), include_test=include_test)
    rows = [
        LegitimacyFigure(key, _ITEMS[key].label, _ITEMS[key].question, shares[key])
        for key in LEGITIMACY_KEYS
    ]
    if shares[FAIR_SCALE].n:
        rows.append(
            LegitimacyFigure(
                FAIR_SCALE,
                "Found their value's position fair (4–5 of 5)",
                "How fair is it, from 1 to 5?",
                shares[FAIR_SCALE],
            )
        )
    return rows
