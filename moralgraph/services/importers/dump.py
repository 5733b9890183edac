"""Reading a dump: every file read and checked, table family by table family, before
anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from moralgraph.services.importers import (
    cases,
    judgments,
    participants,
    selections,
    values,
    verifications,
)
from moralgraph.services.importers.base import Progress, ReferenceDumpError, Row, show


@dataclass
class Dump:
    cases: list[cases.Case]
    contexts: list[str]
    values: list[values.Wording]
    cards: list[values.Wording]
    edges: list[judgments.Edge]
    hypotheses: list[judgments.Hypothesis]
    votes: list[selections.Draw]
    impressions: list[selections.Draw]
    demographics: list[participants.Demographic]
    chats: dict[str, tuple[int, str | None]]  # chat id -> (userId, case id)
    context_links: list[tuple[str, str]] | None  # (context, case id); None: no file
    position_checks: list[verifications.PositionCheck]
    merge_checks: list[verifications.MergeCheckRow]
    deduplication: dict[int, set[int]]  # deduplicated card id -> its cards' ids


def read_dump(directory: Path | str, progress: Progress | None = None) -> Dump:
    """Read and check every file of a dump; raise ReferenceDumpError on the first problem."""
    directory = Path(directory)
    say = progress or (lambda message: None)
    if not directory.is_dir():
        raise ReferenceDumpError(str(directory), "not a directory")

    case_list, case_rows = cases.read_cases(directory, say)
    contexts, context_rows = cases.read_contexts(directory, say)
    context_links = cases.read_context_links(directory, say, case_rows, context_rows)
    value_list, value_rows = values.read_values(directory, say)
    chats = participants.read_chats(directory, say, case_rows)
    cards = values.read_cards(directory, say, value_rows, chats)

    # Later files point at values and contexts by the reference's ids.
    def value_ref(r: Row, name: str) -> int:
        value_id = r.int(name)
        if value_id not in value_rows:
            raise r.error(name, f"no canonical value {value_id} in canonicalValuesCard.json")
        return value_id

    def context_ref(r: Row, name: str) -> str:
        text = r.text(name)
        if text not in context_rows:
            raise r.error(name, f"no context {show(text)} in context.json")
        return text

    hypotheses = judgments.read_hypotheses(directory, say, value_ref, context_ref)
    edges = judgments.read_edges(directory, say, value_ref, context_ref)
    votes = selections.read_draws(directory, "vote.json", say, case_rows, value_ref)
    impressions = selections.read_draws(directory, "impression.json", say, case_rows, value_ref)
    demographics = participants.read_demographics(directory, say)
    return Dump(
        case_list,
        contexts,
        value_list,
        cards,
        edges,
        hypotheses,
        votes,
        impressions,
        demographics,
        chats,
        context_links,
        verifications.read_position_checks(directory, say),
        verifications.read_merge_checks(directory, say),
        verifications.read_deduplication(directory, say),
    )
