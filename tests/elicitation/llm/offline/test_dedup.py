"""Offline stage dedup: the same value or not, by policy overlap."""

from __future__ import annotations

from tests.elicitation.llm.offline.samples import CARD_A, CARD_A_PARAPHRASE, CARD_B, structured


def test_dedup_same_for_paraphrases():
    verdict = structured("dedup", {"a": CARD_A, "b": CARD_A_PARAPHRASE})
    assert verdict["same"] is True
    assert "feelings" in verdict["reason"]


def test_dedup_same_for_identical_cards():
    assert structured("dedup", {"a": CARD_B, "b": CARD_B})["same"] is True


def test_dedup_different_for_unrelated_cards():
    verdict = structured("dedup", {"a": CARD_A, "b": CARD_B})
    assert verdict["same"] is False
    assert "different" in verdict["reason"]


def test_dedup_needs_a_shared_title_word_when_overlap_is_moderate():
    # Same policies with two changed words: overlap between 0.5 and 0.7.
    b = dict(
        CARD_A,
        title="Gentle Listening",
        policies=[
            "FEELINGS of shame that might cloud her judgement",
            "OPTIONS she may not know about, laid out kindly",
            "STORIES from people who have faced the same choice",
        ],
    )
    assert structured("dedup", {"a": CARD_A, "b": b})["same"] is False
    assert structured("dedup", {"a": CARD_A, "b": dict(b, title="Informed Listening")})["same"]


def test_dedup_batch_names_each_cards_same_candidates():
    payload = {
        "cards": [
            {"id": "c1", **CARD_A, "candidates": ["v1", "v2"]},
            {"id": "c2", **CARD_B, "candidates": ["v1"]},
        ],
        "values": [{"id": "v1", **CARD_A_PARAPHRASE}, {"id": "v2", **CARD_B}],
    }
    first, second = structured("dedup", payload)["decisions"]
    assert first["card"] == "c1" and first["same_as"] == ["v1"]
    assert "feelings" in first["reason"]
    # c2 may only be compared with v1, its one candidate, though v2 is its twin.
    assert second == {
        "card": "c2",
        "same_as": [],
        "reason": "None of the candidates attends to the same things as this card.",
    }
    # The same input gives the same answer.
    assert structured("dedup", payload)["decisions"] == [first, second]
