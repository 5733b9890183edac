"""Writes of the participant journey: one function per action, keyword-only arguments.

Every action that moves a participant on locks their row and checks that they are on
the step it belongs to, so a double click, a reload or a back button runs it once; the
second request finds the participant elsewhere and gets StepMismatch (views redirect to
the current step). LLM calls happen outside transactions: no row stays locked while a
model thinks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from elicitation import journey, llm, ratelimit, selectors
from elicitation.models import (
    ConsentDecline,
    Demographics,
    Impression,
    Interview,
    JudgmentAssignment,
    Message,
    Participant,
    Selection,
    Study,
    SurveyAnswer,
    ValuesCard,
    WiserJudgment,
)

Step = Participant.Step

RECRUITER_ID_MAX = 200
TITLE_MAX = 120
DESCRIPTION_MAX = 1000
POLICY_MAX = 300
MIN_POLICIES = 3
MAX_POLICIES = 7
REVISE_REQUEST_MAX = 1000
REASON_MAX = 2000
COMMENT_MAX = 4000
# A reply still marked pending or streaming after this long belongs to a stream that
# died (a server restart): it no longer blocks the participant from writing.
STALE_REPLY = timedelta(minutes=2)
# Too few values to choose from makes the selection step pointless; it is skipped.
MIN_VALUES_FOR_SELECTION = 2

OPENING = (
    "Hi, and thank you for taking part. Above is a message someone sent to an AI. "
    "You're answering as yourself here, from your own life: I'd like to understand what "
    "a wise response to it would pay attention to. To start, how do you think the AI "
    "should respond to this message?"
)


class StepMismatch(Exception):
    """The participant is not on the step this action belongs to (any more)."""

    def __init__(self, participant: Participant):
        super().__init__(f"participant is on step {participant.step}")
        self.participant = participant


class JourneyError(Exception):
    """An action refused for a reason to show the participant as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(Exception):
    """An id that is not this participant's (another session's message, an unshown story)."""


def _lock(participant: Participant, *steps: str) -> Participant:
    """Re-read and lock the participant; raise StepMismatch unless on one of ``steps``."""
    locked = Participant.objects.select_for_update(of=("self",)).select_related("study", "question")
    locked = locked.get(pk=participant.pk)
    if locked.step not in steps:
        raise StepMismatch(locked)
    return locked


def _on_commit_delay(task_name: str, *args) -> None:
    """Enqueue a moralgraph task once the rows it reads are committed."""

    def send():
        from moralgraph import tasks

        getattr(tasks, task_name).delay(*args)

    transaction.on_commit(send)


# ---------------------------------------------------------------------------------------
# Arriving: consent and the participant row
# ---------------------------------------------------------------------------------------


def consent_decline(*, study: Study) -> ConsentDecline:
    """Somebody declined: the fact, and nothing else about them."""
    return ConsentDecline.objects.create(study=study)


@transaction.atomic
def participant_start(
    *,
    study: Study,
    session_key: str,
    recruiter_pid: str = "",
    recruiter_study_id: str = "",
    recruiter_session_id: str = "",
) -> Participant:
    """Create the participant who just agreed, or return the one they already are.

    The study row is locked so that starts happen one at a time: question assignment
    stays balanced, and a double click on "I agree" (or the same recruiter id in two
    tabs) never makes a second participant.
    """
    Study.objects.select_for_update().filter(pk=study.pk).first()
    recruiter_pid = recruiter_pid.strip()[:RECRUITER_ID_MAX]
    existing = selectors.participant_by_recruiter_pid(study, recruiter_pid)
    if existing is None and session_key and not recruiter_pid:
        existing = (
            Participant.objects.filter(study=study, session_key=session_key, recruiter_pid="")
            .order_by("-created_at")
            .first()
        )
    if existing is not None:
        if session_key and existing.session_key != session_key:
            existing.session_key = session_key
            existing.save(update_fields=["session_key", "updated_at"])
        return existing
    question = selectors.least_filled_question(study)
    if question is None:
        raise JourneyError("This study has no questions yet. Please come back later.")
    participant = Participant.objects.create(
        study=study,
        session_key=session_key,
        recruiter_pid=recruiter_pid,
        recruiter_study_id=recruiter_study_id.strip()[:RECRUITER_ID_MAX],
        recruiter_session_id=recruiter_session_id.strip()[:RECRUITER_ID_MAX],
        question=question,
        consented_at=timezone.now(),
        step=Step.QUESTION,  # replaced by _enter below
    )
    _enter(participant, journey.first_step(study))
    return participant


