"""The GEXF writer: what networkx reads from it is what it reads from its own writer's
file of the same graph, for the study's graph and for awkward values."""

import io
import math

import networkx as nx
import pytest

from moralgraph.models import GraphSnapshot
from moralgraph.services.exports import ExportData, network
from moralgraph.services.importers import import_reference
from moralgraph.services.scoring import score_study
from tests.moralgraph.support import REFERENCE

pytestmark = pytest.mark.django_db


def _read(content: bytes):
    graph = nx.read_gexf(io.BytesIO(content))
    nodes = dict(graph.nodes(data=True))
    edges = sorted((u, v, sorted(d.items(), key=str)) for u, v, d in graph.edges(data=True))
    return graph.is_directed(), nodes, edges


def _networkx(graph) -> bytes:
    buffer = io.BytesIO()
    nx.write_gexf(graph, buffer, version="1.2draft")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", [GraphSnapshot.Mode.DEFAULT, GraphSnapshot.Mode.COMPAT])
def test_networkx_reads_the_studys_graph_as_from_its_own_writer(mode):
    study = import_reference(REFERENCE, study_slug="ref").study
    data = ExportData(study=study, snapshot=score_study(study=study, mode=mode))
    graph = network.graph(data)
    ours = network.gexf_bytes(graph, date="2024-03-01")
    assert _read(ours) == _read(_networkx(graph))
    assert b'lastmodifieddate="2024-03-01"' in ours


def test_awkward_values_read_back_as_networkx_writes_them():
    graph = nx.MultiDiGraph()
    graph.add_node("1", label='Care & "candour" <b>', note="line one\nline two", n=3)
    graph.add_node("2", label="Écoute — 傾聴", note="", n=-1)
    graph.add_edge("1", "2", key="7", weight=0.25, kept=True, share=math.inf, text="a\tb")
    graph.add_edge("1", "2", key="8", weight=1e-05, kept=False, share=0.5, text="")
    graph.add_edge("2", "1", key="7", weight=0.0, kept=False, share=-math.inf, text="x")
    ours = network.gexf_bytes(graph, date="2024-03-01")
    assert _read(ours) == _read(_networkx(graph))
    nodes = _read(ours)[1]
    assert nodes["1"]["label"] == 'Care & "candour" <b>'
    assert nodes["1"]["note"] == "line one\nline two"


def test_a_node_with_only_a_label_and_an_edge_with_only_a_weight_have_no_attvalues():
    graph = nx.DiGraph()
    graph.add_node("1", label="Alone")
    graph.add_node("2", label="Together", n=1)
    graph.add_edge("1", "2", weight=0.5)
    ours = network.gexf_bytes(graph, date="2024-03-01")
    assert _read(ours) == _read(_networkx(graph))
    assert ours.count(b"<attvalues") == 1  # node 2's; GEXF has no empty <attvalues>
