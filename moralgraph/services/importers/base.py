"""What every table family of the import shares: the files, the checked row, the error
that names file, row and field, and the state of one run of writing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elicitation.models import Study

if TYPE_CHECKING:
    from moralgraph.services.importers.dump import Dump

REQUIRED_FILES = ("case.json", "context.json", "canonicalValuesCard.json", "edge.json")
OPTIONAL_FILES = (
    "valuesCard.json",
    "edgeHypothesis.json",
    "vote.json",
    "impression.json",
    "demographic.json",
    "chat.json",
    "contextsOnCases.json",
    "graphPositionVerification.json",
    "deduplicationVerification.json",
    "deduplication.json",
)
# Personal data: the import never opens these.
IGNORED_FILES = ("user.json", "emailCodes.json")

BATCH = 2000

Progress = Callable[[str], None]


class ReferenceDumpError(Exception):
    """Malformed input: names the file and, where it applies, the row and the field."""

    def __init__(self, file: str, message: str, *, row: int | None = None, field: str = ""):
        self.file, self.row, self.field, self.message = file, row, field, message
        where = file
        if row is not None:
            where += f", row {row}"
        if field:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


@dataclass
class ImportReport:
    study: Study
    created: Counter = field(default_factory=Counter)
    existing: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # reason -> rows left out
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(self.created.values())


class ImportState:
    """One import being written: the study, its report, and the rows written so far by
    the reference's keys, for the next table family to point at."""

    def __init__(self, dump: Dump, study: Study, say: Progress):
        self.dump = dump
        self.study = study
        self.say = say
        self.report = ImportReport(study=study)
        self.questions: dict = {}  # case id -> Question
        self.contexts: dict = {}  # text -> Context
        self.values: dict = {}  # reference id -> Value
        self.participants: dict = {}  # userId -> Participant
        self.hypotheses: dict = {}  # (from value pk, to value pk, context pk) -> story

    def tally(self, kind: str, created: int, existing: int) -> None:
        self.report.created[kind] += created
        self.report.existing[kind] += existing
        self.say(f"{kind}: {created} imported, {existing} already there")


class Row:
    """One row of a dump file, with typed accessors that fail naming file, row and field."""

    __slots__ = ("file", "number", "data")

    def __init__(self, file: str, number: int, data: dict):
        self.file, self.number, self.data = file, number, data

    def error(self, field_name: str, message: str) -> ReferenceDumpError:
        return ReferenceDumpError(self.file, message, row=self.number, field=field_name)

    def _get(self, name: str, null: bool) -> Any:
        if name not in self.data:
            if null:
                return None
            raise self.error(name, "missing")
        value = self.data[name]
        if value is None and not null:
            raise self.error(name, "is null")
        return value

    def int(self, name: str, *, null: bool = False) -> int | None:
        value = self._get(name, null)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {show(value)}")
        return value

    def text(
        self, name: str, *, null: bool = False, blank: bool = True, max_length: int | None = None
    ) -> str | None:
        value = self._get(name, null)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {show(value)}")
        if not blank and not value.strip():
            raise self.error(name, "is empty")
        if max_length is not None and len(value) > max_length:
            raise self.error(name, f"is longer than {max_length} characters")
        return value

    def boolean(self, name: str) -> bool:
        value = self._get(name, False)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {show(value)}")
        return value

    def key(self, name: str) -> str:
        """An id that the reference stored as an integer or a string: kept as a string."""
        value = self._get(name, False)
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            raise self.error(name, f"expected an integer or string id, got {show(value)}")
        return str(value)

    def texts(self, name: str) -> list[str]:
        value = self._get(name, False)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(name, f"expected an array of strings, got {show(value)}")
        return value

    def time(self, name: str, *, null: bool = False) -> datetime | None:
        value = self._get(name, null)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(name, f"expected an ISO-8601 time, got {show(value)}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.error(name, f"expected an ISO-8601 time, got {show(value)}") from None
        # The dumps are UTC; a time without an offset is read as UTC.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def choice(self, name: str, choices: tuple[str, ...], *, null: bool = False) -> str | None:
        value = self._get(name, null)
        if value is None:
            return None
        if value not in choices:
            raise self.error(name, f"expected one of {', '.join(choices)}, got {show(value)}")
        return value


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def rows(directory: Path, name: str, *, required: bool) -> Iterator[Row]:
    path = directory / name
    if not path.is_file():
        if required:
            raise ReferenceDumpError(name, f"missing from {directory}")
        return
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as error:
        raise ReferenceDumpError(
            name, f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except UnicodeDecodeError:
        raise ReferenceDumpError(name, "not UTF-8 text") from None
    if not isinstance(data, list):
        raise ReferenceDumpError(name, "expected a JSON array of rows")
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise ReferenceDumpError(name, f"expected an object, got {show(item)}", row=number)
        yield Row(name, number, item)


def unique(r: Row, name: str, key: Any, seen: dict) -> None:
    first = seen.setdefault(key, r.number)
    if first != r.number:
        raise r.error(name, f"duplicate id {show(key)} (first at row {first})")


def optional_key(r: Row, name: str) -> str | None:
    return None if r.data.get(name) is None else r.key(name)
