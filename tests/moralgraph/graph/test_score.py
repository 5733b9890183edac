"""``score``, the face of moralgraph.graph: both modes, any order, plain JSON."""

import json
import random

from moralgraph.graph import DEFAULT_PARAMS, score
from tests.moralgraph.graph.samples import COMPAT_ROWS, bridging_judgments, make_judgments


def test_it_gives_the_same_result_in_any_order():
    judgments = make_judgments(COMPAT_ROWS) + bridging_judgments()
    shuffled = judgments[:]
    random.Random(7).shuffle(shuffled)

    for mode in ("compat", "default"):
        assert json.dumps(score(judgments, mode)) == json.dumps(score(iter(shuffled), mode))


def test_results_are_json():
    judgments = make_judgments(COMPAT_ROWS) + bridging_judgments()

    for mode in ("compat", "default"):
        result = score(judgments, mode)
        assert result["mode"] == mode
        assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert score(judgments)["params"] == DEFAULT_PARAMS
