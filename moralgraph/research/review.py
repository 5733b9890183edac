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

from django.db.models import Count, Max, Q
from django.utils import timezone

from elicitation.models import Question, Study, ValuesCard, WorkerHeartbeat
from moralgraph import selectors
from moralgraph.models import (
    CardMapping,
    Context,
    GraphSnapshot,
    UpgradeHypothesis,
    Value,
    ValueMerge,
)

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
    """The snapshot asked for, else the newest over all judgments in ``mode`` (default
    scoring unless asked otherwise). None when the study has none yet."""
    rows = GraphSnapshot.objects.filter(study=study).order_by("-created_at", "-id")
    if snapshot_id:
        try:
            return rows.filter(pk=int(snapshot_id)).first()
        except (TypeError, ValueError):
            return None
    if mode not in GraphSnapshot.Mode.values:
        mode = GraphSnapshot.Mode.DEFAULT
    rows = rows.filter(mode=mode)
    return rows.filter(as_of=None).first() or rows.first()


# ---------------------------------------------------------------------------------------
# The scored graph, per question and context
# ---------------------------------------------------------------------------------------


@dataclass
class RankedValue:
    value_id: str
    value: Value | None
    score: float
    cards: int
    is_winner: bool = False


@dataclass
class GroupShare:
    group: str
    decisive: int
    share: float | None


@dataclass
class ReviewEdge:
    from_id: str
    to_id: str
    from_value: Value | None
    to_value: Value | None
    share: float | None  # default: wiser share; compat: wiserLikelihood
    interval: list[float] | None  # default only: Wilson interval of the share
    decisive: int
    counts: dict
    groups: list[GroupShare] = field(default_factory=list)
    bridged: bool = False
    carried_by: list[str] = field(default_factory=list)
    entropy: float | None = None  # compat only
    contexts: list[str] = field(default_factory=list)  # compat only: context texts pooled
    story: str = ""
    story_votes: int = 0


@dataclass
class Winner:
    value_id: str
    value: Value | None
    confidence: float | None
    interval: list[float] | None
    wins: int
    decisive: int
    margin: float | None
    groups: list[GroupShare]
    bridged: bool
    carried_by: list[str]


@dataclass
class ContextReview:
    context_id: str
    text: str
    winner: Winner | None
    ranks: list[RankedValue]
    edges: list[ReviewEdge]  # kept edges only
    compared: int  # every pair compared in this context


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


def _groups(data: dict | None) -> list[GroupShare]:
    return [
        GroupShare(group=group, decisive=info.get("decisive", 0), share=info.get("wiser_share"))
        for group, info in sorted((data or {}).items())
    ]


def _values_by_id(study: Study, ids) -> dict[str, Value]:
    wanted = {int(i) for i in ids if i is not None and str(i).isdigit()}
    return {str(v.pk): v for v in Value.objects.filter(study=study, pk__in=wanted)}


def _card_counts(study: Study) -> dict[str, int]:
    rows = (
        CardMapping.objects.filter(value__study=study, undone_at=None)
        .order_by()
        .values("value_id")
        .annotate(n=Count("pk"))
        .values_list("value_id", "n")
    )
    return {str(value_id): n for value_id, n in rows}


def _strongest_stories(study: Study) -> dict[tuple[str, str, str], tuple[int, str]]:
    """(context, from, to) -> (upgrade votes, story): of the stories told in the edge's
    direction, the one most participants judged an upgrade. Ids as the snapshot has them:
    values through merges, contexts through their duplicates."""
    roots = selectors.value_roots(study)
    rows = (
        UpgradeHypothesis.objects.filter(study=study)
        .annotate(upgrades=Count("judgments", filter=Q(judgments__verdict="upgrade")))
        .values_list(
            "from_value_id",
            "to_value_id",
            "context_id",
            "context__duplicate_of_id",
            "story",
            "upgrades",
        )
    )
    best: dict[tuple[str, str, str], tuple[int, str]] = {}
    for from_id, to_id, context_id, duplicate_of, story, upgrades in rows:
        key = (
            str(duplicate_of or context_id),
            str(roots.get(from_id, from_id)),
            str(roots.get(to_id, to_id)),
        )
        if key not in best or upgrades > best[key][0]:
            best[key] = (upgrades, story)
    return best


