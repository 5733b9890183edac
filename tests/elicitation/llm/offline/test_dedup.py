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
