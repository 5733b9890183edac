"""The typed view of a scored graph (moralgraph.graph.payload), read from what ``score``
writes in each mode."""

import pytest

from moralgraph.graph import score
from moralgraph.graph.payload import POOLED, ScoredGraph
from tests.moralgraph.graph.samples import COMPAT_ROWS, bridging_judgments, make_judgments


def test_the_default_mode_reads_per_context():
    result = score(bridging_judgments(), "default")
    graph = ScoredGraph.from_json(result)

    assert (graph.mode, graph.input_hash, graph.pooled) == ("default", result["input_hash"], False)
    assert [c.context_id for c in graph.contexts] == ["shared", "split"]
    split = graph.context("split")
    [edge] = split.kept_edges
    assert (edge.from_id, edge.to_id, edge.decisive) == ("x", "y", 6)
    assert edge.share == pytest.approx(4 / 6) and edge.interval[0] < edge.share
    assert [g.group for g in edge.groups] == ["L", "R"] and edge.carried_by == ("L",)
    winner = graph.winner_in("split")
    assert (winner.value_id, winner.wins, winner.decisive) == ("y", 4, 6)
    assert winner.carried_by_one_group and winner.confidence == winner.interval[0]
    assert [r.value_id for r in split.ranks] == ["y", "x"] and split.rank_of("x") == 2
    assert graph.context("nowhere") is None and graph.winner_in("nowhere") is None


def test_a_position_gathers_every_context_that_ranks_the_value():
    graph = ScoredGraph.from_json(score(bridging_judgments(), "default"))

    x, y = graph.position_of("x"), graph.position_of("y")
    assert x.wiser == ["y"] and x.less_wise == [] and x.contexts_won == []
    assert y.less_wise == ["x"] and y.contexts_won == ["shared", "split"]
    assert [(s.context_id, s.rank, s.ranked) for s in x.standings] == [
        ("shared", 2, 2),
        ("split", 2, 2),
    ]
    assert not graph.position_of("nobody").placed


def test_the_compat_mode_reads_as_one_pooled_context():
    result = score(make_judgments(COMPAT_ROWS), "compat")
    graph = ScoredGraph.from_json(result)

    assert graph.pooled and [c.context_id for c in graph.contexts] == [POOLED]
    pooled = graph.context("any context at all")
    assert len(pooled.edges) == len(result["all_pairs"])
    assert [(e.from_id, e.to_id) for e in pooled.kept_edges] == [("a", "b"), ("a", "c"), ("b", "c")]
    ab = pooled.kept_edges[0]
    assert (ab.share, ab.decisive, ab.contexts) == (1.0, 2, ("c1", "c2"))
    assert ab.counts["markedWiser"] == 2 and ab.entropy == pytest.approx(1.0)
    assert [r.value_id for r in pooled.ranks] == ["c", "b", "a"]  # by the reference's pageRank
    assert pooled.winner.value_id == "c"
    assert pooled.winner.margin == pytest.approx(pooled.ranks[0].score - pooled.ranks[1].score)


def test_an_empty_or_partial_payload_still_reads():
    assert ScoredGraph.from_json(None).contexts == ()
    assert ScoredGraph.from_json({}).position_of("a").standings == ()
    older = ScoredGraph.from_json(
        {"mode": "compat", "edges": [{"sourceValueId": 1, "wiserValueId": 2}], "values": []}
    )
    [edge] = older.contexts[0].kept_edges  # no all_pairs: the kept edges stand in
    assert (edge.from_id, edge.to_id, edge.decisive) == ("1", "2", 0)
