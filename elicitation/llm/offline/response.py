"""Stage response: an assistant's answer to the question, guided by one value."""

from __future__ import annotations

import re

from elicitation.llm.offline.messages import card_in, dump, json_input, require_str
from elicitation.llm.offline.text import fit_policies, plain, short


def reply(messages: list[tuple[str, str]]) -> str:
    data = json_input("response", messages)
    question = plain(require_str(data, "question", "response"))
    context = plain(require_str(data, "context", "response", default=""))
    value = card_in(data, "value", "response")
    policies = fit_policies(value["policies"], question)
    factual = "factual" in context.lower() or bool(
        re.match(r"^\s*(?:what|who|when|how many|how much|which)\b", question, re.I)
        and not re.search(r"\bshould\b", question, re.I)
    )
    opening = (
        "That's an important question, and I want to answer it carefully."
        if factual
        else "Thank you for bringing this to me; it deserves a careful answer."
    )
    lines = [
        opening,
        f"Before anything else, I'd look at {short(policies[0], 16)}.",
        f"It also matters to notice {short(policies[1], 16)}.",
        f"And I'd keep in mind {short(policies[2], 16)}.",
    ]
    if factual:
        lines.append(
            "I'll stick to what is well established and say plainly where sources disagree."
        )
    else:
        lines.append(
            "There isn't one answer I can hand you, but we can work through it together, "
            "at your pace."
        )
    lines.append(
        "Would you like me to go through what is known in more detail?"
        if factual
        else "Which of these feels most important to you right now?"
    )
    return dump({"response": " ".join(lines)})
