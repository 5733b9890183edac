"""Reads for the graph picture: a scored snapshot as nodes and edges for the browser, and
the side panel's details of one value or one edge.

The picture shows the latest default snapshot (``GraphSnapshot.latest_for``) through its
typed payload. Nodes are the values ranked in some context, sized by their strength
there (PageRank); edges are the kept edges of every context, pointing at the value
judged wiser, sized by agreement (the wiser share) and coloured by whether they hold in
every group (bridged), are carried by some groups only, or have too few votes per group
to tell. The filters (question, context, group, minimum votes) run in the browser over
the data ``picture_data`` returns, so it carries every figure they need and no more:
texts longer than a title come with the panel, one value or edge at a time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q

from elicitation.models import Question, Study, ValuesCard
from elicitation.selectors import counted_cards, counted_judgments
from moralgraph import selectors
from moralgraph.graph import payload
from moralgraph.models import CardMapping, Context, GraphSnapshot, UpgradeHypothesis, Value
from moralgraph.selectors import EdgeStories

STORIES_SHOWN = 12
POOLED_TEXT = "All contexts, pooled (the reference's scoring)"


def edge_key(context_id: str, from_id: str, to_id: str) -> str:
    """An edge's id in the page's data and the panel's URL: context, less wise, wiser."""
    return f"{context_id}:{from_id}:{to_id}"


def parse_edge_key(text: str) -> tuple[str, str, str] | None:
    parts = (text or "").split(":")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 and all(parts) else None


def _strength(rank: payload.Rank) -> float:
    # The per-context model's strength when a snapshot carries one, else its PageRank.
    strength = getattr(rank, "strength", None)
    return float(strength if strength is not None else rank.score)


def _bridging(edge: payload.Edge) -> str:
    if edge.bridged:
        return "bridged"
    return "carried" if edge.carried_by else "unknown"


def _card_counts(study: Study, value_ids) -> dict[str, int]:
    rows = (
        CardMapping.objects.filter(value__study=study, value_id__in=value_ids, undone_at=None)
        .filter(card__in=counted_cards(study).values("pk"))
        .order_by()
        .values("value_id")
        .annotate(n=Count("pk"))
        .values_list("value_id", "n")
    )
    return {str(value_id): n for value_id, n in rows}


def _contexts(study: Study, graph: payload.ScoredGraph) -> list[dict]:
    if graph.pooled:
        return [
            {
                "id": c.context_id,
                "text": POOLED_TEXT,
                "questions": [],
                "winner": c.winner.value_id if c.winner else None,
            }
            for c in graph.contexts
        ]
    ids = [int(c.context_id) for c in graph.contexts if c.context_id.isdigit()]
    rows = {
        str(c.pk): c
        for c in Context.objects.filter(study=study, pk__in=ids).prefetch_related("questions")
    }
    out = []
    for scored in graph.contexts:
        context = rows.get(scored.context_id)
        out.append(
            {
                "id": scored.context_id,
                "text": context.text if context else f"Context {scored.context_id}",
                "questions": sorted(q.pk for q in context.questions.all()) if context else [],
                "winner": scored.winner.value_id if scored.winner else None,
            }
        )
    out.sort(key=lambda c: c["text"].lower())
    return out


def _edge(scored: payload.ScoredContext, edge: payload.Edge) -> dict:
    return {
        "id": edge_key(scored.context_id, edge.from_id, edge.to_id),
        "context": scored.context_id,
        "source": edge.from_id,
        "target": edge.to_id,
        "share": edge.share,
        "decisive": edge.decisive,
        "bridging": _bridging(edge),
        "carried_by": list(edge.carried_by),
        # Per group: decisive votes and the share of them that said "wiser".
        "groups": {g.group: [g.decisive, g.share] for g in edge.groups},
    }


