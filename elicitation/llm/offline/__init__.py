"""Deterministic offline "LLM" for MGE Studio: one module per stage.

This package is the brain of the ``offline/<stage>`` provider (``provider.py``): it lets
the whole participant journey and every background job run with no network, no API key
and no randomness, so that tests, demos and local development behave the same on every
machine. The stage modules are pure (stdlib only) and can be tested without Django.

The replies are simple but faithful to the method (see ``shared/MGE.md``): the
interview walks through the reference's steps (how should the AI respond, a personal
story, what did you attend to) and steers away from rules and goals; cards are built
from the participant's own words; dedup, contexts, upgrade stories and model answers
follow small, documented heuristics.

Everything the participant typed is treated as plain text: tag-like sequences are
stripped before any of it is echoed, and no template here contains markup, so a reply
can never carry HTML that the participant did not see as text.
"""

from __future__ import annotations

import re

from elicitation.llm import stages
from elicitation.llm.offline.messages import OfflineError, normalise_messages


def respond(stage: str, messages: list[dict]) -> str:
    """Return the full assistant reply for ``stage`` given the chat ``messages``.

    ``stage`` is a stage of the table with an offline module (an ``offline/`` prefix, as
    in the model name, is accepted). ``interview`` replies in plain text; every other
    stage reads the last user message as a JSON object and replies with a JSON object.
    Same input, same output.
    """
    if not isinstance(stage, str):
        raise OfflineError(f"stage must be a string, got {type(stage).__name__}")
    spec = stages.BY_NAME.get(stage.removeprefix("offline/"))
    if spec is None or spec.offline is None:
        known = ", ".join(s.name for s in stages.STAGES if s.offline)
        raise OfflineError(f"unknown offline stage {stage!r}; expected one of {known}")
    return spec.offline(normalise_messages(messages))


_TOKEN_RE = re.compile(r"\S+\s*|\s+")


def tokens(text: str) -> list[str]:
    """Split a reply into streaming chunks: each word with the whitespace after it.

    Leading whitespace, if any, is a chunk of its own, so ``"".join(tokens(t)) == t``.
    """
    return _TOKEN_RE.findall(text)


__all__ = ["OfflineError", "respond", "tokens"]
