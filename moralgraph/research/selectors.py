"""Reads for the researchers' dashboard: every study at a glance, and for one study the
funnel of its participants, the balance of its questions, and what its LLM calls cost.
The legitimacy figures have their own module (moralgraph.research.legitimacy)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

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
from elicitation.llm import budget as llm_budget
from elicitation.llm import stages as llm_stages
from elicitation.models import (
    LLMCall,
    Message,
    Participant,
    Question,
    Study,
    ValuesCard,
    WiserJudgment,
)
from elicitation.selectors import counted_cards, counted_judgments, counted_participants
from moralgraph.models import CardMapping, Value
from moralgraph.services import adaptive


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


def _graph_values(include_test: bool):
    """Values in the graph, by moralgraph.selectors.moderated_value_ids's rule: not hidden,
    with a counted card (or no card at all, as an imported one); ``include_test`` counts
    test participants' cards too. Else a pilot's or a simulation's values would be counted
    beside none of their cards."""
    mapped = CardMapping.objects.filter(value=OuterRef("pk"), undone_at=None)
    counted = mapped.filter(card__hidden_at=None)
    if not include_test:
        counted = counted.exclude(card__participant__is_test=True)
    return Value.objects.filter(is_active=True, hidden_at=None).filter(
        Exists(counted) | ~Exists(mapped)
    )


def study_summaries(studies=None, *, include_test: bool = False) -> list[StudySummary]:
    """Every study (or those of ``studies``) with its headline counts and when anything
    last happened in it. The counts are of counted participants, cards and judgments
    (elicitation.selectors); ``include_test`` adds test participants'. Started counts
    those who abandoned too: they did start."""
    submitted = ValuesCard.objects.filter(status=ValuesCard.Status.SUBMITTED)
    started = counted_participants(None, include_test=include_test, include_abandoned=True)
    studies = (
        (Study.objects.all() if studies is None else studies)
        .annotate(
            n_started=_count_per_study(started, "study"),
            n_completed=_count_per_study(
                counted_participants(None, include_test=include_test).filter(
                    step=Participant.Step.DONE
                ),
                "study",
            ),
            n_cards=_count_per_study(counted_cards(None, include_test=include_test), "study"),
            n_values=_count_per_study(_graph_values(include_test), "study"),
            n_judgments=_count_per_study(
                counted_judgments(None, include_test=include_test), "participant__study"
            ),
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
    abandoned: int = 0  # idle past the study's inactive_minutes before finishing
    screened_out: int = 0  # their group's quota was full

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


def funnel(study: Study, *, include_test: bool = False) -> Funnel:
    """How many participants reached each step of the study, how many declined, and the
    median time from consent to completion against the advertised time (over those whose
    times are known: imported participants are done but have none). Counted participants
    (``include_test`` adds test ones), those who abandoned included: they are where the
    funnel narrows."""
    everyone = counted_participants(study, include_test=include_test, include_abandoned=True)
    on_step = dict(
        everyone.order_by().values("step").annotate(n=Count("pk")).values_list("step", "n")
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
        for consented, created, completed in everyone.filter(
            completed_at__isnull=False
        ).values_list("consented_at", "created_at", "completed_at")
    ]
    durations = [minutes for minutes in durations if minutes >= 0]
    return Funnel(
        declined=study.declines.count(),
        agreed=agreed,
        completed=everyone.filter(step=Participant.Step.DONE).count(),
        abandoned=everyone.filter(abandoned_at__isnull=False).count(),
        screened_out=everyone.filter(screened_out_at__isnull=False).count(),
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


def question_balance(study: Study, *, include_test: bool = False) -> list[QuestionLoad]:
    """Counted participants, completions and cards per question (what new participants
    are balanced on: elicitation.selectors.least_filled_question)."""
    counted = counted_participants(study, include_test=include_test)

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
        n_participants=per_question(counted),
        n_completed=per_question(counted.filter(step=Participant.Step.DONE)),
        n_cards=per_question(counted_cards(study, include_test=include_test)),
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


@dataclass
class StageSpend:
    stage: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal("0")
    errors: int = 0
    latency_ms: int | None = None  # mean

    @property
    def label(self) -> str:
        """The stage's name for people, from the stage table (a retired stage keeps its key)."""
        try:
            return llm_stages.get(self.stage).label
        except ValueError:
            return self.stage


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
    # Stages in the order they happen for one participant, then the background work.
    order = {stage: i for i, stage in enumerate(llm_stages.names())}
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


def elicitation_progress(study: Study, snapshot=None) -> list[dict]:
    """Per question, whether its contexts are settled and, per context, judgments so far,
    the estimate still needed and the participants that means (adaptive elicitation);
    JSON-ready, for the dashboard and the report."""
    per = max(study.judgment_count, 1)
    return [
        {
            "question_key": question.key,
            "question_title": question.title,
            "settled": question.settled,
            "participants": question.participants,
            "contexts": [
                {
                    "context_id": str(c.context_id),
                    "context": c.text,
                    "status": c.status or None,
                    "settled": c.settled,
                    "confident_scorings": c.streak,
                    "judgments": c.judgments,
                    "needed_judgments": c.needed,
                    "needed_participants": c.participants,
                }
                for c in question.contexts
            ],
            "judgments_per_participant": per,
        }
        for question in adaptive.progress(study, snapshot)
    ]


def budget_banner(study: Study) -> str:
    """ "Budget cap of $X reached: new LLM work stopped" once the study's LLM spend has
    reached its cap (the gateway's own test, from its cached spend), else ""."""
    cap = llm_budget.reached_cap(study)
    return llm_budget.cap_message(cap) if cap is not None else ""
