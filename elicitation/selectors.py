"""Reads of the participant side that are more than one queryset line: who is this
participant, what have they said, and which values and stories were drawn for them.

The draws themselves, and where a participant's value sits in the graph, read the graph
and live with it (moralgraph.services.draws and .positions)."""

from __future__ import annotations

import copy
import functools
import threading
import time
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.transaction import TransactionManagementError
from django.http import Http404

from elicitation.models import (
    DemographicItem,
    Interview,
    JudgmentAssignment,
    Message,
    Participant,
    Question,
    Study,
    ValuesCard,
)

# ---------------------------------------------------------------------------------------
# The "counted" rule: one place decides who and what counts
# ---------------------------------------------------------------------------------------
# Scoring, the dashboard, the report and every export read participants, cards and
# judgments through these three, so that test participants (pilot link, simulation) and
# moderated cards leave every figure the same way. An abandoned participant (idle past
# the study's inactive_minutes before finishing) leaves the participant counts and the
# question balance, but what they did submit still counts. A screened-out participant
# (declined consent with a recruiter id) never took part. Imported rows without a
# participant count. `include_test` is the researcher's "show test participants" toggle.
# `study=None` reads every study (the list of studies counts them all at once).


def _of_study(qs, field: str, study: Study | None):
    return qs if study is None else qs.filter(**{field: study})


def counted_participants(
    study: Study | None, *, include_test: bool = False, include_abandoned: bool = False
):
    """Participants who count; ``include_abandoned`` for figures about dropping out (the
    funnel), where those who left are the point."""
    qs = _of_study(Participant.objects.filter(screened_out_at__isnull=True), "study", study)
    if not include_abandoned:
        qs = qs.filter(abandoned_at__isnull=True)
    return qs if include_test else qs.filter(is_test=False)


def _counted_by_participant(qs, include_test: bool):
    return qs if include_test else qs.exclude(participant__is_test=True)


def counted_cards(study: Study | None, *, include_test: bool = False):
    """Submitted cards of counted participants that no researcher hid."""
    qs = ValuesCard.objects.filter(status=ValuesCard.Status.SUBMITTED, hidden_at__isnull=True)
    qs = _of_study(qs, "study", study)
    return _counted_by_participant(qs, include_test)


def counted_judgments(study: Study | None, *, include_test: bool = False):
    from elicitation.models import WiserJudgment

    qs = _of_study(WiserJudgment.objects.all(), "participant__study", study)
    return _counted_by_participant(qs, include_test)


def counted_survey_answers(study: Study, *, include_test: bool = False):
    """Survey answers (legitimacy figures) of counted participants; imported answers
    without a participant count."""
    from elicitation.models import SurveyAnswer

    qs = SurveyAnswer.objects.filter(study=study)
    return _counted_by_participant(qs, include_test)


# ---------------------------------------------------------------------------------------
# The study a participant's request is for
# ---------------------------------------------------------------------------------------
# Every request of the journey starts by reading its study: ~50 columns, about 1 ms of
# a web process's CPU to build and load, on every page and every message (bench/load.py,
# where CPU is what runs out). Each process keeps what it read for STUDY_CACHE_SECONDS.
# A change saved in this process drops its copy at once (``forget_study``, on save);
# one made in another process (a researcher's edit, a worker's update) is seen within
# that many seconds. What must be exact reads the row again under a lock: admission
# against quotas and the hourly budget, completion, every status change.

_studies: dict[str, tuple[float, Study]] = {}  # slug -> (read at, study), this process
_studies_lock = threading.Lock()
_STUDIES_KEPT = 256


