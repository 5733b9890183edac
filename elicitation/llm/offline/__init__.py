"""Deterministic offline "LLM" for MGE Studio.

This module is the brain of the ``offline/<stage>`` provider: it lets the whole
participant journey and every background job run with no network, no API key and no
randomness, so that tests, demos and local development behave the same on every
machine. It is deliberately pure (stdlib only) so that it can be tested without Django
and wrapped as a litellm custom provider elsewhere.

The replies are simple but faithful to the method (see ``shared/MGE.md``): the
interview walks through the reference's steps (how should the AI respond, a personal
story, what did you attend to) and steers away from rules and goals; cards are built
from the participant's own words; dedup, contexts, upgrade stories and model answers
follow small, documented heuristics.

Everything the participant typed is treated as plain text: tag-like sequences are
stripped before any of it is echoed, and no template here contains markup, so a reply
can never carry HTML that the participant did not see as text.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

STAGES = ("interview", "articulate", "revise", "dedup", "contexts", "hypothesis", "response")

MIN_POLICIES = 3
MAX_POLICIES = 7
MAX_POLICY_CHARS = 120
MAX_QUOTE_WORDS = 12

# Two cards are "the same value" when their policy vocabularies overlap this much
# (Jaccard over crude-stemmed content words) and their titles share a word ...
DEDUP_JACCARD = 0.5
# ... or, whatever the titles, when the policies overlap this much. Paraphrased cards
# from the same interview style sit around 0.55-0.8; cards about different things rarely
# pass 0.2, so the gap is wide enough for a crude judge.
DEDUP_JACCARD_STRONG = 0.7

DESCRIPTION_PREFIX = "ChatGPT should attend to"
SEE_MY_CARD = "See my card"


class OfflineError(ValueError):
    """The offline provider was asked for an unknown stage or given unparsable input."""


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
_SENTENCE_SPLIT_RE = re.compile(r"[.!?;\n]+")

_RULE_RE = re.compile(r"\b(?:always|never|should|shouldn't|must|mustn't|rules?)\b", re.I)
_GOAL_RE = re.compile(
    r"\b(?:so that|in order to|reduce[sd]?|reducing|maximi[sz]e[sd]?|maximi[sz]ing|"
    r"minimi[sz]e[sd]?|minimi[sz]ing|prevent|increase)\b",
    re.I,
)
_INJECTION_RE = re.compile(
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


def _plain(text: Any) -> str:
    """Return ``text`` as plain text: tag-like sequences removed, whitespace collapsed."""
    if not isinstance(text, str):
        return ""
    return re.sub(r"\s+", " ", _TAG_RE.sub(" ", text)).strip()


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


def _norm(word: str) -> str:
    return word.lower().replace("’", "'").strip("'-")


def _is_content(word: str) -> bool:
    w = _norm(word)
    return bool(w) and w not in _STOPWORDS and (len(w) > 2 or w.isdigit())


def _is_head(word: str) -> bool:
    """A word that can open an attentional policy: content, and not a lead-in verb."""
    return _is_content(word) and _norm(word) not in _LEAD_INS


def _stem(word: str) -> str:
    """Crude stemmer: enough to match "feelings"/"feeling"/"feel" and "pressured"/"pressure"."""
    w = _norm(word)
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def _stem_words(text: str) -> dict[str, str]:
    """Stems of the content words of ``text``, in order, each with the first word seen."""
    seen: dict[str, str] = {}
    for word in _words(text):
        if _is_head(word):
            seen.setdefault(_stem(word), _norm(word))
    return seen


def _stems(text: str) -> list[str]:
    """Ordered, de-duplicated stems of the content words of ``text``."""
    return list(_stem_words(text))


def _title_case(words: Sequence[str]) -> str:
    # Keep words that already carry capitals ("AI", "McDonald") as they are.
    return " ".join(
        "-".join(p[:1].upper() + p[1:] for p in w.split("-")) if w.islower() else w for w in words
    )


def _trim(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-")


def _soften(policy: str) -> str:
    """Lower-case a policy's CAPITALISED head word, to use the policy inside a sentence.

    The head is the first all-capitals word of three letters or more among the first
    four ("her own SENSE of ..." from a hand-written card), so "AI" or "US" survive.
    """
    words = policy.split(" ")
    for i, word in enumerate(words[:4]):
        letters = "".join(_words(word))
        if len(letters) >= 3 and letters.isupper():
            words[i] = word.lower()
            break
    return " ".join(words).strip()


def _first_words(text: str, n: int) -> str:
    parts = text.split()
    return " ".join(parts[:n])


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text and not text[:2].isupper() else text


# ---------------------------------------------------------------------------
# Phrases and policies
# ---------------------------------------------------------------------------


def _policy_from_fragment(fragment: str, *, min_content: int = 2) -> str | None:
    """Turn a fragment of speech into an attentional policy, or None if it is too thin.

    Words before the first head word ("I think the AI should look at ...") are dropped,
    the head word is CAPITALISED, the rest is kept verbatim: the policy stays in the
    participant's own words.
    """
    tokens = fragment.split()
    start = next(
        (i for i, token in enumerate(tokens) if (words := _words(token)) and _is_head(words[0])),
        None,
    )
    if start is None:
        return None
    rest = tokens[start:]
    content = [w for w in _words(" ".join(rest)) if _is_content(w)]
    if len(content) < min_content:
        return None
    head = _words(rest[0])[0]
    # Keep what is glued after the head word ("family's", "feelings,") as it was typed.
    tail = rest[0][rest[0].find(head) + len(head) :]
    policy = " ".join([head.upper() + tail, *rest[1:]])
    policy = policy.strip(" \"'“”‘’-")
    return _trim(policy, MAX_POLICY_CHARS) or None


def _fragments(text: str) -> list[str]:
    return [f.strip() for f in _FRAGMENT_SPLIT_RE.split(_plain(text)) if f and f.strip()]


def _sounds_like_rule_or_goal(text: str) -> bool:
    return bool(_RULE_RE.search(text) or _GOAL_RE.search(text))


def _dedupe_policies(policies: Sequence[str]) -> list[str]:
    """Drop exact repeats and policies whose words are all covered by an earlier one."""
    kept: list[str] = []
    kept_stems: list[set[str]] = []
    for policy in policies:
        stems = set(_stems(policy))
        if not stems or any(stems <= other for other in kept_stems):
            continue
        kept.append(policy)
        kept_stems.append(stems)
    return kept


def _main_noun_phrase(question: str) -> str | None:
    """The question's main noun phrase, e.g. "abortion" or "10-year-old son".

    A small heuristic instead of a parser: noun phrases are the runs of content words
    after a determiner; the one with the longest final word wins (heads like "abortion"
    and "homework" beat "girl" and "time"). Falls back to the longest content word.
    """
    text = _plain(question)
    determiners = {"a", "an", "the", "my", "his", "her", "their", "our", "your", "this"}
    tokens = _words(text)
    phrases: list[list[str]] = []
    i = 0
    while i < len(tokens):
        if _norm(tokens[i]) in determiners:
            run: list[str] = []
            j = i + 1
            while j < len(tokens) and len(run) < 3 and _is_content(tokens[j]):
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
    content = [w for w in tokens if _is_head(w)]
    if content:
        return max(content, key=len)
    return None


def _generic_policies(question: str) -> list[str]:
    """Attentional policies derived from the question, used to pad a thin card."""
    topic = (_main_noun_phrase(question) or "this choice").lower()
    return [
        f"MOMENTS when thinking about {topic} feels heavy and the person needs room to think",
        f"FEELINGS the person has about {topic} that they have not yet said out loud",
        f"PEOPLE in their life who could support them with {topic}",
        f"VALUES the person already holds that bear on {topic}",
        f"OPTIONS around {topic} that the person may not have considered yet",
    ]


def _fit_policies(policies: Sequence[str], question: str) -> list[str]:
    """Clamp a list of policies to the 3..7 the method asks for, padding from the question.

    Only exact repeats are dropped: a participant's own (possibly hand-edited) policies
    are otherwise kept word for word.
    """
    fitted: list[str] = []
    seen: set[str] = set()

    def keep(policy: str) -> None:
        text = _plain(policy)
        if text and text.lower() not in seen:
            seen.add(text.lower())
            fitted.append(text)

    for policy in policies:
        keep(policy)
    for generic in _generic_policies(question):
        if len(fitted) >= MIN_POLICIES:
            break
        keep(generic)
    return fitted[:MAX_POLICIES]


def _describe(policies: Sequence[str]) -> str:
    chosen = [_soften(p) for p in policies[:2]]
    return f"{DESCRIPTION_PREFIX} {' and '.join(chosen)}."


# ---------------------------------------------------------------------------
# Messages and JSON
# ---------------------------------------------------------------------------


def _content(message: Any) -> tuple[str, str]:
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


def _normalise_messages(messages: Any) -> list[tuple[str, str]]:
    if not isinstance(messages, list):
        raise OfflineError("messages must be a list of {'role', 'content'} dicts")
    return [_content(m) for m in messages]


def _json_input(stage: str, messages: list[tuple[str, str]]) -> dict[str, Any]:
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


def _require_str(data: dict[str, Any], key: str, stage: str, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise OfflineError(f"stage {stage!r}: {key!r} must be a string")
    return value


def _card(data: dict[str, Any], key: str, stage: str) -> dict[str, Any]:
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
        "title": _plain(title),
        "description": _plain(description),
        "policies": [_plain(p) for p in policies if _plain(p)],
    }


def _transcript(data: dict[str, Any], stage: str) -> list[tuple[str, str]]:
    transcript = data.get("transcript", [])
    if transcript is None:
        return []
    if not isinstance(transcript, list):
        raise OfflineError(f"stage {stage!r}: 'transcript' must be a list of messages")
    return _normalise_messages(transcript)


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False)


# ---------------------------------------------------------------------------
# Stage: interview
# ---------------------------------------------------------------------------

_QUESTION_LINE_RE = re.compile(r"^\s*Question:\s*(.+?)\s*$", re.M)

_STEP_QUESTIONS = (
    "How do you think the AI should respond to this message?",
    "Could you tell me about a time in your own life when you faced or saw a choice "
    "like this, and it went well?",
    "In that moment, what did you pay attention to: what felt meaningful, what did you "
    "notice, not the rules or goals, but the things you were actually looking at?",
    "What else do you pay attention to when you make a choice like this well?",
)

_STEP_RECAPS = (
    "We were just starting, with how you think the AI should respond.",
    "You had shared how you think the AI should respond, and I had asked for an example "
    "from your own life.",
    "You had just shared an example from your own life.",
    "We were exploring what you pay attention to when you make a choice like this.",
)


def _is_injection(text: str) -> bool:
    return bool(_INJECTION_RE.search(text))


def _quote(text: str) -> str:
    """A short phrase of the participant's, at most ``MAX_QUOTE_WORDS`` words."""
    fragments = [f.strip() for f in re.split(r"[.!?;:,\n]+", _plain(text)) if f.strip()]
    if not fragments:
        return ""
    chosen = next((f for f in fragments if len(f.split()) >= 3), fragments[0])
    words = chosen.replace('"', "'").split()[:MAX_QUOTE_WORDS]
    return " ".join(words).strip(" -'")


