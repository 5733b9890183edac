"""canonicalValuesCard.json and valuesCard.json: the values, the participants' cards, and
which value each card counts toward."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db.models import Case, When

from elicitation import cards
from elicitation.models import ValuesCard
from moralgraph.models import CardMapping, Value
from moralgraph.services.importers.base import BATCH, ImportState, Progress, Row, rows, unique

QUALITIES = ("ok", "invalid")


@dataclass
class Wording:
    row: int
    id: int
    title: str
    short: str
    detailed: str
    criteria: list[str]
    created: datetime
    updated: datetime
    canonical: int | None = None
    chat: str | None = None
    quality: str = "ok"


def read_values(directory: Path, say: Progress) -> tuple[list[Wording], dict[int, int]]:
    values = []
    value_rows: dict[int, int] = {}
    for r in rows(directory, "canonicalValuesCard.json", required=True):
        value = wording(r)
        unique(r, "id", value.id, value_rows)
        values.append(value)
    say(f"canonicalValuesCard.json: {len(values)} canonical values")
    return values, value_rows


def read_cards(
    directory: Path, say: Progress, value_rows: dict[int, int], chats: dict
) -> list[Wording]:
    cards = []
    card_rows: dict[int, int] = {}
    for r in rows(directory, "valuesCard.json", required=False):
        card = wording(r)
        unique(r, "id", card.id, card_rows)
        card.canonical = r.int("canonicalCardId", null=True)
        if card.canonical is not None and card.canonical not in value_rows:
            raise r.error(
                "canonicalCardId",
                f"no canonical value {card.canonical} in canonicalValuesCard.json",
            )
        chat = r.data.get("chatId")
        card.chat = None if chat is None else r.key("chatId")
        if card.chat is not None and chats and card.chat not in chats:
            raise r.error("chatId", f"no chat {card.chat!r} in chat.json")
        card.quality = r.choice("quality", QUALITIES, null=True) or "ok"
        cards.append(card)
    say(f"valuesCard.json: {len(cards)} cards")
    return cards


def wording(r: Row) -> Wording:
    return Wording(
        r.number,
        r.int("id"),
        r.text("title", blank=False, max_length=cards.TITLE_MAX_CHARS),
        r.text("instructionsShort", null=True) or "",
        r.text("instructionsDetailed", null=True) or "",
        r.texts("evaluationCriteria"),
        r.time("createdAt"),
        r.time("updatedAt", null=True) or r.time("createdAt"),
    )


def write_values(state: ImportState) -> None:
    existing = set(state.study.values.exclude(external_id="").values_list("external_id", flat=True))
    new_rows = [v for v in state.dump.values if str(v.id) not in existing]
    Value.objects.bulk_create(
        [
            Value(
                study=state.study,
                title=v.title,
                description=v.short,
                instructions_detailed=v.detailed,
                policies=v.criteria,
                wording_source=Value.Wording.IMPORTED,
                external_id=str(v.id),
                created_at=v.created,
            )
            for v in new_rows
        ],
        batch_size=BATCH,
    )
    state.values = {int(v.external_id): v for v in state.study.values.exclude(external_id="")}
    # auto_now stamped the import time; keep the reference's updatedAt instead.
    set_updated_at(Value, {state.values[v.id].pk: v.updated for v in new_rows})
    state.tally("values", len(new_rows), len(state.dump.values) - len(new_rows))


def write_cards(state: ImportState) -> None:
    cards = state.dump.cards
    existing = set(state.study.cards.exclude(external_id="").values_list("external_id", flat=True))
    new_rows = [c for c in cards if str(c.id) not in existing]
    new = []
    for c in new_rows:
        user, case_id = state.dump.chats.get(c.chat, (None, None)) if c.chat else (None, None)
        new.append(
            ValuesCard(
                study=state.study,
                participant=state.participants.get(user) if user is not None else None,
                question=state.questions.get(case_id) if case_id is not None else None,
                title=c.title,
                description=c.short,
                instructions_detailed=c.detailed,
                policies=c.criteria,
                status=ValuesCard.Status.SUBMITTED,
                quality=c.quality,
                submitted_at=c.created,
                external_id=str(c.id),
                created_at=c.created,
                # Reconciled in the reference, not here (so no reconciled_at): done,
                # never to be redone.
                reconcile_status=ValuesCard.Reconcile.DONE,
            )
        )
    ValuesCard.objects.bulk_create(new, batch_size=BATCH)
    by_external = {
        int(card.external_id): card
        for card in state.study.cards.filter(external_id__in=[str(c.id) for c in new_rows])
    }
    mappings = [
        CardMapping(
            card=by_external[c.id],
            value=state.values[c.canonical],
            mapped_by="import",
            reason="canonicalCardId in valuesCard.json",
            created_at=c.created,
        )
        for c in new_rows
        if c.canonical is not None
    ]
    CardMapping.objects.bulk_create(mappings, batch_size=BATCH)
    state.tally("cards", len(new), len(cards) - len(new))
    state.tally("card mappings", len(mappings), 0)
    unmapped = Counter(c.quality for c in cards if c.canonical is None)
    for quality, n in sorted(unmapped.items()):
        state.report.notes.append(f"{n} cards of quality {quality!r} have no canonical value")


def set_updated_at(model: type, times: dict[int, datetime]) -> None:
    items = sorted(times.items())
    for start in range(0, len(items), BATCH):
        chunk = dict(items[start : start + BATCH])
        model.objects.filter(pk__in=chunk).update(
            updated_at=Case(*(When(pk=pk, then=t) for pk, t in chunk.items()))
        )
