"""HeteroNeighborSampler: sampled edges exist, fan-outs hold, data rows match, blocks run HeteroConv exactly."""
import numpy as np
import pytest
import torch

from gnnkit import Graph, HeteroGraph, MultiViewGraph
from gnnkit.data.hetero_sampling import HeteroNeighborSampler
from gnnkit.data.sampling import DataLoader
from gnnkit.nn import HeteroConv, SAGEConv

COUNTS = {"a": 9, "b": 6, "c": 4}
RELS = [("a", "r", "b"), ("b", "s", "a"), ("a", "t", "a"), ("c", "u", "b"), ("b", "v", "c")]


def random_hetero(seed: int, edges_per_rel: int = 14) -> HeteroGraph:
    gen = torch.Generator().manual_seed(seed)
    edges = {r: (torch.randint(0, COUNTS[r[0]], (edges_per_rel,), generator=gen),
                 torch.randint(0, COUNTS[r[2]], (edges_per_rel,), generator=gen)) for r in RELS}
    ndata = {t: {"x": torch.randn(n, 3, generator=gen, dtype=torch.float64)} for t, n in COUNTS.items()}
    edata = {r: {"w": torch.rand(edges_per_rel, generator=gen)} for r in RELS}
    return HeteroGraph(COUNTS, edges, ndata=ndata, edata=edata)


def check_batch(g: HeteroGraph, batch, fanouts: list, replace: bool = False) -> None:
    """Every block edge is an edge of g, fan-outs hold, data rows are g's rows at the mapped ids."""
    assert len(batch.blocks) == len(fanouts)
    for t in g.ntypes:
        assert torch.equal(batch.input_nodes[t][: batch.seeds[t].numel()], batch.seeds[t])
    for layer, block in enumerate(batch.blocks):
        assert block.is_block
        for t in g.ntypes:
            ids = batch.input_nodes[t][: block.num_nodes(t)]
            torch.testing.assert_close(block.ndata[t]["x"], g.ndata[t]["x"][ids])
            nxt = batch.blocks[layer + 1].num_nodes(t) if layer + 1 < len(batch.blocks) else batch.seeds[t].numel()
            assert block.num_dst_nodes(t) == nxt  # this layer's destinations are the next layer's sources
        for rel in g.relations:
            s, _, d = rel
            sub, eid = block[rel], batch.edge_ids[layer][rel]
            assert torch.equal(g[rel].src[eid], batch.input_nodes[s][sub.src])
            assert torch.equal(g[rel].dst[eid], batch.input_nodes[d][sub.dst])
            torch.testing.assert_close(block.edata[rel]["w"], g.edata[rel]["w"][eid])
            k = fanouts[layer] if isinstance(fanouts[layer], int) else fanouts[layer][rel[1]]
            got = torch.bincount(sub.dst, minlength=sub.num_nodes)  # [D] sampled in-edges per destination
            full = g[rel].in_degrees()[batch.input_nodes[d][: sub.num_nodes]]
            if k == -1:
                want = full
            elif replace:
                want = torch.where(full > 0, k, 0)
            else:
                want = full.clamp(max=k)
            assert torch.equal(got, want)
            if not replace:  # without replacement: no edge twice for one destination
                assert eid.unique().numel() == eid.numel()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("replace", [False, True])
def test_sampled_blocks_are_subsets_with_fanouts_and_data(seed, replace):
    g = random_hetero(seed)
    fanouts = [2, {"r": 1, "s": -1, "t": 3, "u": 0, "v": 2}]
    sampler = HeteroNeighborSampler(g, fanouts, replace=replace, seed=seed)
    batch = sampler.sample({"b": [5, 0, 3], "c": torch.tensor([1])})
    check_batch(g, batch, fanouts, replace)


def test_full_fanout_blocks_give_the_full_graph_outputs_at_the_seeds():
    g = random_hetero(7)
    torch.manual_seed(0)
    layers = [HeteroConv({r: SAGEConv(3, 3, "mean") for r in RELS}).double() for _ in range(2)]
    x = {t: g.ndata[t]["x"] for t in g.ntypes}
    full = x
    for layer in layers:
        full = {t: torch.relu(h) for t, h in layer(g, full).items()}
    batch = HeteroNeighborSampler(g, [-1, -1]).sample({"a": [8, 2], "b": [4]})
    h = {t: batch.blocks[0].ndata[t]["x"] for t in g.ntypes}
    for block, layer in zip(batch.blocks, layers):
        h = {t: torch.relu(v) for t, v in layer(block, h).items()}
    for t, ids in batch.seeds.items():
        torch.testing.assert_close(h[t], full[t][ids])


