"""The interview: the question opens it, the participant writes, the interviewer replies
(streamed token by token, or in one piece without JavaScript)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from elicitation import llm, ratelimit, selectors
from elicitation.models import Interview, Message, Participant, Study
from elicitation.services import participants, writing

Step = Participant.Step

# A reply still marked pending or streaming after this long belongs to a stream that
# died (a server restart): it no longer blocks the participant from writing.
STALE_REPLY = timedelta(minutes=2)

OPENING = (
    "Hi, and thank you for taking part. Above is a message someone sent to an AI. "
    "You're answering as yourself here, from your own life: I'd like to understand what "
    "a wise response to it would pay attention to. To start, how do you think the AI "
    "should respond to this message?"
)


@transaction.atomic
def question_begin(*, participant: Participant) -> Participant:
    """The participant has read the question: open the interview."""
    participant = participants.lock(participant, Step.QUESTION)
    participants.advance(participant)
    if participant.step == Step.INTERVIEW:
        open_interview(participant)
    return participant


def open_interview(participant: Participant) -> Interview:
    """The participant's interview on their question, with its opening line (with their
    row locked)."""
    interview, created = _interview(participant)
    if created or not interview.messages.exists():
        _opening(interview, participant)
    return interview


def _interview(participant: Participant) -> tuple[Interview, bool]:
    """The participant's interview on their question, created if need be. Called with
    their row locked, so nobody creates it meanwhile: get_or_create's savepoint (kept
    for that race) is not needed."""
    interview = Interview.objects.filter(
        participant=participant, question_id=participant.question_id
    ).first()
    if interview is not None:
        return interview, False
    return Interview.objects.create(
        participant=participant, question_id=participant.question_id
    ), True


def _opening(interview: Interview, participant: Participant) -> Message:
    return Message.objects.create(
        interview=interview,
        seq=1,
        role=Message.Role.ASSISTANT,
        content=participant.question.seed_message.strip() or OPENING,
    )


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


def message_send(
    *, participant: Participant, content: str, client_token: str = "", pasted: int = 0
) -> Exchange:
    """Store the participant's message and an owed reply, after the rate limits.

    The same ``client_token`` twice (a double click, a resent form, a second Ctrl+Enter
    sent after the box was emptied) stores the message once and returns the first
    exchange, whatever the repeat carried. Raises ValidationError, RateLimited,
    JourneyError or StepMismatch; nothing is stored or called then.
    """
    client_token = (client_token or "")[:64]
    with transaction.atomic():
        participant = participants.lock(participant, Step.INTERVIEW, Step.CARD)
        # open_interview, reading the last message once: it also numbers the new one
        # (nobody else adds messages while the participant's row is locked).
        interview, created = _interview(participant)
        last = None if created else interview.messages.order_by("-seq").first()
        if last is None:
            last = _opening(interview, participant)
        if client_token:
            earlier = earlier_exchange(interview, client_token)
            if earlier is not None:
                return earlier
        text = validate_message(study=participant.study, content=content)
        if last.role == Message.Role.ASSISTANT and last.status in (
            Message.Status.PENDING,
            Message.Status.STREAMING,
        ):
            if timezone.now() - last.created_at < STALE_REPLY:
                raise participants.JourneyError(
                    "Please wait for the interviewer to finish replying."
                )
            last.status = Message.Status.INTERRUPTED
            last.save(update_fields=["status"])
        ratelimit.consume(participant=participant, kind="message", locked=True)
        seq = last.seq + 1
        message = Message.objects.create(
            interview=interview,
            seq=seq,
            role=Message.Role.USER,
            content=text,
            client_token=client_token,
            pasted_chars=max(0, min(int(pasted or 0), len(text))),
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


def exchange_sent(*, participant: Participant, client_token: str) -> Exchange | None:
    """The exchange this participant already started with ``client_token``, if any."""
    interview = selectors.interview_for(participant)
    if interview is None or not client_token:
        return None
    return earlier_exchange(interview, client_token[:64])


def earlier_exchange(interview: Interview, client_token: str) -> Exchange | None:
    """The exchange a message with ``client_token`` already started, if one did."""
    earlier = interview.messages.filter(client_token=client_token).first()
    if earlier is None:
        return None
    reply = interview.messages.filter(seq=earlier.seq + 1).first()
    return Exchange(earlier, reply, created=False)


def reply_retry(*, participant: Participant, reply_id: int) -> Message:
    """Ask again for a reply that failed or was cut off; the transcript stays as it was."""
    with transaction.atomic():
        participant = participants.lock(participant, Step.INTERVIEW, Step.CARD)
        reply = _own_reply(participant, reply_id)
        last = reply.interview.messages.order_by("-seq").first()
        stale = timezone.now() - reply.created_at >= STALE_REPLY
        retryable = reply.status in (Message.Status.FAILED, Message.Status.INTERRUPTED) or (
            stale and reply.status in (Message.Status.PENDING, Message.Status.STREAMING)
        )
        if last.pk != reply.pk or not retryable:
            return reply  # already answered, or being answered: nothing to do
        ratelimit.consume(participant=participant, kind="retry", locked=True)
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
        raise participants.NotFound(reply_id)
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
        ratelimit.release_reply(reply.pk)  # a failed call costs the participant nothing
        raise
    Message.objects.filter(pk=reply.pk).update(content=text, status=Message.Status.COMPLETE)
    reply.refresh_from_db()
    return reply


def _claim(participant: Participant, reply: Message) -> tuple[list[dict], dict] | None:
    """Claim an owed reply for writing: (the conversation so far, the call), or None if
    another stream claimed it first."""
    claimed = Message.objects.filter(pk=reply.pk, status=Message.Status.PENDING).update(
        status=Message.Status.STREAMING
    )
    if not claimed:
        return None
    found = (
        selectors.chat_history(reply.interview, before_seq=reply.seq),
        _interview_call(participant),
    )
    # The model takes seconds: give the database connection back (to the pool)
    # meanwhile, or every reply being streamed holds one and other requests wait.
    writing.release_connection()
    return found


async def reply_stream(
    *, participant: Participant, reply: Message, after: int = 0
) -> AsyncIterator[str]:
    """Stream an owed reply chunk by chunk, leaving out the first ``after`` characters
    (what the page already shows). Raises LLMError.

    The first stream to claim the reply starts writing it in a task of its own, which
    outlives the stream: whatever happens to the connection, the reply is written to
    the end and saved (only a stopped server leaves it interrupted, with what was said).
    Any other stream (a reload, an EventSource reconnect) follows the writing: live in
    this process, from the database in another one.
    """
    claim = await sync_to_async(_claim)(participant, reply)
    if claim is not None:
        history, call = claim
        writing.start(reply.pk, history=history, call=call)
    # Following at once (no wait before the first read): every chunk reaches this stream.
    texts = writing.follow(reply.pk)
    try:
        async for text in texts:
            if after >= len(text):
                after -= len(text)
                continue
            yield text[after:]
            after = 0
    finally:
        await texts.aclose()
