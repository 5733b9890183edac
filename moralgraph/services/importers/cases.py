"""case.json, context.json and contextsOnCases.json: the questions, the contexts, and
which questions each context belongs to."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.utils.text import slugify

from elicitation.models import Question
from moralgraph.models import Context
from moralgraph.services.importers.base import ImportState, Progress, rows, show, unique


@dataclass
class Case:
    id: str
    title: str
    question: str
    seed: str


def read_cases(directory: Path, say: Progress) -> tuple[list[Case], dict[str, int]]:
    """The questions, and the row of each id (for other files to check theirs against)."""
    cases = []
    case_rows: dict[str, int] = {}
    for r in rows(directory, "case.json", required=True):
        case_id = r.key("id")
        unique(r, "id", case_id, case_rows)
        title = r.text("title", blank=False, max_length=200)
        cases.append(
            Case(
                case_id,
                title,
                r.text("question", blank=False),
                r.text("seedMessage", null=True) or "",
            )
        )
    say(f"case.json: {len(cases)} questions")
    return cases, case_rows


def read_contexts(directory: Path, say: Progress) -> tuple[list[str], dict[str, int]]:
    contexts = []
    context_rows: dict[str, int] = {}
    for r in rows(directory, "context.json", required=True):
        text = r.text("id", blank=False, max_length=300)
        unique(r, "id", text, context_rows)
        contexts.append(text)
    say(f"context.json: {len(contexts)} contexts")
    return contexts, context_rows


def read_context_links(
    directory: Path, say: Progress, case_rows: dict[str, int], context_rows: dict[str, int]
) -> list[tuple[str, str]] | None:
    """contextsOnCases.json: the reference's own (context, case) links; None without the
    file (the links are then inferred, see link_contexts)."""
    if not (directory / "contextsOnCases.json").is_file():
        return None
    links: dict[tuple[str, str], int] = {}
    for r in rows(directory, "contextsOnCases.json", required=False):
        context = r.text("contextId")
        if context not in context_rows:
            raise r.error("contextId", f"no context {show(context)} in context.json")
        case_field = "caseId" if "caseId" in r.data else "questionId"
        case_id = r.key(case_field)
        if case_id not in case_rows:
            raise r.error(case_field, f"no question with id {case_id!r} in case.json")
        links.setdefault((context, case_id), r.number)
    say(f"contextsOnCases.json: {len(links)} context-question links")
    return list(links)


def write_questions(state: ImportState) -> None:
    existing = {q.external_id: q for q in state.study.questions.exclude(external_id="")}
    keys = set(state.study.questions.values_list("key", flat=True))
    new = []
    for position, case in enumerate(state.dump.cases):
        if case.id in existing:
            continue
        key = base = slugify(case.id)[:70] or f"case-{position}"
        n = 1
        while key in keys:
            n += 1
            key = f"{base}-{n}"
        keys.add(key)
        new.append(
            Question(
                study=state.study,
                key=key,
                title=case.title,
                text=case.question,
                seed_message=case.seed,
                position=position,
                external_id=case.id,
            )
        )
    Question.objects.bulk_create(new)
    state.tally("questions", len(new), len(state.dump.cases) - len(new))
    state.questions = {q.external_id: q for q in state.study.questions.exclude(external_id="")}


def write_contexts(state: ImportState) -> None:
    existing = set(state.study.contexts.values_list("text", flat=True))
    # A context dates from its first use: context.json carries no time.
    first_use: dict[str, datetime] = {}
    for row in [*state.dump.hypotheses, *state.dump.edges]:
        if row.context not in first_use or row.created < first_use[row.context]:
            first_use[row.context] = row.created
    new = [
        Context(
            study=state.study,
            text=text,
            source=Context.Source.IMPORTED,
            external_id=text,
            **({"created_at": first_use[text]} if text in first_use else {}),
        )
        for text in state.dump.contexts
        if text not in existing
    ]
    Context.objects.bulk_create(new)
    state.tally("contexts", len(new), len(state.dump.contexts) - len(new))
    state.contexts = {c.text: c for c in state.study.contexts.all()}


def link_contexts(state: ImportState) -> None:
    """Link each context to its questions: the reference's own links when the dump has
    contextsOnCases.json (an imported context then keeps only those), else inferred."""
    if state.dump.context_links is None:
        links = _inferred_links(state)
        state.report.notes.append(
            "contextsOnCases.json is absent: contexts were linked to the questions of the "
            "values judged in them (inferred, so a context may be linked to a question it "
            "was never asked about)"
        )
    else:
        links = {
            (state.contexts[context].pk, state.questions[case_id].pk)
            for context, case_id in state.dump.context_links
        }
    through = Context.questions.through
    existing = set(
        through.objects.filter(context__study=state.study).values_list("context_id", "question_id")
    )
    new = [through(context_id=c, question_id=q) for c, q in sorted(links - existing)]
    through.objects.bulk_create(new)
    state.tally("context-question links", len(new), len(links) - len(new))
    if state.dump.context_links is not None:
        # Links an earlier import inferred, which the reference never made, go.
        imported = through.objects.filter(
            context__study=state.study, context__source=Context.Source.IMPORTED
        ).values_list("pk", "context_id", "question_id")
        stale = [pk for pk, c, q in imported if (c, q) not in links]
        through.objects.filter(pk__in=stale).delete()
        if stale:
            state.report.created["context-question links removed"] += len(stale)
            state.say(f"context-question links: {len(stale)} not in contextsOnCases.json removed")


def _inferred_links(state: ImportState) -> set[tuple[int, int]]:
    # A value belongs to the questions its cards, votes and impressions were about.
    value_questions: dict[int, set[int]] = defaultdict(set)
    for card in state.dump.cards:
        case_id = state.dump.chats.get(card.chat, (None, None))[1] if card.chat else None
        if card.canonical is not None and case_id is not None:
            value_questions[card.canonical].add(state.questions[case_id].pk)
    for d in [*state.dump.votes, *state.dump.impressions]:
        value_questions[d.value].add(state.questions[d.case].pk)
    links: set[tuple[int, int]] = set()
    for row in [*state.dump.hypotheses, *state.dump.edges]:
        context = state.contexts[row.context]
        for value_id in (row.from_id, row.to_id):
            links.update((context.pk, q) for q in value_questions[value_id])
    return links
