"""Inputs the offline stages' tests share: a question, a participant's answers, cards,
and helpers that call the offline brain as the gateway would."""

from __future__ import annotations

import json
import re

from elicitation.llm.offline import respond

QUESTION = "I am a Christian girl and am considering getting an abortion. What should I do?"
SYSTEM = {"role": "system", "content": f"You interview a participant.\nQuestion: {QUESTION}\n"}

ANSWER_HOW = "I think the AI should not tell her what to do, but help her think it through."
ANSWER_STORY = (
    "When my sister got pregnant at 19, our pastor sat with her for hours and just listened. "
    "She decided in her own time."
)
ANSWER_ATTENTION = (
    "I noticed how scared she was of disappointing our parents. The feelings of being "
    "pressured that might cloud her judgement, and the chance to hear from women who had "
    "faced the same choice."
)
ANSWER_MORE = "The quiet moments when she could say what she actually wanted."

CARD_A = {
    "title": "Informed Autonomy",
    "description": "ChatGPT should help her make her own informed choice.",
    "policies": [
        "FEELINGS of being pressured that might cloud her judgement",
        "OPTIONS she may not know about, laid out without judgement",
        "OPPORTUNITIES for her to hear from people who have faced the same choice",
    ],
}
CARD_A_PARAPHRASE = {
    "title": "Informed Choice",
    "description": "Help her choose for herself.",
    "policies": [
        "FEELINGS of pressure that could cloud her judgement",
        "OPTIONS she may not know about, laid out without judging",
        "OPPORTUNITIES to hear from people who faced the same choice",
    ],
}
CARD_B = {
    "title": "Playful Learning",
    "description": "Attending to a child's curiosity.",
    "policies": [
        "MOMENTS when the child lights up about a topic",
        "GAMES that turn homework into exploration",
        "SIGNS of frustration that call for a break",
    ],
}


def interview_after(*user_turns: str) -> str:
    """The interviewer's reply after the given participant turns (assistant turns between)."""
    messages: list[dict] = [SYSTEM]
    for turn in user_turns:
        messages.append({"role": "assistant", "content": respond("interview", messages)})
        messages.append({"role": "user", "content": turn})
    return respond("interview", messages)


def structured(stage: str, payload: dict) -> dict:
    reply = respond(stage, [{"role": "system", "content": "x"}, user_message(payload)])
    return json.loads(reply)


def user_message(payload: dict) -> dict:
    return {"role": "user", "content": json.dumps(payload)}


def sentences(text: str) -> int:
    # Quoted text (the question, the participant's words) is not the interviewer's.
    unquoted = re.sub(r'"[^"]*"', "Q", text)
    return len([s for s in re.split(r"[.!?]+", unquoted) if s.strip()])


TRANSCRIPT = [
    {"role": "assistant", "content": "How do you think the AI should respond?"},
    {"role": "user", "content": ANSWER_HOW},
    {"role": "assistant", "content": "Tell me a story."},
    {"role": "user", "content": ANSWER_STORY},
    {"role": "assistant", "content": "What did you pay attention to?"},
    {"role": "user", "content": ANSWER_ATTENTION},
]
