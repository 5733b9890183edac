"""The JSON Schemas of the structured stages, and the parser that holds a reply to one.

A schema is part of its stage's prompt version (see ``prompts``): changing one here
changes the version recorded with every call and every cached answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from elicitation import cards

_TEXT = {"type": "string", "minLength": 1}

# A card's limits are the card rules' (elicitation/cards.py), as forms and services use.
CARD_SCHEMA: dict[str, Any] = cards.json_schema()
# Dedup judges a pair (two contexts) or a batch (new cards, each against its candidates).
DEDUP_PAIR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["same", "reason"],
    "properties": {"same": {"type": "boolean"}, "reason": {"type": "string"}},
}
DEDUP_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["decisions"],
    "properties": {
        "decisions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["card", "same_as", "reason"],
                "properties": {
                    "card": {"type": "string"},
                    "same_as": {"type": "array", "items": {"type": "string"}},
                    "reason": {"type": "string"},
                },
            },
        }
    },
}
DEDUP_SCHEMA: dict[str, Any] = {"type": "object", "anyOf": [DEDUP_PAIR_SCHEMA, DEDUP_BATCH_SCHEMA]}
CONTEXTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["contexts"],
    "properties": {
        "contexts": {
            "type": "array",
            "minItems": 1,
            "maxItems": 6,
            "items": {"type": "string", "pattern": r"^When\s+\S", "maxLength": 200},
        }
    },
}
# Candidate questions for a new study (the researcher picks; nothing is saved by itself).
SUGGEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["questions"],
    "properties": {
        "questions": {
            "type": "array",
            "minItems": 1,
            "maxItems": 6,
            "items": {
                "type": "object",
                "required": ["key", "title", "text", "seed_message", "contexts"],
                "properties": {
                    "key": {
                        "type": "string",
                        "pattern": r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
                        "maxLength": 80,
                    },
                    "title": {**_TEXT, "maxLength": 200},
                    "text": {**_TEXT, "maxLength": 1000},
                    "seed_message": {"type": "string", "maxLength": 1000},
                    "contexts": {
                        "type": "array",
                        "maxItems": 4,
                        "items": {"type": "string", "pattern": r"^When\s+\S", "maxLength": 200},
                    },
                },
            },
        }
    },
}
_MAPPING: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["from", "to"],
        "properties": {"from": _TEXT, "to": _TEXT},
    },
}
# Upgrade stories: one (a story and its mapping) or a batch of them, each by its pair's id.
HYPOTHESIS_ONE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["story", "mapping"],
    "properties": {"story": _TEXT, "mapping": _MAPPING},
}
HYPOTHESIS_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["stories"],
    "properties": {
        "stories": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "story", "mapping"],
                "properties": {"id": {"type": "string"}, "story": _TEXT, "mapping": _MAPPING},
            },
        }
    },
}
HYPOTHESIS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "anyOf": [HYPOTHESIS_ONE_SCHEMA, HYPOTHESIS_BATCH_SCHEMA],
}
# The pre-screen of a submitted card: likely junk (and why), for a researcher to review.
SCREEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["junk", "reason"],
    "properties": {"junk": {"type": "boolean"}, "reason": {"type": "string", "maxLength": 300}},
}
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["response"],
    "properties": {"response": _TEXT},
}

# A simulated participant's next text: a message, a card change, a reason.
SIMULATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["reply"],
    "properties": {"reply": _TEXT},
}


class InvalidOutput(ValueError):
    """A reply that is not the JSON object the stage's schema asks for."""

    def __init__(self, problem: str, reply: str) -> None:
        super().__init__(problem)
        self.reply = reply


_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S | re.I)


def parse(schema: dict[str, Any], text: str) -> dict:
    """Parse and validate a structured reply, or raise ``InvalidOutput`` saying why."""
    # Real models sometimes wrap JSON in a Markdown fence even in JSON mode.
    fenced = _FENCE_RE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidOutput(f"the reply is not valid JSON ({exc})", text) from None
    if not isinstance(data, dict):
        raise InvalidOutput(f"expected a JSON object, got {type(data).__name__}", text)
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = error.json_path.removeprefix("$.").removeprefix("$") or "the object"
        raise InvalidOutput(f"{where}: {error.message[:300]}", text)
    return data
