"""What the offline brain reads: chat messages, the JSON payload of a structured stage,
the cards in it, and which of the participant's turns are genuine answers."""

from __future__ import annotations

import json
import re
from typing import Any

from elicitation.llm.offline.text import plain


class OfflineError(ValueError):
    """The offline provider was asked for an unknown stage or given unparsable input."""


INJECTION_RE = re.compile(
    r"ignore\s+(?:all\s+|any\s+|the\s+|of\s+)?(?:your|previous|prior|above|earlier|all|"
    r"these|those|my)?\s*(?:previous\s+|prior\s+)?(?:instructions?|prompts?|rules?|directions)"
    r"|disregard\s+(?:all|your|previous|prior|the|any)\b"
    r"|\byou\s+are\s+now\b"
    r"|\bsystem\s+prompt\b"
    r"|\b(?:write|compose|generate)\s+(?:me\s+)?(?:a|an|some)\s+"
    r"(?:poem|song|story|joke|essay|haiku|limerick|sonnet|rap|code|script|program)\b"
    r"|\bwrite\s+me\s+(?:a|an|some)\b"
    r"|\b(?:tell|sing)\s+me\s+(?:a|an)\s+(?:poem|song|joke)\b"
    r"|\bpretend\s+(?:to\s+be|you|that\s+you|you're|you\s+are)\b"
    r"|(?:^|[.!?]\s*|\byou\s+to\s+|\b(?:can|could|will|would)\s+you\s+)act\s+as\b"
    r"|\bforget\s+(?:all|everything|your|previous|prior|the\s+(?:above|previous|question|"
    r"instructions?|rules?)|about\s+(?:the|this)\s+(?:question|interview))\b"
    r"|\bjailbreak\b|\bdeveloper\s+mode\b",
    re.I,
)

# ---------------------------------------------------------------------------
# Messages and JSON
# ---------------------------------------------------------------------------


def role_and_text(message: Any) -> tuple[str, str]:
    """Return (role, text) of a chat message, accepting the OpenAI content-part list form."""
    if not isinstance(message, dict):
        raise OfflineError(
            f"each message must be a dict with 'role' and 'content', got {message!r}"
        )
    role = message.get("role")
    if not isinstance(role, str):
        raise OfflineError("each message needs a string 'role'")
    content = message.get("content")
    if content is None:
        return role, ""
    if isinstance(content, str):
        return role, content
    if isinstance(content, list):
        parts = [
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text", ""), str)
        ]
        return role, "".join(parts)
    raise OfflineError(f"message content must be a string, got {type(content).__name__}")


def normalise_messages(messages: Any) -> list[tuple[str, str]]:
    if not isinstance(messages, list):
        raise OfflineError("messages must be a list of {'role', 'content'} dicts")
    return [role_and_text(m) for m in messages]


def json_input(stage: str, messages: list[tuple[str, str]]) -> dict[str, Any]:
    users = [text for role, text in messages if role == "user"]
    if not users:
        raise OfflineError(f"stage {stage!r} needs a user message holding a JSON document")
    try:
        data = json.loads(users[-1])
    except json.JSONDecodeError as exc:
        raise OfflineError(
            f"stage {stage!r}: the last user message is not valid JSON ({exc})"
        ) from exc
    if not isinstance(data, dict):
        raise OfflineError(f"stage {stage!r}: expected a JSON object, got {type(data).__name__}")
    return data


def require_str(data: dict[str, Any], key: str, stage: str, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise OfflineError(f"stage {stage!r}: {key!r} must be a string")
    return value


def card_in(data: dict[str, Any], key: str, stage: str) -> dict[str, Any]:
    card = data.get(key)
    if not isinstance(card, dict):
        raise OfflineError(f"stage {stage!r}: {key!r} must be a card object")
    policies = card.get("policies", [])
    if not isinstance(policies, list) or not all(isinstance(p, str) for p in policies):
        raise OfflineError(f"stage {stage!r}: {key}.policies must be a list of strings")
    title = card.get("title", "")
    description = card.get("description", "")
    if not isinstance(title, str) or not isinstance(description, str):
        raise OfflineError(f"stage {stage!r}: {key}.title and description must be strings")
    return {
        "title": plain(title),
        "description": plain(description),
        "policies": [plain(p) for p in policies if plain(p)],
    }


def transcript_in(data: dict[str, Any], stage: str) -> list[tuple[str, str]]:
    transcript = data.get("transcript", [])
    if transcript is None:
        return []
    if not isinstance(transcript, list):
        raise OfflineError(f"stage {stage!r}: 'transcript' must be a list of messages")
    return normalise_messages(transcript)


def dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False)


def is_injection(text: str) -> bool:
    return bool(INJECTION_RE.search(text))


def participant_texts(transcript: list[tuple[str, str]]) -> list[str]:
    return [
        plain(text)
        for role, text in transcript
        if role == "user" and plain(text) and not is_injection(text)
    ]
