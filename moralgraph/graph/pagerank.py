"""PageRank as each mode computes it: the reference's own weighted iteration, and
networkx's with dangling rank spread over every value."""

from __future__ import annotations

import networkx as nx
import numpy as np


def reference_pagerank(
    edges: list[tuple[str, str, float]], *, damping: float = 0.85, rounds: int = 100
) -> dict[str, float]:
    """Return the reference's weighted PageRank over (source, wiser, wiserLikelihood) edges.

    Every value on an edge starts at 1/N; each round sets it to (1 - damping)/N and adds,
    along each edge A -> B, damping * rank(A) * wL(A, B) / (sum of wL over A's edges). Rank
    held by values without outgoing edges is not redistributed, so ranks need not sum to 1.
    Each value's outgoing sum is computed once (the reference recomputed it per edge), and
    contributions are added in the order of ``edges`` so that results are reproducible.
    """
    if not edges:
        return {}
    nodes = sorted({e[0] for e in edges} | {e[1] for e in edges})
    index = {node: i for i, node in enumerate(nodes)}
    n = len(nodes)
    source = np.fromiter((index[e[0]] for e in edges), dtype=np.intp, count=len(edges))
    wiser = np.fromiter((index[e[1]] for e in edges), dtype=np.intp, count=len(edges))
    likelihood = np.fromiter((e[2] for e in edges), dtype=np.float64, count=len(edges))
    out_sum = np.zeros(n)
    np.add.at(out_sum, source, likelihood)
    out_sum_of_source = out_sum[source]

    rank = np.full(n, 1 / n)
    for _ in range(rounds):
        new_rank = np.full(n, (1 - damping) / n)
        # Same operation order as the reference, and np.add.at adds one edge at a time in
        # edge order, so this matches a plain loop to the last bit.
        np.add.at(new_rank, wiser, damping * rank[source] * likelihood / out_sum_of_source)
        rank = new_rank
    return {node: float(rank[i]) for node, i in index.items()}


def weighted_pagerank(
    edges: list[tuple[str, str, float]],
    *,
    damping: float = 0.85,
    tol: float = 1e-12,
    max_iter: int = 1000,
) -> dict[str, float]:
    """Return PageRank over weighted (source, target, weight) edges, through networkx.

    ``nx.pagerank`` teleports uniformly and spreads the rank of dangling values (those
    with no outgoing kept edge) evenly, unlike the reference. Nodes and edges are added in
    sorted order so that the matrix networkx builds, hence every digit of the result, does
    not depend on the order judgments arrive in. Ranks sum to 1.
    """
    if not edges:
        return {}
    graph = nx.DiGraph()
    edges = sorted(edges)
    graph.add_nodes_from(sorted({e[0] for e in edges} | {e[1] for e in edges}))
    graph.add_weighted_edges_from(edges)
    # networkx's tolerance is per node; ours is on the whole L1 change.
    ranks = nx.pagerank(
        graph, alpha=damping, weight="weight", tol=tol / graph.number_of_nodes(), max_iter=max_iter
    )
    return {node: float(rank) for node, rank in ranks.items()}