def participant_resume(*, participant: Participant, session_key: str) -> Participant:
    """Tie a returning participant (found by recruiter id) to this browser session."""
    if session_key and participant.session_key != session_key:
        Participant.objects.filter(pk=participant.pk).update(session_key=session_key)
        participant.session_key = session_key
    return participant


# ---------------------------------------------------------------------------------------
# Moving on
# ---------------------------------------------------------------------------------------


def _enter(participant: Participant, step: str) -> None:
    """Put the participant on ``step``, preparing what it shows; steps with nothing to
    show (too few values, no stories yet) are skipped on the way. Inside a transaction."""
    study = participant.study
    while True:
        if step == Step.SELECTION and not _draw_selection(participant):
            step = journey.next_step(study, step)
            continue
        if step == Step.JUDGMENTS and not _draw_judgments(participant):
            step = journey.next_step(study, step)
            continue
        break
    if step == Step.INTERVIEW:
        _open_interview(participant)
    fields = ["step", "updated_at"]
    if step == Step.DONE and participant.completed_at is None:
        participant.completed_at = timezone.now()
        fields.append("completed_at")
    participant.step = step
    participant.save(update_fields=fields)


def _advance(participant: Participant) -> None:
    _enter(participant, journey.next_step(participant.study, participant.step))


def _draw_selection(participant: Participant) -> bool:
    """Draw the values to show (once: a reload shows the same ones). False to skip."""
    if participant.impressions.filter(question_id=participant.question_id).exists():
        return True
    study = participant.study
    drawn = selectors.draw_values(participant, count=study.selection_count)
    if len(drawn) < max(MIN_VALUES_FOR_SELECTION, study.min_selections):
        return False
    draw_id = uuid.uuid4().hex
    Impression.objects.bulk_create(
        [
            Impression(
                participant=participant,
                value=item.value,
                question_id=participant.question_id,
                draw_id=draw_id,
                reason=item.reason,
            )
            for item in drawn
        ]
    )
    return True


def _draw_judgments(participant: Participant) -> bool:
    """Draw the upgrade stories to judge (once). False to skip the step."""
    if JudgmentAssignment.objects.filter(participant=participant).exists():
        return selectors.open_assignments(participant) != []
    drawn = selectors.draw_hypotheses(participant, count=participant.study.judgment_count)
    if not drawn:
        return False
    JudgmentAssignment.objects.bulk_create(
        [
            JudgmentAssignment(participant=participant, hypothesis=hypothesis, position=i)
            for i, hypothesis in enumerate(drawn)
        ]
    )
    return True


# ---------------------------------------------------------------------------------------
# About you, and the question
# ---------------------------------------------------------------------------------------


@transaction.atomic
def demographics_save(
    *,
    participant: Participant,
    political_affiliation: str = "",
    age_band: str = "",
    sex: str = "",
    country: str = "",
    other: str = "",
) -> Participant:
    """Store the "About you" answers (every one may be blank) and move on."""
    participant = _lock(participant, Step.ABOUT)
    Demographics.objects.update_or_create(
        participant=participant,
        defaults={
            "political_affiliation": political_affiliation,
            "age_band": age_band,
            "sex": sex[:40],
            "country": country[:80],
            "other": other[:2000],
        },
    )
    _advance(participant)
    return participant


@transaction.atomic
def question_begin(*, participant: Participant) -> Participant:
    """The participant has read the question: open the interview."""
    participant = _lock(participant, Step.QUESTION)
    _advance(participant)
    return participant


