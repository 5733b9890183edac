"""Offline stage response: an answer guided by one value."""

from __future__ import annotations

import re

from tests.elicitation.llm.offline.samples import CARD_A, QUESTION, structured


def test_response_is_guided_by_the_value():
    payload = {"question": QUESTION, "context": "When the user is in distress", "value": CARD_A}
    response = structured("response", payload)["response"]
    assert "feelings of being pressured" in response
    assert "options she may not know about" in response
    assert 4 <= len(re.findall(r"[.!?](?:\s|$)", response)) <= 7
    assert "<" not in response


def test_response_to_a_factual_question_sticks_to_facts():
    payload = {
        "question": "What weapons were used on January 6th?",
        "context": "When seeking factual information about a contested event",
        "value": CARD_A,
    }
    assert "well established" in structured("response", payload)["response"]
