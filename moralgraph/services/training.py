"""Training responses: what an assistant would answer to a question in a context when
guided by one value, written by the LLM (stage "response") and cached.

A response is keyed by (value, question, context, model, prompt version), so re-exporting
the same snapshot costs nothing and gives the same bytes, and changing the model or the
prompt writes new responses without losing the old ones. ``generate`` writes the missing
ones, one LLM call each, reporting progress; it is what the export job runs in the
background (moralgraph.services.exports.jobs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from elicitation import llm
from elicitation.models import Question, Study
from moralgraph.models import Context, TrainingResponse, Value

PROMPT = "moralgraph/response"


@dataclass(frozen=True, order=True)
class Need:
    """One response an export needs: this value's answer to this question in this context."""

    value_id: int
    question_id: int
    context_id: int


def current_key(study: Study) -> tuple[str, str]:
    """The (model, prompt version) that responses are written with now."""
    return llm.model_for("response", study), llm.load_prompt(PROMPT).version


def cached(study: Study, needs: Iterable[Need]) -> dict[Need, TrainingResponse]:
    """The responses already written for ``needs`` with the current model and prompt."""
    needs = set(needs)
    if not needs:
        return {}
    model, version = current_key(study)
    rows = TrainingResponse.objects.filter(
        model=model,
        prompt_version=version,
        value_id__in={n.value_id for n in needs},
        question_id__in={n.question_id for n in needs},
        context_id__in={n.context_id for n in needs},
    )
    found = {}
    for row in rows:
        need = Need(row.value_id, row.question_id, row.context_id)
        if need in needs:
            found[need] = row
    return found


def missing(study: Study, needs: Iterable[Need]) -> list[Need]:
    needs = sorted(set(needs))
    have = cached(study, needs)
    return [n for n in needs if n not in have]


def generate(
    *,
    study: Study,
    needs: Iterable[Need],
    progress: Callable[[int, int], None] | None = None,
) -> dict[Need, TrainingResponse]:
    """Write every missing response, then return all of ``needs``.

    Raises llm.LLMError when a call fails; the responses written before it stay cached,
    so a retry picks up where this one stopped.
    """
    needs = sorted(set(needs))
    have = cached(study, needs)
    todo = [n for n in needs if n not in have]
    if progress:
        progress(0, len(todo))
    if not todo:
        return have
    model, version = current_key(study)
    prompt = llm.load_prompt(PROMPT)
    values = Value.objects.in_bulk({n.value_id for n in todo})
    questions = Question.objects.in_bulk({n.question_id for n in todo})
    contexts = Context.objects.in_bulk({n.context_id for n in todo})
    for done, need in enumerate(todo, start=1):
        value = values[need.value_id]
        reply = llm.structured(
            stage="response",
            prompt=prompt,
            payload={
                "question": questions[need.question_id].text,
                "context": contexts[need.context_id].text,
                "value": {
                    "title": value.title,
                    "description": value.description,
                    "policies": list(value.policies),
                },
            },
            study=study,
        )
        have[need] = _store(need, model, version, reply["response"])
        if progress:
            progress(done, len(todo))
    return have


def _store(need: Need, model: str, version: str, response: str) -> TrainingResponse:
    key = {
        "value_id": need.value_id,
        "question_id": need.question_id,
        "context_id": need.context_id,
        "model": model,
        "prompt_version": version,
    }
    try:
        with transaction.atomic():
            return TrainingResponse.objects.create(**key, response=response)
    except IntegrityError:
        # Another export wrote the same response first: the cache keeps the first.
        return TrainingResponse.objects.get(**key)
