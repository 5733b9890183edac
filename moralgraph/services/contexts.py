"""Contexts: the "When ..." situations in which a value applies.

They come from each question (once, when the study is reconciled first) and from each
submitted interview (once, claimed by Interview.contexts_extracted_at), and are
deduplicated the way cards are: a context whose text is new is compared, by embedding,
with the study's canonical contexts, and the LLM judge decides; a duplicate points at
the context it duplicates (duplicate_of) and hands it its questions.

All functions here expect the caller to hold the study lock (moralgraph.locks).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from elicitation import llm
from elicitation.llm import embeddings
from elicitation.models import Interview, Message, Question, Study, WiserJudgment
from moralgraph import selectors
from moralgraph.models import Context, UpgradeHypothesis

logger = logging.getLogger(__name__)


def min_similarity() -> float:
    return settings.CONTEXT_MIN_SIMILARITY


@dataclass
class ContextStats:
    created: int = 0
    merged: int = 0
    interviews: int = 0
    questions: int = 0
    failures: int = 0


def clean_text(text: str) -> str:
    """One spelling per context: collapsed spaces, no final full stop, capital W."""
    text = re.sub(r"\s+", " ", str(text)).strip().rstrip(".")
    if text[:1].islower():
        text = text[:1].upper() + text[1:]
    return text[:300]


def _add_contexts(
    study: Study, texts: list[str], *, question: Question, source: str, stats: ContextStats
) -> list[Context]:
    found = []
    for raw in texts:
        text = clean_text(raw)
        if not text:
            continue
        context = Context.objects.filter(study=study, text__iexact=text).first()
        if context is None:
            context, created = Context.objects.get_or_create(
                study=study, text=text, defaults={"source": source}
            )
            stats.created += int(created)
        canonical = context.duplicate_of or context
        canonical.questions.add(question)
        if canonical.pk != context.pk:
            context.questions.add(question)
        found.append(canonical)
    return found


def extract_question_contexts(study: Study, stats: ContextStats | None = None) -> ContextStats:
    """Ask for the contexts of every question that has none from its own text yet.

    Called by every reconcile pass, so a study's questions get contexts as soon as the
    study is first reconciled; a question already done costs nothing.
    """
    stats = stats or ContextStats()
    prompt = llm.load_prompt("moralgraph/contexts")
    for question in selectors.questions_without_contexts(study):
        try:
            reply = llm.structured(
                stage="contexts", prompt=prompt, payload={"question": question.text}, study=study
            )
        except llm.LLMError as error:
            if error.retryable:
                raise
            # Left without contexts; the next pass asks again.
            logger.warning("contexts of question %s failed: %s", question.pk, error)
            stats.failures += 1
            continue
        with transaction.atomic():
            _add_contexts(
                study,
                reply["contexts"],
                question=question,
                source=Context.Source.QUESTION,
                stats=stats,
            )
        stats.questions += 1
    return stats


def _transcript(interview: Interview) -> list[dict]:
    messages = interview.messages.filter(status=Message.Status.COMPLETE).order_by("seq")
    return [{"role": m.role, "content": m.content} for m in messages if m.content]


def extract_interview_contexts(
    study: Study, interview: Interview, stats: ContextStats | None = None
) -> ContextStats:
    """Contexts a participant's interview adds to its question's. Once per interview."""
    stats = stats or ContextStats()
    if interview.contexts_extracted_at is not None:
        return stats
    prompt = llm.load_prompt("moralgraph/contexts")
    try:
        reply = llm.structured(
            stage="contexts",
            prompt=prompt,
            payload={"question": interview.question.text, "transcript": _transcript(interview)},
            study=study,
        )
        texts = reply["contexts"]
    except llm.LLMError as error:
        if error.retryable:
            raise
        # The question's own contexts still cover this interview: mark it read rather
        # than paying for the same failure on every pass.
        logger.warning("contexts of interview %s failed: %s", interview.pk, error)
        stats.failures += 1
        texts = []
    with transaction.atomic():
        claimed = Interview.objects.filter(pk=interview.pk, contexts_extracted_at=None).update(
            contexts_extracted_at=timezone.now()
        )
        if claimed != 1:
            return stats  # someone else got there first
        _add_contexts(
            study,
            texts,
            question=interview.question,
            source=Context.Source.INTERVIEW,
            stats=stats,
        )
    stats.interviews += 1
    return stats


def _as_card(context: Context) -> dict:
    # The dedup stage compares cards; a context is a card whose every field is its text.
    return {"title": context.text, "description": context.text, "policies": [context.text]}


def dedup_contexts(study: Study, stats: ContextStats | None = None) -> ContextStats:
    """Fold each new context into an earlier canonical one the judge calls the same.

    A context's vector is stored only once it has been judged, so a stored vector means
    "deduplicated": a pass killed half way leaves the rest to the next pass. Older
    contexts win, so stories already written for them stay where they are.
    """
    stats = stats or ContextStats()
    fresh = list(selectors.canonical_contexts(study).filter(embedding=None))
    if not fresh:
        return stats
    vecs = llm.embed([context.text for context in fresh], study=study)
    prompt = llm.load_prompt("moralgraph/context_dedup")
    for context, vec in zip(fresh, vecs, strict=True):
        earlier = [
            (c.pk, c.embedding)
            for c in selectors.canonical_contexts(study)
            .exclude(pk=context.pk)
            .exclude(embedding=None)
        ]
        candidates = embeddings.nearest(vec, earlier, k=3, threshold=min_similarity())
        into = None
        for other_id, _similarity in candidates:
            other = Context.objects.get(pk=other_id)
            try:
                reply = llm.structured(
                    stage="dedup",
                    prompt=prompt,
                    payload={"a": _as_card(context), "b": _as_card(other)},
                    study=study,
                )
            except llm.LLMError as error:
                if error.retryable:
                    raise
                logger.warning("context dedup %s/%s failed: %s", context.pk, other.pk, error)
                stats.failures += 1
                continue
            if reply["same"]:
                into = other
                break
        with transaction.atomic():
            Context.objects.filter(pk=context.pk).update(embedding=embeddings.to_bytes(vec))
            if into is not None:
                _fold(context, into=into)
                stats.merged += 1
    return stats


def _fold(context: Context, *, into: Context) -> None:
    """Make ``context`` a duplicate of ``into``; judged stories move with it, so the graph
    changed."""
    Context.objects.filter(pk=context.pk).update(duplicate_of=into)
    Context.objects.filter(duplicate_of=context).update(duplicate_of=into)
    into.questions.add(*context.questions.all())
    stories = UpgradeHypothesis.objects.filter(context=context, is_active=True)
    judged = WiserJudgment.objects.filter(hypothesis__in=stories).exists()
    stories.update(is_active=False)
    if judged:
        Study.objects.filter(pk=context.study_id).update(graph_changed_at=timezone.now())
