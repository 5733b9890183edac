"""The closing survey, and the follow-up asked once the graph is scored."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from elicitation import cards, selectors
from elicitation.models import SURVEY_ITEMS, Participant, SurveyAnswer, ValuesCard
from elicitation.services import participants

Step = Participant.Step


@transaction.atomic
def survey_save(
    *,
    participant: Participant,
    represented: int | None = None,
    clarified: int | None = None,
    learned: int | None = None,
    respect: int | None = None,
    trust: int | None = None,
    comment: str = "",
) -> SurveyAnswer:
    """Store the closing survey (every item 1 to 5, or skipped) and finish.

    "learned" and "respect" ask about other people's values: from a participant who saw
    none, they are not stored (the page did not ask them).
    """
    participant = participants.lock(participant, Step.SURVEY)
    answers = {
        "represented": represented,
        "clarified": clarified,
        "learned": learned,
        "respect": respect,
        "trust": trust,
    }
    for value in answers.values():
        if value is not None and not 1 <= value <= 5:
            raise ValidationError("Answers are on a scale from 1 to 5.")
    if not selectors.saw_others_values(participant):
        answers.update({item.key: None for item in SURVEY_ITEMS if item.needs_others})
    fields = {
        **answers,
        "study_id": participant.study_id,
        "answered_at": timezone.now(),
        "comment": (comment or "").strip()[: cards.COMMENT_MAX_CHARS],
    }
    # Nobody else writes a participant's answer while their row is locked: a plain read
    # and save, without update_or_create's savepoints and second row lock.
    answer = SurveyAnswer.objects.filter(participant=participant).first()
    if answer is None:
        answer = SurveyAnswer.objects.create(participant=participant, **fields)
    else:
        for name, value in fields.items():
            setattr(answer, name, value)
        answer.save(update_fields=[*fields, "updated_at"])
    participants.advance(participant)
    return answer


@transaction.atomic
def follow_up_save(
    *,
    participant: Participant,
    fair: bool | None = None,
    fair_position: int | None = None,
    card_id: int | None = None,
) -> SurveyAnswer:
    """Store a finished participant's answer to "Is the position of your value in the
    final graph fair?": yes or no (the paper's question) and how fair from 1 to 5 (a
    second item); at least one of them. Answering again replaces the answer, never adds
    a row; the rest of their survey is kept as it was.

    Raises StepMismatch unless they have finished, NotFound for a card that is not
    theirs, ValidationError for no answer or an answer off its scale.
    """
    participant = participants.lock(participant, Step.DONE)
    if (
        card_id is not None
        and not ValuesCard.objects.filter(
            pk=card_id, participant=participant, status=ValuesCard.Status.SUBMITTED
        ).exists()
    ):
        raise participants.NotFound(card_id)
    if fair is not None and not isinstance(fair, bool):
        raise ValidationError("Please answer yes or no.")
    if fair_position is not None:
        if isinstance(fair_position, bool) or not isinstance(fair_position, int):
            raise ValidationError("Please choose a number from 1 to 5.")
        if not 1 <= fair_position <= 5:
            raise ValidationError("Answers are on a scale from 1 to 5.")
    if fair is None and fair_position is None:
        raise ValidationError("Please answer yes or no.")
    answer, _ = SurveyAnswer.objects.get_or_create(
        participant=participant, defaults={"study_id": participant.study_id}
    )
    if (answer.fair, answer.fair_position) != (fair, fair_position):
        answer.fair, answer.fair_position = fair, fair_position
        answer.fair_answered_at = timezone.now()
        answer.save(update_fields=["fair", "fair_position", "fair_answered_at", "updated_at"])
    return answer
