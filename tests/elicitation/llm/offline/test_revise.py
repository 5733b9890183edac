"""Offline stage revise: renames, removals and additions asked for in words."""

from __future__ import annotations

import json

from elicitation.llm.offline import respond
from tests.elicitation.llm.offline.samples import (
    CARD_A,
    QUESTION,
    TRANSCRIPT,
    structured,
    user_message,
)


def _revise(request: str, card: dict = CARD_A) -> dict:
    return structured("revise", {"question": QUESTION, "card": card, "request": request})


def test_revise_adds_a_quoted_policy():
    card = _revise('Please add "whether she has support from her friends"')
    assert card["policies"][:3] == CARD_A["policies"]
    assert card["policies"][3] == "SUPPORT from her friends"


def test_revise_adds_after_the_word_add():
    card = _revise("add the role of her faith community")
    assert card["policies"][-1] == "ROLE of her faith community"


def test_revise_appends_any_other_request_as_a_policy():
    card = _revise("Her sense of what she wants for her own life")
    assert card["policies"][-1] == "SENSE of what she wants for her own life"


def test_revise_never_grows_past_seven():
    full = dict(CARD_A, policies=[f"THING number {i} matters here" for i in range(1, 8)])
    assert len(_revise("her hopes for the future", full)["policies"]) == 7
    added = _revise('add "her hopes for the future"', full)["policies"]
    assert len(added) == 7 and added[-1] == "HOPES for the future"


def test_revise_keeps_hand_edited_policies_verbatim_and_pads_thin_cards():
    long = "WORDS" + " that go on and on" * 8
    edited = dict(CARD_A, policies=["FEAR", "FEAR of loss", long])
    assert _revise("rename to Her Fear", edited)["policies"] == ["FEAR", "FEAR of loss", long]
    thin = _revise("rename to Her Fear", dict(CARD_A, policies=["FEAR of loss"]))["policies"]
    assert thin[0] == "FEAR of loss" and len(thin) == 3
    assert all("abortion" in p for p in thin[1:])


def test_revise_removes_by_number_only_above_three():
    four = dict(CARD_A, policies=[*CARD_A["policies"], "HOPES for the future"])
    assert _revise("remove 2", four)["policies"] == [four["policies"][i] for i in (0, 2, 3)]
    assert _revise("drop the first one", four)["policies"] == four["policies"][1:]
    assert _revise("remove the last", four)["policies"] == four["policies"][:3]
    assert _revise("remove 2")["policies"] == CARD_A["policies"]  # would leave two
    assert _revise("remove 9", four)["policies"] == four["policies"]


def test_revise_removes_by_words():
    four = dict(CARD_A, policies=[*CARD_A["policies"], "HOPES for the future"])
    assert _revise("please remove the bit about hopes", four)["policies"] == CARD_A["policies"]


def test_revise_renames():
    assert _revise("rename to gentle presence")["title"] == "Gentle Presence"
    assert _revise('call it "Quiet Support"')["title"] == "Quiet Support"
    assert _revise("title: Her Own Path")["title"] == "Her Own Path"
    assert _revise("rename it to Honesty")["title"] == "Attentive Honesty"
    assert _revise("rename to gentle presence")["policies"] == CARD_A["policies"]


def test_revise_refreshes_a_generated_description_only():
    generated = json.loads(
        respond("articulate", [user_message({"question": QUESTION, "transcript": TRANSCRIPT})])
    )
    revised = _revise("remove the first", generated)
    assert revised["description"] != generated["description"]
    assert revised["description"].startswith("ChatGPT should attend to")
    assert (
        _revise("remove the first", dict(CARD_A, policies=generated["policies"]))["description"]
        == CARD_A["description"]
    )
