"""Reads for the researchers' pages on the graph side: how far reconciliation has got,
which snapshots there are, and a scored graph laid out for review.

The review follows the questions of a study: for each question and each of its
contexts, the winning value with its confidence and bridging, the ranked values with
how many participants' cards each carries, and the kept edges with their per-group
shares and the story most people agreed with. Then the values with the cards merged
into each, and the merges a researcher may split.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max
from django.utils import timezone

from elicitation.models import Question, Study, ValuesCard, WorkerHeartbeat
from elicitation.selectors import counted_cards
from moralgraph import selectors
from moralgraph.graph import payload
from moralgraph.models import CardMapping, Context, GraphSnapshot, Value, ValueMerge
from moralgraph.selectors import EdgeStory

# A worker's beat task runs every minute: two minutes of silence means none is running.
WORKER_STALE_AFTER = timedelta(minutes=2)
FAILED_SHOWN = 20
SNAPSHOTS_SHOWN = 50
MERGES_SHOWN = 200

# ---------------------------------------------------------------------------------------
# Reconciliation backlog
# ---------------------------------------------------------------------------------------


@dataclass
class Backlog:
    pending: int
    oldest_pending_at: datetime | None
    failed: list[ValuesCard]  # the most recent few
    failed_count: int
    last_placed_at: datetime | None
    worker_seen_at: datetime | None
    graph_changed_at: datetime | None
    scored_at: datetime | None
    now: datetime

    @property
    def worker_alive(self) -> bool:
        return self.worker_seen_at is not None and (
            self.now - self.worker_seen_at <= WORKER_STALE_AFTER
        )

    @property
    def worker_stale_minutes(self) -> int:
        return int(WORKER_STALE_AFTER.total_seconds() // 60)

    @property
    def score_due(self) -> bool:
        """The graph changed after it was last scored."""
        return self.graph_changed_at is not None and (
            self.scored_at is None or self.scored_at < self.graph_changed_at
        )


def backlog(study: Study) -> Backlog:
    """Cards waiting to be placed, cards that failed and why, and whether a worker is
    there to do it (the beat's heartbeat)."""
    pending = selectors.pending_cards(study)
    failed = ValuesCard.objects.filter(
        study=study,
        status=ValuesCard.Status.SUBMITTED,
        reconcile_status=ValuesCard.Reconcile.FAILED,
    )
    study_times = Study.objects.filter(pk=study.pk).values("graph_changed_at", "scored_at").get()
    return Backlog(
        pending=pending.count(),
        oldest_pending_at=pending.values_list("submitted_at", flat=True).first(),
        failed=list(failed.order_by("-reconciled_at", "-id")[:FAILED_SHOWN]),
        failed_count=failed.count(),
        last_placed_at=ValuesCard.objects.filter(
            study=study, reconcile_status=ValuesCard.Reconcile.DONE
        ).aggregate(last=Max("reconciled_at"))["last"],
        worker_seen_at=WorkerHeartbeat.objects.aggregate(last=Max("seen_at"))["last"],
        graph_changed_at=study_times["graph_changed_at"],
        scored_at=study_times["scored_at"],
        now=timezone.now(),
    )


# ---------------------------------------------------------------------------------------
# Snapshots
# ---------------------------------------------------------------------------------------


def snapshots(study: Study) -> list[GraphSnapshot]:
    """The study's snapshots, newest first, without their (large) results."""
    return list(
        GraphSnapshot.objects.filter(study=study)
        .defer("results", "params")
        .order_by("-created_at", "-id")[:SNAPSHOTS_SHOWN]
    )


def pick_snapshot(study: Study, *, mode: str = "", snapshot_id=None) -> GraphSnapshot | None:
    """The snapshot asked for, else the latest in ``mode`` (GraphSnapshot.latest_for;
    default scoring unless asked otherwise). None when the study has none yet."""
    rows = GraphSnapshot.objects.filter(study=study).order_by("-created_at", "-id")
    if snapshot_id:
        try:
            return rows.filter(pk=int(snapshot_id)).first()
        except (TypeError, ValueError):
            return None
    if mode not in GraphSnapshot.Mode.values:
        mode = GraphSnapshot.Mode.DEFAULT
    return GraphSnapshot.latest_for(study, mode)


# ---------------------------------------------------------------------------------------
# The scored graph, per question and context
# ---------------------------------------------------------------------------------------


def _through(holder, field_name: str, name: str):
    inner = holder.__dict__.get(field_name)
    if inner is None or name.startswith("__"):
        raise AttributeError(name)
    return getattr(inner, name)


@dataclass
class RankedValue:
    value_id: str
    value: Value | None
    score: float
    cards: int
    is_winner: bool = False


@dataclass
class ReviewEdge:
    edge: payload.Edge
    from_value: Value | None
    to_value: Value | None
    contexts: list[str] = field(default_factory=list)  # compat only: context texts pooled
    story: EdgeStory | None = None

    def __getattr__(self, name):
        # The edge's figures (share, interval, counts, groups, ...) read straight through.
        return _through(self, "edge", name)


@dataclass
class Winner:
    winner: payload.Winner
    value: Value | None

    def __getattr__(self, name):
        return _through(self, "winner", name)


@dataclass
class ContextReview:
    context_id: str
    text: str
    winner: Winner | None
    ranks: list[RankedValue]
    edges: list[ReviewEdge]  # kept edges only
    compared: int  # every pair compared in this context
    # The pairwise model's status (default scoring): only a confident leader is "wisest";
    # empty in compat, where the reference's PageRank winner stands as it did.
    status: str = ""


@dataclass
class QuestionReview:
    question: Question | None  # None: contexts tied to no question (an import, say)
    contexts: list[ContextReview]


@dataclass
class GraphReview:
    snapshot: GraphSnapshot
    questions: list[QuestionReview]
    values_ranked: int
    kept_edges: int

    @property
    def compat(self) -> bool:
        return self.snapshot.mode == GraphSnapshot.Mode.COMPAT


def _values_by_id(study: Study, ids) -> dict[str, Value]:
    wanted = {int(i) for i in ids if i is not None and str(i).isdigit()}
    return {str(v.pk): v for v in Value.objects.filter(study=study, pk__in=wanted)}


def _card_counts(study: Study) -> dict[str, int]:
    rows = (
        CardMapping.objects.filter(value__study=study, undone_at=None)
        .filter(card__in=counted_cards(study).values("pk"))
        .order_by()
        .values("value_id")
        .annotate(n=Count("pk"))
        .values_list("value_id", "n")
    )
    return {str(value_id): n for value_id, n in rows}


def _context_texts(study: Study, ids) -> dict[str, str]:
    wanted = [int(c) for c in ids if str(c).isdigit()]
    rows = Context.objects.filter(study=study, pk__in=wanted).values_list("pk", "text")
    return {str(pk): text for pk, text in rows}


def graph_review(study: Study, snapshot: GraphSnapshot) -> GraphReview:
    """A snapshot laid out for review: per question and context, the winner, the ranked
    values and the kept edges with the story shown for each. Compat scoring pools the
    contexts: one ranking, one list of edges, under no question."""
    graph = snapshot.payload
    ids = set()
    for scored in graph.contexts:
        ids.update(r.value_id for r in _ranked(scored))
        if scored.winner is not None:
            ids.add(scored.winner.value_id)
        for edge in scored.kept_edges:
            ids.update((edge.from_id, edge.to_id))
    values = _values_by_id(study, ids)
    cards = _card_counts(study)
    # Compat edges pool contexts, so no one context's story belongs to them.
    stories = None if graph.pooled else selectors.EdgeStories(study)
    pooled_texts = _context_texts(
        study, {c for s in graph.contexts for e in s.kept_edges for c in e.contexts}
    )

    reviews: dict[str, ContextReview] = {}
    for scored in graph.contexts:
        edges = [
            ReviewEdge(
                edge=edge,
                from_value=values.get(edge.from_id),
                to_value=values.get(edge.to_id),
                contexts=[pooled_texts.get(c, c) for c in edge.contexts],
                story=(
                    stories.for_edge(scored.context_id, edge.from_id, edge.to_id)
                    if stories
                    else None
                ),
            )
            for edge in scored.kept_edges
        ]
        # Surest first: the Wilson lower bound (default), then the share.
        edges.sort(key=lambda e: (-(e.interval or (0,))[0], -(e.share or 0), e.from_id, e.to_id))
        winner = scored.winner
        reviews[scored.context_id] = ContextReview(
            context_id=scored.context_id,
            text="All contexts, pooled (the reference's scoring)" if graph.pooled else "",
            winner=Winner(winner, values.get(winner.value_id)) if winner else None,
            status=scored.status,
            ranks=[
                RankedValue(
                    value_id=r.value_id,
                    value=values.get(r.value_id),
                    score=r.score,
                    cards=cards.get(r.value_id, 0),
                    is_winner=winner is not None and r.value_id == winner.value_id,
                )
                for r in _ranked(scored)
            ],
            edges=edges,
            compared=len(scored.edges),
        )
    if graph.pooled:
        questions = [QuestionReview(question=None, contexts=list(reviews.values()))]
    else:
        questions = _by_question(study, reviews)
    return GraphReview(
        snapshot=snapshot,
        questions=questions,
        values_ranked=len({r.value_id for c in reviews.values() for r in c.ranks}),
        kept_edges=sum(len(c.edges) for c in reviews.values()),
    )


def _ranked(scored: payload.ScoredContext) -> list[payload.Rank]:
    """The values of a context, best first. In the default scoring, by the pairwise
    model's strength: every value judged there, however few the votes. (PageRank ranks
    only the values of kept edges: with a few dozen judgments spread over many pairs no
    edge is kept yet, and the review would show nothing of what was judged.) Compat
    keeps the reference's PageRank."""
    if not scored.strengths:
        return list(scored.ranks)
    ordered = sorted(scored.strengths, key=lambda s: (-s.strength, s.value_id))
    return [payload.Rank(value_id=s.value_id, score=s.strength) for s in ordered]


def _by_question(study: Study, reviews: dict[str, ContextReview]) -> list[QuestionReview]:
    """Lay the scored contexts out under the study's questions, in the questions' order;
    a context of two questions shows under both, one of none under "other contexts"."""
    ids = [int(c) for c in reviews if c.isdigit()]
    contexts = Context.objects.filter(study=study, pk__in=ids).prefetch_related("questions")
    texts, owners = {}, defaultdict(list)
    for context in contexts:
        texts[str(context.pk)] = context.text
        for question in context.questions.all():
            owners[question.pk].append(str(context.pk))
    for context_id, review in reviews.items():
        review.text = texts.get(context_id, f"Context {context_id}")
    placed = set()
    out = []
    for question in Question.objects.filter(study=study).order_by("position", "id"):
        mine = sorted(owners.get(question.pk, []), key=lambda c: reviews[c].text)
        placed.update(mine)
        out.append(QuestionReview(question=question, contexts=[reviews[c] for c in mine]))
    rest = sorted((c for c in reviews if c not in placed), key=lambda c: reviews[c].text)
    if rest:
        out.append(QuestionReview(question=None, contexts=[reviews[c] for c in rest]))
    return out


# ---------------------------------------------------------------------------------------
# Values, their cards, and merges
# ---------------------------------------------------------------------------------------


@dataclass
class ValueCards:
    value: Value
    cards: list[ValuesCard]


def values_with_cards(study: Study) -> list[ValueCards]:
    """Active values, each with the participants' cards that now count toward it; the
    values carrying most cards first."""
    by_value: dict[int, list[ValuesCard]] = defaultdict(list)
    mappings = (
        CardMapping.objects.filter(value__study=study, value__is_active=True, undone_at=None)
        .select_related("card__question")
        .order_by("card_id")
    )
    for mapping in mappings:
        by_value[mapping.value_id].append(mapping.card)
    values = Value.objects.filter(study=study, is_active=True).order_by("title", "id")
    out = [ValueCards(value=v, cards=by_value.get(v.pk, [])) for v in values]
    out.sort(key=lambda item: -len(item.cards))
    return out


@dataclass
class MergeRow:
    merge: ValueMerge
    cards: list[ValuesCard]

    @property
    def can_split(self) -> bool:
        return self.merge.undone_at is None and self.merge.from_value_id is not None


def merges(study: Study) -> list[MergeRow]:
    """The study's merges, newest first, each with the cards it moved."""
    rows = list(
        ValueMerge.objects.filter(study=study)
        .select_related("into_value", "from_value")
        .order_by("-created_at", "-id")[:MERGES_SHOWN]
    )
    wanted = {int(c) for m in rows for c in (m.card_ids or []) if str(c).isdigit()}
    cards = {c.pk: c for c in ValuesCard.objects.filter(study=study, pk__in=wanted)}
    return [
        MergeRow(
            merge=m,
            cards=[
                cards[int(c)] for c in (m.card_ids or []) if str(c).isdigit() and int(c) in cards
            ],
        )
        for m in rows
    ]
