"""Stage revise: the card changed as the participant asked (rename, remove, add)."""

from __future__ import annotations

import re

from elicitation.cards import MAX_POLICIES, MIN_POLICIES
from elicitation.llm.offline.messages import card_in, dump, json_input, require_str
from elicitation.llm.offline.text import (
    DESCRIPTION_PREFIX,
    describe_card,
    fit_policies,
    plain,
    policy_from_fragment,
    split_words,
    stems,
    title_case,
)

_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "1st": 1,
    "2nd": 2,
    "3rd": 3,
    "4th": 4,
    "5th": 5,
    "6th": 6,
    "7th": 7,
}

_RENAME_RE = re.compile(
    r"(?:\brename(?:\s+(?:it|this|the\s+card|the\s+title|the\s+value))?\s+(?:to|as)"
    r"|\btitle\s*:|\bcall\s+it|\bchange\s+the\s+title\s+to)\s*(.+)$",
    re.I | re.S,
)
_REMOVE_RE = re.compile(
    r"\b(?:remove|drop|delete)\s+(?:the\s+)?(?:policy\s+|number\s+|no\.?\s*|#\s*)?"
    r"(\d+|first|second|third|fourth|fifth|sixth|seventh|last|[1-7](?:st|nd|rd|th))\b",
    re.I,
)
_REMOVE_WORDS_RE = re.compile(
    r"\b(?:remove|drop|delete|take\s+out|get\s+rid\s+of)\b(.*)$", re.I | re.S
)
_QUOTED_RE = re.compile(r"[\"“”]([^\"“”]+)[\"“”]")
_ADD_RE = re.compile(
    r"\badd\s+(?:a\s+|an\s+|one\s+)?(?:new\s+|another\s+)?(?:policy\s+|line\s+)?"
    r"(?:about\s+|for\s+|on\s+|that\s+says\s+|saying\s+)?:?\s*(.+)$",
    re.I | re.S,
)


def reply(messages: list[tuple[str, str]]) -> str:
    data = json_input("revise", messages)
    question = plain(require_str(data, "question", "revise", default=""))
    card = card_in(data, "card", "revise")
    request = plain(require_str(data, "request", "revise"))
    title = card["title"] or "Attentive Care"
    policies = fit_policies(card["policies"], question)
    before = list(policies)

    if rename := _RENAME_RE.search(request):
        words = split_words(rename.group(1))[:5]
        if len(words) == 1:
            words = ["attentive", *words]  # the method wants a 2-5 word title
        if words:
            title = title_case(words)
    elif remove := _REMOVE_RE.search(request):
        which = remove.group(1).lower()
        if which == "last":
            index = len(policies)
        elif which.isdigit():
            index = int(which)
        else:
            index = _ORDINALS.get(which, 0)
        if 1 <= index <= len(policies) and len(policies) > MIN_POLICIES:
            del policies[index - 1]
    elif remove_words := _REMOVE_WORDS_RE.search(request):
        # "remove the part about her sister": drop the policy sharing most words with it;
        # never turn a removal request into a new policy.
        wanted = set(stems(remove_words.group(1)))
        overlaps = [len(wanted & set(stems(p))) for p in policies]
        best = max(range(len(policies)), key=lambda i: overlaps[i])
        if overlaps[best] > 0 and len(policies) > MIN_POLICIES:
            del policies[best]
    else:
        quoted = _QUOTED_RE.search(request)
        added = _ADD_RE.search(request)
        explicit = quoted.group(1) if quoted else added.group(1) if added else None
        phrase = explicit if explicit is not None else request
        policy = policy_from_fragment(plain(phrase), min_content=1)
        if policy and not any(p.lower() == policy.lower() for p in policies):
            if len(policies) < MAX_POLICIES:
                policies.append(policy)
            elif explicit is not None:
                # An explicit "add" on a full card replaces the last policy rather than
                # being silently ignored; the card never exceeds seven.
                policies[-1] = policy

    description = card["description"]
    if not description or (policies != before and description.startswith(DESCRIPTION_PREFIX)):
        description = describe_card(policies)
    return dump({"title": title, "description": description, "policies": policies})
