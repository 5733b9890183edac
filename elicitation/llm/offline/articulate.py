"""Stage articulate: a values card drafted from the participant's own words.

Every genuine answer has its say: the card takes the best phrase of each answer first
(the latest answers, to "what did you pay attention to?", before the opening opinion),
then more from the latest ones, attention before rules and goals. The title names the
card's two leading things attended to, so that people who attend to different things
get different titles even when they share the words of the question.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from elicitation.cards import MAX_POLICIES
from elicitation.llm.offline.messages import (
    dump,
    json_input,
    participant_texts,
    require_str,
    transcript_in,
)
from elicitation.llm.offline.text import (
    dedupe_policies,
    describe_card,
    fit_policies,
    fragments,
    is_head,
    norm,
    plain,
    policy_from_fragment,
    sounds_like_rule_or_goal,
    split_words,
    stem,
    stems,
    title_case,
)

# Leave room for the participant to add a policy or two while revising.
OWN_POLICIES = MAX_POLICIES - 2

# Heads too general to name a value by ("Things and Time"): left out of titles.
_VAGUE = frozenset(
    stem(word)
    for word in """
    time times people person someone everything anything nothing situation situations
    moment moments choice choices decision decisions way life lot part kind
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def _candidates(text: str) -> list[tuple[bool, int, str]]:
    """The policies one answer offers: attention before rules and goals, in its order."""
    found = []
    for position, fragment in enumerate(fragments(text)):
        policy = policy_from_fragment(fragment) or _attended(fragment)
        if policy:
            found.append((sounds_like_rule_or_goal(fragment), position, policy))
    return sorted(found)


def _attended(fragment: str) -> str | None:
    """A single thing named after "attention to", "notice", "look at" ("I also paid
    attention to her faith"): too short for a phrase, still what they attend to."""
    lowered = fragment.lower()
    for cue in ("attention to ", "notice ", "noticed ", "look at ", "looked at ", "focus on "):
        if cue in lowered:
            return policy_from_fragment(fragment[lowered.rindex(cue) + len(cue) :], min_content=1)
    return None


def _policies(texts: Sequence[str]) -> list[str]:
    """Up to OWN_POLICIES phrases: two from the latest answer, the best of each earlier
    answer (latest first, even a rule: it is what they said), then the rest in the same
    order, attention before rules and goals."""
    per_answer = [_candidates(text) for text in reversed(texts)]
    firsts = [cs[:2] if i == 0 else cs[:1] for i, cs in enumerate(per_answer)]
    rests = [c for i, cs in enumerate(per_answer) for c in (cs[2:] if i == 0 else cs[1:])]
    ranked = [c for cs in firsts for c in cs] + sorted(rests, key=lambda c: c[0])
    return dedupe_policies([c[2] for c in ranked])[:OWN_POLICIES]


def _title(policies: Sequence[str], texts: Sequence[str], question: str) -> str:
    """The heads of the card's first two policies that are theirs (not the question's
    words, not vague), as "X and Y"; else the two words they used most."""
    shared = set(stems(question)) | _VAGUE
    heads: list[str] = []
    for policy in policies:
        word = next((w for w in split_words(policy) if is_head(w)), "")
        word = re.sub(r"['’][sS]$", "", word)  # "DOCTOR'S" names the doctor
        if word and stem(word) not in shared and stem(word) not in {stem(h) for h in heads}:
            heads.append(norm(word))
        if len(heads) == 2:
            return f"{title_case(heads[:1])} and {title_case(heads[1:])}"
    counts: Counter[str] = Counter()
    surface: dict[str, str] = {}
    for text in reversed(texts):  # ties go to the latest answer
        for word in split_words(text):
            if is_head(word) and not word[:1].isdigit() and stem(word) not in shared:
                counts[stem(word)] += 1
                surface.setdefault(stem(word), norm(word))
    words = [*heads, *(surface[key] for key, _ in counts.most_common(3))]
    words = list(dict.fromkeys(words))[:2]
    return title_case(words) if len(words) == 2 else "Attentive Care"


def reply(messages: list[tuple[str, str]]) -> str:
    """A card from the transcript's genuine answers, padded from the question if thin."""
    data = json_input("articulate", messages)
    question = plain(require_str(data, "question", "articulate", default=""))
    texts = participant_texts(transcript_in(data, "articulate"))
    own = _policies(texts)
    policies = fit_policies(own, question)
    return dump(
        {
            "title": _title(own, texts, question),
            "description": describe_card(policies),
            "policies": policies,
        }
    )
