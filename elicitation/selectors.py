"""Reads of the participant side that are more than one queryset line: who is this
participant, what have they said, and which values and stories to show them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q

from elicitation.models import (
    Interview,
    JudgmentAssignment,
    Message,
    Participant,
    Question,
    Study,
    ValuesCard,
    WiserJudgment,
)
from moralgraph import vectors
from moralgraph.models import CardMapping, Context, GraphSnapshot, UpgradeHypothesis, Value
from moralgraph.selectors import root_of

# ---------------------------------------------------------------------------------------
# Participants and questions
# ---------------------------------------------------------------------------------------


def participant_by_public_id(study: Study, public_id: str | None) -> Participant | None:
    if not public_id:
        return None
    try:
        return Participant.objects.select_related("study", "question").get(
            study=study, public_id=public_id
        )
    except (Participant.DoesNotExist, ValueError, ValidationError):  # a malformed id is no one
        return None


def participant_by_recruiter_pid(study: Study, pid: str) -> Participant | None:
    if not pid:
        return None
    return (
        Participant.objects.select_related("study", "question")
        .filter(study=study, recruiter_pid=pid)
        .first()
    )


def least_filled_question(study: Study) -> Question | None:
    """The question with the fewest participants so far, first by position on a tie, so
    that questions stay balanced however many people drop out early."""
    return (
        Question.objects.filter(study=study)
        .annotate(assigned=Count("participants"))
        .order_by("assigned", "position", "id")
        .first()
    )


# ---------------------------------------------------------------------------------------
# The interview
# ---------------------------------------------------------------------------------------


def interview_for(participant: Participant) -> Interview | None:
    if participant.question_id is None:
        return None
    return Interview.objects.filter(
        participant=participant, question_id=participant.question_id
    ).first()


def transcript(interview: Interview) -> list[Message]:
    return list(interview.messages.order_by("seq"))


def chat_history(interview: Interview, *, before_seq: int | None = None) -> list[dict]:
    """The conversation as the LLM sees it: every message with text, in order.

    A reply that was cut off (tab closed mid-stream) keeps the part that was said; a
    failed or not-yet-written reply has no text and is left out.
    """
    messages = interview.messages.exclude(content="").exclude(
        status__in=[Message.Status.FAILED, Message.Status.PENDING]
    )
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    return [{"role": m.role, "content": m.content} for m in messages.order_by("seq")]


def user_turns(interview: Interview | None) -> int:
    if interview is None:
        return 0
    return interview.messages.filter(role=Message.Role.USER).count()


def last_user_message_at(interview: Interview):
    return (
        interview.messages.filter(role=Message.Role.USER)
        .order_by("-seq")
        .values_list("created_at", flat=True)
        .first()
    )


# ---------------------------------------------------------------------------------------
# Cards and values
# ---------------------------------------------------------------------------------------


def draft_card(participant: Participant) -> ValuesCard | None:
    return (
        ValuesCard.objects.filter(participant=participant, status=ValuesCard.Status.DRAFT)
        .order_by("-updated_at", "-id")
        .first()
    )


def submitted_card(participant: Participant) -> ValuesCard | None:
    return (
        ValuesCard.objects.filter(participant=participant, status=ValuesCard.Status.SUBMITTED)
        .order_by("-submitted_at", "-id")
        .first()
    )


def participant_value(participant: Participant) -> Value | None:
    """The canonical value the participant's submitted card now counts toward, if any."""
    card = submitted_card(participant)
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


def _own_value_ids(participant: Participant) -> set[int]:
    return set(
        CardMapping.objects.filter(card__participant=participant, undone_at=None).values_list(
            "value_id", flat=True
        )
    )


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


@dataclass
class Drawn:
    value: Value
    reason: str  # near, popular or sparse: why the draw picked it


