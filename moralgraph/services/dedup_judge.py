"""The dedup judge: one call decides, for a small batch of new cards, which of each card's
candidate values (if any) it is the same value as.

A judge is any callable ``judge(study, items) -> {card id: Verdict}`` with the attributes
``decided_by``, ``model`` and ``prompt_version`` that a merge records. ``LLMJudge`` asks
the study's dedup model (the offline provider's heuristic without a key); the oracle of
``dedup_eval`` knows the true values and measures retrieval and batching alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from elicitation import llm
from elicitation.models import Study, ValuesCard
from moralgraph.models import Value
from moralgraph.services.retrieval import Candidate

logger = logging.getLogger(__name__)


def card_payload(card) -> dict:
    """A card or a value as the LLM stages see it."""
    return {
        "title": card.title,
        "description": card.description,
        "policies": list(card.policies or []),
    }


@dataclass
class Item:
    """One new card in a batch, with the values retrieval found for it."""

    card: ValuesCard
    vector: np.ndarray
    tokens: list[str]
    candidates: list[Candidate] = field(default_factory=list)
    # The wording each candidate is shown with: its best-matching member's.
    shown: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    same_as: tuple[int, ...]  # indexes into the item's candidates
    reason: str = ""


class Judge(Protocol):
    decided_by: str
    model: str
    prompt_version: str

    def __call__(self, study: Study, items: list[Item]) -> dict[int, Verdict]: ...


def wording(members: list[tuple[str, int]]) -> dict[tuple[str, int], Any]:
    """The card or value row behind each member, fetched in two queries."""
    card_ids = [pk for kind, pk in members if kind == "card"]
    value_ids = [pk for kind, pk in members if kind == "value"]
    rows: dict[tuple[str, int], Any] = {
        ("card", c.pk): c for c in ValuesCard.objects.filter(pk__in=card_ids)
    }
    rows.update({("value", v.pk): v for v in Value.objects.filter(pk__in=value_ids)})
    return rows


class LLMJudge:
    """The study's dedup model, through the gateway: one logged call per batch."""

    decided_by = "llm"

    def __init__(self, study: Study):
        self.prompt = llm.load_prompt("moralgraph/dedup")
        self.model = llm.model_for("dedup", study)
        self.prompt_version = self.prompt.version

    @staticmethod
    def payload(items: list[Item]) -> tuple[dict, dict[int, dict[str, int]]]:
        """The call's input, and for each card the label -> candidate index it may pick.

        Labels are short ("c1", "v3") rather than database ids: a value several cards
        share is shown once.
        """
        values: list[dict] = []
        label_of: dict[int, str] = {}
        cards, choices = [], {}
        for number, item in enumerate(items, start=1):
            mine: dict[str, int] = {}
            for index, (candidate, row) in enumerate(zip(item.candidates, item.shown, strict=True)):
                if candidate.value_id not in label_of:
                    label_of[candidate.value_id] = f"v{len(values) + 1}"
                    values.append({"id": label_of[candidate.value_id], **card_payload(row)})
                mine[label_of[candidate.value_id]] = index
            cards.append({"id": f"c{number}", **card_payload(item.card), "candidates": list(mine)})
            choices[item.card.pk] = mine
        return {"cards": cards, "values": values}, choices

    def __call__(self, study: Study, items: list[Item]) -> dict[int, Verdict]:
        payload, choices = self.payload(items)
        reply = llm.structured(stage="dedup", prompt=self.prompt, payload=payload, study=study)
        if "decisions" not in reply:
            raise llm.LLMError(
                "dedup: the reply judged a pair, not the batch it was given",
                stage="dedup",
                model=self.model,
                retryable=False,
            )
        by_label = {str(d.get("card")): d for d in reply["decisions"]}
        verdicts = {}
        for number, item in enumerate(items, start=1):
            decision = by_label.get(f"c{number}")
            if decision is None:
                logger.warning("dedup: no decision for card %s; kept apart", item.card.pk)
                verdicts[item.card.pk] = Verdict((), "The judge gave no decision.")
                continue
            mine = choices[item.card.pk]
            # The judge may only pick among the card's own candidates.
            picked = tuple(dict.fromkeys(mine[s] for s in decision["same_as"] if s in mine))
            verdicts[item.card.pk] = Verdict(picked, str(decision.get("reason", "")))
        return verdicts