def _open_interview(participant: Participant) -> Interview:
    interview, _ = Interview.objects.get_or_create(
        participant=participant, question_id=participant.question_id
    )
    if not interview.messages.exists():
        Message.objects.create(
            interview=interview,
            seq=1,
            role=Message.Role.ASSISTANT,
            content=participant.question.seed_message.strip() or OPENING,
        )
    return interview


# ---------------------------------------------------------------------------------------
# The interview
# ---------------------------------------------------------------------------------------


@dataclass
class Exchange:
    message: Message  # the participant's
    reply: Message  # the interviewer's, pending until streamed or generated
    created: bool  # False when the same client_token was sent before


def message_limit(study: Study) -> int:
    """Characters allowed in one message: the study's limit, capped by MESSAGE_MAX_CHARS
    (one long message is one expensive LLM call, so the site sets a ceiling)."""
    return min(study.message_max_chars, settings.MESSAGE_MAX_CHARS)


def validate_message(*, study: Study, content: str) -> str:
    """The message as it will be stored, or ValidationError with a message to show."""
    text = (content or "").strip()
    if not text:
        raise ValidationError("Please write a message before sending.", code="empty")
    limit = message_limit(study)
    if len(text) > limit:
        raise ValidationError(
            f"Your message is {len(text):,} characters long; the limit is {limit:,}. "
            "Please shorten it, or send it in two parts.",
            code="too_long",
        )
    return text


def message_send(*, participant: Participant, content: str, client_token: str = "") -> Exchange:
    """Store the participant's message and an owed reply, after the rate limits.

    The same ``client_token`` twice (a double click, a resent form) stores the message
    once and returns the first exchange. Raises ValidationError, RateLimited,
    JourneyError or StepMismatch; nothing is stored or called then.
    """
    text = validate_message(study=participant.study, content=content)
    client_token = (client_token or "")[:64]
    with transaction.atomic():
        participant = _lock(participant, Step.INTERVIEW, Step.CARD)
        interview = _open_interview(participant)
        if client_token:
            earlier = interview.messages.filter(client_token=client_token).first()
            if earlier is not None:
                reply = interview.messages.filter(seq=earlier.seq + 1).first()
                return Exchange(earlier, reply, created=False)
        last = interview.messages.order_by("-seq").first()
        if (
            last is not None
            and last.role == Message.Role.ASSISTANT
            and last.status in (Message.Status.PENDING, Message.Status.STREAMING)
        ):
            if timezone.now() - last.created_at < STALE_REPLY:
                raise JourneyError("Please wait for the interviewer to finish replying.")
            last.status = Message.Status.INTERRUPTED
            last.save(update_fields=["status"])
        ratelimit.consume(participant=participant, kind="message")
        seq = (interview.messages.aggregate(top=Max("seq"))["top"] or 0) + 1
        message = Message.objects.create(
            interview=interview,
            seq=seq,
            role=Message.Role.USER,
            content=text,
            client_token=client_token,
        )
        reply = Message.objects.create(
            interview=interview,
            seq=seq + 1,
            role=Message.Role.ASSISTANT,
            status=Message.Status.PENDING,
        )
        if participant.step == Step.CARD:
            # Back in the conversation from the card: "See my card" drafts it again.
            participant.step = Step.INTERVIEW
            participant.save(update_fields=["step", "updated_at"])
            Interview.objects.filter(pk=interview.pk).update(status=Interview.Status.ACTIVE)
        return Exchange(message, reply, created=True)


def reply_retry(*, participant: Participant, reply_id: int) -> Message:
    """Ask again for a reply that failed or was cut off; the transcript stays as it was."""
    with transaction.atomic():
        participant = _lock(participant, Step.INTERVIEW, Step.CARD)
        reply = _own_reply(participant, reply_id)
        last = reply.interview.messages.order_by("-seq").first()
        stale = timezone.now() - reply.created_at >= STALE_REPLY
        retryable = reply.status in (Message.Status.FAILED, Message.Status.INTERRUPTED) or (
            stale and reply.status in (Message.Status.PENDING, Message.Status.STREAMING)
        )
        if last.pk != reply.pk or not retryable:
            return reply  # already answered, or being answered: nothing to do
        ratelimit.consume(participant=participant, kind="retry")
        reply.content = ""
        reply.status = Message.Status.PENDING
        reply.save(update_fields=["content", "status"])
        return reply


