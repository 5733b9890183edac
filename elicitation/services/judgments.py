"""Wiser judgments: a verdict on each upgrade story drawn for the participant, announced
by the judgment_recorded signal so that the graph side rescores."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery

from elicitation import cards, selectors, signals
from elicitation.models import JudgmentAssignment, Participant, WiserJudgment
from elicitation.services import participants

Step = Participant.Step


@transaction.atomic
def judgment_record(
    *,
    participant: Participant,
    hypothesis_id: int,
    verdict: str,
    reason: str = "",
    reason_private: bool = False,
) -> WiserJudgment:
    """Record a verdict on one of the participant's stories; after the last, move on.

    Raises NotFound for a story that was not drawn for them, StepMismatch when they are
    past this step. Judging the same story again returns the first verdict.
    """
    participant = participants.lock(participant, Step.JUDGMENTS)
    # One read for the story's two values and a verdict already given on it (each
    # judgment page sends one of these; the story's text is not needed here).
    judged = WiserJudgment.objects.filter(
        participant=participant, hypothesis_id=OuterRef("hypothesis_id")
    )
    found = list(
        JudgmentAssignment.objects.filter(participant=participant, hypothesis_id=hypothesis_id)
        .order_by()
        .values_list(
            "hypothesis__from_value_id",
            "hypothesis__to_value_id",
            Subquery(judged.values("pk")[:1]),
        )[:1]
    )
    if not found:
        raise participants.NotFound(hypothesis_id)
    if verdict not in WiserJudgment.Verdict.values:
        raise ValidationError("Please choose Yes, No or Not sure.")
    from_value_id, to_value_id, existing = found[0]
    if existing is not None:
        return participant.judgments.get(pk=existing)  # with the locked participant
    try:
        # No savepoint of its own: a refusal ends this whole transaction anyway.
        judgment = WiserJudgment.objects.create(
            participant=participant,
            hypothesis_id=hypothesis_id,
            pair_key=WiserJudgment.make_pair_key(from_value_id, to_value_id),
            verdict=verdict,
            reason=(reason or "").strip()[: cards.REASON_MAX_CHARS],
            reason_private=reason_private,
        )
    except IntegrityError:
        # The same pair in the other direction, judged already: the draw prevents this,
        # the database makes sure.
        raise participants.NotFound(hypothesis_id) from None
    signals.judgment_recorded.send(sender=WiserJudgment, study_id=participant.study_id)
    if not selectors.has_open_assignments(participant):
        participants.advance(participant)
    return judgment


@transaction.atomic
def judgments_finish(*, participant: Participant) -> Participant:
    """Move on from the judgments once no drawn story is left to judge."""
    participant = participants.lock(participant, Step.JUDGMENTS)
    if not selectors.has_open_assignments(participant):
        participants.advance(participant)
    return participant
