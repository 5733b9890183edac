"""The offline persona: deterministic, shaped by its style, for every task (no DB)."""

from __future__ import annotations

import json

import pytest

from elicitation.llm.offline import OfflineError, respond
from elicitation.llm.offline.simulate import STYLES
from tests.elicitation.llm.offline.samples import QUESTION, user_message

PERSONA = {
    "name": "Retired nurse",
    "background": "a retired nurse",
    "story": "My neighbour had to decide about her mother's care.",
    "attends": ["how frightened she is", "who she trusts", "what she can afford"],
}


def _say(style: str, task: str = "interview", turns: int = 0, **extra) -> str:
    payload = {
        "task": task,
        "question": QUESTION,
        "persona": {**PERSONA, "style": style},
        "transcript": [{"role": "participant", "content": "..."}] * turns,
        **extra,
    }
    return json.loads(respond("simulate", [user_message(payload)]))["reply"]


def test_the_same_persona_and_turn_say_the_same_thing():
    assert _say("verbose", turns=2) == _say("verbose", turns=2)


def test_styles_shape_what_is_typed():
    replies = {style: _say(style) for style in STYLES}
    assert len(set(replies.values())) == len(STYLES)
    assert len(replies["terse"].split()) < 8
    assert len(replies["verbose"].split()) > 40
    assert "always" in replies["rules"]
    assert any(word in replies["off_topic"] for word in ("rain", "football"))
    assert "?" in replies["pushback"] or "fair" in replies["pushback"]


def test_each_turn_moves_the_story_on():
    turns = [_say("storyteller", turns=n) for n in range(4)]
    assert len(set(turns)) == 4
    assert PERSONA["story"] in turns[1]


def test_it_asks_for_card_changes_and_gives_reasons():
    card = {"title": "Care", "description": "d", "policies": ["a", "b", "c"]}
    assert _say("pushback", "revise", card=card).startswith("rename it to")
    assert "add" in _say("verbose", "revise", card=card)
    assert _say("terse", "reason", verdict="upgrade")


def test_an_unknown_task_is_refused():
    with pytest.raises(OfflineError, match="unknown task"):
        _say("terse", "dance")