def graph_review(study: Study, snapshot: GraphSnapshot) -> GraphReview:
    if snapshot.mode == GraphSnapshot.Mode.COMPAT:
        return _compat_review(study, snapshot)
    results = snapshot.results or {}
    scored = results.get("contexts", [])
    value_ids = set()
    for context in scored:
        value_ids.update(r.get("value_id") for r in context.get("ranks", []))
        for edge in context.get("edges", []):
            if edge.get("kept"):
                value_ids.update((edge.get("from_id"), edge.get("to_id")))
    values = _values_by_id(study, value_ids)
    cards = _card_counts(study)
    stories = _strongest_stories(study)

    reviews: dict[str, ContextReview] = {}
    for context in scored:
        context_id = str(context.get("context_id"))
        winner = context.get("winner")
        winner_id = str(winner["value_id"]) if winner else None
        edges = []
        for edge in context.get("edges", []):
            if not edge.get("kept"):
                continue
            from_id, to_id = str(edge["from_id"]), str(edge["to_id"])
            votes, story = stories.get((context_id, from_id, to_id), (0, ""))
            edges.append(
                ReviewEdge(
                    from_id=from_id,
                    to_id=to_id,
                    from_value=values.get(from_id),
                    to_value=values.get(to_id),
                    share=edge.get("wiser_share"),
                    interval=edge.get("interval"),
                    decisive=edge.get("decisive", 0),
                    counts=edge.get("counts", {}),
                    groups=_groups(edge.get("groups")),
                    bridged=bool(edge.get("bridged")),
                    carried_by=list(edge.get("carried_by") or []),
                    story=story,
                    story_votes=votes,
                )
            )
        edges.sort(key=lambda e: (-(e.interval or [0])[0], -(e.share or 0), e.from_id, e.to_id))
        reviews[context_id] = ContextReview(
            context_id=context_id,
            text="",
            winner=(
                Winner(
                    value_id=winner_id,
                    value=values.get(winner_id),
                    confidence=winner.get("confidence"),
                    interval=winner.get("interval"),
                    wins=winner.get("wins", 0),
                    decisive=winner.get("decisive", 0),
                    margin=winner.get("margin"),
                    groups=_groups(winner.get("groups")),
                    bridged=bool(winner.get("bridged")),
                    carried_by=list(winner.get("carried_by") or []),
                )
                if winner
                else None
            ),
            ranks=[
                RankedValue(
                    value_id=str(r["value_id"]),
                    value=values.get(str(r["value_id"])),
                    score=r.get("pagerank", 0.0),
                    cards=cards.get(str(r["value_id"]), 0),
                    is_winner=str(r["value_id"]) == winner_id,
                )
                for r in context.get("ranks", [])
            ],
            edges=edges,
            compared=len(context.get("edges", [])),
        )
    questions = _by_question(study, reviews)
    return GraphReview(
        snapshot=snapshot,
        questions=questions,
        values_ranked=len({r.value_id for c in reviews.values() for r in c.ranks}),
        kept_edges=sum(len(c.edges) for c in reviews.values()),
    )


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


def _compat_review(study: Study, snapshot: GraphSnapshot) -> GraphReview:
    """The reference's scoring pools contexts: one ranking, one list of kept edges."""
    results = snapshot.results or {}
    ranked = sorted(
        results.get("values", []), key=lambda v: (-(v.get("pageRank") or 0), str(v.get("id")))
    )
    kept = results.get("edges", [])
    ids = {str(v.get("id")) for v in ranked}
    for edge in kept:
        ids.update((str(edge.get("sourceValueId")), str(edge.get("wiserValueId"))))
    values = _values_by_id(study, ids)
    cards = _card_counts(study)
    context_ids = {c for edge in kept for c in edge.get("contexts", [])}
    texts = {
        str(pk): text
        for pk, text in Context.objects.filter(
            study=study, pk__in=[int(c) for c in context_ids if str(c).isdigit()]
        ).values_list("pk", "text")
    }
    edges = []
    for edge in kept:
        from_id, to_id = str(edge["sourceValueId"]), str(edge["wiserValueId"])
        counts = edge.get("counts", {})
        summary = edge.get("summary", {})
        edges.append(
            ReviewEdge(
                from_id=from_id,
                to_id=to_id,
                from_value=values.get(from_id),
                to_value=values.get(to_id),
                share=summary.get("wiserLikelihood"),
                interval=None,
                decisive=counts.get("markedWiser", 0) + counts.get("markedNotWiser", 0),
                counts=counts,
                entropy=summary.get("entropy"),
                contexts=[texts.get(str(c), str(c)) for c in edge.get("contexts", [])],
            )
        )
    edges.sort(key=lambda e: (-(e.share or 0), e.from_id, e.to_id))
    top = str(ranked[0]["id"]) if ranked else None
    pooled = ContextReview(
        context_id="pooled",
        text="All contexts, pooled (the reference's scoring)",
        winner=(
            Winner(
                value_id=top,
                value=values.get(top),
                confidence=None,
                interval=None,
                wins=0,
                decisive=0,
                margin=(ranked[0]["pageRank"] - ranked[1]["pageRank"]) if len(ranked) > 1 else None,
                groups=[],
                bridged=False,
                carried_by=[],
            )
            if top
            else None
        ),
        ranks=[
            RankedValue(
                value_id=str(v["id"]),
                value=values.get(str(v["id"])),
                score=v.get("pageRank") or 0.0,
                cards=cards.get(str(v["id"]), 0),
                is_winner=str(v["id"]) == top,
            )
            for v in ranked
        ],
        edges=edges,
        compared=len(results.get("all_pairs", [])),
    )
    return GraphReview(
        snapshot=snapshot,
        questions=[QuestionReview(question=None, contexts=[pooled])],
        values_ranked=len(ranked),
        kept_edges=len(edges),
    )


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
