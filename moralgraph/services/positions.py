"""Where a participant's value sits in the scored graph: the done page's short account
and the follow-up's full one. Reads only; both pages read the same snapshot
(``latest_snapshot``) so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from elicitation import selectors
from elicitation.models import Participant, Study, ValuesCard
from moralgraph.models import CardMapping, Context, GraphSnapshot, Value
from moralgraph.selectors import root_of


def participant_value(participant: Participant) -> Value | None:
    """The canonical value the participant's submitted card now counts toward, if any."""
    card = selectors.submitted_card(participant)
    if card is None:
        return None
    value_id = (
        CardMapping.objects.filter(card=card, undone_at=None)
        .values_list("value_id", flat=True)
        .first()
    )
    if value_id is None:
        return None
    return Value.objects.filter(pk=root_of(value_id)).first()


def latest_snapshot(study: Study, mode: str = GraphSnapshot.Mode.DEFAULT) -> GraphSnapshot | None:
    """The study's latest snapshot, by the one rule (GraphSnapshot.latest_for)."""
    return GraphSnapshot.latest_for(study, mode)


@dataclass
class ValuePosition:
    value: Value
    wiser: list[Value] = field(default_factory=list)
    less_wise: list[Value] = field(default_factory=list)
    contexts_won: list[str] = field(default_factory=list)


def value_position(participant: Participant) -> ValuePosition | None:
    """Where the participant's value sits in the latest scored graph (the done page):
    which values people judged wiser than it and less wise, and where it came out
    wisest. None before a snapshot exists or while the value is on no kept edge."""
    value = participant_value(participant)
    if value is None:
        return None
    snapshot = latest_snapshot(participant.study)
    if snapshot is None:
        return None
    place = snapshot.position_of(value)
    wiser, less_wise, won = place.wiser, place.less_wise, place.contexts_won
    if not (wiser or less_wise or won):
        return None

    def _values(ids):
        wanted = [int(i) for i in ids if str(i).isdigit()]
        return list(Value.objects.filter(study_id=participant.study_id, pk__in=wanted))

    contexts = Context.objects.filter(
        study_id=participant.study_id, pk__in=[int(c) for c in won if str(c).isdigit()]
    ).values_list("text", flat=True)
    return ValuePosition(
        value=value, wiser=_values(wiser), less_wise=_values(less_wise), contexts_won=list(contexts)
    )


@dataclass
class Standing:
    """The participant's value in one context of the scored graph."""

    context: str
    on_question: bool  # a context of the participant's own question
    winner: Value | None
    is_winner: bool
    rank: int | None  # 1 is the wisest; None when the value is on no kept edge here
    ranked: int  # how many values the context ranks
    wiser: list[Value] = field(default_factory=list)
    less_wise: list[Value] = field(default_factory=list)


@dataclass
class FollowUp:
    card: ValuesCard | None
    value: Value | None
    snapshot: GraphSnapshot | None
    standings: list[Standing] = field(default_factory=list)

    @property
    def placed(self) -> bool:
        return any(s.rank is not None for s in self.standings)


def follow_up(participant: Participant) -> FollowUp:
    """The participant's card, the value it counts toward, and that value's place in the
    latest scored graph: per context of their question (and any other context where it
    was judged), the winner, its rank, and the values judged wiser or less wise."""
    card = selectors.submitted_card(participant)
    value = participant_value(participant)
    snapshot = latest_snapshot(participant.study)
    result = FollowUp(card=card, value=value, snapshot=snapshot)
    if value is None or snapshot is None:
        return result
    mine = str(value.pk)
    own_contexts = set()
    if participant.question_id is not None:
        own_contexts = {
            str(pk)
            for pk in Context.objects.filter(
                study_id=participant.study_id,
                duplicate_of=None,
                questions=participant.question_id,
            ).values_list("pk", flat=True)
        }
    rows = []
    for scored in snapshot.payload.contexts:
        rank = scored.rank_of(mine)
        if scored.context_id not in own_contexts and rank is None:
            continue
        kept = scored.kept_edges
        rows.append(
            {
                "context_id": scored.context_id,
                "winner": scored.winner.value_id if scored.winner else None,
                "rank": rank,
                "ranked": len(scored.ranks),
                "wiser": [e.to_id for e in kept if e.from_id == mine],
                "less_wise": [e.from_id for e in kept if e.to_id == mine],
            }
        )
    wanted = {
        int(i)
        for row in rows
        for i in [row["winner"], *row["wiser"], *row["less_wise"]]
        if i is not None and str(i).isdigit()
    }
    values = {
        str(v.pk): v for v in Value.objects.filter(study_id=participant.study_id, pk__in=wanted)
    }
    texts = dict(
        Context.objects.filter(
            study_id=participant.study_id,
            pk__in=[int(r["context_id"]) for r in rows if r["context_id"].isdigit()],
        ).values_list("pk", "text")
    )
    for row in rows:
        text = texts.get(int(row["context_id"])) if row["context_id"].isdigit() else None
        if text is None:
            continue
        result.standings.append(
            Standing(
                context=text,
                on_question=row["context_id"] in own_contexts,
                winner=values.get(str(row["winner"])),
                is_winner=row["winner"] == mine,
                rank=row["rank"],
                ranked=row["ranked"],
                wiser=[values[i] for i in row["wiser"] if i in values],
                less_wise=[values[i] for i in row["less_wise"] if i in values],
            )
        )
    # The participant's own question first, then where the value did best.
    result.standings.sort(key=lambda s: (not s.on_question, s.rank is None, s.rank or 0, s.context))
    return result
