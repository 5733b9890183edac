"""vote.json and impression.json: the values participants picked as wise (Selection) and
the values they were shown (Impression), each for one question."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from moralgraph.services.importers.base import (
    BATCH,
    ImportState,
    Progress,
    Row,
    optional_key,
    rows,
    unique,
)

ValueRef = Callable[[Row, str], int]


@dataclass
class Draw:
    row: int
    id: int
    user: int
    value: int
    case: str
    draw: str
    created: datetime


def read_draws(
    directory: Path, name: str, say: Progress, case_rows: dict[str, int], value_ref: ValueRef
) -> list[Draw]:
    """vote.json or impression.json: which values a participant picked, or was shown."""
    draws = []
    ids: dict[int, int] = {}
    for r in rows(directory, name, required=False):
        draw_id = r.int("id")
        unique(r, "id", draw_id, ids)
        case_id = r.key("caseId")
        if case_id not in case_rows:
            raise r.error("caseId", f"no question with id {case_id!r} in case.json")
        draws.append(
            Draw(
                r.number,
                draw_id,
                r.int("userId"),
                value_ref(r, "valuesCardId"),
                case_id,
                optional_key(r, "drawId") or "",
                r.time("createdAt"),
            )
        )
    if draws:
        say(f"{name}: {len(draws)} rows")
    return draws


def write_draws(state: ImportState, kind: str, model: type, draws: list[Draw]) -> None:
    imported = set(
        model.objects.filter(participant__study=state.study)
        .exclude(external_id="")
        .values_list("external_id", flat=True)
    )
    taken = set(
        model.objects.filter(participant__study=state.study).values_list(
            "participant_id", "value_id", "question_id"
        )
    )
    new = []
    already = repeats = 0
    for d in sorted(draws, key=lambda d: (d.created, d.row)):
        if str(d.id) in imported:
            already += 1
            continue
        participant = state.participants[d.user]
        value, question = state.values[d.value], state.questions[d.case]
        key = (participant.pk, value.pk, question.pk)
        if key in taken:
            # The same value shown to (or picked by) the same participant for the same
            # question in a later draw: one row here, the first.
            repeats += 1
            continue
        taken.add(key)
        new.append(
            model(
                participant=participant,
                value=value,
                question=question,
                draw_id=d.draw[:64],
                external_id=str(d.id),
                created_at=d.created,
            )
        )
    model.objects.bulk_create(new, batch_size=BATCH)
    state.tally(kind, len(new), already)
    if repeats:
        state.report.notes.append(
            f"{repeats} {kind} repeat a participant, value and question of an earlier "
            "row and were skipped"
        )