def published_study(slug: str) -> Study:
    """The study at ``slug`` unless it is still a draft (then Http404): a copy of this
    process's recent read of it, so a request may set attributes on it freely."""
    keep = settings.STUDY_CACHE_SECONDS
    now = time.monotonic()
    held = _studies.get(slug)
    if held is not None and now - held[0] < keep:
        return copy.copy(held[1])
    try:
        study = Study.objects.exclude(status=Study.Status.DRAFT).get(slug=slug)
    except Study.DoesNotExist:
        raise Http404("No such study") from None
    if keep > 0:
        with _studies_lock:
            if len(_studies) >= _STUDIES_KEPT:
                _studies.clear()
            _studies[slug] = (now, copy.copy(study))
    return study


def pilot_token(study: Study) -> str:
    """The secret of ``study``'s test link as stored now."""
    return Study.objects.filter(pk=study.pk).values_list("pilot_token", flat=True).get()


def forget_study(slug: str | None = None) -> None:
    """Drop this process's copy of the study at ``slug`` (of every study: None)."""
    with _studies_lock:
        if slug is None:
            _studies.clear()
        else:
            _studies.pop(slug, None)


# ---------------------------------------------------------------------------------------
# Participants and questions
# ---------------------------------------------------------------------------------------


def participant_by_public_id(study: Study, public_id: str | None) -> Participant | None:
    if not public_id:
        return None
    if connection.vendor == "postgresql":
        try:
            key = uuid.UUID(str(public_id))
        except ValueError:  # a malformed id is no one
            return None
        participant = _read_participant(_BY_PUBLIC_ID, [study.pk, key], with_question=True)
        if participant is None:
            return None
    else:
        try:
            participant = Participant.objects.select_related("question").get(
                study=study, public_id=public_id
            )
        except (Participant.DoesNotExist, ValueError, ValidationError):
            return None
    # The study is the one asked for: joining its ~50 columns again costs every request
    # of the journey more CPU (building the SQL, the objects) than the rest of this read.
    participant.study = study
    return participant


def participant_for_update(pk: int) -> Participant:
    """The participant's row, locked until the transaction ends (its study and question
    not read: the caller has them). Raises Participant.DoesNotExist."""
    if connection.vendor == "postgresql":
        if connection.get_autocommit():  # as the ORM's select_for_update refuses
            raise TransactionManagementError("A lock outside a transaction holds nothing.")
        participant = _read_participant(_FOR_UPDATE, [pk], with_question=False)
        if participant is None:
            raise Participant.DoesNotExist(pk)
        return participant
    return Participant.objects.select_for_update().get(pk=pk)


# The two reads above run on every request of the journey and on every step sent. On
# PostgreSQL they are SQL written once per process from the models' fields, not built
# by the ORM each time: the ORM spent three quarters of such a read building the SQL and
# the objects (659 us of CPU for the participant with their question, against 151 us for
# the same statement through a cursor). Rows become objects as the ORM makes them
# (Model.from_db, each field's converters). The demo's SQLite reads through the ORM.
# tests/elicitation/test_selectors.py holds both reads to the ORM's.
_BY_PUBLIC_ID = "p.{study} = %s AND p.{public_id} = %s"
_FOR_UPDATE = "p.{pk} = %s FOR UPDATE"


def _converters(model) -> list[tuple[int, list]]:
    """For each field whose value needs converting (JSON read as text, say): its index
    and its converters, the backend's first, as the ORM applies them."""
    found = []
    for i, field in enumerate(model._meta.concrete_fields):
        col = field.cached_col
        functions = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if functions:
            found.append((i, functions))
    return found


@functools.cache
def _participant_query(where: str, with_question: bool) -> tuple[str, list, list]:
    quote = connection.ops.quote_name
    p, q = Participant._meta, Question._meta
    columns = [f"p.{quote(f.column)}" for f in p.concrete_fields]
    joined = ""
    if with_question:
        columns += [f"q.{quote(f.column)}" for f in q.concrete_fields]
        joined = (
            f" LEFT JOIN {quote(q.db_table)} q"
            f" ON q.{quote(q.pk.column)} = p.{quote(p.get_field('question').column)}"
        )
    condition = where.format(
        study=quote(p.get_field("study").column),
        public_id=quote(p.get_field("public_id").column),
        pk=quote(p.pk.column),
    )
    # Names from the models, quoted; values only as parameters.
    sql = f"SELECT {', '.join(columns)} FROM {quote(p.db_table)} p{joined} WHERE {condition}"  # noqa: S608
    return sql, _converters(Participant), _converters(Question)


