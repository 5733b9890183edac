"""Stage simulate: a persona's side of a simulated journey, shaped by its style.

Deterministic: the same persona, task and conversation always give the same text, and
different personas (or turns) pick different wordings, so a simulated pilot's
transcripts look varied without any randomness.
"""

from __future__ import annotations

import hashlib
from typing import Any

from elicitation.llm.offline.messages import OfflineError, dump, json_input, require_str
from elicitation.llm.offline.text import plain

STYLES = ("terse", "verbose", "off_topic", "pushback", "storyteller", "rules")


def _pick(options: tuple[str, ...] | list[str], *keys: Any) -> str:
    digest = hashlib.sha256("\0".join(str(k) for k in keys).encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def _persona(data: dict) -> dict[str, Any]:
    persona = data.get("persona")
    if not isinstance(persona, dict):
        raise OfflineError("stage 'simulate': 'persona' must be an object")
    attends = persona.get("attends") or []
    if not isinstance(attends, list) or not all(isinstance(a, str) for a in attends):
        raise OfflineError("stage 'simulate': persona.attends must be a list of strings")
    style = str(persona.get("style") or "terse")
    return {
        "name": plain(str(persona.get("name") or "someone")),
        "background": plain(str(persona.get("background") or "")),
        "style": style if style in STYLES else "terse",
        "story": plain(str(persona.get("story") or "")),
        "attends": [plain(a) for a in attends if plain(a)] or ["how the person feels"],
    }


def _said(data: dict) -> int:
    """How many messages the persona has sent so far."""
    transcript = data.get("transcript") or []
    if not isinstance(transcript, list):
        raise OfflineError("stage 'simulate': 'transcript' must be a list")
    return sum(
        1 for turn in transcript if isinstance(turn, dict) and turn.get("role") == "participant"
    )


def _topic(question: str) -> str:
    words = [w.strip(".,?!:;\"'") for w in question.split()]
    long = [w for w in words if len(w) > 5]
    return (long[-1] if long else "this").lower()


def _interview(p: dict, question: str, step: int) -> str:
    style, attends, story = p["style"], p["attends"], p["story"]
    first = attends[step % len(attends)]
    second = attends[(step + 1) % len(attends)]
    topic = _topic(question)
    background = p["background"]
    key = (p["name"], step)
    if style == "terse":
        if step < 3:
            return ("listen first, then help.", "had a friend in this spot. we talked.", first)[
                step
            ]
        return _pick(("not sure.", f"{first}, mostly.", f"{second} too."), *key)
    if style == "rules":
        if step == 0:
            return (
                f"The AI should always respect the person's own choice and never tell them "
                f"what to do about {topic}. It should give balanced information."
            )
        if step == 1:
            return f"A rule I live by came from this: {story}"
        return _pick(
            (
                f"It should never ignore {first}. That is the rule.",
                f"The AI must always keep {first} in mind, and {second}.",
            ),
            *key,
        )
    if style == "off_topic" and step == 0:
        return _pick(
            (
                "Honestly I was just thinking about whether it will rain this weekend, "
                "my garden needs it. Sorry, what was the question again?",
                "Before that, can I say the football last night was terrible? Anyway. "
                f"I guess the AI should be kind about {topic}.",
            ),
            *key,
        )
    if style == "pushback" and step in (0, 2):
        return _pick(
            (
                "Why do you need to know this? An AI should just give the facts and stay "
                f"out of it. Fine: I'd want it to notice {first}.",
                "I'm not sure these questions are fair, everyone's situation is different. "
                f"But if you insist, {first} is what I would look at.",
                "That's a leading question. People don't think in 'values', they just act. "
                f"If I had to say: {first}.",
            ),
            *key,
        )
    if step == 0:
        opening = {
            "verbose": (
                f"That's a big one. Speaking as {background}, I think the AI should slow "
                "down, not rush to an answer, and first understand where the person is "
                f"coming from. It should ask about {first} before offering anything, and "
                "it should be honest without lecturing. I've seen too many people given "
                "advice that had nothing to do with their life."
            ),
            "storyteller": (
                f"It reminds me of something. {story} So I'd want the AI to start by "
                "listening, the way someone listened to me then."
            ),
        }
        return opening.get(
            style, f"I think the AI should be gentle and pay attention to {first} first."
        )
    if step == 1:
        if style == "verbose":
            return (
                f"Yes, there was a time. {story} It took a long while, and I remember "
                f"the details vividly, especially {first}, and how {second} changed "
                "everything for us in the end."
            )
        return story or f"Once, with a friend, {first} mattered most."
    if step == 2:
        return _pick(
            (
                f"I paid attention to {first}, and to {second}. Those told me what to do.",
                f"Mostly {first}. And whether {second} was there or missing.",
                f"I noticed {first} before anything else, then {second}.",
            ),
            *key,
        )
    return _pick(
        (
            f"Also {attends[(step + 2) % len(attends)]}, I would say.",
            f"I'd add {attends[(step + 2) % len(attends)]}: it is easy to miss.",
            f"Maybe {attends[(step + 2) % len(attends)]}, if it is not too much.",
        ),
        *key,
    )


def _revise(p: dict, data: dict) -> str:
    card = data.get("card") if isinstance(data.get("card"), dict) else {}
    title = plain(str(card.get("title") or ""))
    attends = p["attends"]
    if p["style"] == "pushback":
        return _pick(("rename it to Honest Straight Talk", "rename it to Plain Facts"), p["name"])
    if p["style"] == "terse":
        return "remove the last one"
    extra = attends[-1]
    return _pick(
        (
            f'add "{extra}"',
            f"add something about {extra}",
            f'add "{extra}" please, it matters to me' + (f" for {title}" if title else ""),
        ),
        p["name"],
    )


def _reason(p: dict, data: dict) -> str:
    verdict = plain(str(data.get("verdict") or ""))
    if p["style"] == "terse":
        return "makes sense." if verdict == "upgrade" else "not really."
    return _pick(
        (
            f"From my own experience, the second one pays more attention to {p['attends'][0]}.",
            "I have seen both, and the story matches what happened in my family.",
            "It is hard to say, both seem reasonable to me.",
        ),
        p["name"],
        verdict,
    )


def reply(messages: list[tuple[str, str]]) -> str:
    data = json_input("simulate", messages)
    task = require_str(data, "task", "simulate")
    persona = _persona(data)
    question = plain(require_str(data, "question", "simulate", default=""))
    if task == "interview":
        text = _interview(persona, question, _said(data))
    elif task == "revise":
        text = _revise(persona, data)
    elif task == "reason":
        text = _reason(persona, data)
    else:
        raise OfflineError(f"stage 'simulate': unknown task {task!r}")
    return dump({"reply": text.strip() or "ok"})
