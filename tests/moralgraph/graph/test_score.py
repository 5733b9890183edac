"""``score``, the face of moralgraph.graph: both modes, any order, plain JSON."""

import json
import random

from moralgraph.graph import DEFAULT_PARAMS, score
from tests.moralgraph.graph.samples import COMPAT_ROWS, bridging_judgments, make_judgments


def test_default_gives_the_same_result_in_any_order():
    judgments = make_judgments(COMPAT_ROWS) + bridging_judgments()
    shuffled = judgments[:]
    random.Random(7).shuffle(shuffled)

    assert json.dumps(score(judgments)) == json.dumps(score(iter(shuffled)))


def test_compat_gives_the_same_figures_in_any_order_listed_as_first_met():
    judgments = make_judgments(COMPAT_ROWS) + bridging_judgments()
    shuffled = judgments[:]
    random.Random(7).shuffle(shuffled)
    ordered, reordered = score(judgments, "compat"), score(shuffled, "compat")

    def figures(result):
        return sorted(
            (e["sourceValueId"], e["wiserValueId"], sorted(e["contexts"]), e["counts"])
            for e in result["all_pairs"]
        )

    assert figures(ordered) == figures(reordered)
    assert ordered["values"] == reordered["values"]
    # The order, and so the input hash, follows the judgments' order.
    assert ordered["all_pairs"] != reordered["all_pairs"]
    assert ordered["input_hash"] != reordered["input_hash"]


def test_results_are_json():
    judgments = make_judgments(COMPAT_ROWS) + bridging_judgments()

    for mode in ("compat", "default"):
        result = score(judgments, mode)
        assert result["mode"] == mode
        assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert score(judgments)["params"] == DEFAULT_PARAMS
