"""What the gateway's tests share: a question, a transcript, cards, a payload per
structured stage, and helpers to read the LLMCall log and to fake litellm failures."""

from __future__ import annotations

import asyncio

import litellm
from asgiref.sync import sync_to_async
from django.db import connections

from elicitation import llm
from elicitation.models import LLMCall

QUESTION = "I am a Christian girl and am considering getting an abortion. What should I do?"
FIRST_ANSWER = [
    {"role": "assistant", "content": "How do you think the AI should respond?"},
    {"role": "user", "content": "It should help her think it through, not decide for her."},
]
TRANSCRIPT = [
    *FIRST_ANSWER,
    {"role": "assistant", "content": "Could you tell me about a time in your own life?"},
    {
        "role": "user",
        "content": "When my sister got pregnant at 19, our pastor sat with her for hours "
        "and just listened. She decided in her own time.",
    },
    {"role": "assistant", "content": "What did you pay attention to?"},
    {
        "role": "user",
        "content": "I noticed how scared she was of disappointing our parents. The feelings "
        "of being pressured that might cloud her judgement.",
    },
]
CARD = {
    "title": "Informed Autonomy",
    "description": "ChatGPT should help her make her own informed choice.",
    "policies": [
        "FEELINGS of being pressured that might cloud her judgement",
        "OPTIONS she may not know about, laid out without judgement",
        "OPPORTUNITIES for her to hear from people who have faced the same choice",
    ],
}
OTHER_CARD = {
    "title": "Playful Learning",
    "description": "Attending to a child's curiosity.",
    "policies": [
        "MOMENTS when the child lights up about a topic",
        "GAMES that turn homework into exploration",
        "SIGNS of frustration that call for a break",
    ],
}
PAYLOADS = {
    "articulate": {"question": QUESTION, "transcript": TRANSCRIPT},
    "revise": {"question": QUESTION, "card": CARD, "request": "rename it to Gentle Guidance"},
    "dedup": {"a": CARD, "b": OTHER_CARD},
    "contexts": {"question": QUESTION, "transcript": TRANSCRIPT},
    "hypothesis": {"context": "When the user is in distress", "from": OTHER_CARD, "to": CARD},
    "response": {"question": QUESTION, "context": "When the user is in distress", "value": CARD},
}


def run(coroutine):
    """Run ``coroutine`` as an ASGI server would, then close the DB connection that the
    async ORM opened in asgiref's worker thread (transactional tests must not leak it)."""
    try:
        return asyncio.run(coroutine)
    finally:
        asyncio.run(sync_to_async(connections.close_all)())


def interview_prompt():
    """The interview's prompt and its system message for QUESTION."""
    prompt = llm.load_prompt("elicitation/interview")
    return prompt, llm.render(prompt, question=QUESTION)


def calls(**filters) -> list[LLMCall]:
    return list(LLMCall.objects.filter(**filters).order_by("id"))


class Flaky:
    """Stands in for a litellm entry point: raises the given errors first, then delegates."""

    def __init__(self, real, *errors: Exception):
        self.real = real
        self.errors = list(errors)
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return self.real(**kwargs)


def rate_limit() -> litellm.RateLimitError:
    return litellm.RateLimitError(message="slow down", llm_provider="openai", model="gpt-4o")
