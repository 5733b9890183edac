"""graphPositionVerification.json and deduplicationVerification.json: the participants'
answers to "is your value's position in the graph fair?" (the paper's fairness question)
and to "is your card the same value as the one it was merged into?".

Both name the reference's ``deduplicatedCardId``, an id of its later deduplication
generation (deduplicatedCard.json / deduplication.json), not of canonicalValuesCard.json,
whose values are the ones imported. A fairness answer needs no value: it becomes the
participant's ``SurveyAnswer.fair``. A merge check needs the value the card was merged
into: the value that every card of the deduplicated card (by deduplication.json) counts
toward here, when the dump has that file and they agree; otherwise the value the checked
card itself counts toward (its canonicalCardId). What neither gives is counted and left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from elicitation.models import SurveyAnswer
from moralgraph.models import CardMapping, MergeCheck
from moralgraph.services.importers.base import BATCH, ImportState, Progress, rows

OPTIONS = ("same", "different")


@dataclass
class PositionCheck:
    row: int
    user: int
    fair: bool
    created: datetime


@dataclass
class MergeCheckRow:
    row: int
    user: int
    card: int
    deduplicated: int | None
    answer: str
    created: datetime


def read_position_checks(directory: Path, say: Progress) -> list[PositionCheck]:
    checks = [
        PositionCheck(
            r.number, r.int("userId"), r.boolean("isSatisfiedWithPosition"), r.time("createdAt")
        )
        for r in rows(directory, "graphPositionVerification.json", required=False)
    ]
    if checks:
        say(f"graphPositionVerification.json: {len(checks)} answers on fairness")
    return checks


def read_merge_checks(directory: Path, say: Progress) -> list[MergeCheckRow]:
    checks = [
        MergeCheckRow(
            r.number,
            r.int("userId"),
            r.int("valuesCardId"),
            r.int("deduplicatedCardId", null=True),
            r.choice("option", OPTIONS),
            r.time("createdAt"),
        )
        for r in rows(directory, "deduplicationVerification.json", required=False)
    ]
    if checks:
        say(f"deduplicationVerification.json: {len(checks)} checks of a merge")
    return checks


def read_deduplication(directory: Path, say: Progress) -> dict[int, set[int]]:
    """deduplication.json: deduplicated card id -> the ids of the cards it stands for."""
    members: dict[int, set[int]] = defaultdict(set)
    for r in rows(directory, "deduplication.json", required=False):
        members[r.int("deduplicatedCardId")].add(r.int("valuesCardId"))
    if members:
        say(f"deduplication.json: {len(members)} deduplicated cards")
    return dict(members)


def write_fair_answers(state: ImportState) -> None:
    """Each participant's latest answer on fairness, with its date, as their survey's
    ``fair``; a participant who already has one keeps it."""
    latest: dict[int, PositionCheck] = {}
    for check in sorted(state.dump.position_checks, key=lambda c: (c.created, c.row)):
        latest[check.user] = check
    answers = {
        a.participant_id: a for a in SurveyAnswer.objects.filter(participant__study=state.study)
    }
    new, changed = [], []
    for user, check in latest.items():
        participant = state.participants[user]
        answer = answers.get(participant.pk)
        if answer is None:
            new.append(
                SurveyAnswer(
                    study=state.study,
                    participant=participant,
                    fair=check.fair,
                    fair_answered_at=check.created,
                    source=SurveyAnswer.Source.IMPORTED,
                )
            )
        elif answer.fair is None:
            answer.fair, answer.fair_answered_at = check.fair, check.created
            changed.append(answer)
    SurveyAnswer.objects.bulk_create(new, batch_size=BATCH)
    SurveyAnswer.objects.bulk_update(changed, ["fair", "fair_answered_at"], batch_size=BATCH)
    created = len(new) + len(changed)
    state.tally("fair answers", created, len(latest) - created)
    repeats = len(state.dump.position_checks) - len(latest)
    if repeats:
        state.report.notes.append(
            f"{repeats} answers on fairness repeat a participant's; the latest of each is kept"
        )


def write_merge_checks(state: ImportState) -> None:
    checks = state.dump.merge_checks
    if not checks:
        return
    cards = {int(c.external_id): c for c in state.study.cards.exclude(external_id="")}
    value_of = dict(
        CardMapping.objects.filter(card__study=state.study, undone_at=None).values_list(
            "card_id", "value_id"
        )
    )
    through_dedup = through_card = 0
    unmapped: list[MergeCheckRow] = []
    wanted: dict[tuple[int, int, int], tuple[MergeCheckRow, int]] = {}
    for check in sorted(checks, key=lambda c: (c.created, c.row)):
        card = cards.get(check.card)
        value = _deduplicated_value(state, check, cards, value_of)
        if value is not None:
            through_dedup += 1
        elif card is not None and card.pk in value_of:
            value = value_of[card.pk]
            through_card += 1
        if card is None or value is None:
            unmapped.append(check)
            continue
        # The latest check of the same card against the same value wins.
        wanted[(state.participants[check.user].pk, card.pk, value)] = (check, value)
    existing = set(
        MergeCheck.objects.filter(study=state.study).values_list(
            "participant_id", "card_id", "value_id"
        )
    )
    new = [
        MergeCheck(
            study=state.study,
            participant_id=participant,
            card_id=card,
            value_id=value,
            answer=check.answer,
            created_at=check.created,
        )
        for (participant, card, value), (check, _) in wanted.items()
        if (participant, card, value) not in existing
    ]
    MergeCheck.objects.bulk_create(new, batch_size=BATCH)
    state.tally("merge checks", len(new), len(wanted) - len(new))
    state.say(
        f"merge checks: {through_dedup} mapped through deduplication.json, {through_card} "
        f"through the checked card's value, {len(unmapped)} not mapped"
    )
    if unmapped:
        state.report.notes.append(
            f"{len(unmapped)} merge checks could not be mapped (their card is not in "
            "valuesCard.json or counts toward no value) and were left out"
        )
    repeats = len(checks) - len(unmapped) - len(wanted)
    if repeats:
        state.report.notes.append(
            f"{repeats} merge checks repeat a participant's check of the same card and value; "
            "the latest of each is kept"
        )


def _deduplicated_value(state: ImportState, check: MergeCheckRow, cards, value_of) -> int | None:
    """The one value every card of the deduplicated card counts toward here, if any."""
    if check.deduplicated is None:
        return None
    members = state.dump.deduplication.get(check.deduplicated, set())
    values = {value_of.get(cards[m].pk) if m in cards else None for m in members}
    if len(values) == 1 and None not in values:
        return values.pop()
    return None
