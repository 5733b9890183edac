"""Stage hypothesis: a first-person upgrade story from value A to value B in a context.

One pair (``{"context", "from", "to"}``) gets ``{"story", "mapping"}``; a batch
(``{"context", "pairs": [{"id", "from", "to"}, ...]}``) gets ``{"stories": [...]}``, one
per pair with its id, each the story the pair alone would get.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from elicitation.llm.offline.messages import (
    OfflineError,
    card_in,
    dump,
    json_input,
    require_str,
)
from elicitation.llm.offline.text import fit_policies, lower_first, plain, short, stems


def _overlap(a: str, b: str) -> int:
    return len(set(stems(a)) & set(stems(b)))


def _best_match(policy: str, candidates: Sequence[str]) -> str:
    # max() keeps the first of ties, so the mapping follows B's own order.
    return max(candidates, key=lambda c: _overlap(policy, c))


def _past_situation(context: str) -> str:
    """ "When the user is in distress" -> "a friend was in distress", for a told story."""
    situation = re.sub(r"^\s*when\s+", "", context, flags=re.I)
    situation = re.sub(r"\bthe user's\b", "a friend's", situation, flags=re.I)
    situation = re.sub(r"\bthe user\b", "a friend", situation, flags=re.I)
    situation = re.sub(r"\bis\b", "was", situation, count=1)
    situation = re.sub(r"\bare\b", "were", situation, count=1)
    first = situation.split(" ", 1)[0]
    if first.lower().endswith("ing"):
        situation = f"I was {situation}"  # "seeking factual information ..."
    return lower_first(situation) or "it really mattered"


def reply(messages: list[tuple[str, str]]) -> str:
    data = json_input("hypothesis", messages)
    context = plain(require_str(data, "context", "hypothesis"))
    if "pairs" not in data:
        return dump(story(context, data))
    pairs = data["pairs"]
    if not isinstance(pairs, list) or not all(isinstance(p, dict) for p in pairs):
        raise OfflineError("stage 'hypothesis': 'pairs' must be a list of objects")
    return dump({"stories": [{"id": str(p.get("id")), **story(context, p)} for p in pairs]})


def story(context: str, data: dict) -> dict:
    """The story of someone who moved from ``data["from"]`` to ``data["to"]``."""
    a, b = card_in(data, "from", "hypothesis"), card_in(data, "to", "hypothesis")
    a_policies = fit_policies(a["policies"], context)
    b_policies = fit_policies(b["policies"], context)
    a_title = a["title"] or "my old value"
    b_title = b["title"] or "a new value"
    mapping = [{"from": p, "to": _best_match(p, b_policies)} for p in a_policies[:3]]

    kept = max(b_policies, key=lambda p: max(_overlap(p, q) for q in a_policies))
    added = min(
        (p for p in b_policies if p != kept),
        key=lambda p: max(_overlap(p, q) for q in a_policies),
        default=kept,
    )
    situation = _past_situation(context)
    told = (
        f'I used to live by "{a_title}": what I watched for most was {short(a_policies[0])}. '
        f"Then came a time when {situation}, and I saw that this alone was not enough. "
        f'"{b_title}" keeps what I cared about, because it still attends to {short(kept)}, '
        f"but it also adds {short(added)}. "
        f'Now, in moments like that, I see "{b_title}" as the wiser way, and I would not go back.'
    )
    return {"story": told, "mapping": mapping}
