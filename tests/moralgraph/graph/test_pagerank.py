"""The two PageRanks (moralgraph.graph.pagerank)."""

import pytest

from moralgraph.graph import weighted_pagerank


def test_weighted_pagerank_spreads_dangling_rank():
    # x -> y, y dangling. Fixed point with d = 0.85 and N = 2:
    # x = 0.15/2 + 0.85 * y/2, y = 0.15/2 + 0.85 * x + 0.85 * y/2, x + y = 1,
    # so 1.425 x = 0.5: x = 20/57, y = 37/57.
    ranks = weighted_pagerank([("x", "y", 0.4)])
    assert ranks["x"] == pytest.approx(20 / 57, abs=1e-10)
    assert ranks["y"] == pytest.approx(37 / 57, abs=1e-10)


def test_weighted_pagerank_agrees_with_networkx():
    nx = pytest.importorskip("networkx")
    reference = getattr(nx.algorithms.link_analysis.pagerank_alg, "_pagerank_python", None)
    if reference is None:
        pytest.skip("this networkx has no pure-Python pagerank")
    edges = [("a", "b", 0.3), ("a", "c", 0.9), ("b", "c", 0.5), ("c", "d", 0.2), ("e", "c", 1.0)]
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(edges)

    expected = reference(graph, alpha=0.85, tol=1e-14, max_iter=10_000)
    ranks = weighted_pagerank(edges)
    assert ranks == pytest.approx(expected, abs=1e-10)