def _interview(messages: list[tuple[str, str]]) -> str:
    question = None
    for role, text in messages:
        if role == "system":
            match = _QUESTION_LINE_RE.search(text)
            if match:
                question = _plain(match.group(1))
                break

    user_turns = [_plain(text) for role, text in messages if role == "user"]
    last_is_user = bool(messages) and messages[-1][0] == "user"
    previous = user_turns[:-1] if last_is_user else user_turns
    # Off-task and empty turns don't move the interview on: the step is how many real
    # answers the participant has given.
    genuine = [t for t in previous if t and not _is_injection(t)]
    step = len(genuine)

    if not last_is_user:
        return _ask(step, genuine, question)

    last = user_turns[-1]
    if not last:
        return (
            "It looks like that message was empty. Could you say a little more? "
            f"{_STEP_QUESTIONS[min(step, 3)]}"
        )
    if _is_injection(last):
        return (
            "I'm here to help you think about the question, so I'll stay with that. "
            f"{_STEP_RECAPS[min(step, 3)]} {_STEP_QUESTIONS[min(step, 3)]}"
        )
    return _ask(step + 1, [*genuine, last], question)


def _ask(step: int, genuine: list[str], question: str | None) -> str:
    """The interviewer's turn after ``step`` genuine answers, the last in ``genuine``."""
    if step == 0:
        seed = (
            f'Imagine someone sent this message to an AI: "{question}"'
            if question
            else "Imagine someone sent an AI a message asking for help with a hard choice."
        )
        return (
            f"Hi, and thank you for taking part. {seed} You're answering as yourself here: "
            "tell me what a wise response would pay attention to. "
            f"{_STEP_QUESTIONS[0]}"
        )
    last = genuine[-1]
    if step == 1:
        quote = _quote(last)
        reflect = f'Thank you. You said "{quote}", which helps me see where you stand.'
        return f"{reflect} {_STEP_QUESTIONS[1]}"
    if step == 2:
        return f"Thank you for sharing that. {_STEP_QUESTIONS[2]}"
    if _sounds_like_rule_or_goal(last):
        kind = "a rule" if _RULE_RE.search(last) else "a goal"
        return (
            f'When you say "{_quote(last)}", that sounds a bit like {kind}, and rules and goals '
            "usually rest on something we care about. When you imagine that going well, what "
            "do you pay attention to that makes it feel right?"
        )
    return (
        f'Thank you, that\'s clear: you pay attention to things like "{_quote(last)}". '
        "I think I have enough to draft a values card: you can press "
        f'"{SEE_MY_CARD}" to see it, or keep talking if there is more to add.'
    )


