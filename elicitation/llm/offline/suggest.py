"""Stage suggest: candidate questions (with their contexts) for a new study, from its
title and description.

The offline brain picks the study's topic (its title's main noun phrase, else the
description's) and writes one question per kind the prompt asks for: a personal
decision, contested facts, guiding someone else, someone in distress. Same title, same
suggestions; questions whose key the study already has are left out.
"""

from __future__ import annotations

import re

from elicitation.llm.offline.messages import OfflineError, dump, json_input, require_str
from elicitation.llm.offline.text import main_noun_phrase, plain

_FILLER = re.compile(
    r"^(?:(?:a|an|the|our|my)\s+)?(?:study|survey|pilot|research|questions?|values?|views?|attitudes?)\s+"
    r"(?:of|on|about|into|for)\s+",
    re.I,
)
_SLUG_RE = re.compile(r"[^a-z0-9]+")

# (key suffix, title, message, contexts): {topic} is the study's topic.
_KINDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "decision",
        "A personal decision about {topic}",
        "I have to make a decision about {topic} soon and the people around me disagree. "
        "What should I do?",
        ("When the user is facing a hard personal decision",),
    ),
    (
        "facts",
        "The facts about {topic}",
        "What is actually true about {topic}? I keep hearing completely different things "
        "from different sides.",
        ("When seeking factual information about a contested event",),
    ),
    (
        "guiding",
        "Talking to a child about {topic}",
        "My 12-year-old asked me about {topic} and I froze. How should I talk to them about it?",
        ("When a parent is guiding a child",),
    ),
    (
        "distress",
        "Overwhelmed by {topic}",
        "Everything about {topic} makes me anxious and I don't know who to trust anymore. "
        "Can you help me think it through?",
        ("When the user is in distress",),
    ),
)


def topic_of(title: str, description: str = "") -> str:
    """The study's topic in a few words, e.g. "Views on end-of-life care" -> "end-of-life
    care"; a generic phrase when nothing usable is found."""
    for text in (title, description):
        text = _FILLER.sub("", plain(text)).strip(" .!?:")
        if not text:
            continue
        words = text.split()
        if len(words) <= 4:
            return text[0].lower() + text[1:] if not text[:2].isupper() else text
        phrase = main_noun_phrase(text)
        if phrase:
            return phrase
    return "everyday choices"


def slug(text: str) -> str:
    return _SLUG_RE.sub("-", text.lower()).strip("-")[:40].strip("-") or "question"


def reply(messages: list[tuple[str, str]]) -> str:
    data = json_input("suggest", messages)
    title = require_str(data, "title", "suggest", default="")
    description = require_str(data, "description", "suggest", default="")
    existing = data.get("existing", [])
    if not isinstance(existing, list):
        raise OfflineError("stage 'suggest': 'existing' must be a list of questions")
    taken = {q.get("key") for q in existing if isinstance(q, dict)}
    topic = topic_of(title, description)
    base = slug(topic)
    questions = []
    for suffix, name, text, contexts in _KINDS:
        key = f"{base}-{suffix}"
        if key in taken:
            continue
        title_text = name.format(topic=topic)
        questions.append(
            {
                "key": key,
                "title": title_text[0].upper() + title_text[1:],
                "text": text.format(topic=topic),
                "seed_message": "",
                "contexts": [*contexts, f"When the conversation is about {topic}"][:3],
            }
        )
    if not questions:  # every kind is taken: one more, numbered, so the button still helps
        questions.append(
            {
                "key": f"{base}-{len(taken) + 1}",
                "title": f"Another question about {topic}",
                "text": f"Someone I care about asked me for advice about {topic}. What "
                "should I tell them?",
                "seed_message": "",
                "contexts": ["When the user asks for guidance on a hard question"],
            }
        )
    return dump({"questions": questions})
