"""Reads of the participant side that are more than one queryset line: who is this
participant, what have they said, and which values and stories to show them."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import (
    Avg,
    Count,
    DateTimeField,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from elicitation import journey
from elicitation.models import (
    Interview,
    JudgmentAssignment,
    LLMCall,
    Message,
    Participant,
    Question,
    Study,
    SurveyAnswer,
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


# ---------------------------------------------------------------------------------------
# The follow-up: where the participant's value ended up
# ---------------------------------------------------------------------------------------


def latest_snapshot(study: Study, mode: str = GraphSnapshot.Mode.DEFAULT) -> GraphSnapshot | None:
    """The newest snapshot of a study over all its judgments; an "as of" rerun only when
    there is nothing else (the same inputs are stored once, maybe as such a rerun)."""
    snapshots = GraphSnapshot.objects.filter(study=study, mode=mode).order_by("-created_at", "-id")
    return snapshots.filter(as_of=None).first() or snapshots.first()


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
    card = submitted_card(participant)
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
    for scored in (snapshot.results or {}).get("contexts", []):
        context_id = str(scored.get("context_id"))
        ranks = [r.get("value_id") for r in scored.get("ranks", [])]
        if context_id not in own_contexts and mine not in ranks:
            continue
        kept = [e for e in scored.get("edges", []) if e.get("kept")]
        rows.append(
            {
                "context_id": context_id,
                "winner": (scored.get("winner") or {}).get("value_id"),
                "rank": ranks.index(mine) + 1 if mine in ranks else None,
                "ranked": len(ranks),
                "wiser": [e["to_id"] for e in kept if e.get("from_id") == mine],
                "less_wise": [e["from_id"] for e in kept if e.get("to_id") == mine],
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


# ---------------------------------------------------------------------------------------
# Researchers: studies at a glance, the funnel, question balance, legitimacy, LLM spend
# ---------------------------------------------------------------------------------------


def _per_study(queryset, field: str, aggregate, output_field=None):
    """A correlated subquery: ``aggregate`` over ``queryset`` rows of the outer study.
    Subqueries rather than joins, so that counting cards does not multiply judgments."""
    inner = (
        queryset.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(result=aggregate)
        .values("result")
    )
    return Subquery(inner, output_field=output_field or DateTimeField())


def _count_per_study(queryset, field: str):
    return Coalesce(_per_study(queryset, field, Count("pk"), IntegerField()), 0)


@dataclass
class StudySummary:
    study: Study
    started: int
    completed: int
    cards: int
    values: int
    judgments: int
    last_activity: datetime | None
    questions: int = 0


def study_summaries(studies=None) -> list[StudySummary]:
    """Every study (or those of ``studies``) with its headline counts and when anything
    last happened in it."""
    submitted = ValuesCard.objects.filter(status=ValuesCard.Status.SUBMITTED)
    studies = (
        (Study.objects.all() if studies is None else studies)
        .annotate(
            n_started=_count_per_study(Participant.objects.all(), "study"),
            n_completed=_count_per_study(
                Participant.objects.filter(step=Participant.Step.DONE), "study"
            ),
            n_cards=_count_per_study(submitted, "study"),
            n_values=_count_per_study(Value.objects.filter(is_active=True), "study"),
            n_judgments=_count_per_study(WiserJudgment.objects.all(), "participant__study"),
            n_questions=_count_per_study(Question.objects.all(), "study"),
            last_participant=_per_study(Participant.objects.all(), "study", Max("updated_at")),
            last_card=_per_study(submitted, "study", Max("submitted_at")),
            last_judgment=_per_study(
                WiserJudgment.objects.all(), "participant__study", Max("created_at")
            ),
            last_message=_per_study(
                Message.objects.all(), "interview__participant__study", Max("created_at")
            ),
        )
        .order_by("-created_at", "-id")
    )
    summaries = []
    for study in studies:
        moments = [
            t
            for t in (
                study.last_participant,
                study.last_card,
                study.last_judgment,
                study.last_message,
            )
            if t is not None
        ]
        summaries.append(
            StudySummary(
                study=study,
                started=study.n_started,
                completed=study.n_completed,
                cards=study.n_cards,
                values=study.n_values,
                judgments=study.n_judgments,
                last_activity=max(moments) if moments else None,
                questions=study.n_questions,
            )
        )
    return summaries


@dataclass
class FunnelStep:
    step: str
    label: str
    reached: int  # on this step now, or past it
    now: int  # on this step now
    percent: int  # reached, of everyone who agreed


@dataclass
class Funnel:
    declined: int
    agreed: int
    completed: int
    steps: list[FunnelStep]
    median_minutes: float | None
    timed: int  # completions the median is taken over
    estimated_minutes: int

    @property
    def answered_consent(self) -> int:
        return self.agreed + self.declined

    @property
    def completion_percent(self) -> int | None:
        return round(100 * self.completed / self.agreed) if self.agreed else None

    @property
    def overrun_percent(self) -> int | None:
        """How far the median is over (positive) or under the advertised time."""
        if self.median_minutes is None or not self.estimated_minutes:
            return None
        return round(100 * (self.median_minutes - self.estimated_minutes) / self.estimated_minutes)

    @property
    def under_percent(self) -> int:
        return -min(0, self.overrun_percent or 0)

    @property
    def over_estimate(self) -> bool:
        return (self.overrun_percent or 0) > 0


def funnel(study: Study) -> Funnel:
    """How many participants reached each step of the study, how many declined, and the
    median time from consent to completion against the advertised time (over those whose
    times are known: imported participants are done but have none)."""
    on_step = dict(
        Participant.objects.filter(study=study)
        .order_by()
        .values("step")
        .annotate(n=Count("pk"))
        .values_list("step", "n")
    )
    agreed = sum(on_step.values())
    position = {step: i for i, step in enumerate(journey.ORDER)}
    steps = []
    for step in journey.steps_for(study):
        if step == journey.CONSENT:
            continue
        reached = sum(n for s, n in on_step.items() if position.get(s, -1) >= position[step])
        steps.append(
            FunnelStep(
                step=step,
                label=journey.LABELS[step],
                reached=reached,
                now=on_step.get(step, 0),
                percent=round(100 * reached / agreed) if agreed else 0,
            )
        )
    durations = [
        (completed - (consented or created)).total_seconds() / 60
        for consented, created, completed in Participant.objects.filter(
            study=study, completed_at__isnull=False
        ).values_list("consented_at", "created_at", "completed_at")
    ]
    durations = [minutes for minutes in durations if minutes >= 0]
    return Funnel(
        declined=study.declines.count(),
        agreed=agreed,
        completed=Participant.objects.filter(study=study, step=Participant.Step.DONE).count(),
        steps=steps,
        median_minutes=round(statistics.median(durations), 1) if durations else None,
        timed=len(durations),
        estimated_minutes=study.estimated_minutes,
    )


@dataclass
class QuestionLoad:
    question: Question
    participants: int
    completed: int
    cards: int
    percent: int  # of the busiest question's participants, for the bar


def question_balance(study: Study) -> list[QuestionLoad]:
    """Participants, completions and submitted cards per question."""

    def per_question(queryset, field="question"):
        inner = (
            queryset.filter(**{field: OuterRef("pk")})
            .order_by()
            .values(field)
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(inner, output_field=IntegerField()), 0)

    questions = Question.objects.filter(study=study).annotate(
        n_participants=per_question(Participant.objects.all()),
        n_completed=per_question(Participant.objects.filter(step=Participant.Step.DONE)),
        n_cards=per_question(ValuesCard.objects.filter(status=ValuesCard.Status.SUBMITTED)),
    )
    questions = list(questions.order_by("position", "id"))
    top = max((q.n_participants for q in questions), default=0)
    return [
        QuestionLoad(
            question=q,
            participants=q.n_participants,
            completed=q.n_completed,
            cards=q.n_cards,
            percent=round(100 * q.n_participants / top) if top else 0,
        )
        for q in questions
    ]


# The legitimacy items of the paper: the survey's statements, and the follow-up's.
LEGITIMACY_ITEMS = (
    (
        "represented",
        "Felt their values were represented",
        "The values I articulated express what I care about.",
    ),
    (
        "clarified",
        "Found it clarified their thinking",
        "The process clarified what is important to me.",
    ),
    ("learned", "Learned about others' values", "I learned about other people's values."),
    (
        "trust",
        "Would trust it to shape an AI",
        "I would trust this process to shape an AI's behaviour.",
    ),
    (
        "fair_position",
        "Found their value's final position fair",
        "Is the position of your value in the final graph fair?",
    ),
)
AGREE_FROM = 4  # 4 or 5 on the 1-5 scale


@dataclass
class LegitimacyFigure:
    item: str
    label: str
    statement: str
    answered: int
    agreed: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.agreed / self.answered, 1) if self.answered else None


def legitimacy(study: Study) -> list[LegitimacyFigure]:
    """The share of answers of 4 or 5 to each survey item, with how many answered."""
    aggregates = {}
    for item, _, _ in LEGITIMACY_ITEMS:
        aggregates[f"{item}_n"] = Count(item)
        aggregates[f"{item}_agree"] = Count("pk", filter=Q(**{f"{item}__gte": AGREE_FROM}))
    counts = SurveyAnswer.objects.filter(participant__study=study).aggregate(**aggregates)
    return [
        LegitimacyFigure(
            item=item,
            label=label,
            statement=statement,
            answered=counts[f"{item}_n"],
            agreed=counts[f"{item}_agree"],
        )
        for item, label, statement in LEGITIMACY_ITEMS
    ]


# The order stages happen in for one participant, then the background work.
_STAGE_ORDER = (
    "interview",
    "articulate",
    "revise",
    "embed",
    "dedup",
    "contexts",
    "hypothesis",
    "response",
)


@dataclass
class StageSpend:
    stage: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal("0")
    errors: int = 0
    latency_ms: int | None = None  # mean


@dataclass
class Spend:
    stages: list[StageSpend]
    total: StageSpend
    per_completion: Decimal | None


def llm_spend(study: Study) -> Spend:
    """LLM calls of a study per stage: how many, tokens, cost, errors, mean latency."""
    rows = (
        LLMCall.objects.filter(study=study)
        .order_by()
        .values("stage")
        .annotate(
            calls=Count("pk"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
            errors=Count("pk", filter=~Q(error="")),
            latency=Avg("latency_ms"),
        )
    )
    stages = [
        StageSpend(
            stage=row["stage"],
            calls=row["calls"],
            input_tokens=row["input_tokens"] or 0,
            output_tokens=row["output_tokens"] or 0,
            cost=Decimal(row["cost"] or 0),
            errors=row["errors"],
            latency_ms=round(row["latency"]) if row["latency"] is not None else None,
        )
        for row in rows
    ]
    order = {stage: i for i, stage in enumerate(_STAGE_ORDER)}
    stages.sort(key=lambda s: (order.get(s.stage, len(order)), s.stage))
    calls = sum(s.calls for s in stages)
    total = StageSpend(
        stage="total",
        calls=calls,
        input_tokens=sum(s.input_tokens for s in stages),
        output_tokens=sum(s.output_tokens for s in stages),
        cost=sum((s.cost for s in stages), Decimal("0")),
        errors=sum(s.errors for s in stages),
        latency_ms=(
            round(sum((s.latency_ms or 0) * s.calls for s in stages) / calls) if calls else None
        ),
    )
    completed = Participant.objects.filter(study=study, step=Participant.Step.DONE).count()
    return Spend(
        stages=stages,
        total=total,
        per_completion=(total.cost / completed).quantize(Decimal("0.0001")) if completed else None,
    )