# ---------------------------------------------------------------------------
# Stage: articulate
# ---------------------------------------------------------------------------


def _participant_texts(transcript: list[tuple[str, str]]) -> list[str]:
    return [
        _plain(text)
        for role, text in transcript
        if role == "user" and _plain(text) and not _is_injection(text)
    ]


def _title_from(texts: Sequence[str]) -> str:
    counts: Counter[str] = Counter()
    surface: dict[str, str] = {}
    for text in texts:
        for word in _words(text):
            if _is_head(word) and not word[:1].isdigit():
                stem = _stem(word)
                counts[stem] += 1
                surface.setdefault(stem, _norm(word))
    # Ties go to the latest answer (texts come latest first; most_common keeps order).
    top = [surface[stem] for stem, _ in counts.most_common(2)]
    if len(top) < 2:
        return "Attentive Care"
    return _title_case(top)


def _articulate(data: dict[str, Any]) -> str:
    question = _plain(_require_str(data, "question", "articulate", default=""))
    texts = _participant_texts(_transcript(data, "articulate"))
    candidates: list[tuple[bool, int, int, str]] = []
    for index, text in enumerate(texts):
        for position, fragment in enumerate(_fragments(text)):
            policy = _policy_from_fragment(fragment)
            if policy:
                # Attention beats rules and goals; later answers (to "what did you pay
                # attention to?") beat the opening opinion.
                candidates.append((_sounds_like_rule_or_goal(fragment), -index, position, policy))
    candidates.sort(key=lambda c: c[:3])
    # Leave room for the participant to add a policy or two while revising.
    own = _dedupe_policies([c[3] for c in candidates])[: MAX_POLICIES - 2]
    policies = _fit_policies(own, question)
    return _dump(
        {
            "title": _title_from(list(reversed(texts))),
            "description": _describe(policies),
            "policies": policies,
        }
    )


