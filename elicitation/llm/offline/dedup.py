"""Stage dedup: are two cards the same value? Overlap of their policies' words.

A pair (``{"a", "b"}``, as contexts are compared) gets ``{"same", "reason"}``; a batch
(``{"cards": [...], "values": [...]}``, each card naming its candidates) gets, per card,
every candidate the pair rule calls the same: the batch judge is the pair judge applied
to each card and each of its candidates, so one call gives what many used to.
"""

from __future__ import annotations

from collections.abc import Sequence

from elicitation.llm.offline.messages import OfflineError, card_in, dump, json_input
from elicitation.llm.offline.text import stem_words, stems

# Two cards are "the same value" when their policy vocabularies overlap this much
# (Jaccard over crude-stemmed content words) and their titles share a word ...
DEDUP_JACCARD = 0.5
# ... or, whatever the titles, when the policies overlap this much. Paraphrased cards
# from the same interview style sit around 0.55-0.8; cards about different things rarely
# pass 0.2, so the gap is wide enough for a crude judge.
DEDUP_JACCARD_STRONG = 0.7


def _jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    sa, sb = set(a), set(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else 0.0


def reply(messages: list[tuple[str, str]]) -> str:
    data = json_input("dedup", messages)
    if "cards" in data:
        return dump(_batch(data))
    same, reason = judge(card_in(data, "a", "dedup"), card_in(data, "b", "dedup"))
    return dump({"same": same, "reason": reason})


def _batch(data: dict) -> dict:
    cards, values = data.get("cards"), data.get("values")
    if not isinstance(cards, list) or not isinstance(values, list):
        raise OfflineError("stage 'dedup': 'cards' and 'values' must be lists")
    by_id = {
        str(v.get("id")): card_in({"v": v}, "v", "dedup") for v in values if isinstance(v, dict)
    }
    decisions = []
    for raw in cards:
        card = card_in({"c": raw}, "c", "dedup")
        same_as, reasons = [], []
        for label in raw.get("candidates", []):
            if str(label) not in by_id:
                raise OfflineError(f"stage 'dedup': unknown candidate {label!r}")
            same, reason = judge(card, by_id[str(label)])
            if same:
                same_as.append(str(label))
                reasons.append(reason)
        if not same_as:
            reasons = ["None of the candidates attends to the same things as this card."]
        decisions.append({"card": str(raw.get("id")), "same_as": same_as, "reason": reasons[0]})
    return {"decisions": decisions}


def judge(a: dict, b: dict) -> tuple[bool, str]:
    """Whether two cards are the same value, and why, by the overlap of their words."""
    words_a = stem_words(" ".join(a["policies"]))
    words_b = stem_words(" ".join(b["policies"]))
    stems_a, stems_b = list(words_a), list(words_b)
    score = _jaccard(stems_a, stems_b)
    title_b = set(stems(b["title"]))
    shared_title = [s for s in stems(a["title"]) if s in title_b]
    same = score >= DEDUP_JACCARD and (bool(shared_title) or score >= DEDUP_JACCARD_STRONG)
    in_b = set(stems_b)
    in_a = set(stems_a)
    shared = [words_a[s] for s in stems_a if s in in_b]
    if same:
        reason = (
            f"Both cards attend to the same things ({', '.join(shared[:6])}); "
            f"policy overlap {score:.2f}."
        )
    else:
        only_a = [words_a[s] for s in stems_a if s not in in_b][:4]
        only_b = [words_b[s] for s in stems_b if s not in in_a][:4]
        common = f" They share only {', '.join(shared[:4])}." if shared else ""
        reason = (
            f"The cards attend to different things: A to {', '.join(only_a) or 'nothing else'}, "
            f"B to {', '.join(only_b) or 'nothing else'}; policy overlap {score:.2f}.{common}"
        )
    return same, reason
