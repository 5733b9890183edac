"""Selection: which of the values drawn for them the participant finds wise."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from elicitation.models import Participant, Selection
from elicitation.services import participants

Step = Participant.Step


@transaction.atomic
def selection_submit(*, participant: Participant, value_ids: Iterable[int]) -> Participant:
    """Record which of the shown values the participant finds wise, and move on."""
    participant = participants.lock(participant, Step.SELECTION)
    shown = set(
        participant.impressions.filter(question_id=participant.question_id).values_list(
            "value_id", flat=True
        )
    )
    chosen = {int(v) for v in value_ids}
    if not chosen <= shown:
        raise participants.NotFound(sorted(chosen - shown))
    needed = participant.study.min_selections
    if len(chosen) < needed:
        raise ValidationError(f"Please choose at least {needed}.")
    Selection.objects.bulk_create(
        [
            Selection(participant=participant, value_id=v, question_id=participant.question_id)
            for v in sorted(chosen)
        ],
        ignore_conflicts=True,
    )
    participants.advance(participant)
    return participant
