"""Reconciliation: the pass over a study (or over the study of one submitted card) that
runs the graph side's steps in order. Tasks, commands and the admin call it; it holds the
study lock for as long as it reads values to decide what to write.

A reconcile pass, in order:

1. contexts of every question that has none yet (``extract_question_contexts``);
2. embed the pending cards, then place each: its own value, merged through the LLM judge
   into the clusters it duplicates (moralgraph.services.dedup);
3. contexts of each newly submitted interview, then deduplicate contexts
   (moralgraph.services.contexts);
4. upgrade stories still missing, the most informative first, a few pairs of one context
   per call, within the study's story budget (moralgraph.services.hypotheses);
5. if a merge touched judged values, the graph changed: scoring is scheduled.

Every step is incremental and idempotent, so a pass killed half way is finished by the
next one, and a second pass over a finished study changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from elicitation.llm import stages
from elicitation.models import LLMCall, Study, ValuesCard
from elicitation.queue import enqueue_on_commit
from moralgraph import locks, selectors
from moralgraph.locks import StudyBusy
from moralgraph.services import contexts, dedup, hypotheses, scoring

logger = logging.getLogger(__name__)


Progress = Callable[[str, int, int], None]


@dataclass
class ReconcileReport:
    cards_embedded: int = 0
    cards_placed: int = 0
    cards_failed: int = 0
    new_values: int = 0
    merges: int = 0
    judge_calls: int = 0
    contexts_created: int = 0
    contexts_merged: int = 0
    interviews_read: int = 0
    hypotheses: int = 0
    llm_calls: int = 0
    llm_calls_by_stage: dict[str, int] = field(default_factory=dict)
    stories_deferred: int = 0  # left by the story budget for a later pass
    llm_cost: Decimal = Decimal("0")
    graph_changed: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def calls_per_card(self) -> float:
        return self.judge_calls / self.cards_placed if self.cards_placed else 0.0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["llm_cost"] = float(self.llm_cost)
        return data


def extract_question_contexts(study: Study) -> int:
    """Contexts of each of the study's questions, asked once per question; returns how
    many contexts were created. Holds the study lock."""
    with locks.study_lock(study.pk):
        return contexts.extract_question_contexts(study).created


def reconcile_study(
    *, study: Study, wait: bool = True, progress: Progress | None = None
) -> ReconcileReport:
    """Run every reconciliation step for a study now; see the module docstring.

    ``wait=False`` raises StudyBusy at once if another process holds the study.
    A retryable LLMError propagates (the caller retries later, the work done so far
    stays done); permanent failures mark their card failed and the pass goes on.
    """
    with locks.study_lock(study.pk, wait=wait) as acquired:
        if not acquired:
            raise StudyBusy(study.slug)
        report = ReconcileReport()
        started = timezone.now()
        changed = _graph_changed_at(study)
        try:
            _reconcile(study, report, progress)
        finally:
            _count_calls(study, started, report)
            # A merge of values, or of contexts, that people had judged moves
            # graph_changed_at; the new graph is then scored after the usual quiet spell.
            if _graph_changed_at(study) != changed:
                report.graph_changed = True
                scoring.schedule_score(study.pk)
    return report


def _graph_changed_at(study: Study):
    return Study.objects.filter(pk=study.pk).values_list("graph_changed_at", flat=True).first()


def reconcile_card(*, card_id: int) -> ReconcileReport | None:
    """Reconcile the study of a submitted card, which places the card. Returns None if
    the card is not pending any more. Raises StudyBusy without waiting: the pass that
    holds the study usually places the card, and the card's task looks again later."""
    card = (
        ValuesCard.objects.filter(
            pk=card_id,
            status=ValuesCard.Status.SUBMITTED,
            reconcile_status=ValuesCard.Reconcile.PENDING,
        )
        .select_related("study")
        .first()
    )
    if card is None:
        return None
    return reconcile_study(study=card.study, wait=False)


def _reconcile(study: Study, report: ReconcileReport, progress: Progress | None) -> None:
    context_stats = contexts.ContextStats()
    dedup_stats = dedup.DedupStats()
    story_stats = hypotheses.HypothesisStats()
    try:
        contexts.extract_question_contexts(study, context_stats)
        dedup.place_pending_cards(study, dedup_stats, progress=progress)
        interviews = list(selectors.interviews_without_contexts(study))
        for done, interview in enumerate(interviews, start=1):
            contexts.extract_interview_contexts(study, interview, context_stats)
            if progress:
                progress("contexts", done, len(interviews))
        contexts.dedup_contexts(study, context_stats)
        hypotheses.write_hypotheses(
            study,
            stats=story_stats,
            progress=(lambda done, total: progress("hypothesis", done, total))
            if progress
            else None,
        )
    finally:
        # Reported even when a transient error stops the pass: that work is done.
        report.cards_embedded += dedup_stats.embedded
        report.cards_placed += dedup_stats.placed
        report.cards_failed += dedup_stats.failed
        report.new_values += dedup_stats.new_values
        report.merges += dedup_stats.merges
        report.judge_calls += dedup_stats.judge_calls
        report.failures += dedup_stats.failures
        report.contexts_created += context_stats.created
        report.contexts_merged += context_stats.merged
        report.interviews_read += context_stats.interviews
        report.hypotheses += story_stats.written
        report.stories_deferred += story_stats.deferred


def _count_calls(study: Study, started, report: ReconcileReport) -> None:
    ours = LLMCall.objects.filter(
        # Only the pass's own stages: the journey's calls meanwhile are not ours to report.
        study=study,
        created_at__gte=started,
        stage__in=stages.names(stages.RECONCILE),
    )
    calls = ours.aggregate(n=Count("id"), cost=Sum("cost"))
    report.llm_calls = calls["n"] or 0
    report.llm_cost = calls["cost"] or Decimal("0")
    report.llm_calls_by_stage = dict(
        ours.order_by().values_list("stage").annotate(n=Count("id")).values_list("stage", "n")
    )


def retry_failed_cards(cards) -> int:
    """Put failed cards back in the queue (the admin's "retry"); returns how many."""
    ids = list(
        cards.filter(reconcile_status=ValuesCard.Reconcile.FAILED).values_list("pk", flat=True)
    )
    with transaction.atomic():
        count = ValuesCard.objects.filter(
            pk__in=ids, reconcile_status=ValuesCard.Reconcile.FAILED
        ).update(
            reconcile_status=ValuesCard.Reconcile.PENDING,
            reconcile_error="",
            reconcile_attempts=0,
            reconciled_at=None,
        )
        for card_id in ids:
            enqueue_on_commit("moralgraph.tasks.process_card", card_id)
    return count
