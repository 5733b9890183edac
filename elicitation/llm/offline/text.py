"""Words and policies: the text helpers every offline stage shares.

No database and no settings: the card rules (elicitation/cards.py) and the stdlib.
Everything here treats what a participant typed as plain text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from elicitation.cards import MAX_POLICIES, MIN_POLICIES

# Policies cut from speech are kept shorter than a card allows, to read as one thought.
MAX_POLICY_CHARS = 120

DESCRIPTION_PREFIX = "ChatGPT should attend to"

# ---------------------------------------------------------------------------
# Words
# ---------------------------------------------------------------------------

_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't
    do does doesn't doing don't down during each even ever every few for from further get
    gets getting got had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's however i i'd i'll i'm i've if in into is
    isn't it it's its itself just let's lot lots may maybe me might more most much must
    mustn't my myself no nor not now of off on once only or other ought our ours ourselves
    out over own quite rather really same say said says she she'd she'll she's should
    shouldn't so some something someone somebody such than that that's the their theirs
    them themselves then there there's these they they'd they'll they're they've this
    those though through thing things to too under until up upon us very was wasn't we
    we'd we'll we're we've were weren't what what's when when's where where's whether which
    while who who's whom whose why why's will with within without won't would wouldn't yes
    yet you you'd you'll you're you've your yours yourself yourselves kind sort way ways
    well like one ones able also etc okay ok oh yeah
    """.split()  # noqa: SIM905 - a word list reads better as text than as 200 literals
)

# Words that introduce what someone attends to rather than naming it ("I think the AI
# should pay attention to ..."): skipped when looking for a policy's head word and
# ignored when choosing a title.
_LEAD_INS = frozenset(
    """
    think thinks thought believe believed feel feels felt guess mean meant noticed notice
    notices noticing pay paid paying attention attend attends attended attending focus
    focused look looked looking care cared matter matters mattered important meaningful
    ai chatgpt assistant response respond responds answer want wanted wants need needs
    needed try tried trying please make made include add mention change know knew see saw
    seem seemed seems especially actually probably definitely mostly mainly
    """.split()  # noqa: SIM905
)

_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*", re.UNICODE)
# A tag-like sequence: "<" followed by a letter, "/" or "!" up to the next ">" (or the
# end of the text when unclosed). "a < b" is left alone because it is not tag-like.
_TAG_RE = re.compile(r"<\s*[/!?A-Za-z][^<>]*(?:>|$)")
_FRAGMENT_SPLIT_RE = re.compile(r"[.!?;:,\n\u2014\u2013()\[\]{}]+|\s+-\s+|\s+and\s+", re.I)

RULE_RE = re.compile(r"\b(?:always|never|should|shouldn't|must|mustn't|rules?)\b", re.I)
_GOAL_RE = re.compile(
    r"\b(?:so that|in order to|reduce[sd]?|reducing|maximi[sz]e[sd]?|maximi[sz]ing|"
    r"minimi[sz]e[sd]?|minimi[sz]ing|prevent|increase)\b",
    re.I,
)


def plain(text: Any) -> str:
    """Return ``text`` as plain text: tag-like sequences removed, whitespace collapsed."""
    if not isinstance(text, str):
        return ""
    return re.sub(r"\s+", " ", _TAG_RE.sub(" ", text)).strip()


def split_words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


def norm(word: str) -> str:
    return word.lower().replace("’", "'").strip("'-")


def is_content(word: str) -> bool:
    w = norm(word)
    return bool(w) and w not in _STOPWORDS and (len(w) > 2 or w.isdigit())


def is_head(word: str) -> bool:
    """A word that can open an attentional policy: content, and not a lead-in verb."""
    return is_content(word) and norm(word) not in _LEAD_INS


def stem(word: str) -> str:
    """Crude stemmer: enough to match "feelings"/"feeling"/"feel" and "pressured"/"pressure"."""
    w = norm(word)
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def stem_words(text: str) -> dict[str, str]:
    """Stems of the content words of ``text``, in order, each with the first word seen."""
    seen: dict[str, str] = {}
    for word in split_words(text):
        if is_head(word):
            seen.setdefault(stem(word), norm(word))
    return seen


def stems(text: str) -> list[str]:
    """Ordered, de-duplicated stems of the content words of ``text``."""
    return list(stem_words(text))


def title_case(words: Sequence[str]) -> str:
    # Keep words that already carry capitals ("AI", "McDonald") as they are.
    return " ".join(
        "-".join(p[:1].upper() + p[1:] for p in w.split("-")) if w.islower() else w for w in words
    )


