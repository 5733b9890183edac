"""A study's budget cap: what happens to a model call once the study's LLM spend
has reached ``Study.budget_cap_usd``.

Every call of the gateway (and every embedding) asks ``model_within_budget`` before it
goes out. Under the cap, or with no cap, nothing changes. At the cap:

- the participant's own stages (interview, card drafting and revision: those a person
  waits on) go on with the offline model, so whoever is mid-interview can finish, at no
  cost, and nobody is left with an error they can do nothing about;
- background work (dedup, contexts, upgrade stories, training answers, embeddings)
  stops, whatever its model (so the banner stays true): ``BudgetExceeded``, not
  retryable, with one ``LLMCall`` row saying why, and the researchers' dashboard
  shows a banner (``reached_cap``).

Test participants and simulations spend real money too: they count like anyone else.

The spend is read cheaply: one SUM per study per ``LLM_SPEND_REFRESH_SECONDS`` in each
process, and the cost of each call logged in this process added on in between, so a
busy study never sums its log on every call. Studies without a cap are never summed.
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum

from elicitation.llm.errors import LLMError
from elicitation.llm.stages import BY_NAME, OFFLINE, is_offline_model

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# study id -> (monotonic time of the last SUM, spend as of then plus calls logged since)
_spend: dict[int, tuple[float, Decimal]] = {}


class BudgetExceeded(LLMError):
    """Background LLM work refused: the study's spend has reached its budget cap."""


def _refresh_seconds() -> float:
    return float(getattr(settings, "LLM_SPEND_REFRESH_SECONDS", 10.0))


def recorded_spend(study_id: int) -> Decimal:
    """The study's LLM spend as its log says now (one SUM)."""
    from elicitation.llm.models import LLMCall

    total = LLMCall.objects.filter(study_id=study_id).aggregate(total=Sum("cost"))["total"]
    return Decimal(total or 0)


def spend(study_id: int) -> Decimal:
    """The study's LLM spend, summed at most every ``LLM_SPEND_REFRESH_SECONDS``."""
    now = time.monotonic()
    with _lock:
        cached = _spend.get(study_id)
    if cached is not None and now - cached[0] < _refresh_seconds():
        return cached[1]
    total = recorded_spend(study_id)
    with _lock:
        _spend[study_id] = (now, total)
    return total


def add(study_id: int | None, cost: Decimal) -> None:
    """Count a call just logged, until the next SUM (which includes it) replaces it."""
    if study_id is None or not cost:
        return
    with _lock:
        cached = _spend.get(study_id)
        if cached is not None:
            _spend[study_id] = (cached[0], cached[1] + cost)


def forget(study_id: int | None = None) -> None:
    """Drop the cached figure (of one study, or all): the next check sums again."""
    with _lock:
        if study_id is None:
            _spend.clear()
        else:
            _spend.pop(study_id, None)


def cap_of(study: Any) -> Decimal | None:
    cap = getattr(study, "budget_cap_usd", None) if study is not None else None
    return Decimal(cap) if cap is not None else None


def reached_cap(study: Any) -> Decimal | None:
    """The study's cap if its spend has reached it, else None (no cap: always None)."""
    cap = cap_of(study)
    if cap is None or getattr(study, "pk", None) is None:
        return None
    return cap if spend(study.pk) >= cap else None


def cap_message(cap: Decimal) -> str:
    """What researchers read: the same words on the dashboard and in the error log."""
    return f"Budget cap of ${cap:,.2f} reached: new LLM work stopped"


def model_within_budget(stage: str, model: str, study: Any) -> str:
    """The model ``stage`` may call for ``study`` now: ``model`` under the cap, the
    offline model for a stage a participant waits on at the cap; raises
    ``BudgetExceeded`` for background work at the cap."""
    cap = reached_cap(study)
    if cap is None:
        return model
    spec = BY_NAME.get(stage)
    if spec is not None and spec.participant_waits:
        if is_offline_model(model):
            return model
        logger.warning(
            "study %s: budget cap $%s reached; %s falls back to the offline model",
            study.pk,
            cap,
            stage,
        )
        return OFFLINE
    raise BudgetExceeded(
        f"{cap_message(cap)} (study {getattr(study, 'slug', study.pk)}, stage {stage}). "
        "Raise the cap in the study's settings to go on.",
        stage=stage,
        model=model,
        retryable=False,
    )
