"""The participants: from chat.json (ids only, never the transcript), from every table
that names a userId, and their answers in demographic.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elicitation.models import Demographics, Participant
from moralgraph.services.importers.base import BATCH, ImportState, Progress, rows, unique


@dataclass
class Demographic:
    row: int
    user: int
    politics: str | None
    age: int | None
    sex: str | None


def read_chats(
    directory: Path, say: Progress, case_rows: dict[str, int]
) -> dict[str, tuple[int, str | None]]:
    """Chat id -> (userId, case id): who answered which question, and nothing they said."""
    chats: dict[str, tuple[int, str | None]] = {}
    for r in rows(directory, "chat.json", required=False):
        chat_id = r.key("id")
        if chat_id in chats:
            raise r.error("id", f"duplicate id {chat_id!r}")
        case_field = "questionId" if "questionId" in r.data else "caseId"
        case_id = None if r.data.get(case_field) is None else r.key(case_field)
        if case_id is not None and case_id not in case_rows:
            raise r.error(case_field, f"no question with id {case_id!r} in case.json")
        chats[chat_id] = (r.int("userId"), case_id)
    if chats:
        say(f"chat.json: {len(chats)} chats (ids, participants and questions only)")
    return chats


def read_demographics(directory: Path, say: Progress) -> list[Demographic]:
    demographics = []
    demographic_rows: dict[int, int] = {}
    for r in rows(directory, "demographic.json", required=False):
        user = r.int("userId")
        unique(r, "userId", user, demographic_rows)
        demographics.append(
            Demographic(
                r.number,
                user,
                r.text("usPoliticalAffiliation", null=True, max_length=200),
                r.int("age", null=True),
                r.text("sex", null=True, max_length=40),
            )
        )
    if demographics:
        say(f"demographic.json: {len(demographics)} rows")
    return demographics


def write_participants(state: ImportState) -> None:
    sources = {
        "edge.json": {e.user for e in state.dump.edges},
        "other": {d.user for d in [*state.dump.votes, *state.dump.impressions]}
        | {d.user for d in state.dump.demographics}
        | {user for user, _ in state.dump.chats.values()}
        | {c.user for c in [*state.dump.position_checks, *state.dump.merge_checks]},
    }
    users = sorted(sources["edge.json"] | sources["other"])
    existing = set(
        state.study.participants.exclude(external_id="").values_list("external_id", flat=True)
    )
    new = [
        Participant(study=state.study, external_id=str(u), step=Participant.Step.DONE)
        for u in users
        if str(u) not in existing
    ]
    Participant.objects.bulk_create(new, batch_size=BATCH)
    state.tally("participants", len(new), len(users) - len(new))
    only_judged = len(sources["edge.json"] - sources["other"])
    if only_judged:
        state.report.notes.append(
            f"{only_judged} participants appear only in edge.json (no chat, vote, "
            "impression, demographic or verification row)"
        )
    state.participants = {
        int(p.external_id): p for p in state.study.participants.exclude(external_id="")
    }


def write_demographics(state: ImportState) -> None:
    existing = set(
        Demographics.objects.filter(participant__study=state.study).values_list(
            "participant_id", flat=True
        )
    )
    new = []
    for d in state.dump.demographics:
        participant = state.participants[d.user]
        if participant.pk in existing:
            continue
        answers = {
            "political_affiliation": politics(d.politics),
            "age_band": age_band(d.age),
            "sex": sex(d.sex),
        }
        new.append(
            Demographics(
                participant=participant,
                # Keyed by the default items' keys, which an imported study has.
                answers={key: answer for key, answer in answers.items() if answer},
                extra={"usPoliticalAffiliation": d.politics} if d.politics else {},
            )
        )
    Demographics.objects.bulk_create(new, batch_size=BATCH)
    state.tally("demographics", len(new), len(state.dump.demographics) - len(new))


_POLITICS = {
    "democrat": Demographics.Politics.DEMOCRAT,
    "republican": Demographics.Politics.REPUBLICAN,
    "independent": Demographics.Politics.INDEPENDENT,
    "prefer not to say": Demographics.Politics.PREFER_NOT,
}


_SEX = {"female": "female", "male": "male", "prefer not to say": "prefer_not"}


def politics(raw: str | None) -> str:
    if not raw or not raw.strip():
        return ""
    return _POLITICS.get(raw.strip().lower(), Demographics.Politics.OTHER)


def sex(raw: str | None) -> str:
    if not raw or not raw.strip():
        return ""
    return _SEX.get(raw.strip().lower(), "another")


def age_band(age: int | None) -> str:
    if age is None:
        return ""
    for upper, band in ((24, "18-24"), (34, "25-34"), (44, "35-44"), (54, "45-54"), (64, "55-64")):
        if age <= upper:
            return band if age >= 18 else ""
    return "65+"
