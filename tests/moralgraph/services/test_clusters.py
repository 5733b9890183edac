"""The in-memory index of a study's value members (moralgraph.services.clusters)."""

import pytest

from moralgraph.services import clusters


def test_the_index_takes_the_size_of_the_first_vector_and_skips_strangers():
    index = clusters.ClusterIndex()
    index.add(("card", 1), 10, [1.0, 0.0, 0.0])
    index.add(("card", 2), 11, [0.0, 1.0, 0.0])
    index.add(("value", 12), 12, [1.0, 0.0])  # another model's vector
    assert len(index) == 2
    ((value_id, member, similarity),) = index.nearest([1.0, 0.1, 0.0], k=3, threshold=0.5)
    assert (value_id, member) == (10, ("card", 1))
    assert similarity == pytest.approx(0.995037, abs=1e-6)
    index.move(10, 11)
    both = index.nearest([1.0, 1.0, 0.0], k=3, threshold=0.5, per_value=2)
    assert [(c[0], c[1]) for c in both] == [(11, ("card", 1)), (11, ("card", 2))]
    assert len(index.nearest([1.0, 1.0, 0.0], k=3, threshold=0.5, per_value=1)) == 1
