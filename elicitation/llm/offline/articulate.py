"""Stage articulate: a values card drafted from the participant's own words."""

from __future__ import annotations

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
    title_case,
)


def _title_from(texts: Sequence[str]) -> str:
    counts: Counter[str] = Counter()
    surface: dict[str, str] = {}
    for text in texts:
        for word in split_words(text):
            if is_head(word) and not word[:1].isdigit():
                key = stem(word)
                counts[key] += 1
                surface.setdefault(key, norm(word))
    # Ties go to the latest answer (texts come latest first; most_common keeps order).
    top = [surface[key] for key, _ in counts.most_common(2)]
    if len(top) < 2:
        return "Attentive Care"
    return title_case(top)


def reply(messages: list[tuple[str, str]]) -> str:
    """A card from the transcript's genuine answers, padded from the question if thin."""
    data = json_input("articulate", messages)
    question = plain(require_str(data, "question", "articulate", default=""))
    texts = participant_texts(transcript_in(data, "articulate"))
    candidates: list[tuple[bool, int, int, str]] = []
    for index, text in enumerate(texts):
        for position, fragment in enumerate(fragments(text)):
            policy = policy_from_fragment(fragment)
            if policy:
                # Attention beats rules and goals; later answers (to "what did you pay
                # attention to?") beat the opening opinion.
                candidates.append((sounds_like_rule_or_goal(fragment), -index, position, policy))
    candidates.sort(key=lambda c: c[:3])
    # Leave room for the participant to add a policy or two while revising.
    own = dedupe_policies([c[3] for c in candidates])[: MAX_POLICIES - 2]
    policies = fit_policies(own, question)
    return dump(
        {
            "title": _title_from(list(reversed(texts))),
            "description": describe_card(policies),
            "policies": policies,
        }
    )
