"""gnnkit.brain.connectome: matrices, edge lists, JSON/CSV and networkx give the same connectome."""
import json

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gnnkit.brain.connectome import Connectome
from gnnkit.graph.multiview import MultiViewGraph

NAMES = ["AVAL", "AVAR", "PVCL", "DVA", "RIML"]
CHEM = np.array([
    [0, 3, 0, 1, 0],
    [2, 0, 0, 0, 0],
    [0, 5, 0, 0, 2],
    [0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0],
], dtype=float)
GAP = np.array([
    [0, 4, 0, 0, 0],
    [0, 0, 0, 0, 0],
    [0, 0, 0, 2, 0],
    [0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
], dtype=float)
POS = np.arange(15, dtype=float).reshape(5, 3) / 10


def as_dict(c: Connectome, t: str) -> dict:
    g, w = c.graph(t), c.weight(t)
    return {(c.names[a], c.names[b]): float(x) for a, b, x in zip(g.src.tolist(), g.dst.tolist(), w.tolist())}


def reference(undirected_gap: bool) -> dict:
    out = {"chemical": {(NAMES[i], NAMES[j]): CHEM[i, j] for i, j in zip(*np.nonzero(CHEM))}}
    gap = {(NAMES[i], NAMES[j]): GAP[i, j] for i, j in zip(*np.nonzero(GAP))}
    if undirected_gap:
        gap.update({(b, a): x for (a, b), x in list(gap.items())})
    out["electrical"] = gap
    return out


@pytest.fixture
def conn():
    return Connectome.from_adjacency({"chemical": CHEM, "electrical": GAP}, names=NAMES, positions=POS,
                                     undirected=["electrical"])


def test_from_dense_matrices_with_types_names_positions(conn):
    assert conn.synapse_types == ("chemical", "electrical")
    assert isinstance(conn.views, MultiViewGraph) and conn.num_nodes == 5
    ref = reference(undirected_gap=True)
    for t in conn.synapse_types:
        assert as_dict(conn, t) == ref[t]
    assert conn.names == tuple(NAMES)
    assert torch.allclose(conn.positions, torch.tensor(POS, dtype=torch.float32))
    assert conn.index("DVA").item() == 3 and conn.index(["RIML", "AVAL"]).tolist() == [4, 0]
    assert conn.graph().num_edges == conn.num_edges == 6 + 4
    assert conn.spatial("chemical").edge_lengths().shape == (6,)


def test_undirected_types_keep_the_larger_weight_of_both_directions():
    gap = GAP.copy()
    gap[1, 0] = 7.0  # both directions given: max(4, 7)
    c = Connectome.from_adjacency({"electrical": gap}, names=NAMES, undirected=["electrical"])
    d = as_dict(c, "electrical")
    assert d[("AVAL", "AVAR")] == d[("AVAR", "AVAL")] == 7.0


def test_sparse_and_torch_matrices_equal_dense(conn):
    for make in (sp.csr_matrix, torch.tensor):
        c = Connectome.from_adjacency({"chemical": make(CHEM), "electrical": make(GAP)}, names=NAMES,
                                      undirected=["electrical"])
        assert c.views.equal(conn.views)
    single = Connectome.from_adjacency(CHEM)
    assert single.synapse_types == ("chemical",) and single.names == ("0", "1", "2", "3", "4")


def test_csv_round_trip_and_custom_columns(conn, tmp_path):
    path = tmp_path / "edges.csv"
    conn.write_csv(path)
    back = Connectome.read_csv(path, names=NAMES, positions=POS)
    assert back.views.equal(conn.views) and back.names == conn.names
    # another layout: semicolon-separated, other column names, no type column, positions by name
    other = tmp_path / "other.csv"
    other.write_text("from;to;count\nAVAL;AVAR;3\nAVAR;AVAL;2\nPVCL;RIML;2\n")
    c = Connectome.read_csv(other, pre="from", post="to", weight="count", delimiter=";",
                            positions={n: p for n, p in zip(["AVAL", "AVAR", "PVCL", "RIML"], POS[:4])})
    assert c.names == ("AVAL", "AVAR", "PVCL", "RIML")  # sorted names of the edges
    assert as_dict(c, "chemical") == {("AVAL", "AVAR"): 3.0, ("AVAR", "AVAL"): 2.0, ("PVCL", "RIML"): 2.0}


def test_json_round_trip(conn, tmp_path):
    path = tmp_path / "c.json"
    conn.write_json(path)
    back = Connectome.read_json(path)
    assert back.views.equal(conn.views) and back.names == conn.names
    assert torch.equal(back.positions, conn.positions)
    path.write_text(json.dumps({"neurons": ["a", "b", "c"], "synapses": [{"pre": "a", "post": "c"},
                                                                         {"pre": "c", "post": "b", "type": "gap", "weight": 2}],
                                "undirected": ["gap"]}))
    c = Connectome.read_json(path)
    assert c.synapse_types == ("chemical", "gap") and c.positions is None
    assert as_dict(c, "gap") == {("c", "b"): 2.0, ("b", "c"): 2.0}


def test_networkx_round_trip(conn):
    g = conn.to_networkx()
    assert g.number_of_edges() == conn.num_edges
    back = Connectome.from_networkx(g)
    assert back.views.equal(conn.views)
    assert torch.equal(back.positions, conn.positions)
    und = nx.Graph()
    und.add_edge("x", "y", weight=2.0)
    und.add_edge("y", "z", type="electrical")
    c = Connectome.from_networkx(und)
    assert as_dict(c, "chemical") == {("x", "y"): 2.0, ("y", "x"): 2.0}
    assert as_dict(c, "electrical") == {("y", "z"): 1.0, ("z", "y"): 1.0}


def test_from_edges_integer_ids_and_isolated_neurons():
    c = Connectome.from_edges([0, 2], [1, 0], names=["a", "b", "c", "lonely"], synapse_type=["chemical", "electrical"])
    assert c.num_nodes == 4 and c.graph("chemical").num_nodes == 4
    assert as_dict(c, "electrical") == {("c", "a"): 1.0}


def test_connectome_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"adjacency must be square \[N, N\].*got shape \[2, 3\]"):
        Connectome.from_adjacency(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"adjacency\['gap'\] must be square"):
        Connectome.from_adjacency({"chemical": np.ones((3, 3)), "gap": sp.csr_matrix(np.ones((3, 2)))})
    with pytest.raises(ValueError, match="must be a 2-D"):
        Connectome.from_adjacency(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="one N, got 3 and 2"):
        Connectome.from_adjacency({"a": np.ones((3, 3)), "b": np.ones((2, 2))})
    with pytest.raises(ValueError, match="adjacency must be finite"):
        Connectome.from_adjacency(np.array([[0, np.nan], [1, 0]]))
    with pytest.raises(ValueError, match="names must give one name per neuron: the 5x5 matrix has 5 neurons, got 4 names"):
        Connectome.from_adjacency(CHEM, names=NAMES[:4])
    with pytest.raises(ValueError, match="names must be unique, got 'AVAL' twice"):
        Connectome.from_adjacency(CHEM, names=["AVAL"] * 5)
    with pytest.raises(ValueError, match="positions must be finite"):
        Connectome.from_adjacency(CHEM, positions=np.full((5, 2), np.inf))
    with pytest.raises(ValueError, match="positions must have one row per neuron"):
        Connectome.from_adjacency(CHEM, positions=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="positions has no entry for neuron 'b'"):
        Connectome.from_edges(["a"], ["b"], positions={"a": [0.0, 0.0]})
    with pytest.raises(ValueError, match="positions names unknown neuron 'q'"):
        Connectome.from_edges(["a"], ["b"], positions={"a": [0.0], "b": [1.0], "q": [2.0]})
    with pytest.raises(ValueError, match="post names neuron 'zz', which is not among the 2 names given"):
        Connectome.from_edges(["a"], ["zz"], names=["a", "b"])
    with pytest.raises(ValueError, match=r"pre holds neuron id 5; ids must lie in \[0, 2\)"):
        Connectome.from_edges([5], [0], names=["a", "b"])
    with pytest.raises(ValueError, match="pre and post must be 1-D and of equal length"):
        Connectome.from_edges(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="weight must be finite"):
        Connectome.from_edges(["a"], ["b"], weight=[np.inf])
    with pytest.raises(ValueError, match=r"weight must have one value per synapse \(1\)"):
        Connectome.from_edges(["a"], ["b"], weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="synapse_type holds 'gap', which is not in types"):
        Connectome.from_edges(["a"], ["b"], synapse_type=["gap"], types=["chemical"])
    with pytest.raises(ValueError, match="undirected names synapse type 'electrical'"):
        Connectome.from_edges(["a"], ["b"], undirected=["electrical"])
    with pytest.raises(ValueError, match="index\\(\\) names neuron 'nope'"):
        Connectome.from_adjacency(CHEM).index("nope")
    with pytest.raises(ValueError, match="has no positions"):
        Connectome.from_adjacency(CHEM).spatial()
    with pytest.raises(TypeError, match="views must be a gnnkit MultiViewGraph"):
        Connectome({"a": None}, ["x"])
    bad = tmp_path / "bad.csv"
    bad.write_text("source,target\na,b\n")
    with pytest.raises(ValueError, match="has no column 'pre'"):
        Connectome.read_csv(bad)
    bad.write_text("pre,post,weight\na,b,heavy\n")
    with pytest.raises(ValueError, match="column 'weight' .* must hold numbers"):
        Connectome.read_csv(bad)
    bad.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        Connectome.read_csv(bad)
    js = tmp_path / "bad.json"
    js.write_text(json.dumps({"neurons": ["a"]}))
    with pytest.raises(ValueError, match="'neurons' and 'synapses'"):
        Connectome.read_json(js)
    js.write_text(json.dumps({"neurons": ["a"], "synapses": [{"pre": "a"}]}))
    with pytest.raises(ValueError, match="needs 'pre' and 'post'"):
        Connectome.read_json(js)