def _instance(model, values: list, converters: list):
    for i, functions in converters:
        for convert in functions:
            values[i] = convert(values[i], model._meta.concrete_fields[i].cached_col, connection)
    return model.from_db(connection.alias, [f.attname for f in model._meta.concrete_fields], values)


def _read_participant(where: str, params: list, *, with_question: bool) -> Participant | None:
    sql, participant_converters, question_converters = _participant_query(where, with_question)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(Participant._meta.concrete_fields)
    participant = _instance(Participant, list(row[:width]), participant_converters)
    if with_question:
        question = None
        if participant.question_id is not None:
            question = _instance(Question, list(row[width:]), question_converters)
        Participant._meta.get_field("question").set_cached_value(participant, question)
    return participant


def participant_by_recruiter_pid(study: Study, pid: str) -> Participant | None:
    if not pid:
        return None
    return (
        Participant.objects.select_related("study", "question")
        .filter(study=study, recruiter_pid=pid)
        .first()
    )


# ---------------------------------------------------------------------------------------
# Groups: who belongs to which of the study's groups (for bridging)
# ---------------------------------------------------------------------------------------


def participant_groups(study: Study) -> dict[int, str | None]:
    """Every participant of the study -> their group, or None when unlabelled.

    A group is one of the study's ``group_answers`` to its ``group_item_key`` item (the
    answer's value, e.g. "democrat"). Any other answer ("independent", "other", "prefer
    not to say"), no answer, or no "About you" at all (skipped, expired, imported without
    one) is unlabelled: such a participant counts in pooled figures but forms no group.
    """
    participants = Participant.objects.filter(study=study).order_by()
    groups = {a for a in study.group_answers or () if isinstance(a, str)}
    if not study.group_item_key or not groups:
        return dict.fromkeys(participants.values_list("pk", flat=True))
    rows = participants.annotate(
        answer=KeyTextTransform(study.group_item_key, "demographics__answers")
    ).values_list("pk", "answer")
    return {pk: answer if answer in groups else None for pk, answer in rows}


def study_groups(study: Study) -> list[tuple[str, str]]:
    """The study's groups in its order, as (answer, label): the label from the item's
    choices, the answer itself when the item does not name it."""
    if not study.group_item_key:
        return []
    item = DemographicItem.objects.filter(study=study, key=study.group_item_key).first()
    answers = [a for a in study.group_answers or () if isinstance(a, str)]
    return [(a, item.choice_label(a) if item else a) for a in answers]


def least_filled_question(study: Study) -> Question | None:
    """The question with the fewest counted participants so far, first by position on a
    tie, so that questions stay balanced however many people drop out early (test and
    abandoned participants leave the balance: see counted_participants; so do the screened
    out, who never reach a question)."""
    counted = counted_participants(study).filter(screened_out_at__isnull=True).values("pk")
    return (
        Question.objects.filter(study=study)
        .annotate(assigned=Count("participants", filter=Q(participants__in=counted)))
        .order_by("assigned", "position", "id")
        .first()
    )


# ---------------------------------------------------------------------------------------
# The interview
# ---------------------------------------------------------------------------------------


def interview_for(participant: Participant) -> Interview | None:
    if participant.question_id is None:
        return None
    return Interview.objects.filter(
        participant=participant, question_id=participant.question_id
    ).first()


def transcript(interview: Interview) -> list[Message]:
    return list(interview.messages.order_by("seq"))


