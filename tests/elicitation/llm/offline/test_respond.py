"""The offline brain's entry points: every stage, tokens, bad input (no DB)."""

from __future__ import annotations

import json
import re

import pytest

from elicitation.llm.offline import OfflineError, respond, tokens
from elicitation.llm.stages import STAGES
from tests.elicitation.llm.offline.samples import (
    ANSWER_HOW,
    CARD_A,
    CARD_B,
    QUESTION,
    SYSTEM,
    TRANSCRIPT,
    interview_after,
    user_message,
)


def test_it_is_deterministic_for_every_stage():
    payloads = {
        "articulate": {"question": QUESTION, "transcript": TRANSCRIPT},
        "revise": {"question": QUESTION, "card": CARD_A, "request": "add her faith"},
        "dedup": {"a": CARD_A, "b": CARD_B},
        "contexts": {"question": QUESTION, "transcript": TRANSCRIPT},
        "hypothesis": {"context": "When the user is in distress", "from": CARD_A, "to": CARD_B},
        "response": {"question": QUESTION, "context": "When x", "value": CARD_A},
        "screen": {"question": QUESTION, "card": CARD_A, "said": "She is scared."},
        "suggest": {"title": "Views on end-of-life care", "description": "", "existing": []},
        "simulate": {
            "task": "interview",
            "question": QUESTION,
            "persona": {"name": "A", "style": "verbose", "attends": ["her fear"]},
        },
    }
    assert set(payloads) | {"interview"} == {stage.name for stage in STAGES if stage.offline}
    assert interview_after(ANSWER_HOW) == interview_after(ANSWER_HOW)
    for stage, payload in payloads.items():
        first = respond(stage, [user_message(payload)])
        assert first == respond(stage, [user_message(payload)])
        json.loads(first)


def test_tokens_round_trip():
    for text in ["", "one", "  leading and trailing  ", "a\nb\t c", interview_after(ANSWER_HOW)]:
        assert "".join(tokens(text)) == text
    assert tokens("Hi there, you.") == ["Hi ", "there, ", "you."]


def test_it_rejects_unknown_stage():
    with pytest.raises(OfflineError, match="unknown offline stage"):
        respond("poetry", [SYSTEM])


def test_it_accepts_the_model_name_prefix():
    assert respond("offline/interview", [SYSTEM]) == respond("interview", [SYSTEM])


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "", "null"])
def test_it_rejects_malformed_json(content):
    with pytest.raises(OfflineError):
        respond("articulate", [{"role": "user", "content": content}])


def test_it_rejects_missing_input_and_bad_messages():
    with pytest.raises(OfflineError, match="needs a user message"):
        respond("dedup", [SYSTEM])
    with pytest.raises(OfflineError, match="card object"):
        respond("dedup", [user_message({"a": CARD_A})])
    with pytest.raises(OfflineError):
        respond("interview", "not a list")  # type: ignore[arg-type]
    with pytest.raises(OfflineError):
        respond("interview", [{"content": "no role"}])
    assert issubclass(OfflineError, ValueError)


def test_structured_stages_create_no_tags():
    card = dict(
        CARD_A,
        title="<b>Bold</b> Autonomy",
        policies=["<img src=x>FEAR of loss", *CARD_B["policies"]],
    )
    for stage, payload in {
        "revise": {"question": "<p>Q</p>", "card": card, "request": "<script>add x</script>"},
        "dedup": {"a": card, "b": card},
        "hypothesis": {"context": "When <em>x</em>", "from": card, "to": CARD_A},
        "response": {"question": "<h1>Q</h1>", "context": "When x", "value": card},
    }.items():
        reply = respond(stage, [user_message(payload)])
        assert not re.search(r"<\s*[/!A-Za-z]", reply), (stage, reply)
