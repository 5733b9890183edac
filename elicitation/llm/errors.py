"""The one error type callers of the LLM package handle, and its friendly messages."""

from __future__ import annotations

from elicitation.llm.stages import BY_NAME


def friendly(stage: str, kind: str) -> str:
    """A message safe to show a participant: what happened, that nothing is lost, what to do.

    ``kind`` is "slow" (a timeout), "busy" (a rate limit or an outage), "invalid" (an
    unusable reply) or anything else for a failure that trying again will not fix soon.
    """
    spec = BY_NAME.get(stage)
    speaker = spec.speaker if spec and spec.speaker else "The AI assistant"
    waits = spec is not None and spec.participant_waits
    saved = "Your conversation is saved" if waits else "Nothing has been lost"
    if kind == "slow":
        return f"{speaker} is taking too long to answer. {saved} — please try again."
    if kind == "busy":
        return f"{speaker} is busy right now. {saved} — please try again in a moment."
    if kind == "invalid":
        return f"{speaker} gave an answer we could not use. {saved} — please try again."
    return (
        f"{speaker} could not answer this time. {saved} — please try again later, and "
        "tell the study team if it keeps happening."
    )


class LLMError(Exception):
    """A model call failed. The one error type callers of the gateway handle.

    ``retryable`` says whether trying again later may help (a timeout, a rate limit)
    or not (a bad key, a malformed request). ``user_message`` is friendly text safe to
    show a participant; ``str(error)`` is the technical reason, for logs and admins.
    """

    def __init__(
        self,
        message: str,
        *,
        stage: str,
        model: str,
        retryable: bool,
        user_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.model = model
        self.retryable = retryable
        self.user_message = user_message or friendly(stage, "broken")


class LLMOutputInvalid(LLMError):
    """Structured output failed JSON or schema validation, even after one repair retry."""


def describe(exc: BaseException) -> str:
    """An exception as one line for a log row: its type and message, capped."""
    return f"{type(exc).__name__}: {exc}"[:2000]