def _own_reply(participant: Participant, reply_id) -> Message:
    reply = (
        Message.objects.select_related("interview")
        .filter(
            pk=reply_id,
            role=Message.Role.ASSISTANT,
            interview__participant=participant,
            interview__question_id=participant.question_id,
        )
        .first()
    )
    if reply is None:
        raise NotFound(reply_id)
    return reply


def own_reply(*, participant: Participant, reply_id) -> Message:
    """The interviewer's message ``reply_id`` if it is in this participant's interview."""
    return _own_reply(participant, reply_id)


def _interview_call(participant: Participant) -> dict:
    prompt = llm.load_prompt("elicitation/interview")
    return {
        "stage": "interview",
        "prompt": prompt,
        "system": llm.render(prompt, question=participant.question.text),
        "study": participant.study,
    }


def reply_generate(*, participant: Participant, reply: Message) -> Message:
    """Write an owed reply in one piece: the path for browsers without JavaScript.

    Raises LLMError after marking the reply failed (the transcript is kept).
    """
    claimed = Message.objects.filter(pk=reply.pk, status=Message.Status.PENDING).update(
        status=Message.Status.STREAMING
    )
    if not claimed:
        reply.refresh_from_db()
        return reply
    history = selectors.chat_history(reply.interview, before_seq=reply.seq)
    try:
        text = llm.chat(messages=history, **_interview_call(participant))
    except llm.LLMError:
        Message.objects.filter(pk=reply.pk).update(status=Message.Status.FAILED)
        raise
    Message.objects.filter(pk=reply.pk).update(content=text, status=Message.Status.COMPLETE)
    reply.refresh_from_db()
    return reply


def _stream_delay() -> float:
    """Seconds between offline tokens. The offline interviewer answers instantly; a short
    pause per word makes its stream look (and test) like a real model's."""
    return max(0, settings.OFFLINE_STREAM_DELAY_MS) / 1000


def _release_connection() -> None:
    if not connection.in_atomic_block:  # never inside a transaction (a test's, say)
        connection.close()


async def reply_stream(*, participant: Participant, reply: Message) -> AsyncIterator[str]:
    """Stream an owed reply chunk by chunk, saving it in ``finally``.

    Whatever happens to the connection (the tab closed, the server stopped), what was
    generated is stored: complete, interrupted (part of it) or failed. A reply already
    claimed by another connection is waited for and sent whole. Raises LLMError.
    """
    claimed = await Message.objects.filter(pk=reply.pk, status=Message.Status.PENDING).aupdate(
        status=Message.Status.STREAMING
    )
    if not claimed:
        async for text in _await_reply(reply.pk):
            yield text
        return
    history = await sync_to_async(selectors.chat_history)(reply.interview, before_seq=reply.seq)
    call = await sync_to_async(_interview_call)(participant)
    # The model takes seconds: give the database connection back (to the pool) meanwhile,
    # or every reply being streamed holds one and the other requests wait for the pool.
    await sync_to_async(_release_connection)()
    delay = _stream_delay() if llm.is_offline("interview", participant.study) else 0
    parts: list[str] = []
    status = Message.Status.INTERRUPTED
    try:
        async for chunk in llm.astream_chat(messages=history, **call):
            parts.append(chunk)
            yield chunk
            if delay:
                await asyncio.sleep(delay)
        status = Message.Status.COMPLETE
    except llm.LLMError:
        status = Message.Status.FAILED
        raise
    finally:
        # Shielded: a second cancellation must not lose the reply half saved.
        await asyncio.shield(
            Message.objects.filter(pk=reply.pk).aupdate(content="".join(parts), status=status)
        )


