"""The LLM stages of the method, in one table. Everything else reads it.

A stage is one kind of model call: the interview, drafting or revising a card, the
graph's background work (embedding, dedup, contexts, upgrade stories), the answers
that training exports need, and the questions suggested to a researcher setting a study
up. Its row says which setting names its default model (and
which study field overrides it), which prompt it sends, the JSON Schema its reply must
match (none: free text), which offline module answers it without a network, who a
participant hears from while they wait on it, and its name on the researchers' pages.

The table's order is the order the stages happen in for one participant, then the
background work, then the researcher's tools: dashboards list stages in this order.

A new stage is one row here, a prompt file under ``prompts/``, an offline module under
``offline/`` and, if its model should be set apart, one setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from elicitation.llm import schemas
from elicitation.llm.offline import (
    articulate,
    contexts,
    dedup,
    hypothesis,
    interview,
    response,
    revise,
    screen,
    simulate,
    suggest,
)

OFFLINE = "offline"

# When a stage runs: while a participant waits, while the graph is reconciled, or when
# a training export is written.
JOURNEY = "journey"
RECONCILE = "reconcile"
EXPORT = "export"
# ... or while a researcher sets a study up.
SETUP = "setup"
SIMULATE = "simulate"  # a researcher's dry run (manage.py simulate)


@dataclass(frozen=True)
class Stage:
    name: str
    label: str
    phase: str
    model_setting: str
    study_field: str | None = None
    prompt: str | None = None
    # Other prompts the stage sends with the same schema (dedup also judges contexts).
    extra_prompts: tuple[str, ...] = ()
    schema: dict[str, Any] | None = None
    offline: Callable[[list[tuple[str, str]]], str] | None = None
    # Who is speaking, in a waiting participant's terms ("The interviewer").
    speaker: str | None = None

    @property
    def structured(self) -> bool:
        return self.schema is not None

    @property
    def participant_waits(self) -> bool:
        return self.phase == JOURNEY

    @property
    def prompts(self) -> tuple[str, ...]:
        return (self.prompt, *self.extra_prompts) if self.prompt else self.extra_prompts


STAGES: tuple[Stage, ...] = (
    Stage(
        "interview",
        label="Interview",
        phase=JOURNEY,
        model_setting="LLM_INTERVIEW_MODEL",
        study_field="interview_model",
        prompt="elicitation/interview",
        offline=interview.reply,
        speaker="The interviewer",
    ),
    Stage(
        "articulate",
        label="Card drafting",
        phase=JOURNEY,
        model_setting="LLM_ARTICULATE_MODEL",
        study_field="articulate_model",
        prompt="elicitation/articulate",
        schema=schemas.CARD_SCHEMA,
        offline=articulate.reply,
        speaker="The card writer",
    ),
    Stage(
        "revise",
        label="Card revision",
        phase=JOURNEY,
        model_setting="LLM_ARTICULATE_MODEL",
        study_field="articulate_model",
        prompt="elicitation/revise",
        schema=schemas.CARD_SCHEMA,
        offline=revise.reply,
        speaker="The card writer",
    ),
    # Embedding has no prompt and no offline brain: without EMBEDDING_MODEL it is the
    # local deterministic embedding, computed in place (embeddings.py).
    Stage("embed", label="Embeddings", phase=RECONCILE, model_setting="EMBEDDING_MODEL"),
    Stage(
        "dedup",
        label="Deduplication",
        phase=RECONCILE,
        model_setting="LLM_DEDUP_MODEL",
        study_field="dedup_model",
        prompt="moralgraph/dedup",
        extra_prompts=("moralgraph/context_dedup",),
        schema=schemas.DEDUP_SCHEMA,
        offline=dedup.reply,
    ),
    Stage(
        "contexts",
        label="Contexts",
        phase=RECONCILE,
        model_setting="LLM_DEDUP_MODEL",
        study_field="dedup_model",
        prompt="moralgraph/contexts",
        schema=schemas.CONTEXTS_SCHEMA,
        offline=contexts.reply,
    ),
    Stage(
        "hypothesis",
        label="Upgrade stories",
        phase=RECONCILE,
        model_setting="LLM_HYPOTHESIS_MODEL",
        study_field="hypothesis_model",
        prompt="moralgraph/hypothesis",
        schema=schemas.HYPOTHESIS_SCHEMA,
        offline=hypothesis.reply,
    ),
    # Never hides anything: a flag for the moderation page, where a researcher decides.
    Stage(
        "screen",
        label="Card pre-screen",
        phase=RECONCILE,
        model_setting="LLM_DEDUP_MODEL",
        study_field="dedup_model",
        prompt="moralgraph/screen",
        schema=schemas.SCREEN_SCHEMA,
        offline=screen.reply,
    ),
    Stage(
        "response",
        label="Training responses",
        phase=EXPORT,
        model_setting="LLM_RESPONSE_MODEL",
        study_field="response_model",
        prompt="moralgraph/response",
        schema=schemas.RESPONSE_SCHEMA,
        offline=response.reply,
    ),
    Stage(
        "suggest",
        label="Question suggestions",
        phase=SETUP,
        model_setting="LLM_MODEL",
        prompt="elicitation/suggest",
        schema=schemas.SUGGEST_SCHEMA,
        offline=suggest.reply,
    ),
    # A persona's side of a simulated journey (moralgraph/services/simulation.py).
    Stage(
        "simulate",
        label="Simulated participants",
        phase=SIMULATE,
        model_setting="LLM_SIMULATE_MODEL",
        prompt="moralgraph/simulate",
        schema=schemas.SIMULATE_SCHEMA,
        offline=simulate.reply,
    ),
)

BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGES}


def get(name: str) -> Stage:
    """The stage called ``name``; ValueError for a name not in the table."""
    try:
        return BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown LLM stage {name!r}; expected one of {', '.join(BY_NAME)}"
        ) from None


def names(phase: str | None = None) -> tuple[str, ...]:
    """The stages' names in table order, only those of ``phase`` if given."""
    return tuple(stage.name for stage in STAGES if phase is None or stage.phase == phase)


def for_prompt(prompt: str) -> Stage | None:
    """The stage that sends the prompt named ``prompt``, if any."""
    return next((stage for stage in STAGES if prompt in stage.prompts), None)


def model_for(stage: str, study: Any = None) -> str:
    """The model for ``stage``: the study's override if it has one, else the setting."""
    spec = get(stage)
    override = (
        getattr(study, spec.study_field, "") if study is not None and spec.study_field else ""
    )
    return override or getattr(settings, spec.model_setting)


def is_offline_model(model: str) -> bool:
    return model == OFFLINE or model.startswith(OFFLINE + "/")


def is_offline(stage: str = "interview", study: Any = None) -> bool:
    """Whether ``stage`` runs on the deterministic offline provider."""
    return is_offline_model(model_for(stage, study))