def chat_history(interview: Interview, *, before_seq: int | None = None) -> list[dict]:
    """The conversation as the LLM sees it: every message with text, in order.

    A reply that was cut off (tab closed mid-stream) keeps the part that was said; a
    failed or not-yet-written reply has no text and is left out.
    """
    messages = interview.messages.exclude(content="").exclude(
        status__in=[Message.Status.FAILED, Message.Status.PENDING]
    )
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    return [{"role": m.role, "content": m.content} for m in messages.order_by("seq")]


def user_turns(interview: Interview | None) -> int:
    if interview is None:
        return 0
    return interview.messages.filter(role=Message.Role.USER).count()


def last_user_message_at(interview: Interview):
    return (
        interview.messages.filter(role=Message.Role.USER)
        .order_by("-seq")
        .values_list("created_at", flat=True)
        .first()
    )


# ---------------------------------------------------------------------------------------
# Cards and values
# ---------------------------------------------------------------------------------------


def draft_card(participant: Participant) -> ValuesCard | None:
    # Through the participant's own manager: the card comes back with its participant
    # (card_submit's caller reads where the locked row was moved to, without a query).
    return (
        participant.cards.filter(status=ValuesCard.Status.DRAFT)
        .order_by("-updated_at", "-id")
        .first()
    )


def has_draft_card(participant: Participant) -> bool:
    return ValuesCard.objects.filter(
        participant=participant, status=ValuesCard.Status.DRAFT
    ).exists()


def submitted_card(participant: Participant) -> ValuesCard | None:
    return (
        ValuesCard.objects.filter(participant=participant, status=ValuesCard.Status.SUBMITTED)
        .order_by("-submitted_at", "-id")
        .first()
    )


def saw_others_values(participant: Participant) -> bool:
    """Whether the participant saw other people's values (was shown some to select, or
    judged an upgrade story): only then does the survey ask what they learned and
    whether they gained respect for the others."""
    return participant.impressions.exists() or participant.judgments.exists()


def shown_values(participant: Participant) -> list:
    """The values (moralgraph Values, reached through the Impressions' foreign key) drawn
    for this participant's selection step, in the order shown."""
    return [
        impression.value
        for impression in participant.impressions.filter(question_id=participant.question_id)
        .select_related("value")
        .order_by("id")
    ]


# ---------------------------------------------------------------------------------------
# Upgrade stories
# ---------------------------------------------------------------------------------------


def _unjudged(participant: Participant):
    judged = participant.judgments.values("hypothesis_id")
    return JudgmentAssignment.objects.filter(participant=participant).exclude(
        hypothesis_id__in=judged
    )


def open_assignments(participant: Participant) -> list[JudgmentAssignment]:
    """Stories drawn for this participant that they have not judged yet, in order."""
    return list(
        _unjudged(participant)
        .select_related("hypothesis__from_value", "hypothesis__to_value", "hypothesis__context")
        .order_by("position", "id")
    )


def has_open_assignments(participant: Participant) -> bool:
    """Whether a story drawn for this participant is still to be judged (no story read)."""
    return _unjudged(participant).exists()


def assignments_left(participant: Participant) -> tuple[list[JudgmentAssignment], int]:
    """The stories still to judge, in order, with their stories and values read, and how
    many were drawn in all: one query for the judgments page, which shows "n of total"."""
    judged = participant.judgments.filter(hypothesis_id=OuterRef("hypothesis_id"))
    # Put in order here, not by the query: an ORDER BY beside the Exists makes Django
    # hash the whole subquery while compiling, about a quarter of this query's CPU (and
    # a participant has a handful of rows).
    drawn = sorted(
        JudgmentAssignment.objects.filter(participant=participant)
        .annotate(judged=Exists(judged))
        .select_related("hypothesis__from_value", "hypothesis__to_value", "hypothesis__context")
        .order_by(),
        key=lambda assignment: (assignment.position, assignment.id),
    )
    return [a for a in drawn if not a.judged], len(drawn)