def trim(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-")


def soften(policy: str) -> str:
    """Lower-case a policy's CAPITALISED head word, to use the policy inside a sentence.

    The head is the first all-capitals word of three letters or more among the first
    four ("her own SENSE of ..." from a hand-written card), so "AI" or "US" survive.
    """
    words = policy.split(" ")
    for i, word in enumerate(words[:4]):
        letters = "".join(split_words(word))
        if len(letters) >= 3 and letters.isupper():
            words[i] = word.lower()
            break
    return " ".join(words).strip()


def first_words(text: str, n: int) -> str:
    parts = text.split()
    return " ".join(parts[:n])


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text and not text[:2].isupper() else text


# ---------------------------------------------------------------------------
# Phrases and policies
# ---------------------------------------------------------------------------


def policy_from_fragment(fragment: str, *, min_content: int = 2) -> str | None:
    """Turn a fragment of speech into an attentional policy, or None if it is too thin.

    Words before the first head word ("I think the AI should look at ...") are dropped,
    the head word is CAPITALISED, the rest is kept verbatim: the policy stays in the
    participant's own words.
    """
    tokens = fragment.split()
    start = next(
        (
            i
            for i, token in enumerate(tokens)
            if (words := split_words(token)) and is_head(words[0])
        ),
        None,
    )
    if start is None:
        return None
    rest = tokens[start:]
    content = [w for w in split_words(" ".join(rest)) if is_content(w)]
    if len(content) < min_content:
        return None
    head = split_words(rest[0])[0]
    # Keep what is glued after the head word ("family's", "feelings,") as it was typed.
    tail = rest[0][rest[0].find(head) + len(head) :]
    policy = " ".join([head.upper() + tail, *rest[1:]])
    policy = policy.strip(" \"'“”‘’-")
    return trim(policy, MAX_POLICY_CHARS) or None


def fragments(text: str) -> list[str]:
    return [f.strip() for f in _FRAGMENT_SPLIT_RE.split(plain(text)) if f and f.strip()]


def sounds_like_rule_or_goal(text: str) -> bool:
    return bool(RULE_RE.search(text) or _GOAL_RE.search(text))


def dedupe_policies(policies: Sequence[str]) -> list[str]:
    """Drop exact repeats and policies whose words are all covered by an earlier one."""
    kept: list[str] = []
    kept_stems: list[set[str]] = []
    for policy in policies:
        own = set(stems(policy))
        if not own or any(own <= other for other in kept_stems):
            continue
        kept.append(policy)
        kept_stems.append(own)
    return kept


def main_noun_phrase(question: str) -> str | None:
    """The question's main noun phrase, e.g. "abortion" or "10-year-old son".

    A small heuristic instead of a parser: noun phrases are the runs of content words
    after a determiner; the one with the longest final word wins (heads like "abortion"
    and "homework" beat "girl" and "time"). Falls back to the longest content word.
    """
    text = plain(question)
    determiners = {"a", "an", "the", "my", "his", "her", "their", "our", "your", "this"}
    tokens = split_words(text)
    phrases: list[list[str]] = []
    i = 0
    while i < len(tokens):
        if norm(tokens[i]) in determiners:
            run: list[str] = []
            j = i + 1
            while j < len(tokens) and len(run) < 3 and is_content(tokens[j]):
                run.append(tokens[j])
                j += 1
            if run:
                phrases.append(run)
            i = j
        else:
            i += 1
    if phrases:
        best = max(phrases, key=lambda run: len(run[-1]))  # max keeps the first of ties
        return " ".join(best)
    content = [w for w in tokens if is_head(w)]
    if content:
        return max(content, key=len)
    return None


def generic_policies(question: str) -> list[str]:
    """Attentional policies derived from the question, used to pad a thin card."""
    topic = (main_noun_phrase(question) or "this choice").lower()
    return [
        f"MOMENTS when thinking about {topic} feels heavy and the person needs room to think",
        f"FEELINGS the person has about {topic} that they have not yet said out loud",
        f"PEOPLE in their life who could support them with {topic}",
        f"VALUES the person already holds that bear on {topic}",
        f"OPTIONS around {topic} that the person may not have considered yet",
    ]


def fit_policies(policies: Sequence[str], question: str) -> list[str]:
    """Clamp a list of policies to the 3..7 the method asks for, padding from the question.

    Only exact repeats are dropped: a participant's own (possibly hand-edited) policies
    are otherwise kept word for word.
    """
    fitted: list[str] = []
    seen: set[str] = set()

    def keep(policy: str) -> None:
        text = plain(policy)
        if text and text.lower() not in seen:
            seen.add(text.lower())
            fitted.append(text)

    for policy in policies:
        keep(policy)
    for generic in generic_policies(question):
        if len(fitted) >= MIN_POLICIES:
            break
        keep(generic)
    return fitted[:MAX_POLICIES]


def describe_card(policies: Sequence[str]) -> str:
    chosen = [soften(p) for p in policies[:2]]
    return f"{DESCRIPTION_PREFIX} {' and '.join(chosen)}."


def short(policy: str, n: int = 10) -> str:
    return first_words(soften(policy), n).rstrip(" ,;:-")