# ---------------------------------------------------------------------------
# Stage: revise
# ---------------------------------------------------------------------------

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


def _revise(data: dict[str, Any]) -> str:
    question = _plain(_require_str(data, "question", "revise", default=""))
    card = _card(data, "card", "revise")
    request = _plain(_require_str(data, "request", "revise"))
    title = card["title"] or "Attentive Care"
    policies = _fit_policies(card["policies"], question)
    before = list(policies)

    if rename := _RENAME_RE.search(request):
        words = _words(rename.group(1))[:5]
        if len(words) == 1:
            words = ["attentive", *words]  # the method wants a 2-5 word title
        if words:
            title = _title_case(words)
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
        wanted = set(_stems(remove_words.group(1)))
        overlaps = [len(wanted & set(_stems(p))) for p in policies]
        best = max(range(len(policies)), key=lambda i: overlaps[i])
        if overlaps[best] > 0 and len(policies) > MIN_POLICIES:
            del policies[best]
    else:
        quoted = _QUOTED_RE.search(request)
        added = _ADD_RE.search(request)
        explicit = quoted.group(1) if quoted else added.group(1) if added else None
        phrase = explicit if explicit is not None else request
        policy = _policy_from_fragment(_plain(phrase), min_content=1)
        if policy and not any(p.lower() == policy.lower() for p in policies):
            if len(policies) < MAX_POLICIES:
                policies.append(policy)
            elif explicit is not None:
                # An explicit "add" on a full card replaces the last policy rather than
                # being silently ignored; the card never exceeds seven.
                policies[-1] = policy

    description = card["description"]
    if not description or (policies != before and description.startswith(DESCRIPTION_PREFIX)):
        description = _describe(policies)
    return _dump({"title": title, "description": description, "policies": policies})


# ---------------------------------------------------------------------------
# Stage: dedup
# ---------------------------------------------------------------------------


