"""Reads of the graph side that are more than one queryset line."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from elicitation.models import Participant, Question, Selection, Study, ValuesCard
from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value, ValueMerge

# Longer than any real chain of merges (each merge takes a whole cluster).
_MAX_CHAIN = 10_000


def value_roots(study: Study) -> dict[int, int]:
    """Map every merged-away value of a study to the active value it now counts toward.

    A value has at most one merge out that is not undone, so following those links ends
    at a value with none. Values absent from the map are their own root.
    """
    # Read at once, not through .iterator(): inside a transaction (every draw is in one)
    # that is a server-side cursor, three round trips (DECLARE, FETCH, CLOSE) for what is
    # a few hundred pairs of ids even in a large study.
    links = dict(
        ValueMerge.objects.filter(
            study=study, undone_at=None, from_value__isnull=False
        ).values_list("from_value_id", "into_value_id")
    )
    roots: dict[int, int] = {}
    for start in links:
        node, seen = start, {start}
        while node in links:
            node = links[node]
            if node in seen:  # a cycle would be a bug elsewhere; never loop on it
                break
            seen.add(node)
        roots[start] = node
    return roots


def root_of(value_id: int) -> int:
    """The active value that ``value_id`` now counts toward (itself if never merged).

    One query however long the chain of merges: a recursive CTE follows the merges not
    undone (capped, so a cycle, a bug elsewhere, cannot loop).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE chain(value_id, depth) AS (
                SELECT CAST(%s AS BIGINT), 0
                UNION ALL
                SELECT CAST(m.into_value_id AS BIGINT), chain.depth + 1
                FROM moralgraph_valuemerge m JOIN chain ON m.from_value_id = chain.value_id
                WHERE m.undone_at IS NULL AND chain.depth < %s
            )
            SELECT value_id FROM chain ORDER BY depth DESC LIMIT 1
            """,
            [value_id, _MAX_CHAIN],
        )
        return cursor.fetchone()[0]


def current_card_ids(value: Value) -> list[int]:
    return list(
        CardMapping.objects.filter(value=value, undone_at=None)
        .order_by("card_id")
        .values_list("card_id", flat=True)
    )


def pending_cards(study: Study):
    """Submitted cards that reconciliation has not yet placed, oldest first."""
    return ValuesCard.objects.filter(
        study=study,
        status=ValuesCard.Status.SUBMITTED,
        reconcile_status=ValuesCard.Reconcile.PENDING,
    ).order_by("submitted_at", "id")


def unembedded_cards(study: Study, model: str):
    """Pending cards with no vector, or one from another embedding model."""
    return pending_cards(study).filter(Q(embedded_at=None) | ~Q(embedding_model=model))


def interviews_without_contexts(study: Study):
    """Interviews whose card was submitted and whose transcript has not been read for
    contexts yet."""
    submitted = ValuesCard.objects.filter(
        interview=OuterRef("pk"), status=ValuesCard.Status.SUBMITTED
    )
    return (
        study_interviews(study)
        .filter(contexts_extracted_at=None)
        .filter(Exists(submitted))
        .select_related("question")
        .order_by("id")
    )


def study_interviews(study: Study):
    from elicitation.models import Interview

    return Interview.objects.filter(question__study=study)


def questions_without_contexts(study: Study):
    has_context = Context.objects.filter(questions=OuterRef("pk"), source=Context.Source.QUESTION)
    return Question.objects.filter(study=study).exclude(Exists(has_context)).order_by("id")


def canonical_contexts(study: Study):
    """Contexts that are not marked as duplicates of another."""
    return Context.objects.filter(study=study, duplicate_of=None).order_by("id")


def active_values(study: Study):
    return Value.objects.filter(study=study, is_active=True).order_by("id")


def value_ids_by_question(study: Study) -> dict[int, set[int]]:
    """Active values per question, through the questions of the cards mapped to them."""
    rows = CardMapping.objects.filter(
        undone_at=None, value__study=study, value__is_active=True, card__question__isnull=False
    ).values_list("card__question_id", "value_id")
    by_question: dict[int, set[int]] = defaultdict(set)
    for question_id, value_id in rows.iterator():
        by_question[question_id].add(value_id)
    return by_question


def coselected_pairs(question_id: int, roots: dict[int, int]) -> dict[tuple[int, int], int]:
    """How many participants selected both values of a pair for a question (ids resolved
    through merges, pairs as (low, high))."""
    picks: dict[int, set[int]] = defaultdict(set)
    rows = Selection.objects.filter(question_id=question_id).values_list(
        "participant_id", "value_id"
    )
    for participant_id, value_id in rows.iterator():
        picks[participant_id].add(roots.get(value_id, value_id))
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for chosen in picks.values():
        ordered = sorted(chosen)
        for i, low in enumerate(ordered):
            for high in ordered[i + 1 :]:
                counts[(low, high)] += 1
    return counts


def hypothesis_pairs(context: Context) -> set[tuple[int, int]]:
    """Unordered value pairs (low, high) that already have a story in a context, in either
    direction, active or retired."""
    rows = UpgradeHypothesis.objects.filter(context=context).values_list(
        "from_value_id", "to_value_id"
    )
    return {(min(a, b), max(a, b)) for a, b in rows.iterator()}


def existing_hypotheses(context: Context) -> set[tuple[int, int]]:
    """Ordered (from, to) pairs that already have a story in a context."""
    return set(
        UpgradeHypothesis.objects.filter(context=context).values_list(
            "from_value_id", "to_value_id"
        )
    )


def split_pairs(study: Study) -> set[tuple[int, int]]:
    """Value pairs (low, high) whose merge an admin undid: dedup must not redo it."""
    rows = ValueMerge.objects.filter(
        study=study, undone_at__isnull=False, from_value__isnull=False
    ).values_list("from_value_id", "into_value_id")
    return {(min(a, b), max(a, b)) for a, b in rows}


def studies_needing_work(*, stale_after: timedelta):
    """Studies with work left for longer than ``stale_after`` (a lost message or a dead
    worker): a pending card, an interview not yet read for contexts, or, in an open
    study, a question with no contexts of its own."""
    cutoff = timezone.now() - stale_after
    stale_card = ValuesCard.objects.filter(
        study=OuterRef("pk"),
        status=ValuesCard.Status.SUBMITTED,
        reconcile_status=ValuesCard.Reconcile.PENDING,
    ).filter(Q(submitted_at__lt=cutoff) | Q(submitted_at=None))
    unread = ValuesCard.objects.filter(
        study=OuterRef("pk"),
        status=ValuesCard.Status.SUBMITTED,
        interview__isnull=False,
        interview__contexts_extracted_at=None,
        reconcile_status=ValuesCard.Reconcile.DONE,
        reconciled_at__lt=cutoff,
    )
    has_context = Context.objects.filter(questions=OuterRef("pk"), source=Context.Source.QUESTION)
    bare_question = Question.objects.filter(study=OuterRef("pk")).exclude(Exists(has_context))
    return Study.objects.filter(
        Exists(stale_card) | Exists(unread) | (Q(status=Study.Status.LIVE) & Exists(bare_question))
    ).order_by("id")


def studies_needing_score():
    """Studies whose graph changed after they were last scored (or never scored)."""
    return Study.objects.filter(graph_changed_at__isnull=False).filter(
        Q(scored_at=None) | Q(scored_at__lt=F("graph_changed_at"))
    )


@dataclass(frozen=True)
class EdgeStory:
    text: str
    upgrades: int  # participants who judged this story an upgrade
    reverse: bool  # told the other way round: no story was told in the edge's direction


def _retitle(text: str, old: str | None, new: str | None) -> str:
    """``text`` with every whole mention of the title ``old`` (any case) written ``new``."""
    if not old or not new or old == new:
        return text
    pattern = re.compile(rf"(?<!\w){re.escape(old)}(?!\w)", re.IGNORECASE)
    return pattern.sub(lambda _: new, text)


class EdgeStories:
    """The story shown for each edge of a scored graph: the one rule, for every page and
    export that shows one.

    Of the stories told in the edge's direction (values resolved through merges,
    contexts through their duplicates, as the snapshot has them), the one most
    participants judged an upgrade, the oldest on a tie; when none was told that way,
    the one told the other way round by the same measure, marked ``reverse``.

    A story told of a value that was merged since names it by its old title: that title
    is replaced by the canonical value's, so that no page or export (the constitution)
    quotes a title the graph no longer has.
    """

    def __init__(self, study: Study):
        roots = value_roots(study)
        titles = dict(Value.objects.filter(study=study).values_list("pk", "title")) if roots else {}
        rows = (
            UpgradeHypothesis.objects.filter(study=study)
            .annotate(upgrades=Count("judgments", filter=Q(judgments__verdict="upgrade")))
            .order_by("pk")
            .values_list(
                "from_value_id",
                "to_value_id",
                "context_id",
                "context__duplicate_of_id",
                "story",
                "upgrades",
            )
        )
        self._best: dict[tuple[str, str, str], tuple[int, str]] = {}
        for from_id, to_id, context_id, duplicate_of, story, upgrades in rows:
            for value_id in (from_id, to_id):
                if value_id in roots:
                    story = _retitle(story, titles.get(value_id), titles.get(roots[value_id]))
            key = (
                str(duplicate_of or context_id),
                str(roots.get(from_id, from_id)),
                str(roots.get(to_id, to_id)),
            )
            # Rows come oldest first: a later story must have strictly more upgrades.
            if key not in self._best or upgrades > self._best[key][0]:
                self._best[key] = (upgrades, story)

    def for_edge(self, context_id, from_id, to_id) -> EdgeStory | None:
        context_id, from_id, to_id = str(context_id), str(from_id), str(to_id)
        found = self._best.get((context_id, from_id, to_id))
        if found is not None:
            return EdgeStory(text=found[1], upgrades=found[0], reverse=False)
        found = self._best.get((context_id, to_id, from_id))
        if found is not None:
            return EdgeStory(text=found[1], upgrades=found[0], reverse=True)
        return None


# One statement of our own: every participant's draw reads it (twice on the way to the
# judgments), and the queryset it replaces, two queries and three subqueries, cost more
# to build than to run.
_MODERATED = """
SELECT v.{id} FROM {value} v
WHERE v.{study} = %s AND (
    v.{hidden} IS NOT NULL
    OR (
        EXISTS (SELECT 1 FROM {mapping} m WHERE m.{m_value} = v.{id} AND m.{undone} IS NULL)
        AND NOT EXISTS (
            SELECT 1 FROM {mapping} m
            JOIN {card} c ON c.{id} = m.{m_card}
            LEFT JOIN {participant} p ON p.{id} = c.{c_participant}
            WHERE m.{m_value} = v.{id} AND m.{undone} IS NULL AND c.{c_hidden} IS NULL
              AND (p.{id} IS NULL OR NOT p.{is_test})
        )
    )
)
"""


def moderated_value_ids(study: Study) -> set[int]:
    """Values kept out of the graph: hidden by a researcher, or left with no counted card
    (every card hidden, or a test participant's: a pilot's or a simulation's values never
    reach real participants). A value with no cards at all, say an imported one, stays.

    Draws, stories, scoring and exports all leave these out; ids of merged-away values
    count as their root (callers resolve through ``value_roots``).
    """
    q = connection.ops.quote_name
    column = lambda model, name: q(model._meta.get_field(name).column)  # noqa: E731
    sql = _MODERATED.format(
        value=q(Value._meta.db_table),
        mapping=q(CardMapping._meta.db_table),
        card=q(ValuesCard._meta.db_table),
        participant=q(Participant._meta.db_table),
        id=q("id"),
        study=column(Value, "study"),
        hidden=column(Value, "hidden_at"),
        m_value=column(CardMapping, "value"),
        m_card=column(CardMapping, "card"),
        undone=column(CardMapping, "undone_at"),
        c_hidden=column(ValuesCard, "hidden_at"),
        c_participant=column(ValuesCard, "participant"),
        is_test=column(Participant, "is_test"),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [study.pk])
        return {row[0] for row in cursor.fetchall()}
