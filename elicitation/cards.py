"""The rules of a values card, in one place: how long each part may be, how many things
to attend to it lists, and how a card is checked (written by a participant) or fitted
(written by a model).

Forms, services, templates and the card writer's JSON schema all read these numbers, so
a limit changes here or nowhere. The method's cards have a title of a few words naming
the value and three to seven attentional policies; the lengths are what the database
columns and the pages hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError

TITLE_MIN_WORDS = 2
TITLE_MAX_WORDS = 5
TITLE_MAX_CHARS = 120  # the column width of ValuesCard.title and Value.title
DESCRIPTION_MAX_CHARS = 1000
POLICY_MAX_CHARS = 300
MIN_POLICIES = 3
MAX_POLICIES = 7

# What a participant writes around a card: a request to the card writer, the reason
# for a judgment, the survey's comment.
REVISE_REQUEST_MAX_CHARS = 1000
REASON_MAX_CHARS = 2000
COMMENT_MAX_CHARS = 4000

# The same numbers by name, for templates (``maxlength="{{ limits.title }}"``).
LIMITS = {
    "title_min_words": TITLE_MIN_WORDS,
    "title_max_words": TITLE_MAX_WORDS,
    "title": TITLE_MAX_CHARS,
    "description": DESCRIPTION_MAX_CHARS,
    "policy": POLICY_MAX_CHARS,
    "min_policies": MIN_POLICIES,
    "max_policies": MAX_POLICIES,
    "revise_request": REVISE_REQUEST_MAX_CHARS,
    "reason": REASON_MAX_CHARS,
    "comment": COMMENT_MAX_CHARS,
}


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def normalise(*, title: str, description: str, policies: Iterable[str]) -> dict:
    """A participant's card as it will be stored, or ValidationError naming what to fix,
    by field. Whitespace is tidied; blank policy lines are dropped before counting."""
    title = _one_line(title)
    description = (description or "").strip()
    policies = [_one_line(p) for p in policies if p and p.strip()]
    errors: dict[str, list[str]] = {}
    words = len(title.split())
    if not TITLE_MIN_WORDS <= words <= TITLE_MAX_WORDS:
        errors["title"] = [
            f"Give your card a short title ({TITLE_MIN_WORDS} to {TITLE_MAX_WORDS} words)."
        ]
    elif len(title) > TITLE_MAX_CHARS:
        errors["title"] = [f"Keep the title under {TITLE_MAX_CHARS} characters."]
    if not description:
        errors["description"] = ["Write a sentence or two about what this value is."]
    elif len(description) > DESCRIPTION_MAX_CHARS:
        errors["description"] = [f"Keep the description under {DESCRIPTION_MAX_CHARS} characters."]
    if not MIN_POLICIES <= len(policies) <= MAX_POLICIES:
        errors["policies"] = [
            f"A card has {MIN_POLICIES} to {MAX_POLICIES} things you pay attention to; "
            f"this one has {len(policies)}."
        ]
    elif any(len(p) > POLICY_MAX_CHARS for p in policies):
        errors["policies"] = [f"Keep each one under {POLICY_MAX_CHARS} characters."]
    if errors:
        raise ValidationError(errors)
    return {"title": title, "description": description, "policies": policies}


def fit(data: dict) -> dict:
    """A model-written card cut to the limits rather than failing the participant over
    it: long parts are truncated, extra policies dropped. The word count of the title is
    left alone (cutting words would change its meaning); the participant sees the card
    and ``normalise`` asks them to shorten it if needed."""
    policies = [_one_line(p)[:POLICY_MAX_CHARS] for p in data.get("policies") or []]
    return {
        "title": _one_line(data.get("title"))[:TITLE_MAX_CHARS],
        "description": str(data.get("description") or "").strip()[:DESCRIPTION_MAX_CHARS],
        "policies": [p for p in policies if p][:MAX_POLICIES],
    }


def json_schema() -> dict[str, Any]:
    """The JSON schema of a card for the stages that write one (articulate, revise)."""
    extra = TITLE_MAX_WORDS - 1
    return {
        "type": "object",
        "required": ["title", "description", "policies"],
        "properties": {
            "title": {
                "type": "string",
                "maxLength": TITLE_MAX_CHARS,
                # TITLE_MIN_WORDS to TITLE_MAX_WORDS words separated by whitespace.
                "pattern": rf"^\s*\S+(\s+\S+){{{TITLE_MIN_WORDS - 1},{extra}}}\s*$",
            },
            "description": {
                "type": "string",
                "minLength": 1,
                "maxLength": DESCRIPTION_MAX_CHARS,
                "pattern": r"\S",
            },
            "policies": {
                "type": "array",
                "minItems": MIN_POLICIES,
                "maxItems": MAX_POLICIES,
                "items": {"type": "string", "maxLength": POLICY_MAX_CHARS, "pattern": r"\S"},
            },
        },
    }


def revise_request(text: str) -> str:
    """A participant's request to the card writer as it will be sent, or ValidationError
    on the ``request`` field."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"request": ["Say what you would like changed."]})
    if len(text) > REVISE_REQUEST_MAX_CHARS:
        raise ValidationError(
            {"request": [f"Please keep the request under {REVISE_REQUEST_MAX_CHARS} characters."]}
        )
    return text
