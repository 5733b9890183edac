"""A study's survey export (a spreadsheet form's CSV) as anonymous survey responses.

The export has a timestamp column in the form's locale (``2023/10/06 5:28:17 em EEST``),
a recruiter id column, one column per question headed by the question's text, answers 1
to 5, and the usual debris: blank header columns, test rows, people who answered twice.

- Columns are matched to the paper's items by key phrases of their normalised header
  (case, curly quotes and spacing ignored); other columns are left alone and named.
- A row without a single answer from 1 to 5 (a test row, say) is skipped and counted.
- Of an id that answered more than once only the latest answer is kept (the later
  timestamp; on a tie, or without one, the later row).
- Recruiter ids are read into memory to find repeats and NEVER stored, not even hashed:
  a response is imported without a participant, keyed by a hash of its timestamp and
  answers, so importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from elicitation.models import Study, SurveyAnswer
from moralgraph.services.importers.base import BATCH, Progress, ReferenceDumpError

# Key phrases of the paper's questions, in normalised form, to the item they ask.
ITEM_PHRASES = (
    ("express what you care about", "represented"),
    ("clarify", "clarified"),
    ("learn something", "learned"),
    ("respect", "respect"),
    ("trust", "trust"),
)
TIMESTAMP_HEADERS = ("timestamp", "aikaleima", "tidsstämpel", "zeitstempel", "time")
ID_HEADERS = ("prolific", "participant id", "recruiter id", "pid", "worker id")

# Day-period markers of the locales such exports come in: English, Finnish (ap. / ip.)
# and Swedish (fm / em). "ip" is Finnish for the afternoon, unless a file pairs it with
# the Swedish "em" and has no other morning marker: then it is that file's morning.
MORNING = {"am", "a.m.", "ap", "ap.", "fm", "f.m."}
AFTERNOON = {"pm", "p.m.", "ip", "ip.", "em", "e.m."}
ZONES = {
    "utc": 0, "gmt": 0, "z": 0, "wet": 0, "west": 1, "bst": 1, "cet": 1, "cest": 2,
    "eet": 2, "eest": 3, "msk": 3, "est": -5, "edt": -4, "cst": -6, "cdt": -5,
    "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
}  # fmt: skip
_STAMP = re.compile(
    r"^\s*(?:(?P<y>\d{4})[/.-](?P<m>\d{1,2})[/.-](?P<d>\d{1,2})"
    r"|(?P<d2>\d{1,2})\.(?P<m2>\d{1,2})\.(?P<y2>\d{4})"
    r"|(?P<m3>\d{1,2})/(?P<d3>\d{1,2})/(?P<y3>\d{4}))"
    r"(?:[ T,]+(?:klo\s+)?(?P<H>\d{1,2})[:.](?P<M>\d{2})(?:[:.](?P<S>\d{2}))?)?"
    r"\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


class SurveyFileError(ReferenceDumpError):
    """A survey file that cannot be read at all: nothing is imported."""


@dataclass
class SurveyResponse:
    row: int
    answered_at: datetime | None
    answers: dict[str, int]
    key: str  # hash of the timestamp as written and the answers: the import's identity


@dataclass
class SurveyFile:
    name: str
    rows: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # item -> header
    unmatched: list[str] = field(default_factory=list)  # headers left alone
    blank_headers: int = 0
    responses: list[SurveyResponse] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> rows
    undated: int = 0  # responses whose timestamp was not understood
    unknown_zones: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def normalise(text: str) -> str:
    text = text.translate(str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "\xa0": " "}))
    return " ".join(text.split()).casefold()


def read_survey(path: Path | str, say: Progress | None = None) -> SurveyFile:
    """Read and check a survey export; raise SurveyFileError if it cannot be used."""
    path = Path(path)
    say = say or (lambda message: None)
    name = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise SurveyFileError(str(path), "no such file") from None
    except UnicodeDecodeError:
        raise SurveyFileError(name, "not UTF-8 text") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    table = list(csv.reader(io.StringIO(text), dialect))
    if not table:
        raise SurveyFileError(name, "empty")
    headers, body = table[0], table[1:]
    survey = SurveyFile(name)
    stamp_column = id_column = None
    for index, header in enumerate(headers):
        plain = normalise(header)
        if not plain:
            survey.blank_headers += 1
        elif stamp_column is None and plain in TIMESTAMP_HEADERS:
            stamp_column = index
        elif id_column is None and any(re.search(rf"\b{w}\b", plain) for w in ID_HEADERS):
            id_column = index
        elif item := next((key for phrase, key in ITEM_PHRASES if phrase in plain), None):
            if item in survey.columns:
                survey.unmatched.append(f"{header} (a second column for {item})")
            else:
                survey.columns[item] = index
        else:
            survey.unmatched.append(header)
    if not survey.columns:
        raise SurveyFileError(name, "no column matches a survey question")
    survey.columns = {
        item: survey.columns[item] for _, item in ITEM_PHRASES if item in survey.columns
    }

    stamps = [_cell(row, stamp_column) for row in body] if stamp_column is not None else []
    reading = _markers(stamps)
    candidates = []  # (recruiter id or None, response)
    for number, row in enumerate(body, start=2):  # the header is line 1
        if not any(cell.strip() for cell in row):
            continue
        survey.rows += 1
        answers = {}
        for item, index in survey.columns.items():
            answer = _answer(_cell(row, index))
            if answer is not None:
                answers[item] = answer
        if not answers:
            survey.skipped["no answer from 1 to 5 (a test row?)"] += 1
            continue
        stamp = _cell(row, stamp_column) if stamp_column is not None else ""
        answered_at = parse_timestamp(stamp, reading, survey)
        key = hashlib.sha256(
            json.dumps([" ".join(stamp.split()), sorted(answers.items())]).encode()
        ).hexdigest()
        recruiter = _cell(row, id_column).strip() if id_column is not None else ""
        candidates.append((recruiter or None, SurveyResponse(number, answered_at, answers, key)))

    # The ids live only in this function: to keep each id's latest answer, then dropped.
    latest: dict[str, SurveyResponse] = {}
    for recruiter, response in candidates:
        if recruiter is None:
            survey.responses.append(response)
            continue
        kept = latest.get(recruiter)
        if kept is None or _order(response) >= _order(kept):
            latest[recruiter] = response
        survey.skipped["an earlier answer of an id that answered again"] += kept is not None
    survey.responses += latest.values()
    survey.responses.sort(key=lambda r: r.row)
    del latest, candidates
    if id_column is None:
        survey.notes.append("no recruiter id column: repeated answers cannot be found")
    if survey.undated:
        survey.notes.append(f"{survey.undated} timestamps not understood: imported without a date")
    if survey.unknown_zones:
        zones = ", ".join(sorted(survey.unknown_zones))
        survey.notes.append(f"unknown time zones read as UTC (dates kept): {zones}")
    say(
        f"{name}: {survey.rows} rows, columns "
        + ", ".join(f"{item} ({headers[i][:40]!r})" for item, i in survey.columns.items())
    )
    return survey


def write_survey(*, study: Study, survey: SurveyFile, say: Progress) -> tuple[int, int]:
    """Store the file's responses as anonymous imported survey answers; (created, already
    there). Responses already imported (same hash) are left as they are."""
    existing = set(
        SurveyAnswer.objects.filter(study=study)
        .exclude(import_key="")
        .values_list("import_key", flat=True)
    )
    new, seen = [], set()
    for response in survey.responses:
        if response.key in existing or response.key in seen:
            continue
        seen.add(response.key)
        new.append(
            SurveyAnswer(
                study=study,
                source=SurveyAnswer.Source.IMPORTED,
                import_key=response.key,
                answered_at=response.answered_at,
                **response.answers,
            )
        )
    SurveyAnswer.objects.bulk_create(new, batch_size=BATCH)
    already = len(survey.responses) - len(new)
    say(f"survey responses: {len(new)} imported, {already} already there")
    for header in survey.unmatched:
        say(f"survey column not read: {header!r}")
    if survey.blank_headers:
        say(f"survey columns without a header, not read: {survey.blank_headers}")
    return len(new), already


def parse_timestamp(text: str, reading: dict[str, int], survey: SurveyFile) -> datetime | None:
    """A spreadsheet timestamp, leniently: the date always when there is one, the time and
    zone when understood (an unknown zone is read as UTC, and counted)."""
    match = _STAMP.match(text or "")
    if match is None:
        survey.undated += 1
        return None
    g = match.groupdict()
    year, month, day = (
        (g["y"], g["m"], g["d"]) if g["y"] else (g["y2"], g["m2"], g["d2"]) if g["y2"] else
        (g["y3"], g["m3"], g["d3"])
    )  # fmt: skip
    hour, minute, second = int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0)
    rest = g["rest"].split()
    if rest and rest[0].casefold() in reading:
        hour = hour % 12 + reading[rest.pop(0).casefold()]
    offset = 0
    if rest:
        zone = " ".join(rest)
        if zone.casefold() in ZONES:
            offset = ZONES[zone.casefold()]
        elif m := _OFFSET.match(zone):
            sign = -1 if m.group(1) == "-" else 1
            offset = sign * (int(m.group(2)) + int(m.group(3) or 0) / 60)
        else:
            survey.unknown_zones.add(zone)
    try:
        local = datetime(int(year), int(month), int(day), hour, minute, second)
    except ValueError:
        survey.undated += 1
        return None
    return local.replace(tzinfo=timezone(timedelta(hours=offset))).astimezone(UTC)


def _markers(stamps: list[str]) -> dict[str, int]:
    """marker -> hours to add after noon (0 or 12), for this file's markers."""
    used = {
        m.group("rest").split()[0].casefold()
        for s in stamps
        if (m := _STAMP.match(s)) and m.group("rest").split()
    }
    reading = dict.fromkeys(MORNING, 0) | dict.fromkeys(AFTERNOON, 12)
    if used & {"ip", "ip."} and used & {"em", "e.m."} and not used & MORNING:
        reading.update({"ip": 0, "ip.": 0})
    return reading


def _answer(cell: str) -> int | None:
    try:
        number = float(cell.strip().replace(",", "."))
    except ValueError:
        return None
    return int(number) if number.is_integer() and 1 <= number <= 5 else None


def _cell(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def _order(response: SurveyResponse) -> tuple:
    # A response without a time sorts before any with one; then the row decides.
    moment = response.answered_at or datetime.min.replace(tzinfo=UTC)
    return (moment, response.row)