def test_dataloader_batches_plain_ids_of_seed_ntype():
    g = random_hetero(3)
    sampler = HeteroNeighborSampler(g, [2, 2], seed_ntype="a")
    loader = DataLoader(sampler, torch.arange(COUNTS["a"]), batch_size=4, seed=1)
    batches = list(loader)
    assert len(batches) == 3
    assert sorted(torch.cat([b.seeds["a"] for b in batches]).tolist()) == list(range(COUNTS["a"]))
    for b in batches:
        assert b.seeds["b"].numel() == 0 and b.seeds["c"].numel() == 0
        check_batch(g, b, [2, 2])
    again = list(DataLoader(sampler, torch.arange(COUNTS["a"]), batch_size=4, seed=1))
    assert all(torch.equal(p.input_nodes["a"], q.input_nodes["a"]) for p, q in zip(batches, again))


def test_sampler_on_a_multiview_graph():
    views = {"x": Graph([0, 1, 2, 3], [1, 2, 3, 0], 4), "y": Graph([3, 3, 1], [0, 1, 1], 4)}
    mvg = MultiViewGraph(views, ndata={"x": torch.arange(4.0)[:, None]})
    batch = HeteroNeighborSampler(mvg, [-1]).sample(np.array([1]))
    block = batch.blocks[0]
    assert block.num_edges("x") == 1 and block.num_edges("y") == 2
    torch.testing.assert_close(block.ndata["_N"]["x"][:, 0], batch.input_nodes["_N"].float())


@pytest.mark.parametrize("fanouts,exc,match", [
    ([], ValueError, "fanouts must be a non-empty sequence"),
    (3, ValueError, "fanouts must be a non-empty sequence"),
    ([2, -2], ValueError, r"fanouts\[1\] must be >= 0, or -1 for every in-edge, got -2"),
    ([2.5], TypeError, r"fanouts\[0\] must be an int"),
    ([{"r": 1}], ValueError, r"fanouts\[0\] must give a fan-out for every relation; missing"),
    ([{"zz": 1}], ValueError, "relation 'zz' is not an edge type"),
    ([{"r": 1, ("a", "r", "b"): 2}], ValueError, r"fanouts\[0\] names relation \('a', 'r', 'b'\) twice"),
])
def test_sampler_bad_fanouts(fanouts, exc, match):
    with pytest.raises(exc, match=match):
        HeteroNeighborSampler(random_hetero(0), fanouts)


def test_sampler_bad_graph_and_seeds():
    g = random_hetero(0)
    with pytest.raises(TypeError, match="g must be a gnnkit.HeteroGraph, got Graph"):
        HeteroNeighborSampler(Graph([0], [1], 2), [1])
    block = HeteroGraph({"a": 2}, {("a", "r", "a"): ([1], [0])}, num_dst_nodes={"a": 1})
    with pytest.raises(ValueError, match="got a block"):
        HeteroNeighborSampler(block, [1])
    with pytest.raises(ValueError, match="seed_ntype must be one of the node types"):
        HeteroNeighborSampler(g, [1], seed_ntype="q")
    sampler = HeteroNeighborSampler(g, [1])
    with pytest.raises(ValueError, match="seeds must be a mapping"):
        sampler.sample([0, 1])
    with pytest.raises(ValueError, match="seeds names node type 'q'"):
        sampler.sample({"q": [0]})
    with pytest.raises(IndexError, match=r"seeds\['b'\] must lie in \[0, num_nodes\['b'\]=6\)"):
        sampler.sample({"b": [6]})
    with pytest.raises(ValueError, match=r"seeds\['b'\] must be distinct"):
        sampler.sample({"b": [1, 1]})
    with pytest.raises(TypeError, match=r"seeds\['b'\] must hold integer vertex ids"):
        sampler.sample({"b": [0.5]})
