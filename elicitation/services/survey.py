"""The closing survey, and the follow-up asked once the graph is scored."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from elicitation import cards
from elicitation.models import Participant, SurveyAnswer, ValuesCard
from elicitation.services import participants

Step = Participant.Step


@transaction.atomic
def survey_save(
    *,
    participant: Participant,
    represented: int | None = None,
    clarified: int | None = None,
    learned: int | None = None,
    trust: int | None = None,
    comment: str = "",
) -> SurveyAnswer:
    """Store the closing survey and finish."""
    participant = participants.lock(participant, Step.SURVEY)
    for value in (represented, clarified, learned, trust):
        if value is not None and not 1 <= value <= 5:
            raise ValidationError("Answers are on a scale from 1 to 5.")
    answer, _ = SurveyAnswer.objects.update_or_create(
        participant=participant,
        defaults={
            "represented": represented,
            "clarified": clarified,
            "learned": learned,
            "trust": trust,
            "comment": (comment or "").strip()[: cards.COMMENT_MAX_CHARS],
        },
    )
    participants.advance(participant)
    return answer


@transaction.atomic
def follow_up_save(
    *, participant: Participant, fair_position: int, card_id: int | None = None
) -> SurveyAnswer:
    """Store a finished participant's answer to "Is the position of your value in the
    final graph fair?" (1 to 5). Answering again replaces the answer, never adds a row;
    the rest of their survey is kept as it was.

    Raises StepMismatch unless they have finished, NotFound for a card that is not
    theirs, ValidationError for an answer off the scale.
    """
    participant = participants.lock(participant, Step.DONE)
    if (
        card_id is not None
        and not ValuesCard.objects.filter(
            pk=card_id, participant=participant, status=ValuesCard.Status.SUBMITTED
        ).exists()
    ):
        raise participants.NotFound(card_id)
    if isinstance(fair_position, bool) or not isinstance(fair_position, int):
        raise ValidationError("Please choose a number from 1 to 5.")
    if not 1 <= fair_position <= 5:
        raise ValidationError("Answers are on a scale from 1 to 5.")
    answer, _ = SurveyAnswer.objects.get_or_create(participant=participant)
    if answer.fair_position != fair_position:
        answer.fair_position = fair_position
        answer.save(update_fields=["fair_position", "updated_at"])
    return answer
