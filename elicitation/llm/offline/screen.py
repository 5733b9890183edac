"""Stage screen: flag a card that is obviously junk (very short, joke markers, keyboard
mashing, nothing in common with the question or what the participant said).

Deliberately cautious: a flag only puts the card first on the moderation page, and a
sincere card should not be flagged, so only plain signs count."""

from __future__ import annotations

import re

from elicitation.llm.offline.messages import card_in, dump, json_input, require_str
from elicitation.llm.offline.text import plain, split_words, stems

# Fewer words than this in the whole card (title, description, policies) is too little
# to read a value from.
MIN_WORDS = 8
# Markers nobody writes in a sincere card (not "whatever" or "test": those have
# ordinary uses).
_JOKE_RE = re.compile(
    r"\b(?:lol+|lmf?ao+|rofl|ha(?:ha)+h?|he(?:he)+|jk|just kidding|xd+|kek|"
    r"asdf\w*|qwerty\w*|blah(?: blah)+)\b|[\U0001F602\U0001F923]",
    re.I,
)
# The same letter four times running ("aaaa", "zzzzz"): typed to get past the form.
_MASH_RE = re.compile(r"([a-z])\1{3,}", re.I)


def reply(messages: list[tuple[str, str]]) -> str:
    data = json_input("screen", messages)
    question = plain(require_str(data, "question", "screen", default=""))
    said = plain(require_str(data, "said", "screen", default=""))
    card = card_in(data, "card", "screen")
    text = plain(" ".join([card.get("title", ""), card.get("description", ""), *card["policies"]]))
    reason = _junk(text, question, said)
    return dump({"junk": reason is not None, "reason": reason or ""})


def _junk(text: str, question: str, said: str) -> str | None:
    words = split_words(text)
    if len(words) < MIN_WORDS:
        return f"Very short: {len(words)} words in the whole card."
    joke = _JOKE_RE.search(text)
    if joke:
        return f"Joke or test markers: “{joke.group(0)}”."
    mash = _MASH_RE.search(text)
    if mash:
        return "Looks like keyboard mashing."
    card_stems = set(stems(text))
    context = set(stems(question)) | set(stems(said))
    if context and card_stems and not card_stems & context:
        return "Off-topic: no word in common with the question or the interview."
    return None