async def _await_reply(reply_id: int, *, timeout: float = 60.0) -> AsyncIterator[str]:
    """Another connection is writing this reply (an EventSource reconnect, a reload while
    it streamed): wait for it to end, then send what it saved."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        reply = await Message.objects.aget(pk=reply_id)
        if reply.status != Message.Status.STREAMING or loop.time() > deadline:
            break
        await asyncio.sleep(0.3)
    if reply.content:
        yield reply.content
    if reply.status != Message.Status.COMPLETE:
        # Cut off, failed, or still not finished: the page offers to ask again.
        raise llm.LLMError(
            f"reply {reply_id} ended {reply.status} on another connection",
            stage="interview",
            model="",
            retryable=True,
            user_message="This reply was cut off before it finished. Your conversation "
            "is saved — please try again.",
        )


# ---------------------------------------------------------------------------------------
# The values card
# ---------------------------------------------------------------------------------------


def normalise_card(*, title: str, description: str, policies: Iterable[str]) -> dict:
    """A card's fields as stored, or ValidationError naming what to fix, by field."""
    title = " ".join((title or "").split())
    description = (description or "").strip()
    policies = [" ".join(p.split()) for p in policies if p and p.strip()]
    errors: dict[str, list[str]] = {}
    if not title:
        errors["title"] = ["Give your card a short title (2 to 5 words)."]
    elif len(title) > TITLE_MAX:
        errors["title"] = [f"Keep the title under {TITLE_MAX} characters."]
    if not description:
        errors["description"] = ["Write a sentence or two about what this value is."]
    elif len(description) > DESCRIPTION_MAX:
        errors["description"] = [f"Keep the description under {DESCRIPTION_MAX} characters."]
    if len(policies) < MIN_POLICIES or len(policies) > MAX_POLICIES:
        errors["policies"] = [
            f"A card has {MIN_POLICIES} to {MAX_POLICIES} things you pay attention to; "
            f"this one has {len(policies)}."
        ]
    elif any(len(p) > POLICY_MAX for p in policies):
        errors["policies"] = [f"Keep each one under {POLICY_MAX} characters."]
    if errors:
        raise ValidationError(errors)
    return {"title": title, "description": description, "policies": policies}


def _from_llm(data: dict) -> dict:
    """Fit an LLM-written card to our limits rather than fail the participant over it."""
    policies = [" ".join(str(p).split())[:POLICY_MAX] for p in data.get("policies", [])]
    return {
        "title": " ".join(str(data.get("title", "")).split())[:TITLE_MAX],
        "description": str(data.get("description", "")).strip()[:DESCRIPTION_MAX],
        "policies": [p for p in policies if p][:MAX_POLICIES],
    }


def card_draft(*, participant: Participant) -> ValuesCard:
    """ "See my card": draft the card from the transcript (once per new message).

    Raises JourneyError before enough turns, RateLimited, LLMError or StepMismatch.
    """
    with transaction.atomic():
        participant = _lock(participant, Step.INTERVIEW, Step.CARD)
        interview = selectors.interview_for(participant)
        turns = selectors.user_turns(interview)
        needed = participant.study.interview_min_turns
        if turns < needed:
            raise JourneyError(
                f"Keep talking a little longer: the card is drafted after {needed} of your "
                f"messages (you have sent {turns})."
            )
        draft = selectors.draft_card(participant)
        last_said = selectors.last_user_message_at(interview)
        if draft is not None and last_said is not None and draft.updated_at >= last_said:
            _to_card_step(participant, interview)
            return draft
        ratelimit.consume(participant=participant, kind="articulate")
        history = selectors.chat_history(interview)
    data = llm.structured(
        stage="articulate",
        prompt=llm.load_prompt("elicitation/articulate"),
        payload={"question": participant.question.text, "transcript": history},
        study=participant.study,
    )
    fields = _from_llm(data)
    with transaction.atomic():
        participant = _lock(participant, Step.INTERVIEW, Step.CARD)
        draft = selectors.draft_card(participant)
        if draft is None:
            draft = ValuesCard.objects.create(
                study=participant.study,
                participant=participant,
                interview=interview,
                question=participant.question,
                **fields,
            )
        else:
            for name, value in fields.items():
                setattr(draft, name, value)
            draft.edited_by_participant = False
            draft.save()
        _to_card_step(participant, interview)
        return draft


