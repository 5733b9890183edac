"""Judgments, parameters and the input hash (moralgraph.graph.types)."""

import pytest

from moralgraph.graph import COMPAT_PARAMS, Judgment, input_hash, score
from tests.moralgraph.graph.samples import COMPAT_ROWS, make_judgments


def test_input_hash_is_stable_and_sensitive():
    judgments = make_judgments(COMPAT_ROWS)
    shuffled = judgments[::-1]
    flipped = [*judgments[:-1], Judgment("e", "a", "c2", "upgrade")]

    base = input_hash(judgments, COMPAT_PARAMS, "compat")
    assert len(base) == 64
    # Compat's output follows the judgments' order, so its hash does; default's does not.
    assert input_hash(shuffled, COMPAT_PARAMS, "compat") != base
    assert input_hash(shuffled, {}, "default") == input_hash(judgments, {}, "default")
    assert input_hash(judgments, {}, "compat") == base
    assert input_hash(flipped, COMPAT_PARAMS, "compat") != base
    assert input_hash(judgments, {"rounds": 99}, "compat") != base
    assert input_hash(judgments, {}, "default") != input_hash(judgments, {}, "compat")
    # A duplicated judgment is a second vote, so it changes the hash.
    assert input_hash([*judgments, judgments[0]], {}, "compat") != base
    assert score(judgments, "compat")["input_hash"] == base


def test_it_rejects_unknown_modes_params_and_verdicts():
    with pytest.raises(ValueError):
        score([], "pooled")
    with pytest.raises(ValueError):
        score([], "default", {"min_vote": 3})
    with pytest.raises(ValueError):
        Judgment("a", "b", "c", "wiser")


def test_judgment_ids_become_strings():
    judgment = Judgment(1, 2, 3, "upgrade", group=None, participant_id=42)

    assert (judgment.from_id, judgment.to_id, judgment.context_id) == ("1", "2", "3")
    assert judgment.participant_id == "42"