def picture_data(study: Study, snapshot: GraphSnapshot) -> dict:
    """The snapshot as the page's embedded JSON: the questions and contexts to filter by,
    the groups that voted, the values (with their strength per context) and the kept
    edges (with their agreement, votes and per-group votes)."""
    graph = snapshot.payload
    strength: dict[str, dict[str, float]] = defaultdict(dict)
    edges = []
    for scored in graph.contexts:
        for rank in scored.ranks:
            strength[rank.value_id][scored.context_id] = _strength(rank)
        for edge in scored.kept_edges:
            edges.append(_edge(scored, edge))
            # A kept edge's ends are ranked by scoring; a hand-made payload may not say so.
            for end in (edge.from_id, edge.to_id):
                strength[end].setdefault(scored.context_id, 0.0)
    wanted = [int(v) for v in strength if v.isdigit()]
    titles = dict(
        Value.objects.filter(study=study, pk__in=wanted).values_list("pk", "title").iterator()
    )
    cards = _card_counts(study, wanted)
    values = [
        {
            "id": value_id,
            "title": titles.get(int(value_id), f"Value {value_id}")
            if value_id.isdigit()
            else f"Value {value_id}",
            "cards": cards.get(value_id, 0),
            "strength": per_context,
        }
        for value_id, per_context in sorted(strength.items())
    ]
    questions = [
        {"id": q.pk, "title": q.title or q.text[:80]}
        for q in Question.objects.filter(study=study).order_by("position", "id")
    ]
    groups = sorted({g for e in edges for g in e["groups"]})
    return {
        "snapshot": snapshot.pk,
        "pooled": graph.pooled,
        "questions": [] if graph.pooled else questions,
        "contexts": _contexts(study, graph),
        "groups": groups,
        "values": values,
        "edges": edges,
    }


# ---------------------------------------------------------------------------------------
# The side panel: one value, one edge
# ---------------------------------------------------------------------------------------


@dataclass
class StoryRow:
    story: UpgradeHypothesis
    upgrades: int
    not_upgrades: int
    not_sure: int
    # For a value: told from it to another (or from another to it). For an edge: told
    # from its less wise end to its wiser one (or the other way round).
    outgoing: bool = True
    strongest: bool = False


@dataclass
class ContextStanding:
    context_id: str
    text: str
    rank: int | None
    ranked: int
    won: bool
    strength: float | None


@dataclass
class ValueDetail:
    value: Value
    card: ValuesCard | None  # the card whose wording the value carries
    merged: list[ValuesCard]  # the other cards that now count toward it
    standings: list[ContextStanding]
    stories: list[StoryRow]
    stories_total: int


@dataclass
class EdgeDetail:
    context_id: str
    context_text: str
    edge: payload.Edge
    less_wise: Value | None
    wiser: Value | None
    groups: list[dict] = field(default_factory=list)
    stories: list[StoryRow] = field(default_factory=list)


def _members(roots: dict[int, int], value_id: int) -> set[int]:
    """The value and every value merged into it (through chains of merges): stories are
    told between the values of their day, and count for the values those became."""
    return {value_id, *(v for v, root in roots.items() if root == value_id)}


def _with_votes(study: Study, stories):
    # Counted judgments only, as the scores are: a test participant's vote shows nowhere.
    counted = Q(judgments__in=counted_judgments(study).values("pk"))
    return stories.annotate(
        upgrades=Count("judgments", filter=counted & Q(judgments__verdict="upgrade")),
        not_upgrades=Count("judgments", filter=counted & Q(judgments__verdict="no_upgrade")),
        not_sure=Count("judgments", filter=counted & Q(judgments__verdict="not_sure")),
    ).select_related("from_value", "to_value", "context")


def _story_row(story, **extra) -> StoryRow:
    return StoryRow(
        story=story,
        upgrades=story.upgrades,
        not_upgrades=story.not_upgrades,
        not_sure=story.not_sure,
        **extra,
    )


def _context_texts(study: Study, ids) -> dict[str, str]:
    wanted = [int(c) for c in ids if str(c).isdigit()]
    return {
        str(pk): text
        for pk, text in Context.objects.filter(study=study, pk__in=wanted).values_list("pk", "text")
    }


