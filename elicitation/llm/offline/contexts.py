"""Stage contexts: the "When ..." situations a question and its interview raise."""

from __future__ import annotations

import re

from elicitation.llm.offline.messages import (
    dump,
    json_input,
    participant_texts,
    require_str,
    transcript_in,
)
from elicitation.llm.offline.text import is_content, main_noun_phrase, plain, split_words

# (pattern, context) in priority order: the order of the reply is the order here.
_CONTEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\b(?:distress\w*|scared|afraid|anxious|anxiety|depress\w*|sad|pressured?|"
            r"overwhelm\w*|upset|hopeless|suicid\w*|panic\w*|crying|worried|stress\w*|"
            r"feelings?|lonely|ashamed|guilt\w*|fear\w*)\b",
            re.I,
        ),
        "When the user is in distress",
    ),
    (
        re.compile(
            r"\b(?:should i|what should|considering|decid\w*|decision|choice|choose|"
            r"whether to|torn)\b",
            re.I,
        ),
        "When the user is facing a hard personal decision",
    ),
    (
        re.compile(
            r"\b(?:child|children|kids?|son|daughter|parent\w*|teen\w*|homework|toddler|"
            r"\d+[- ]year[- ]old)\b",
            re.I,
        ),
        "When a parent is guiding a child",
    ),
    (
        re.compile(
            r"\b(?:what (?:is|are|was|were)|how (?:many|much|did|does)|who (?:is|was|were)|"
            r"when did|facts?|weapons?|happened|evidence|history|historical)\b",
            re.I,
        ),
        "When seeking factual information about a contested event",
    ),
    (
        re.compile(
            r"\b(?:christian|muslim|jewish|hindu|buddhist|faith|religio\w*|church|god|pray\w*)\b",
            re.I,
        ),
        "When the user's faith bears on the choice",
    ),
    (
        re.compile(
            r"\b(?:abortion|pregnan\w*|medical|doctor|health|illness|medication|diagnos\w*)\b",
            re.I,
        ),
        "When the user faces a medical choice",
    ),
    (
        re.compile(
            r"\b(?:election|vote|voting|political|politics|protest\w*|riot\w*|capitol|"
            r"government|january 6(?:th)?)\b",
            re.I,
        ),
        "When the topic is politically divisive",
    ),
)

_CONSIDERING_RE = re.compile(
    r"\bconsidering\s+(?:getting\s+|having\s+|doing\s+|making\s+|taking\s+)?([^.,;!?]+)", re.I
)


def _topic_context(question: str) -> str | None:
    considering = _CONSIDERING_RE.search(question)
    if considering:
        phrase = " ".join(considering.group(1).split()[:5])
        if any(is_content(w) for w in split_words(phrase)):
            return f"When the user is considering {phrase}"
    topic = main_noun_phrase(question)
    return f"When the conversation is about {topic}" if topic else None


def reply(messages: list[tuple[str, str]]) -> str:
    data = json_input("contexts", messages)
    question = plain(require_str(data, "question", "contexts"))
    said = " ".join(participant_texts(transcript_in(data, "contexts")))
    found: dict[str, None] = {}
    # The question's own situations come first, then any the interview added.
    for text in (question, said):
        for pattern, context in _CONTEXT_RULES:
            if text and pattern.search(text):
                found.setdefault(context, None)
    chosen = list(found)[:3]
    topic = _topic_context(question)
    if topic and topic.lower() not in {c.lower() for c in chosen}:
        chosen.append(topic)
    if not chosen:
        chosen = ["When the user asks for guidance on a hard question"]
    return dump({"contexts": chosen[:4]})
