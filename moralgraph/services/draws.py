"""What a participant is shown from the graph: the values they select from and the
upgrade stories they judge.

The participant side never imports this app; it reaches these draws through the
journey's step-drawer registry (``elicitation.journey.register_step_drawer``), which
moralgraph's app config fills. A drawer runs inside the transaction that moves the
participant onto the step, records what it drew (Impressions, JudgmentAssignments) so a
reload shows the same, and says whether there is anything to show.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import router
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce

from elicitation import selectors
from elicitation.llm import embeddings
from elicitation.models import (
    Impression,
    JudgmentAssignment,
    Participant,
    Question,
    Selection,
    ValuesCard,
    WiserJudgment,
)
from moralgraph import selectors as graph_selectors
from moralgraph.graph import adaptive as adaptive_policy
from moralgraph.models import CardMapping, Context, UpgradeHypothesis, Value
from moralgraph.services import adaptive

# Too few values to choose from makes the selection step pointless; it is skipped.
MIN_VALUES_FOR_SELECTION = 2


def draw_selection(participant: Participant) -> bool:
    """Draw the values to show (once: a reload shows the same ones). False to skip."""
    if participant.impressions.filter(question_id=participant.question_id).exists():
        return True
    study = participant.study
    drawn = draw_values(participant, count=study.selection_count)
    if len(drawn) < max(MIN_VALUES_FOR_SELECTION, study.min_selections):
        return False
    draw_id = uuid.uuid4().hex
    Impression.objects.bulk_create(
        [
            Impression(
                participant=participant,
                value=item.value,
                question_id=participant.question_id,
                draw_id=draw_id,
                reason=item.reason,
            )
            for item in drawn
        ]
    )
    return True


def draw_judgments(participant: Participant) -> bool:
    """Draw the upgrade stories to judge (once). False to skip the step."""
    if JudgmentAssignment.objects.filter(participant=participant).exists():
        return selectors.has_open_assignments(participant)
    drawn = draw_stories(participant, count=participant.study.judgment_count)
    if not drawn:
        return False
    JudgmentAssignment.objects.bulk_create(
        [
            JudgmentAssignment(
                participant=participant,
                hypothesis=story.hypothesis,
                position=i,
                policy=story.policy,
                context_status=story.context_status,
            )
            for i, story in enumerate(drawn)
        ]
    )
    return True


# ---------------------------------------------------------------------------------------
# Values to select from
# ---------------------------------------------------------------------------------------


def own_value_ids(participant: Participant, roots: dict[int, int] | None = None) -> set[int]:
    """The values the participant's own cards count toward, following merges: the value
    each card is mapped to and the value that one was merged into, if it was. Nobody is
    shown their own value to select, nor asked to judge a story about it."""
    mapped = set(
        CardMapping.objects.filter(card__participant=participant, undone_at=None).values_list(
            "value_id", flat=True
        )
    )
    if not mapped:
        return set()
    if roots is None:
        roots = graph_selectors.value_roots(participant.study)
    return mapped | {roots.get(value_id, value_id) for value_id in mapped}


def question_values(question: Question, *, exclude: set[int] = frozenset()):
    """Active values that some submitted card for ``question`` counts toward."""
    mapped = CardMapping.objects.filter(
        value=OuterRef("pk"),
        undone_at=None,
        card__question=question,
        card__status=ValuesCard.Status.SUBMITTED,
    )
    return (
        Value.objects.filter(study_id=question.study_id, is_active=True)
        .filter(Exists(mapped))
        .exclude(pk__in=exclude)
    )


def _count_per_value(model, question: Question):
    """How many ``model`` rows (impressions, selections) each value has on ``question``.

    A counting subquery per value, not a join: joining both impressions and selections
    made a row for every impression times every selection of a value (55,778 rows, 16 ms
    of PostgreSQL in each participant's draw once 500 had been through a question of
    five values), to be counted back with DISTINCT.
    """
    rows = (
        model.objects.filter(value=OuterRef("pk"), question=question)
        .order_by()
        .values("value")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


@dataclass
class Drawn:
    value: Value
    reason: str  # near, popular or sparse: why the draw picked it


def _query_vector(participant: Participant):
    """The participant's card as a vector, to find values near it; None when unknown.

    Before the background work has embedded the card, the local embedding stands in,
    but only when the study embeds locally (a model's vectors would not compare).
    """
    card = selectors.submitted_card(participant) or selectors.draft_card(participant)
    if card is None:
        return None
    if card.embedding:
        return card.embedding
    if settings.EMBEDDING_MODEL:
        return None
    text = embeddings.card_text(card.title, card.description, card.policies)
    return embeddings.local_embedding(text)


def draw_values(participant: Participant, *, count: int) -> list[Drawn]:
    """About ``count`` values for the selection step: a third nearest the participant's
    own card, a third most often selected per impression, the rest least seen.

    The reference mixed the same three; the least-seen part makes sure new values get
    shown at all. Order on the page is shuffled so that position says nothing about why
    a value was drawn.
    """
    question = participant.question
    if question is None or count <= 0:
        return []
    rng = random.Random(participant.pk)  # the same participant always gets the same mix
    # Only what the draw reads: ids, vectors and counts. The rest of a value (its text,
    # policies) is for the page, which reads the few drawn; every value of the question
    # is a candidate, hundreds in a large study, on every participant's draw.
    candidates = list(
        question_values(
            question,
            exclude=own_value_ids(participant)
            | graph_selectors.moderated_value_ids(participant.study),
        )
        .only("id", "embedding")
        .order_by("pk")  # not Value's own order, which joins the study to sort by it
        .annotate(seen=_count_per_value(Impression, question))
        .annotate(picked=_count_per_value(Selection, question))
    )
    rng.shuffle(candidates)
    by_id = {value.pk: value for value in candidates}
    chosen: dict[int, str] = {}

    third = count // 3
    query = _query_vector(participant)
    embedded = [(value.pk, value.embedding) for value in candidates if value.embedding]
    if query is not None and embedded and third:
        try:
            for value_id, _ in embeddings.nearest(query, embedded, k=third):
                chosen[value_id] = "near"
        except ValueError:
            pass  # vectors of another dimension (a changed embedding model): skip this part

    popular = sorted(
        (v for v in candidates if v.seen and v.pk not in chosen),
        key=lambda v: (-(v.picked / v.seen), -v.seen),
    )
    for value in popular[:third]:
        chosen[value.pk] = "popular"

    sparse = sorted((v for v in candidates if v.pk not in chosen), key=lambda v: v.seen)
    for value in sparse[: max(0, count - len(chosen))]:
        chosen[value.pk] = "sparse"

    drawn = [Drawn(by_id[value_id], reason) for value_id, reason in chosen.items()]
    rng.shuffle(drawn)
    return drawn


# ---------------------------------------------------------------------------------------
# Upgrade stories to judge
# ---------------------------------------------------------------------------------------


@dataclass
class DrawnStory:
    hypothesis: UpgradeHypothesis
    policy: str  # uniform | adaptive (graph.adaptive), or fill (another question's context)
    context_status: str  # the context's status at the latest scoring ("" if never scored)


FILL = "fill"


def draw_hypotheses(participant: Participant, *, count: int) -> list[UpgradeHypothesis]:
    """Up to ``count`` upgrade stories to judge (see draw_stories)."""
    return [story.hypothesis for story in draw_stories(participant, count=count)]


def draw_stories(participant: Participant, *, count: int) -> list[DrawnStory]:
    """Up to ``count`` upgrade stories, each on a pair of values this participant has not
    seen in either direction.

    Never a story on the participant's own value (or one merged into it): judging it
    would be judging oneself. Pairs whose context belongs to the participant's question
    are drawn by the adaptive policy (moralgraph.graph.adaptive: a share uniformly, the
    rest by Thompson sampling on the latest scoring's bootstrap, never from a settled
    context but in the uniform share); if those run out, the least-shown pairs of other
    contexts fill up (sparse edges need votes most). Of the stories on one pair, the
    direction shown least so far is drawn, which balances directions across
    participants so that nobody's answer is just deference to the framing.
    """
    if count <= 0:
        return []
    rng = random.Random(participant.pk)
    seen_pairs = set(participant.judgments.values_list("pair_key", flat=True))
    for from_id, to_id in JudgmentAssignment.objects.filter(participant=participant).values_list(
        "hypothesis__from_value_id", "hypothesis__to_value_id"
    ):
        seen_pairs.add(WiserJudgment.make_pair_key(from_id, to_id))

    on_question = Context.questions.through.objects.filter(
        context_id=OuterRef("context_id"), question_id=participant.question_id
    )
    roots = graph_selectors.value_roots(participant.study)
    own = own_value_ids(participant, roots)
    hidden = graph_selectors.moderated_value_ids(participant.study)
    # Rows, not model instances, of only what the draw reads (ends, context, counts):
    # every story of the study is a candidate on every participant's draw, thousands in
    # a large study. The few drawn become stories at the end; the judgments page reads
    # their text.
    rows = (
        UpgradeHypothesis.objects.filter(
            study_id=participant.study_id,
            is_active=True,
            from_value__is_active=True,
            to_value__is_active=True,
        )
        .exclude(from_value_id__in=own)
        .exclude(to_value_id__in=own)
        .exclude(from_value_id__in=hidden)
        .exclude(to_value_id__in=hidden)
        .annotate(
            shown=Count("assignments", distinct=True),
            on_question=Exists(on_question),
            context_root=Coalesce("context__duplicate_of_id", "context_id"),
        )
        .values_list(*_Candidate._fields)
    )
    pairs: dict[str, list[_Candidate]] = {}
    for hypothesis in map(_Candidate._make, rows):
        ends = (hypothesis.from_value_id, hypothesis.to_value_id)
        if any(roots.get(value_id, value_id) in own for value_id in ends):
            continue  # a value merged into the participant's own: theirs too
        key = WiserJudgment.make_pair_key(hypothesis.from_value_id, hypothesis.to_value_id)
        if key not in seen_pairs:
            pairs.setdefault(key, []).append(hypothesis)

    states = adaptive.context_states(participant.study)
    candidates = []
    for key, group in sorted(pairs.items()):
        by_context: dict[str, list[_Candidate]] = {}
        for h in group:
            if h.on_question:
                by_context.setdefault(str(h.context_root), []).append(h)
        for context_id, stories in sorted(by_context.items()):
            a, b = (
                str(roots.get(v, v)) for v in (stories[0].from_value_id, stories[0].to_value_id)
            )
            shown = sum(h.shown for h in group)
            candidates.append(adaptive_policy.Candidate(key, context_id, a, b, stories, shown))
    picks = adaptive_policy.draw_pairs(
        candidates,
        states,
        count=count,
        uniform_share=participant.study.uniform_share,
        rng=rng,
    )
    drawn = []
    for pick in picks:
        state = states.get(pick.candidate.context_id)
        status = state.status if state is not None else ""
        story = _direction(pick.candidate.item, rng)
        drawn.append(DrawnStory(story.hypothesis(), pick.policy, status))
        pairs.pop(pick.candidate.key, None)

    # Too few on the question's contexts: the least-shown pairs elsewhere fill up.
    ranked = list(pairs.values())
    rng.shuffle(ranked)
    ranked.sort(
        key=lambda group: (not any(h.on_question for h in group), sum(h.shown for h in group))
    )
    for group in ranked[: max(0, count - len(drawn))]:
        story = _direction(group, rng)
        state = states.get(str(story.context_root))
        drawn.append(
            DrawnStory(story.hypothesis(), FILL, state.status if state is not None else "")
        )
    return drawn


class _Candidate(NamedTuple):
    """A story as the draw reads it."""

    id: int
    from_value_id: int
    to_value_id: int
    context_id: int
    context_root: int  # the context it was merged into, else its own
    shown: int  # assignments so far
    on_question: bool  # its context is one of the participant's question's

    def hypothesis(self) -> UpgradeHypothesis:
        """The story as a model instance, as read from the database with only these
        fields (the others load when read)."""
        return UpgradeHypothesis.from_db(
            router.db_for_read(UpgradeHypothesis),
            ["id", "from_value_id", "to_value_id", "context_id"],
            [self.id, self.from_value_id, self.to_value_id, self.context_id],
        )


def _direction(group: list[_Candidate], rng: random.Random) -> _Candidate:
    """The least-shown story of a pair (its direction), and on a tie one at random."""
    group = list(group)
    rng.shuffle(group)
    group.sort(key=lambda h: (not h.on_question, h.shown))
    return group[0]