def _to_card_step(participant: Participant, interview: Interview) -> None:
    Interview.objects.filter(pk=interview.pk).update(status=Interview.Status.CARD)
    if participant.step != Step.CARD:
        participant.step = Step.CARD
        participant.save(update_fields=["step", "updated_at"])


def _own_draft(participant: Participant) -> ValuesCard:
    draft = selectors.draft_card(participant)
    if draft is None:
        raise StepMismatch(participant)
    return draft


@transaction.atomic
def card_save(
    *, participant: Participant, title: str, description: str, policies: list[str]
) -> ValuesCard:
    """Save the participant's own edits to their draft card. Raises ValidationError."""
    fields = normalise_card(title=title, description=description, policies=policies)
    participant = _lock(participant, Step.CARD)
    card = _own_draft(participant)
    if any(getattr(card, name) != value for name, value in fields.items()):
        for name, value in fields.items():
            setattr(card, name, value)
        card.edited_by_participant = True
        card.save()
    return card


def card_revise(
    *,
    participant: Participant,
    request: str,
    title: str,
    description: str,
    policies: list[str],
) -> ValuesCard:
    """Ask the card writer to change the card as the participant describes.

    The card as it stands in the form (edits included) is what gets revised. Raises
    ValidationError, RateLimited, LLMError or StepMismatch.
    """
    request = (request or "").strip()
    if not request:
        raise ValidationError({"request": ["Say what you would like changed."]})
    if len(request) > REVISE_REQUEST_MAX:
        raise ValidationError(
            {"request": [f"Please keep the request under {REVISE_REQUEST_MAX} characters."]}
        )
    card = card_save(
        participant=participant, title=title, description=description, policies=policies
    )
    with transaction.atomic():
        _lock(participant, Step.CARD)
        ratelimit.consume(participant=participant, kind="revise")
    data = llm.structured(
        stage="revise",
        prompt=llm.load_prompt("elicitation/revise"),
        payload={
            "question": participant.question.text,
            "card": {
                "title": card.title,
                "description": card.description,
                "policies": card.policies,
            },
            "request": request,
        },
        study=participant.study,
    )
    fields = _from_llm(data)
    with transaction.atomic():
        _lock(participant, Step.CARD)
        card.refresh_from_db()
        for name, value in fields.items():
            setattr(card, name, value)
        card.save()
    return card


@transaction.atomic
def card_submit(
    *, participant: Participant, title: str, description: str, policies: list[str]
) -> ValuesCard:
    """Submit the card as it stands in the form; the background work (embedding,
    deduplication, contexts) is enqueued once the card is committed."""
    fields = normalise_card(title=title, description=description, policies=policies)
    participant = _lock(participant, Step.CARD)
    card = _own_draft(participant)
    if any(getattr(card, name) != value for name, value in fields.items()):
        card.edited_by_participant = True
    for name, value in fields.items():
        setattr(card, name, value)
    card.status = ValuesCard.Status.SUBMITTED
    card.submitted_at = timezone.now()
    card.save()
    Interview.objects.filter(pk=card.interview_id).update(status=Interview.Status.DONE)
    _on_commit_delay("process_card", card.pk)
    _advance(participant)
    return card


# ---------------------------------------------------------------------------------------
# Selection, judgments, survey
# ---------------------------------------------------------------------------------------


@transaction.atomic
def selection_submit(*, participant: Participant, value_ids: Iterable[int]) -> Participant:
    """Record which of the shown values the participant finds wise, and move on."""
    participant = _lock(participant, Step.SELECTION)
    shown = set(
        participant.impressions.filter(question_id=participant.question_id).values_list(
            "value_id", flat=True
        )
    )
    chosen = {int(v) for v in value_ids}
    if not chosen <= shown:
        raise NotFound(sorted(chosen - shown))
    needed = participant.study.min_selections
    if len(chosen) < needed:
        raise ValidationError(f"Please choose at least {needed}.")
    Selection.objects.bulk_create(
        [
            Selection(participant=participant, value_id=v, question_id=participant.question_id)
            for v in sorted(chosen)
        ],
        ignore_conflicts=True,
    )
    _advance(participant)
    return participant