def value_detail(study: Study, snapshot: GraphSnapshot, value_id) -> ValueDetail | None:
    """A value's card, the cards merged into it, where it stands in each context of the
    snapshot, and the stories told about it (most upgrades first)."""
    if not str(value_id).isdigit():
        return None
    value = (
        Value.objects.filter(study=study, pk=int(value_id))
        .select_related("representative_card")
        .first()
    )
    if value is None:
        return None
    cards = list(
        ValuesCard.objects.filter(mappings__value=value, mappings__undone_at=None)
        .select_related("question")
        .order_by("pk")
    )
    card = value.representative_card
    graph = snapshot.payload
    position = graph.position_of(value.pk)
    texts = (
        {payload.POOLED: POOLED_TEXT}
        if graph.pooled
        else _context_texts(study, [s.context_id for s in position.standings])
    )
    standings = []
    for standing in position.standings:
        scored = graph.context(standing.context_id)
        rank = next((r for r in scored.ranks if r.value_id == str(value.pk)), None)
        standings.append(
            ContextStanding(
                context_id=standing.context_id,
                text=texts.get(standing.context_id, f"Context {standing.context_id}"),
                rank=standing.rank,
                ranked=standing.ranked,
                won=standing.winner_id == str(value.pk),
                strength=_strength(rank) if rank else None,
            )
        )
    standings.sort(key=lambda s: (s.rank is None, s.rank or 0, s.text))
    members = _members(selectors.value_roots(study), value.pk)
    stories = _with_votes(
        study,
        UpgradeHypothesis.objects.filter(study=study).filter(
            Q(from_value_id__in=members) | Q(to_value_id__in=members)
        ),
    ).order_by("-upgrades", "pk")
    return ValueDetail(
        value=value,
        card=card,
        merged=[c for c in cards if card is None or c.pk != card.pk],
        standings=standings,
        stories=[
            _story_row(s, outgoing=s.from_value_id in members) for s in stories[:STORIES_SHOWN]
        ],
        stories_total=stories.count(),
    )


def edge_detail(study: Study, snapshot: GraphSnapshot, key: str) -> EdgeDetail | None:
    """A kept edge's votes per group and the stories told about its pair in its context
    (either way round; the one shown to participants marked)."""
    parsed = parse_edge_key(key)
    if parsed is None:
        return None
    context_id, from_id, to_id = parsed
    graph = snapshot.payload
    scored = graph.context(context_id) if not graph.pooled else None
    if graph.pooled and graph.contexts and context_id == payload.POOLED:
        scored = graph.contexts[0]
    edge = next(
        (e for e in (scored.kept_edges if scored else ()) if (e.from_id, e.to_id) == parsed[1:]),
        None,
    )
    if edge is None:
        return None
    values = {
        str(v.pk): v
        for v in Value.objects.filter(
            study=study, pk__in=[int(i) for i in (from_id, to_id) if i.isdigit()]
        )
    }
    groups = [
        {
            "group": g.group,
            "decisive": g.decisive,
            "share": g.share,
            "wiser": round(g.share * g.decisive) if g.share is not None else None,
        }
        for g in edge.groups
    ]
    detail = EdgeDetail(
        context_id=context_id,
        context_text=POOLED_TEXT
        if graph.pooled
        else _context_texts(study, [context_id]).get(context_id, f"Context {context_id}"),
        edge=edge,
        less_wise=values.get(from_id),
        wiser=values.get(to_id),
        groups=groups,
    )
    if graph.pooled or not (from_id.isdigit() and to_id.isdigit() and context_id.isdigit()):
        return detail  # pooled edges belong to no one context's stories
    roots = selectors.value_roots(study)
    less, more = _members(roots, int(from_id)), _members(roots, int(to_id))
    stories = _with_votes(
        study,
        UpgradeHypothesis.objects.filter(study=study)
        .filter(
            Q(from_value_id__in=less, to_value_id__in=more)
            | Q(from_value_id__in=more, to_value_id__in=less)
        )
        .filter(Q(context_id=int(context_id)) | Q(context__duplicate_of_id=int(context_id))),
    ).order_by("-upgrades", "pk")
    shown = EdgeStories(study).for_edge(context_id, from_id, to_id)
    rows = []
    for story in stories[:STORIES_SHOWN]:
        rows.append(
            _story_row(
                story,
                outgoing=story.from_value_id in less,
                strongest=shown is not None and story.story == shown.text,
            )
        )
    detail.stories = rows
    return detail