def _jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    sa, sb = set(a), set(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else 0.0


def _dedup(data: dict[str, Any]) -> str:
    a, b = _card(data, "a", "dedup"), _card(data, "b", "dedup")
    words_a = _stem_words(" ".join(a["policies"]))
    words_b = _stem_words(" ".join(b["policies"]))
    stems_a, stems_b = list(words_a), list(words_b)
    score = _jaccard(stems_a, stems_b)
    title_b = set(_stems(b["title"]))
    shared_title = [s for s in _stems(a["title"]) if s in title_b]
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
    return _dump({"same": same, "reason": reason})


# ---------------------------------------------------------------------------
# Stage: contexts
# ---------------------------------------------------------------------------

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
        if any(_is_content(w) for w in _words(phrase)):
            return f"When the user is considering {phrase}"
    topic = _main_noun_phrase(question)
    return f"When the conversation is about {topic}" if topic else None


def _contexts(data: dict[str, Any]) -> str:
    question = _plain(_require_str(data, "question", "contexts"))
    said = " ".join(_participant_texts(_transcript(data, "contexts")))
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
    return _dump({"contexts": chosen[:4]})


# ---------------------------------------------------------------------------
# Stage: hypothesis
# ---------------------------------------------------------------------------


def _overlap(a: str, b: str) -> int:
    return len(set(_stems(a)) & set(_stems(b)))


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
    return _lower_first(situation) or "it really mattered"


def _short(policy: str, n: int = 10) -> str:
    return _first_words(_soften(policy), n).rstrip(" ,;:-")


def _hypothesis(data: dict[str, Any]) -> str:
    context = _plain(_require_str(data, "context", "hypothesis"))
    a, b = _card(data, "from", "hypothesis"), _card(data, "to", "hypothesis")
    a_policies = _fit_policies(a["policies"], context)
    b_policies = _fit_policies(b["policies"], context)
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
    story = (
        f'I used to live by "{a_title}": what I watched for most was {_short(a_policies[0])}. '
        f"Then came a time when {situation}, and I saw that this alone was not enough. "
        f'"{b_title}" keeps what I cared about, because it still attends to {_short(kept)}, '
        f"but it also adds {_short(added)}. "
        f'Now, in moments like that, I see "{b_title}" as the wiser way, and I would not go back.'
    )
    return _dump({"story": story, "mapping": mapping})


# ---------------------------------------------------------------------------
# Stage: response
# ---------------------------------------------------------------------------


def _response(data: dict[str, Any]) -> str:
    question = _plain(_require_str(data, "question", "response"))
    context = _plain(_require_str(data, "context", "response", default=""))
    value = _card(data, "value", "response")
    policies = _fit_policies(value["policies"], question)
    factual = "factual" in context.lower() or bool(
        re.match(r"^\s*(?:what|who|when|how many|how much|which)\b", question, re.I)
        and not re.search(r"\bshould\b", question, re.I)
    )
    opening = (
        "That's an important question, and I want to answer it carefully."
        if factual
        else "Thank you for bringing this to me; it deserves a careful answer."
    )
    lines = [
        opening,
        f"Before anything else, I'd look at {_short(policies[0], 16)}.",
        f"It also matters to notice {_short(policies[1], 16)}.",
        f"And I'd keep in mind {_short(policies[2], 16)}.",
    ]
    if factual:
        lines.append(
            "I'll stick to what is well established and say plainly where sources disagree."
        )
    else:
        lines.append(
            "There isn't one answer I can hand you, but we can work through it together, "
            "at your pace."
        )
    lines.append(
        "Would you like me to go through what is known in more detail?"
        if factual
        else "Which of these feels most important to you right now?"
    )
    return _dump({"response": " ".join(lines)})


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

_STRUCTURED: dict[str, Callable[[dict[str, Any]], str]] = {
    "articulate": _articulate,
    "revise": _revise,
    "dedup": _dedup,
    "contexts": _contexts,
    "hypothesis": _hypothesis,
    "response": _response,
}


def respond(stage: str, messages: list[dict]) -> str:
    """Return the full assistant reply for ``stage`` given the chat ``messages``.

    ``stage`` is one of ``STAGES`` (an ``offline/`` prefix, as in the model name, is
    accepted). ``interview`` replies in plain text; every other stage reads the last user
    message as a JSON object and replies with a JSON object. Same input, same output.
    """
    if not isinstance(stage, str):
        raise OfflineError(f"stage must be a string, got {type(stage).__name__}")
    name = stage.removeprefix("offline/")
    if name not in STAGES:
        raise OfflineError(f"unknown offline stage {stage!r}; expected one of {', '.join(STAGES)}")
    normalised = _normalise_messages(messages)
    if name == "interview":
        return _interview(normalised)
    return _STRUCTURED[name](_json_input(name, normalised))


_TOKEN_RE = re.compile(r"\S+\s*|\s+")


def tokens(text: str) -> list[str]:
    """Split a reply into streaming chunks: each word with the whitespace after it.

    Leading whitespace, if any, is a chunk of its own, so ``"".join(tokens(t)) == t``.
    """
    return _TOKEN_RE.findall(text)