def test_connectome_bad_input_rare_branches():
    with pytest.raises(TypeError, match="names must be a sequence of neuron names, got a single string"):
        Connectome.from_adjacency(np.ones((2, 2)), names="ab")
    with pytest.raises(TypeError, match="adjacency must be a numeric matrix"):
        Connectome.from_adjacency([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match=r"synapse_type must have one entry per synapse \(2\)"):
        Connectome.from_edges(["a", "b"], ["b", "a"], synapse_type=["chemical"])
    with pytest.raises(ValueError, match="types must be distinct"):
        Connectome.from_edges(["a"], ["b"], types=["chemical", "chemical"])
    with pytest.raises(ValueError, match="adjacency must hold at least one matrix"):
        Connectome.from_adjacency({})


@pytest.fixture
def typed(conn):
    return Connectome(conn.views, conn.names, conn.positions,
                      {"type": ["inter", "inter", "motor", "inter", "sensory"], "id": torch.arange(5) * 10,
                       "vec": torch.ones(5, 2, dtype=torch.float64)})


def test_node_data_checked_coded_and_shown(typed):
    assert typed.node_data["type"] == ("inter", "inter", "motor", "inter", "sensory")
    codes, levels = typed.codes("type")
    assert levels == ("inter", "motor", "sensory") and codes.tolist() == [0, 0, 1, 0, 2]
    assert "node_data=['id', 'type', 'vec']" in repr(typed)
    from_numpy = Connectome(typed.views, typed.names, node_data={"n": np.arange(5)})
    assert isinstance(from_numpy.node_data["n"], torch.Tensor)
    built = Connectome.from_adjacency({"chemical": CHEM, "electrical": GAP}, names=NAMES, positions=POS,
                                      undirected=["electrical"], node_data=typed.node_data)
    assert built.equal(typed)


def test_subgraph_carries_names_positions_node_data_and_weights(typed):
    sub = typed.subgraph(["AVAL", "AVAR", "PVCL"])
    assert sub.names == ("AVAL", "AVAR", "PVCL") and sub.node_data["type"] == ("inter", "inter", "motor")
    assert sub.node_data["id"].tolist() == [0, 10, 20] and torch.equal(sub.positions, typed.positions[:3])
    assert as_dict(sub, "chemical") == {k: v for k, v in as_dict(typed, "chemical").items() if
                                        set(k) <= {"AVAL", "AVAR", "PVCL"}}
    assert as_dict(sub, "electrical") == {("AVAL", "AVAR"): 4.0, ("AVAR", "AVAL"): 4.0}
    mask = torch.tensor([True, False, True, False, False])
    assert typed.subgraph(mask).equal(typed.subgraph([0, 2]))
    assert typed.subgraph("DVA").num_nodes == 1
    empty = typed.subgraph([])
    assert empty.num_nodes == 0 and empty.num_edges == 0 and empty.node_data["type"] == ()


def test_equal_sees_every_part(typed, conn):
    assert typed.equal(typed) and not typed.equal(conn)
    other = Connectome(typed.views, typed.names, typed.positions, {**typed.node_data, "id": torch.arange(5)})
    assert not typed.equal(other)
    assert not conn.equal(Connectome(conn.views, conn.names)) and not conn.equal("conn")


def test_json_round_trip_with_node_data(typed, tmp_path):
    path = tmp_path / "typed.json"
    typed.write_json(path)
    back = Connectome.read_json(path)
    assert back.equal(typed)
    assert back.node_data["id"].dtype == torch.int64 and back.node_data["vec"].dtype == torch.float64


def test_csv_neurons_table_and_networkx_carry_node_data(typed, tmp_path):
    flat = Connectome(typed.views, typed.names, typed.positions, {k: typed.node_data[k] for k in ("type", "id")})
    flat.write_csv(tmp_path / "syn.csv", neurons_path=tmp_path / "neurons.csv")
    header, first = (tmp_path / "neurons.csv").read_text().splitlines()[:2]
    assert header == "name,x,y,z,type,id" and first.startswith("AVAL,0.0,")
    with pytest.raises(ValueError, match=r"node_data\['vec'\] has shape \[5, 2\]; a CSV column"):
        typed.write_csv(tmp_path / "s.csv", neurons_path=tmp_path / "n.csv")
    g = typed.to_networkx()
    assert g.nodes[4]["type"] == "sensory" and g.nodes[1]["id"] == 10
    back = Connectome.from_networkx(g, node_keys=["type", "id", "vec"])
    assert back.node_data["type"] == typed.node_data["type"] and torch.equal(back.node_data["id"], typed.node_data["id"])
    with pytest.raises(ValueError, match="node_keys names attribute 'size', which node 0 does not have"):
        Connectome.from_networkx(g, node_keys=["size"])


def test_from_edges_type_indices_and_reduce():
    c = Connectome.from_edges([0, 0, 1, 0], [1, 1, 2, 1], weight=[2.0, 3.0, 1.0, 4.0], synapse_type=np.array([1, 1, 0, 0]),
                              names=["a", "b", "c"], types=["gaba", "ach"], reduce="sum")
    assert c.synapse_types == ("gaba", "ach")
    assert as_dict(c, "ach") == {("a", "b"): 5.0} and as_dict(c, "gaba") == {("b", "c"): 1.0, ("a", "b"): 4.0}
    kept = Connectome.from_edges([0, 0], [1, 1], weight=[2.0, 3.0], names=["a", "b"])
    assert kept.graph("chemical").num_edges == 2
    assert Connectome.from_edges([0, 0], [1, 1], weight=[2.0, 3.0], names=["a", "b"], reduce="max").weight("chemical").tolist() == [3.0]


def test_node_data_and_type_index_bad_input(conn, typed):
    with pytest.raises(ValueError, match=r"node_data\['t'\] must give one value per neuron \(5\), got 2"):
        Connectome(conn.views, conn.names, node_data={"t": ["a", "b"]})
    with pytest.raises(ValueError, match=r"node_data\['t'\] must have one row per neuron \(5\), got shape \[3\]"):
        Connectome(conn.views, conn.names, node_data={"t": torch.zeros(3)})
    with pytest.raises(ValueError, match="node_data key 'name' is reserved"):
        Connectome(conn.views, conn.names, node_data={"name": list("abcde")})
    with pytest.raises(TypeError, match=r"node_data\['t'\] must be a tensor or a sequence of N strings, got str"):
        Connectome(conn.views, conn.names, node_data={"t": "abcde"})
    with pytest.raises(TypeError, match="node_data keys must be strings"):
        Connectome(conn.views, conn.names, node_data={1: list("abcde")})
    with pytest.raises(TypeError, match="node_data must be a mapping"):
        Connectome(conn.views, conn.names, node_data=["a"])
    with pytest.raises(ValueError, match="key must be one of the node_data keys"):
        typed.codes("nope")
    with pytest.raises(TypeError, match="is a tensor already"):
        typed.codes("id")
    with pytest.raises(ValueError, match=r"a neurons mask must have shape \[N\] = \[5\]"):
        typed.subgraph(torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="integer synapse_type indices need types="):
        Connectome.from_edges([0], [1], names=["a", "b"], synapse_type=np.array([0]))
    with pytest.raises(ValueError, match=r"synapse_type holds type index 2; indices must lie in \[0, 2\)"):
        Connectome.from_edges([0], [1], names=["a", "b"], synapse_type=np.array([2]), types=["x", "y"])
    with pytest.raises(ValueError, match="reduce must be None or one of"):
        Connectome.from_edges([0], [1], names=["a", "b"], reduce="prod")