@transaction.atomic
def judgment_record(
    *,
    participant: Participant,
    hypothesis_id: int,
    verdict: str,
    reason: str = "",
    reason_private: bool = False,
) -> WiserJudgment:
    """Record a verdict on one of the participant's stories; after the last, move on.

    Raises NotFound for a story that was not drawn for them, StepMismatch when they are
    past this step. Judging the same story again returns the first verdict.
    """
    participant = _lock(participant, Step.JUDGMENTS)
    assignment = (
        JudgmentAssignment.objects.select_related("hypothesis")
        .filter(participant=participant, hypothesis_id=hypothesis_id)
        .first()
    )
    if assignment is None:
        raise NotFound(hypothesis_id)
    if verdict not in WiserJudgment.Verdict.values:
        raise ValidationError("Please choose Yes, No or Not sure.")
    hypothesis = assignment.hypothesis
    existing = WiserJudgment.objects.filter(participant=participant, hypothesis=hypothesis).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            judgment = WiserJudgment.objects.create(
                participant=participant,
                hypothesis=hypothesis,
                pair_key=WiserJudgment.make_pair_key(
                    hypothesis.from_value_id, hypothesis.to_value_id
                ),
                verdict=verdict,
                reason=(reason or "").strip()[:REASON_MAX],
                reason_private=reason_private,
            )
    except IntegrityError:
        # The same pair in the other direction, judged already: the draw prevents this,
        # the database makes sure.
        raise NotFound(hypothesis_id) from None
    _on_commit_delay("judgment_recorded", participant.study_id)
    if not selectors.open_assignments(participant):
        _advance(participant)
    return judgment


@transaction.atomic
def judgments_finish(*, participant: Participant) -> Participant:
    """Move on from the judgments once no drawn story is left to judge."""
    participant = _lock(participant, Step.JUDGMENTS)
    if not selectors.open_assignments(participant):
        _advance(participant)
    return participant


@transaction.atomic
def survey_save(
    *,
    participant: Participant,
    represented: int | None = None,
    clarified: int | None = None,
    learned: int | None = None,
    trust: int | None = None,
    comment: str = "",
) -> SurveyAnswer:
    """Store the closing survey and finish."""
    participant = _lock(participant, Step.SURVEY)
    for value in (represented, clarified, learned, trust):
        if value is not None and not 1 <= value <= 5:
            raise ValidationError("Answers are on a scale from 1 to 5.")
    answer, _ = SurveyAnswer.objects.update_or_create(
        participant=participant,
        defaults={
            "represented": represented,
            "clarified": clarified,
            "learned": learned,
            "trust": trust,
            "comment": (comment or "").strip()[:COMMENT_MAX],
        },
    )
    _advance(participant)
    return answer


# ---------------------------------------------------------------------------------------
# The follow-up, after the graph is scored
# ---------------------------------------------------------------------------------------


@transaction.atomic
def follow_up_save(
    *, participant: Participant, fair_position: int, card_id: int | None = None
) -> SurveyAnswer:
    """Store a finished participant's answer to "Is the position of your value in the
    final graph fair?" (1 to 5). Answering again replaces the answer, never adds a row;
    the rest of their survey is kept as it was.

    Raises StepMismatch unless they have finished, NotFound for a card that is not
    theirs, ValidationError for an answer off the scale.
    """
    participant = _lock(participant, Step.DONE)
    if (
        card_id is not None
        and not ValuesCard.objects.filter(
            pk=card_id, participant=participant, status=ValuesCard.Status.SUBMITTED
        ).exists()
    ):
        raise NotFound(card_id)
    if isinstance(fair_position, bool) or not isinstance(fair_position, int):
        raise ValidationError("Please choose a number from 1 to 5.")
    if not 1 <= fair_position <= 5:
        raise ValidationError("Answers are on a scale from 1 to 5.")
    answer, _ = SurveyAnswer.objects.get_or_create(participant=participant)
    if answer.fair_position != fair_position:
        answer.fair_position = fair_position
        answer.save(update_fields=["fair_position", "updated_at"])
    return answer