def _query_vector(participant: Participant):
    """The participant's card as a vector, to find values near it; None when unknown.

    Before the background work has embedded the card, the local embedding stands in,
    but only when the study embeds locally (a model's vectors would not compare).
    """
    card = submitted_card(participant) or draft_card(participant)
    if card is None:
        return None
    if card.embedding:
        return card.embedding
    if settings.EMBEDDING_MODEL:
        return None
    return vectors.local_embedding(vectors.card_text(card.title, card.description, card.policies))


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
    candidates = list(
        question_values(question, exclude=_own_value_ids(participant)).annotate(
            seen=Count("impressions", filter=Q(impressions__question=question), distinct=True),
            picked=Count("selections", filter=Q(selections__question=question), distinct=True),
        )
    )
    rng.shuffle(candidates)
    by_id = {value.pk: value for value in candidates}
    chosen: dict[int, str] = {}

    third = count // 3
    query = _query_vector(participant)
    embedded = [(value.pk, value.embedding) for value in candidates if value.embedding]
    if query is not None and embedded and third:
        try:
            for value_id, _ in vectors.nearest(query, embedded, k=third):
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


def shown_values(participant: Participant) -> list[Value]:
    """The values drawn for this participant's selection step, in the order shown."""
    return [
        impression.value
        for impression in participant.impressions.filter(question_id=participant.question_id)
        .select_related("value")
        .order_by("id")
    ]


# ---------------------------------------------------------------------------------------
# Upgrade stories
# ---------------------------------------------------------------------------------------


def draw_hypotheses(participant: Participant, *, count: int) -> list[UpgradeHypothesis]:
    """Up to ``count`` upgrade stories, each on a pair of values this participant has not
    seen in either direction.

    Pairs whose context belongs to the participant's question come first, then the
    least-shown pairs (sparse edges need votes most). Of the stories on one pair, the
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
    hypotheses = list(
        UpgradeHypothesis.objects.filter(
            study_id=participant.study_id,
            is_active=True,
            from_value__is_active=True,
            to_value__is_active=True,
        )
        .annotate(shown=Count("assignments", distinct=True), on_question=Exists(on_question))
        .select_related("from_value", "to_value", "context")
    )
    pairs: dict[str, list[UpgradeHypothesis]] = {}
    for hypothesis in hypotheses:
        key = WiserJudgment.make_pair_key(hypothesis.from_value_id, hypothesis.to_value_id)
        if key not in seen_pairs:
            pairs.setdefault(key, []).append(hypothesis)

    ranked = list(pairs.values())
    rng.shuffle(ranked)
    ranked.sort(
        key=lambda group: (not any(h.on_question for h in group), sum(h.shown for h in group))
    )
    drawn = []
    for group in ranked[:count]:
        # The least-shown direction, and on a tie one at random.
        rng.shuffle(group)
        group.sort(key=lambda h: (not h.on_question, h.shown))
        drawn.append(group[0])
    return drawn


def open_assignments(participant: Participant) -> list[JudgmentAssignment]:
    """Stories drawn for this participant that they have not judged yet, in order."""
    judged = participant.judgments.values("hypothesis_id")
    return list(
        JudgmentAssignment.objects.filter(participant=participant)
        .exclude(hypothesis_id__in=judged)
        .select_related("hypothesis__from_value", "hypothesis__to_value", "hypothesis__context")
        .order_by("position", "id")
    )


# ---------------------------------------------------------------------------------------
# The graph, for the last page
# ---------------------------------------------------------------------------------------


@dataclass
class ValuePosition:
    value: Value
    wiser: list[Value] = field(default_factory=list)
    less_wise: list[Value] = field(default_factory=list)
    contexts_won: list[str] = field(default_factory=list)


def value_position(participant: Participant) -> ValuePosition | None:
    """Where the participant's value sits in the latest scored graph: which values people
    judged wiser than it and less wise, and where it came out wisest. None before a
    snapshot exists or while the value is on no kept edge."""
    value = participant_value(participant)
    if value is None:
        return None
    snapshot = (
        GraphSnapshot.objects.filter(study_id=participant.study_id, mode=GraphSnapshot.Mode.DEFAULT)
        .order_by("-created_at", "-id")
        .first()
    )
    if snapshot is None:
        return None
    mine = str(value.pk)
    wiser, less_wise, won = set(), set(), []
    for context in (snapshot.results or {}).get("contexts", []):
        for edge in context.get("edges", []):
            if not edge.get("kept"):
                continue
            if edge.get("from_id") == mine:
                wiser.add(edge.get("to_id"))
            elif edge.get("to_id") == mine:
                less_wise.add(edge.get("from_id"))
        if (context.get("winner") or {}).get("value_id") == mine:
            won.append(context.get("context_id"))
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
