"""Offline stage hypothesis: an upgrade story and its policy mapping."""

from __future__ import annotations

import re

from tests.elicitation.llm.offline.samples import CARD_A, CARD_A_PARAPHRASE, CARD_B, structured


def test_hypothesis_tells_a_story_between_the_two_values():
    payload = {
        "context": "When the user is facing a hard personal decision",
        "from": CARD_B,
        "to": CARD_A,
    }
    result = structured("hypothesis", payload)
    story = result["story"]
    assert "Playful Learning" in story and "Informed Autonomy" in story
    assert story.startswith("I used to live by")
    assert "a friend was facing a hard personal decision" in story
    assert 60 <= len(story.split()) <= 110
    assert 3 <= len(re.findall(r"[.!?](?:\s|$)", story)) <= 5
    assert [pair["from"] for pair in result["mapping"]] == CARD_B["policies"]
    assert all(pair["to"] in CARD_A["policies"] for pair in result["mapping"])


def test_hypothesis_maps_policies_by_shared_words():
    result = structured(
        "hypothesis", {"context": "When x", "from": CARD_A_PARAPHRASE, "to": CARD_A}
    )
    assert [pair["to"] for pair in result["mapping"]] == CARD_A["policies"]


def test_hypothesis_batch_writes_one_story_per_pair_by_id():
    context = "When the user is in distress"
    one = structured("hypothesis", {"context": context, "from": CARD_A, "to": CARD_B})
    batch = structured(
        "hypothesis",
        {
            "context": context,
            "pairs": [
                {"id": "p1", "from": CARD_A, "to": CARD_B},
                {"id": "p2", "from": CARD_B, "to": CARD_A_PARAPHRASE},
            ],
        },
    )
    first, second = batch["stories"]
    # Each story is the one its pair alone would get.
    assert first == {"id": "p1", **one}
    assert second["id"] == "p2" and second["story"] != first["story"]
