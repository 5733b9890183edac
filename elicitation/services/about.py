"""About you: the optional answers to the study's own items (DemographicItem)."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from elicitation.models import DemographicItem, Demographics, Participant
from elicitation.services import lifecycle, participants

Step = Participant.Step

SCREEN_OUT_QUOTA_FULL = "quota_full"


@transaction.atomic
def demographics_save(
    *, participant: Participant, answers: Mapping[str, str] | None = None
) -> Participant:
    """Store the "About you" answers, keyed by the study's item keys, and move on.

    Every item may be left blank (a blank answer is not stored). Raises ValidationError
    for a key the study does not ask or a choice that is not one of the item's. A
    participant whose group's quota is full is screened out (``screened_out_at``) and
    stays on this step.
    """
    participant = participants.lock(participant, Step.ABOUT)
    study = participant.study
    items = {item.key: item for item in study.demographic_items.all()}
    cleaned = clean_answers(items, answers or {})
    # Nobody else writes a participant's answers while their row is locked: a plain read
    # and save, without update_or_create's savepoints and second row lock.
    demographics = Demographics.objects.filter(participant=participant).first()
    if demographics is None:
        Demographics.objects.create(participant=participant, answers=cleaned)
    else:
        demographics.answers = cleaned
        demographics.save(update_fields=["answers"])
    group = cleaned.get(study.group_item_key) if study.group_item_key else None
    if group and lifecycle.group_full(study, group):
        # Their group has all the completed participants it needs: told so plainly, and
        # not kept going through an interview that would not count toward it.
        participant.screened_out_at = timezone.now()
        participant.screen_out_reason = SCREEN_OUT_QUOTA_FULL
        participant.save(update_fields=["screened_out_at", "screen_out_reason", "updated_at"])
        return participant
    participants.advance(participant)
    return participant


def clean_answers(items: Mapping[str, DemographicItem], answers: Mapping[str, str]) -> dict:
    cleaned = {}
    for key, raw in answers.items():
        item = items.get(key)
        if item is None:
            raise ValidationError(f"This study does not ask {key!r}.")
        value = (raw or "").strip()
        if not value:
            continue
        if item.is_choice and value not in item.choice_values():
            raise ValidationError(f"{value!r} is not one of the answers to {key!r}.")
        cleaned[key] = value[: DemographicItem.MAX_CHARS.get(item.kind, len(value))]
    return cleaned
