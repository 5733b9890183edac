"""``approval``: the recruiter's approval list, one row per participant who came with a
recruiter id: their status, their own completion code, the minutes they took, and flags
worth a look before approving (a very short interview, pasted text).

The only export that carries recruiter ids: it is for settling payments with the
recruiter, never for analysis, and no other format (nor the bundle) includes it. Built
from the study's rows as they are now, not from a snapshot; cells are made safe for
spreadsheets (``data.csv_bytes``).
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Sum

from elicitation.models import Message, Participant, Study
from moralgraph.services.exports.data import csv_bytes, iso

# An interview whose participant wrote fewer words than this, all messages together, is
# flagged "short_interview": most real answers run to a few hundred words.
SHORT_INTERVIEW_WORDS = 40
# Pasting a word or two is ordinary; this many pasted characters is flagged "pasted".
PASTED_CHARS = 40

HEADER = [
    "recruiter_id",
    "recruiter_session_id",
    "status",
    "completion_code",
    "minutes",
    "interview_words",
    "pasted_chars",
    "flags",
    "started_at",
    "completed_at",
]


def status_of(participant: Participant) -> str:
    """completed, screened_out, in_progress, abandoned or test (test wins: never paid)."""
    if participant.is_test:
        return "test"
    if participant.screened_out_at is not None:
        return "screened_out"
    if participant.completed_at is not None:
        return "completed"
    if participant.abandoned_at is not None:
        return "abandoned"
    return "in_progress"


def _minutes(participant: Participant) -> str:
    if participant.completed_at is None or participant.consented_at is None:
        return ""
    seconds = (participant.completed_at - participant.consented_at).total_seconds()
    return f"{max(seconds, 0) / 60:.1f}"


def rows(study: Study) -> list[list]:
    participants = list(
        Participant.objects.filter(study=study)
        .exclude(recruiter_pid="")
        .order_by("created_at", "pk")
    )
    words: dict[int, int] = defaultdict(int)
    messages = Message.objects.filter(
        interview__participant__study=study,
        interview__participant__recruiter_pid__gt="",
        role=Message.Role.USER,
    ).values_list("interview__participant_id", "content")
    for participant_id, content in messages.iterator():
        words[participant_id] += len(content.split())
    pasted = dict(
        Message.objects.filter(interview__participant__study=study, role=Message.Role.USER)
        .values("interview__participant_id")
        .annotate(n=Sum("pasted_chars"))
        .values_list("interview__participant_id", "n")
    )
    out = []
    for p in participants:
        status = status_of(p)
        flags = []
        reached_interview = p.consented_at is not None and status != "screened_out"
        talked = reached_interview and (status == "completed" or p.pk in words)
        if talked and words[p.pk] < SHORT_INTERVIEW_WORDS:
            flags.append("short_interview")
        if (pasted.get(p.pk) or 0) >= PASTED_CHARS:
            flags.append("pasted")
        if p.screen_out_reason:
            flags.append(p.screen_out_reason)
        out.append(
            [
                p.recruiter_pid,
                p.recruiter_session_id,
                status,
                p.completion_code,
                _minutes(p),
                words[p.pk] if reached_interview else "",
                pasted.get(p.pk) or 0,
                ";".join(flags),
                iso(p.consented_at) or iso(p.created_at) or "",
                iso(p.completed_at) or "",
            ]
        )
    return out


def build(study: Study) -> bytes:
    return csv_bytes(HEADER, rows(study))


def filename(study: Study) -> str:
    return f"{study.slug}-approval.csv"
