"""Tests for gnnkit.nn: the standard convolutions and the generic GNNLayer.

Each layer is checked against (1) PyG's and DGL's layers with the same weights,
(2) a dense float64 formula, (3) properties (node-permutation equivariance, edge-
permutation invariance) and (4) ``torch.autograd.gradcheck``. GNNLayer is checked
against a per-vertex Python loop. Forward outputs and the gradients of the input and
of every parameter are compared.

Tolerances: float64 comparisons use the ``assert_close`` defaults. float32 comparisons
with PyG/DGL also use the defaults (rtol 1.3e-6, atol 1e-5): the two sides sum the same
few O(1) terms in a different order.
"""
from __future__ import annotations

import copy
import os
from typing import Callable, Sequence

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.testing import assert_close

from conftest import DEVICES  # "cuda" only where CUDA exists, so nothing is collected to be skipped
from gnnkit import Graph, ops
from gnnkit.nn import (
    ConcatVertex,
    CopySource,
    DeepSetsAggregation,
    EdgeWeighted,
    GATConv,
    GCNConv,
    GINConv,
    GNNLayer,
    LinearSource,
    LSTMAggregation,
    SAGEConv,
    SoftmaxAggregation,
)

SAGE_AGGRS = ("mean", "sum", "max", "min")
# (in, out): in > out takes the project-then-aggregate path of GCN/SAGE, in < out the other
SIZES = [(6, 3), (3, 5)]


# ----------------------------------------------------------------- helpers
def make_graph(seed: int, num_nodes: int = 10, num_edges: int = 24, symmetric: bool = False) -> Graph:
    """A random multigraph holding the cases that break layers, edges in random order.

    Vertices 1 and ``num_nodes - 1`` (trailing) are isolated; vertex 0 has out-edges but
    (unless ``symmetric``) no in-edges; three edges are duplicated; vertices 2 and 3 carry
    one self-loop each (two each when ``symmetric``, which mirrors every edge).
    """
    gen = torch.Generator().manual_seed(seed)
    active = torch.tensor([v for v in range(num_nodes) if v not in (1, num_nodes - 1)])
    targets = active[active != 0]
    src = active[torch.randint(len(active), (num_edges,), generator=gen)]
    dst = targets[torch.randint(len(targets), (num_edges,), generator=gen)]
    src, dst = src[src != dst], dst[src != dst]  # loops are added below, exactly once each
    dup = torch.randint(len(src), (3,), generator=gen)
    loops = torch.tensor([2, 3])
    src = torch.cat([src, src[dup], loops])
    dst = torch.cat([dst, dst[dup], loops])
    if symmetric:
        src, dst = torch.cat([src, dst]), torch.cat([dst, src])
    perm = torch.randperm(len(src), generator=gen)
    return Graph(src[perm], dst[perm], num_nodes)


def tiny_graph() -> Graph:
    """5 vertices, unsorted edges: 0 has only out-edges, 4 is isolated, (0, 2) twice, a loop on 2."""
    return Graph.from_edges([(0, 2), (3, 1), (2, 2), (0, 1), (1, 3), (0, 2), (3, 2), (2, 1)], num_nodes=5)


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def fwd_bwd(fn: Callable[[], Tensor], wrt: Sequence[Tensor]) -> tuple[Tensor, tuple[Tensor, ...]]:
    """``fn()`` and the gradients of ``<fn(), r>`` w.r.t. ``wrt`` for a fixed random ``r``.

    ``r`` depends only on the output's shape and dtype, so two implementations get the same one.
    """
    out = fn()
    r = randn(*out.shape, seed=1234, dtype=out.dtype).to(out.device)
    return out, torch.autograd.grad(out, list(wrt), grad_outputs=r)


def leaf(t: Tensor) -> Tensor:
    return t.detach().clone().requires_grad_(True)


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Give every parameter (biases and eps included) non-trivial values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)
    return module


def dense_adj(g: Graph, edge_weight: Tensor | None = None, dtype: torch.dtype = torch.float64) -> Tensor:
    """``[N, N]`` with ``A[dst, src]`` = summed weight (edge count) of ``src -> dst``: ``y = A x``."""
    w = torch.ones(g.num_edges, dtype=dtype, device=g.device) if edge_weight is None else edge_weight
    a = torch.zeros(g.num_nodes, g.num_nodes, dtype=w.dtype, device=g.device)
    return a.index_put((g.dst, g.src), w, accumulate=True)


def with_unit_loops(a: Tensor, keep_existing: bool = False) -> Tensor:
    """Each vertex gets exactly one loop: weight 1, or the existing loop's weight when ``keep_existing``."""
    eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    diag = torch.where(a.diagonal() != 0, a.diagonal(), torch.ones_like(a.diagonal())) if keep_existing else torch.ones_like(a.diagonal())
    return a * (1 - eye) + torch.diag(diag)


def dense_aggregate(a: Tensor, x: Tensor, reduce: str) -> Tensor:
    """``reduce`` over the in-neighbours (``a[v, u] > 0``, counted with multiplicity) of each ``v``; 0 if none."""
    if reduce == "sum":
        return a @ x
    deg = a.sum(1, keepdim=True)
    if reduce == "mean":
        return (a @ x) / deg.clamp(min=1)
    fill = float("-inf") if reduce == "max" else float("inf")
    masked = torch.where(a.unsqueeze(-1) > 0, x.unsqueeze(0), torch.full_like(x.unsqueeze(0), fill))  # [N, N, F]
    out = masked.amax(1) if reduce == "max" else masked.amin(1)
    return torch.where(deg > 0, out, torch.zeros_like(out))


def permute_nodes(g: Graph, perm: Tensor) -> Graph:
    """The same graph with new vertex ``i`` being old vertex ``perm[i]``; edge order kept."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    return Graph(inv[g.src], inv[g.dst], g.num_nodes)


def params(module: nn.Module) -> list[Tensor]:
    return [p for p in module.parameters() if p.requires_grad]


def _pyg():
    return pytest.importorskip("torch_geometric.nn")


def _dgl():
    os.environ.setdefault("DGLBACKEND", "pytorch")
    return pytest.importorskip("dgl")


class EdgeMLP(nn.Module):
    """A custom edge function: ``m_e = MLP([x_u || x_v (|| e)])``; not linear in ``x_u``, so never fused."""

    def __init__(self, in_features: int, edge_features: int, out_features: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * in_features + edge_features, 8), nn.Tanh(), nn.Linear(8, out_features))

    def forward(self, x_src: Tensor, x_dst: Tensor, e: Tensor | None) -> Tensor:
        parts = [x_src, x_dst] if e is None else [x_src, x_dst, e]
        return self.mlp(torch.cat(parts, dim=-1))


# ================================================================ vs PyG
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("fin,fout", SIZES)
@pytest.mark.parametrize("add_self_loops,normalize", [(True, True), (False, True), (False, False)])
def test_gcn_matches_pyg(seed, fin, fout, add_self_loops, normalize):
    pyg = _pyg()
    g = make_graph(seed)
    ours = randomize_(GCNConv(fin, fout, add_self_loops=add_self_loops, normalize=normalize), seed)
    theirs = pyg.GCNConv(fin, fout, add_self_loops=add_self_loops, normalize=normalize)
    with torch.no_grad():
        theirs.lin.weight.copy_(ours.lin.weight)
        theirs.bias.copy_(ours.bias)
    xa, xb = leaf(randn(g.num_nodes, fin, seed=seed)), leaf(randn(g.num_nodes, fin, seed=seed))
    ya, ga = fwd_bwd(lambda: ours(g, xa), [xa, ours.lin.weight, ours.bias])
    yb, gb = fwd_bwd(lambda: theirs(xb, g.edge_index), [xb, theirs.lin.weight, theirs.bias])
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("fin,fout", SIZES)
def test_gcn_edge_weight_matches_pyg(seed, fin, fout):
    """Weighted degrees; an existing loop keeps its weight, missing loops get 1 (PyG's add_remaining_self_loops)."""
    pyg = _pyg()
    g = make_graph(seed)
    w = torch.rand(g.num_edges, generator=torch.Generator().manual_seed(seed)) + 0.1
    ours = randomize_(GCNConv(fin, fout), seed)
    theirs = pyg.GCNConv(fin, fout)
    with torch.no_grad():
        theirs.lin.weight.copy_(ours.lin.weight)
        theirs.bias.copy_(ours.bias)
    xa, xb = leaf(randn(g.num_nodes, fin, seed=seed)), leaf(randn(g.num_nodes, fin, seed=seed))
    wa, wb = leaf(w), leaf(w)
    ya, ga = fwd_bwd(lambda: ours(g, xa, wa), [xa, wa, ours.lin.weight, ours.bias])
    yb, gb = fwd_bwd(lambda: theirs(xb, g.edge_index, wb), [xb, wb, theirs.lin.weight, theirs.bias])
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("fin,fout", SIZES)
@pytest.mark.parametrize("aggr", SAGE_AGGRS)
def test_sage_matches_pyg(seed, fin, fout, aggr):
    pyg = _pyg()
    g = make_graph(seed)
    ours = randomize_(SAGEConv(fin, fout, reduce=aggr), seed)
    theirs = pyg.SAGEConv(fin, fout, aggr=aggr)
    with torch.no_grad():
        theirs.lin_l.weight.copy_(ours.lin_l.weight)
        theirs.lin_l.bias.copy_(ours.lin_l.bias)
        theirs.lin_r.weight.copy_(ours.lin_r.weight)
    xa, xb = leaf(randn(g.num_nodes, fin, seed=seed)), leaf(randn(g.num_nodes, fin, seed=seed))
    ya, ga = fwd_bwd(lambda: ours(g, xa), [xa, ours.lin_l.weight, ours.lin_l.bias, ours.lin_r.weight])
    yb, gb = fwd_bwd(lambda: theirs(xb, g.edge_index), [xb, theirs.lin_l.weight, theirs.lin_l.bias, theirs.lin_r.weight])
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


@pytest.mark.parametrize("fin,fout", SIZES)
def test_sage_no_root_normalized_matches_pyg(fin, fout):
    pyg = _pyg()
    g = make_graph(3)
    ours = randomize_(SAGEConv(fin, fout, root_weight=False, normalize=True), 3)
    theirs = pyg.SAGEConv(fin, fout, root_weight=False, normalize=True)
    with torch.no_grad():
        theirs.lin_l.weight.copy_(ours.lin_l.weight)
        theirs.lin_l.bias.copy_(ours.lin_l.bias)
    xa, xb = leaf(randn(g.num_nodes, fin)), leaf(randn(g.num_nodes, fin))
    ya, ga = fwd_bwd(lambda: ours(g, xa), [xa, ours.lin_l.weight, ours.lin_l.bias])
    yb, gb = fwd_bwd(lambda: theirs(xb, g.edge_index), [xb, theirs.lin_l.weight, theirs.lin_l.bias])
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("concat", [True, False])
def test_gat_matches_pyg(seed, heads, concat):
    """PyG drops every existing loop and adds one per vertex; gnnkit's only_missing does the same."""
    pyg = _pyg()
    g = make_graph(seed)
    ours = randomize_(GATConv(5, 3, heads=heads, concat=concat), seed)
    theirs = pyg.GATConv(5, 3, heads=heads, concat=concat)
    names = ["lin.weight", "att_src", "att_dst", "bias"]
    mine, other = dict(ours.named_parameters()), dict(theirs.named_parameters())
    with torch.no_grad():
        for n in names:
            other[n].copy_(mine[n])
    xa, xb = leaf(randn(g.num_nodes, 5, seed=seed)), leaf(randn(g.num_nodes, 5, seed=seed))
    ya, ga = fwd_bwd(lambda: ours(g, xa), [xa] + [mine[n] for n in names])
    yb, gb = fwd_bwd(lambda: theirs(xb, g.edge_index), [xb] + [other[n] for n in names])
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("train_eps, eps", [(False, 0.3), (True, 0.3), (False, 0.0)])  # fixed 0: the GIN-0 path
def test_gin_matches_pyg(seed, train_eps, eps):
    pyg = _pyg()
    g = make_graph(seed)
    mlp = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    ours = randomize_(GINConv(mlp, eps=eps, train_eps=train_eps), seed)
    theirs = pyg.GINConv(copy.deepcopy(ours.nn), eps=eps, train_eps=train_eps)
    theirs.nn.load_state_dict(ours.nn.state_dict())  # PyG's constructor re-initialises its nn
    if train_eps:
        with torch.no_grad():
            theirs.eps.copy_(ours.eps.view(1))
    xa, xb = leaf(randn(g.num_nodes, 4, seed=seed)), leaf(randn(g.num_nodes, 4, seed=seed))
    ya, ga = fwd_bwd(lambda: ours(g, xa), [xa] + params(ours))
    yb, gb = fwd_bwd(lambda: theirs(xb, g.edge_index), [xb] + params(theirs))
    assert_close(ya, yb)
    assert len(ga) == len(gb)
    for a, b in zip(ga, gb):
        assert_close(a.view(b.shape), b)  # eps: a scalar here, shape [1] in PyG


def test_gin_zero_eps_shortcut_equals_the_formula_and_follows_eps_changes():
    g = make_graph(0)
    layer = GINConv(nn.Identity(), eps=0.0)  # a fixed eps of 0 takes x + sum, skipping the (1 + eps) multiply
    x = randn(g.num_nodes, 4, seed=0)
    agg = ops.spmm(g, x)
    assert torch.equal(layer(g, x), (1 + layer.eps) * x + agg)
    layer.eps.data.fill_(0.5)  # no version bump: the value is read on every call
    assert_close(layer(g, x), 1.5 * x + agg)
    layer.load_state_dict({"eps": torch.tensor(0.0)})
    assert torch.equal(layer(g, x), x + agg)


# ================================================================ vs DGL
_DGL_ACTIVATIONS = {None: None, "relu": torch.relu, "elu": torch.nn.functional.elu}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("fin,fout", SIZES)
@pytest.mark.parametrize("existing_loops", [False, True])
@pytest.mark.parametrize("activation", [None, "relu", "elu"])  # DGL's GraphConv(activation=...)
def test_gcn_matches_dgl(seed, fin, fout, existing_loops, activation):
    """DGL's norm='both' uses out-degrees of sources and in-degrees of destinations: equal on a symmetric graph.

    ``dgl.add_self_loop`` adds a loop even where one exists, so with existing loops gnnkit
    runs with ``add_self_loops=False`` on the very graph DGL sees.
    """
    dgl = _dgl()
    g = make_graph(seed, symmetric=True)
    if not existing_loops:
        g = g.remove_self_loops()
    dg = dgl.add_self_loop(g.to_dgl())
    if existing_loops:
        g = Graph.from_dgl(dg)
    ours = randomize_(GCNConv(fin, fout, add_self_loops=not existing_loops, activation=activation), seed)
    theirs = dgl.nn.GraphConv(fin, fout, norm="both", activation=_DGL_ACTIVATIONS[activation])
    with torch.no_grad():
        theirs.weight.copy_(ours.lin.weight.t())
        theirs.bias.copy_(ours.bias)
    xa, xb = leaf(randn(g.num_nodes, fin, seed=seed)), leaf(randn(g.num_nodes, fin, seed=seed))
    ya, (gxa, gwa, gba) = fwd_bwd(lambda: ours(g, xa), [xa, ours.lin.weight, ours.bias])
    yb, (gxb, gwb, gbb) = fwd_bwd(lambda: theirs(dg, xb), [xb, theirs.weight, theirs.bias])
    assert_close(ya, yb)
    assert_close(gxa, gxb)
    assert_close(gwa, gwb.t())  # DGL stores W as [in, out]
    assert_close(gba, gbb)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("fin,fout", SIZES)
@pytest.mark.parametrize("activation", [None, "relu", "elu"])  # DGL's SAGEConv(activation=...)
def test_sage_mean_matches_dgl(seed, fin, fout, activation):
    """DGL: fc_neigh (no bias) on the mean, fc_self carries the bias; gnnkit: lin_l has the bias, lin_r the root."""
    dgl = _dgl()
    g = make_graph(seed)
    ours = randomize_(SAGEConv(fin, fout, reduce="mean", activation=activation), seed)
    theirs = dgl.nn.SAGEConv(fin, fout, "mean", activation=_DGL_ACTIVATIONS[activation])
    with torch.no_grad():
        theirs.fc_neigh.weight.copy_(ours.lin_l.weight)
        theirs.fc_self.weight.copy_(ours.lin_r.weight)
        theirs.fc_self.bias.copy_(ours.lin_l.bias)
    xa, xb = leaf(randn(g.num_nodes, fin, seed=seed)), leaf(randn(g.num_nodes, fin, seed=seed))
    ya, ga = fwd_bwd(lambda: ours(g, xa), [xa, ours.lin_l.weight, ours.lin_r.weight, ours.lin_l.bias])
    yb, gb = fwd_bwd(
        lambda: theirs(g.to_dgl(), xb), [xb, theirs.fc_neigh.weight, theirs.fc_self.weight, theirs.fc_self.bias]
    )
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("concat", [True, False])
def test_gat_matches_dgl(seed, heads, concat):
    """Without added loops, on a graph with zero-in-degree vertices (DGL: allow_zero_in_degree).

    DGL returns ``[N, H, F]`` with a ``[H F]`` bias; for ``concat=False`` we average its
    heads and give it the gnnkit bias repeated per head, so its bias gradient summed over
    heads is gnnkit's.
    """
    dgl = _dgl()
    g = make_graph(seed)
    f = 3
    ours = randomize_(GATConv(5, f, heads=heads, concat=concat, add_self_loops=False), seed)
    theirs = dgl.nn.GATConv(5, f, heads, allow_zero_in_degree=True)
    with torch.no_grad():
        theirs.fc.weight.copy_(ours.lin.weight)
        theirs.attn_l.copy_(ours.att_src)
        theirs.attn_r.copy_(ours.att_dst)
        theirs.bias.copy_(ours.bias if concat else ours.bias.repeat(heads))
    dg = g.to_dgl()

    def run_dgl(x):
        out = theirs(dg, x)  # [N, H, F]
        return out.reshape(g.num_nodes, heads * f) if concat else out.mean(1)

    xa, xb = leaf(randn(g.num_nodes, 5, seed=seed)), leaf(randn(g.num_nodes, 5, seed=seed))
    ya, ga = fwd_bwd(lambda: ours(g, xa), [xa, ours.lin.weight, ours.att_src, ours.att_dst, ours.bias])
    yb, gb = fwd_bwd(lambda: run_dgl(xb), [xb, theirs.fc.weight, theirs.attn_l, theirs.attn_r, theirs.bias])
    assert_close(ya, yb)
    for a, b in zip(ga[:4], gb[:4]):
        assert_close(a, b)
    assert_close(ga[4], gb[4] if concat else gb[4].view(heads, f).sum(0))


@pytest.mark.parametrize("seed", [0, 1])
def test_gin_matches_dgl(seed):
    dgl = _dgl()
    g = make_graph(seed)
    mlp = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    ours = randomize_(GINConv(mlp, eps=0.3, train_eps=True), seed)
    theirs = dgl.nn.GINConv(copy.deepcopy(ours.nn), "sum", init_eps=0.3, learn_eps=True)
    theirs.apply_func.load_state_dict(ours.nn.state_dict())
    with torch.no_grad():
        theirs.eps.copy_(ours.eps.view(1))
    xa, xb = leaf(randn(g.num_nodes, 4, seed=seed)), leaf(randn(g.num_nodes, 4, seed=seed))
    ours_params = [ours.eps] + params(ours.nn)
    theirs_params = [theirs.eps] + params(theirs.apply_func)
    ya, ga = fwd_bwd(lambda: ours(g, xa), [xa] + ours_params)
    yb, gb = fwd_bwd(lambda: theirs(g.to_dgl(), xb), [xb] + theirs_params)
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a.view(b.shape), b)


# ===================================================== vs dense float64 formulas
def dense_gcn(layer: GCNConv, g: Graph, x: Tensor, edge_weight: Tensor | None = None) -> Tensor:
    r""":math:`\hat D^{-1/2} \hat A \hat D^{-1/2} X W^T + b`, :math:`\hat A` = A with one loop per vertex."""
    a = with_unit_loops(dense_adj(g, edge_weight), keep_existing=edge_weight is not None)
    deg = a.sum(1)  # weighted in-degree
    dinv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return (dinv[:, None] * a * dinv[None, :]) @ x @ layer.lin.weight.t() + layer.bias


def dense_sage(layer: SAGEConv, g: Graph, x: Tensor) -> Tensor:
    h = dense_aggregate(dense_adj(g), x, layer.reduce)
    return h @ layer.lin_l.weight.t() + layer.lin_l.bias + x @ layer.lin_r.weight.t()


def dense_gat(layer: GATConv, g: Graph, x: Tensor) -> Tensor:
    """Per head: alpha[v, u] ∝ A[v, u] exp(LeakyReLU(a_s·z_u + a_d·z_v)), duplicates counted by A."""
    a = dense_adj(g)
    if layer.add_self_loops:
        a = with_unit_loops(a)
    z = (x @ layer.lin.weight.t()).view(-1, layer.heads, layer.out_features)  # [N, H, F']
    s_src = (z * layer.att_src).sum(-1)  # [N, H]
    s_dst = (z * layer.att_dst).sum(-1)
    score = torch.nn.functional.leaky_relu(s_dst[:, None, :] + s_src[None, :, :], layer.negative_slope)  # [N(v), N(u), H]
    p = a[:, :, None] * torch.exp(score)
    den = p.sum(1, keepdim=True)
    alpha = p / torch.where(den > 0, den, torch.ones_like(den))
    out = torch.einsum("vuh,uhf->vhf", alpha, z)  # [N, H, F']
    out = out.reshape(x.shape[0], -1) if layer.concat else out.mean(1)
    return out + layer.bias


def dense_gin(layer: GINConv, g: Graph, x: Tensor) -> Tensor:
    return layer.nn((1 + layer.eps) * x + dense_aggregate(dense_adj(g), x, layer.reduce))


DENSE_CASES = {
    "gcn_shrink": (lambda: GCNConv(6, 3), dense_gcn),
    "gcn_grow": (lambda: GCNConv(6, 9), dense_gcn),
    **{f"sage_{a}_{fo}": (lambda a=a, fo=fo: SAGEConv(6, fo, reduce=a), dense_sage) for a in SAGE_AGGRS for fo in (3, 9)},
    "gat_h1": (lambda: GATConv(6, 3), dense_gat),
    "gat_h4_concat": (lambda: GATConv(6, 3, heads=4), dense_gat),
    "gat_h4_mean": (lambda: GATConv(6, 3, heads=4, concat=False), dense_gat),
    "gat_h3_no_loops": (lambda: GATConv(6, 3, heads=3, add_self_loops=False), dense_gat),
    **{
        f"gin_{a}": (lambda a=a: GINConv(nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)), 0.2, True, a), dense_gin)
        for a in ("sum", "mean", "max", "min")
    },
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", sorted(DENSE_CASES))
def test_layer_matches_dense_formula(case, device):
    make, formula = DENSE_CASES[case]
    g = make_graph(7).to(device)
    layer = randomize_(make().double(), 7).to(device)
    x = leaf(randn(g.num_nodes, 6, seed=7, dtype=torch.float64).to(device))
    ya, ga = fwd_bwd(lambda: layer(g, x), [x] + params(layer))
    yb, gb = fwd_bwd(lambda: formula(layer, g, x), [x] + params(layer))
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fout", [3, 9])
def test_gcn_edge_weight_matches_dense_formula(fout, device):
    g = make_graph(8).to(device)
    layer = randomize_(GCNConv(6, fout).double(), 8).to(device)
    x = leaf(randn(g.num_nodes, 6, seed=8, dtype=torch.float64).to(device))
    w = leaf((torch.rand(g.num_edges, generator=torch.Generator().manual_seed(8), dtype=torch.float64) + 0.1).to(device))
    ya, ga = fwd_bwd(lambda: layer(g, x, w), [x, w] + params(layer))
    yb, gb = fwd_bwd(lambda: dense_gcn(layer, g, x, w), [x, w] + params(layer))
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


def test_gcn_isolated_vertex_without_loops_gets_bias_only():
    """Hand case: no loops added, degree 0 → normalisation 0, so the row is just the bias."""
    g = Graph.from_edges([(0, 1)], num_nodes=3)
    layer = randomize_(GCNConv(2, 2, add_self_loops=False), 0)
    out = layer(g, torch.ones(3, 2))
    assert_close(out[0], layer.bias.detach())
    assert_close(out[2], layer.bias.detach())
    # vertex 1: in-degree 1, source 0 has in-degree 0 → weight 1/sqrt(0·1) := 0 (PyG's convention)
    assert_close(out[1], layer.bias.detach())


def test_gat_return_attention_sums_to_one_per_destination():
    g = make_graph(4)
    layer = GATConv(5, 2, heads=3)
    _, (loop_g, alpha) = layer(g, randn(g.num_nodes, 5), return_attention=True)
    assert alpha.shape == (loop_g.num_edges, 3)
    sums = torch.zeros(g.num_nodes, 3).index_add_(0, loop_g.dst, alpha.detach())
    assert_close(sums, torch.ones(g.num_nodes, 3))  # every vertex has its loop, so none sums to 0


# ====================================================================== GNNLayer
def loop_aggregate(aggregator, m: Tensor, width: int) -> Tensor:
    """The oracle for one vertex: ``m`` holds its in-edge messages ``[k, M]`` in edge order (``k`` may be 0)."""
    if isinstance(aggregator, DeepSetsAggregation):
        return aggregator.rho(aggregator.phi(m).sum(0))  # the empty sum is 0, so rho(0)
    if m.shape[0] == 0:
        return m.new_zeros(width)
    if isinstance(aggregator, SoftmaxAggregation):
        alpha = torch.softmax(aggregator.t * m, dim=0)
        return (alpha * m).sum(0)
    if isinstance(aggregator, LSTMAggregation):
        _, (h_n, _) = aggregator.lstm(m.unsqueeze(0))
        return h_n[-1, 0]
    return {"sum": m.sum(0), "mean": m.mean(0), "max": m.amax(0), "min": m.amin(0)}[aggregator]


def loop_layer(layer: GNNLayer, g: Graph, x: Tensor, e: Tensor | None) -> Tensor:
    """GNNLayer as a Python loop: one edge-function call per edge, one aggregation per vertex."""
    msgs = torch.stack([
        layer.edge_fn(x[u][None], x[v][None], None if e is None else e[i][None])[0]
        for i, (u, v) in enumerate(zip(g.src.tolist(), g.dst.tolist()))
    ])  # [E, M]
    width = layer.reduce.out_features if isinstance(layer.reduce, LSTMAggregation) else msgs.shape[1]
    dst = g.dst.tolist()
    h = torch.stack([
        loop_aggregate(layer.reduce, msgs[[i for i in range(g.num_edges) if dst[i] == v]], width)
        for v in range(g.num_nodes)
    ])  # [N, M]
    return h if layer.vertex_fn is None else layer.vertex_fn(x, h)


F_IN, F_EDGE, F_MSG = 3, 2, 4
AGGREGATOR_CASES = {
    "sum": lambda: "sum",
    "mean": lambda: "mean",
    "max": lambda: "max",
    "min": lambda: "min",
    "softmax": lambda: "softmax",
    "softmax_learn_t": lambda: SoftmaxAggregation(t=2.5, learn=True),
    "deepsets": lambda: DeepSetsAggregation(nn.Sequential(nn.Linear(F_MSG, 5), nn.ReLU()), nn.Linear(5, 3)),
    "lstm": lambda: LSTMAggregation(F_MSG, 3),
}


@pytest.mark.parametrize("with_vertex_fn", [False, True])
@pytest.mark.parametrize("aggr", sorted(AGGREGATOR_CASES))
def test_gnn_layer_custom_edge_fn_matches_loop(aggr, with_vertex_fn):
    g = tiny_graph()
    aggregator = AGGREGATOR_CASES[aggr]()
    width = {"deepsets": 3, "lstm": 3}.get(aggr, F_MSG)
    vertex_fn = ConcatVertex(F_IN, width, 2, activation=nn.Tanh()) if with_vertex_fn else None
    layer = randomize_(GNNLayer(EdgeMLP(F_IN, F_EDGE, F_MSG), aggregator, vertex_fn).double(), 5)
    x = leaf(randn(g.num_nodes, F_IN, seed=5, dtype=torch.float64))
    e = leaf(randn(g.num_edges, F_EDGE, seed=6, dtype=torch.float64))
    ya, ga = fwd_bwd(lambda: layer(g, x, e), [x, e] + params(layer))
    yb, gb = fwd_bwd(lambda: loop_layer(layer, g, x, e), [x, e] + params(layer))
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


SOURCE_FN_CASES = {
    # name: (edge fn, edge data shape [E, ...] or None)
    "copy": (lambda: CopySource(), None),
    "weighted_E": (lambda: EdgeWeighted(), ()),
    "weighted_E1": (lambda: EdgeWeighted(), (1,)),
    "linear": (lambda: LinearSource(F_IN, F_MSG, bias=True), None),
    "linear_weighted": (lambda: LinearSource(F_IN, F_MSG, use_edge_weight=True), ()),
}


@pytest.mark.parametrize("aggr", ops.REDUCES)
@pytest.mark.parametrize("fn", sorted(SOURCE_FN_CASES))
def test_gnn_layer_source_edge_fns_match_loop(fn, aggr):
    """The general (per-edge) path of the built-in edge functions, against the loop oracle."""
    make, e_shape = SOURCE_FN_CASES[fn]
    g = tiny_graph()
    layer = randomize_(GNNLayer(make(), aggr, fuse=False).double(), 2)
    x = leaf(randn(g.num_nodes, F_IN, seed=2, dtype=torch.float64))
    e = None if e_shape is None else leaf(randn(g.num_edges, *e_shape, seed=3, dtype=torch.float64))
    wrt = [x] + ([] if e is None else [e]) + params(layer)
    ya, ga = fwd_bwd(lambda: layer(g, x, e), wrt)
    yb, gb = fwd_bwd(lambda: loop_layer(layer, g, x, e), wrt)
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


def _fused_general_pair(fn: nn.Module, aggr: str, vertex_fn: nn.Module | None) -> tuple[GNNLayer, GNNLayer]:
    """Two layers sharing the same edge/vertex modules (hence parameters), fused and not."""
    return GNNLayer(fn, aggr, vertex_fn), GNNLayer(fn, aggr, vertex_fn, fuse=False)


def _no_gather(*args, **kwargs):
    raise AssertionError("the fused path must not build per-edge messages")


@pytest.mark.parametrize("aggr", ops.REDUCES)
@pytest.mark.parametrize("fn", sorted(SOURCE_FN_CASES))
def test_gnn_layer_fused_equals_general(fn, aggr, monkeypatch):
    make, e_shape = SOURCE_FN_CASES[fn]
    g = make_graph(11)
    edge_fn = randomize_(make(), 11)
    width = F_MSG if isinstance(edge_fn, LinearSource) else F_IN
    fused, general = _fused_general_pair(edge_fn, aggr, randomize_(ConcatVertex(F_IN, width, 2), 12))
    x = leaf(randn(g.num_nodes, F_IN, seed=11))
    e = None if e_shape is None else leaf(torch.rand(g.num_edges, *e_shape, generator=torch.Generator().manual_seed(3)) + 0.1)
    wrt = [x] + ([] if e is None else [e]) + params(fused)
    yb, gb = fwd_bwd(lambda: general(g, x, e), wrt)
    monkeypatch.setattr(ops, "gather", _no_gather)  # proves the fused layer takes the spmm path
    ya, ga = fwd_bwd(lambda: fused(g, x, e), wrt)
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


@pytest.mark.parametrize("aggr", ops.REDUCES)
@pytest.mark.parametrize("e_heads", [0, 1, 3])
@pytest.mark.parametrize("fn", [CopySource, EdgeWeighted])
def test_gnn_layer_fused_equals_general_multi_head(fn, e_heads, aggr, monkeypatch):
    """x ``[N, H, F]`` with edge data ``[E]`` (e_heads=0), ``[E, 1]`` or per-head ``[E, H]``."""
    g = make_graph(13)
    heads = 3
    fused, general = _fused_general_pair(fn(), aggr, None)
    x = leaf(randn(g.num_nodes, heads, 2, seed=13))
    shape = (g.num_edges,) if e_heads == 0 else (g.num_edges, e_heads)
    e = leaf(torch.rand(*shape, generator=torch.Generator().manual_seed(13)) + 0.1)
    wrt = [x, e] if fn is EdgeWeighted else [x]
    yb, gb = fwd_bwd(lambda: general(g, x, e), wrt)
    assert yb.shape == (g.num_nodes, heads, 2)
    monkeypatch.setattr(ops, "gather", _no_gather)
    ya, ga = fwd_bwd(lambda: fused(g, x, e), wrt)
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


def test_softmax_string_builds_softmax_aggregation():
    layer = GNNLayer(CopySource(), "softmax")
    assert isinstance(layer.reduce, SoftmaxAggregation)
    assert float(layer.reduce.t) == 1.0


@pytest.mark.parametrize("t,learn", [(0.0, False), (1.0, False), (3.0, True)])
def test_softmax_aggregation_matches_loop(t, learn):
    g = tiny_graph()
    agg = SoftmaxAggregation(t=t, learn=learn).double()
    m = leaf(randn(g.num_edges, 3, seed=4, dtype=torch.float64))
    wrt = [m] + params(agg)
    dst = g.dst.tolist()
    ya, ga = fwd_bwd(lambda: agg(g, m), wrt)
    yb, gb = fwd_bwd(
        lambda: torch.stack([loop_aggregate(agg, m[[i for i in range(len(dst)) if dst[i] == v]], 3) for v in range(5)]),
        wrt,
    )
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)
    assert_close(ya[[0, 4]], torch.zeros(2, 3, dtype=torch.float64))  # no in-edges → 0


def test_softmax_aggregation_t0_is_mean():
    g = make_graph(2)
    m = randn(g.num_edges, 4, seed=2, dtype=torch.float64)
    assert_close(SoftmaxAggregation(t=0.0).double()(g, m), ops.segment_reduce(g, m, "mean"))


def test_deepsets_aggregation_matches_formula():
    g = tiny_graph()
    phi, rho = nn.Linear(3, 4).double(), nn.Linear(4, 2).double()
    agg = randomize_(DeepSetsAggregation(phi, rho), 0)
    m = leaf(randn(g.num_edges, 3, seed=0, dtype=torch.float64))
    onehot = torch.zeros(g.num_nodes, g.num_edges, dtype=torch.float64)
    onehot[g.dst, torch.arange(g.num_edges)] = 1  # [N, E] incidence of in-edges
    ya, ga = fwd_bwd(lambda: agg(g, m), [m] + params(agg))
    yb, gb = fwd_bwd(lambda: rho(onehot @ phi(m)), [m] + params(agg))
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)


@pytest.mark.parametrize("sorted_edges", [False, True])
def test_lstm_aggregation_matches_per_vertex_lstm(sorted_edges):
    """nn.LSTM over each vertex's in-edge messages in edge order; isolated vertices → 0.

    ``sorted_edges`` covers both CSR layouts: with an edge permutation and without.
    """
    g = tiny_graph()
    if sorted_edges:
        g = g.sort_by_dst()
        assert g.is_sorted_by_dst()
    agg = randomize_(LSTMAggregation(3, 4).double(), 1)
    m = leaf(randn(g.num_edges, 3, seed=1, dtype=torch.float64))
    dst = g.dst.tolist()
    ya, ga = fwd_bwd(lambda: agg(g, m), [m] + params(agg))
    yb, gb = fwd_bwd(
        lambda: torch.stack([loop_aggregate(agg, m[[i for i in range(len(dst)) if dst[i] == v]], 4) for v in range(5)]),
        [m] + params(agg),
    )
    assert_close(ya, yb)
    for a, b in zip(ga, gb):
        assert_close(a, b)
    assert_close(ya[[0, 4]], torch.zeros(2, 4, dtype=torch.float64))


def test_lstm_aggregation_depends_on_edge_order():
    """Not permutation invariant: reversing a vertex's two in-edges changes its aggregate."""
    g = Graph.from_edges([(0, 2), (1, 2)], num_nodes=3)
    g_rev = Graph.from_edges([(1, 2), (0, 2)], num_nodes=3)
    agg = randomize_(LSTMAggregation(2, 3), 0)
    m = randn(2, 2, seed=0)
    assert not torch.allclose(agg(g, m)[2], agg(g_rev, m.flip(0))[2])


def test_lstm_aggregation_zero_edges():
    g = Graph(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), 3)
    out = LSTMAggregation(2, 4)(g, torch.zeros(0, 2))
    assert_close(out, torch.zeros(3, 4))


def test_concat_vertex_matches_formula():
    vf = randomize_(ConcatVertex(3, 2, 4, activation=nn.Tanh()).double(), 0)
    x = leaf(randn(5, 3, seed=0, dtype=torch.float64))
    h = leaf(randn(5, 2, seed=1, dtype=torch.float64))
    w, b = vf.lin.weight, vf.lin.bias
    ya, ga = fwd_bwd(lambda: vf(x, h), [x, h, w, b])
    yb, gb = fwd_bwd(lambda: torch.tanh(x @ w[:, :3].t() + h @ w[:, 3:].t() + b), [x, h, w, b])
    assert_close(ya, yb)
    for a, b_ in zip(ga, gb):
        assert_close(a, b_)


def test_concat_vertex_default_activation_is_identity():
    vf = ConcatVertex(2, 2, 3)
    x, h = randn(4, 2, seed=0), randn(4, 2, seed=1)
    assert_close(vf(x, h), vf.lin(torch.cat([x, h], -1)))


# ------------------------------------------------------------ validation
def test_gnn_layer_rejects_non_callable_edge_fn():
    with pytest.raises(TypeError, match="edge_fn must be an nn.Module or callable, got int"):
        GNNLayer(3, "sum")


def test_gnn_layer_rejects_unknown_reduce_string():
    with pytest.raises(ValueError, match="reduce must be one of .* got 'median'"):
        GNNLayer(CopySource(), "median")


def test_gnn_layer_rejects_non_callable_reduce():
    with pytest.raises(TypeError, match="reduce must be a string or a module/callable"):
        GNNLayer(CopySource(), 3)


def test_gnn_layer_rejects_non_callable_vertex_fn():
    with pytest.raises(TypeError, match="vertex_fn must be an nn.Module, a callable or None, got str"):
        GNNLayer(CopySource(), "sum", vertex_fn="relu")


@pytest.mark.parametrize("fuse", [True, False])
def test_edge_weighted_needs_edge_data(fuse):
    g = tiny_graph()
    with pytest.raises(ValueError, match="EdgeWeighted uses edge weights, but the layer was called with edge_weight=None"):
        GNNLayer(EdgeWeighted(), "sum", fuse=fuse)(g, torch.ones(5, 2))


def test_edge_weighted_rejects_per_head_weights_for_2d_messages():
    g = tiny_graph()
    e = torch.ones(g.num_edges, 3)
    with pytest.raises(ValueError, match=r"must have shape \[E\] or \[E, 1\], got \(8, 3\)"):
        GNNLayer(EdgeWeighted(), "sum", fuse=False)(g, torch.ones(5, 2), e)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("fout", [2, 7])  # project first (F' < F) and aggregate first
def test_sage_edge_weight_matches_dense_weighted_formula(reduce, fout):
    g = make_graph(3)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(g.num_nodes, 5, dtype=torch.float64, generator=gen)
    w = torch.rand(g.num_edges, dtype=torch.float64, generator=gen) + 0.1
    layer = randomize_(SAGEConv(5, fout, reduce=reduce).double(), 5)
    a = dense_adj(g, w)  # [N, N] summed weights
    h = a @ x
    if reduce == "mean":  # weighted mean; a vertex without in-edges gets 0
        total = a.sum(1, keepdim=True)
        h = h / torch.where(total > 0, total, torch.ones_like(total))
    want = h @ layer.lin_l.weight.t() + layer.lin_l.bias + x @ layer.lin_r.weight.t()
    torch.testing.assert_close(layer(g, x, w), want)
    # unit weights give the unweighted layer
    torch.testing.assert_close(layer(g, x, torch.ones_like(w)), layer(g, x))


def test_sage_edge_weight_rejects_bad_input():
    g, x = make_graph(0), torch.randn(10, 3)
    with pytest.raises(ValueError, match="edge_weight needs reduce 'sum' or 'mean', but this SAGEConv has reduce='max'"):
        SAGEConv(3, 2, reduce="max")(g, x, torch.ones(g.num_edges))
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[E=28\], got \(3,\)"):
        SAGEConv(3, 2)(g, x, torch.ones(3))


def test_sage_rejects_unknown_reduce():
    with pytest.raises(ValueError, match="reduce must be one of .* got 'lstm'"):
        SAGEConv(3, 2, reduce="lstm")


def test_gin_rejects_unknown_reduce():
    with pytest.raises(ValueError, match="reduce must be one of .* got 'add'"):
        GINConv(nn.Linear(3, 2), reduce="add")


def test_gat_rejects_zero_heads():
    with pytest.raises(ValueError, match="heads must be >= 1, got 0"):
        GATConv(3, 2, heads=0)


# ------------------------------------------------------------ reset_parameters
def _scramble_(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(7.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: GCNConv(4, 3),
        lambda: SAGEConv(4, 3),
        lambda: GATConv(4, 3, heads=2),
        lambda: GINConv(nn.Linear(4, 3), eps=0.5, train_eps=True),  # a bare Linear as the MLP
        lambda: GINConv(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), eps=0.5, train_eps=True),
    ],
    ids=["gcn", "sage", "gat", "gin_linear", "gin_sequential"],
)
def test_reset_parameters_reinitializes_every_parameter(make):
    layer = make()
    _scramble_(layer)
    layer.reset_parameters()
    for name, p in layer.named_parameters():
        assert not torch.all(p == 7.0), name
    if isinstance(layer, GINConv):
        assert float(layer.eps.detach()) == 0.5


# ====================================================== permutation properties
def _perm_cases() -> dict[str, Callable[[], nn.Module]]:
    return {
        "gcn": lambda: GCNConv(4, 3),
        "gcn_grow": lambda: GCNConv(4, 6),
        **{f"sage_{a}": (lambda a=a: SAGEConv(4, 3, reduce=a)) for a in SAGE_AGGRS},
        "gat": lambda: GATConv(4, 3, heads=2),
        "gat_mean": lambda: GATConv(4, 3, heads=2, concat=False),
        "gin": lambda: GINConv(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)), eps=0.3),
        **{f"layer_copy_{a}": (lambda a=a: GNNLayer(CopySource(), a)) for a in ops.REDUCES},
        "layer_mlp_softmax": lambda: GNNLayer(EdgeMLP(4, 0, 3), "softmax", ConcatVertex(4, 3, 2)),
        "layer_linear_deepsets": lambda: GNNLayer(
            LinearSource(4, 3), DeepSetsAggregation(nn.Linear(3, 3), nn.Linear(3, 2)), fuse=False
        ),
        "layer_lstm": lambda: GNNLayer(CopySource(), LSTMAggregation(4, 3)),
    }


PERM_CASES = _perm_cases()


@pytest.mark.parametrize("case", sorted(PERM_CASES))
def test_node_permutation_equivariance(case):
    """Relabel vertices (rows of x with them): the output rows move the same way."""
    layer = randomize_(PERM_CASES[case]().double(), 0)
    for seed in range(4):
        g = make_graph(seed, num_nodes=8, num_edges=14)
        x = randn(g.num_nodes, 4, seed=seed, dtype=torch.float64)
        perm = torch.randperm(g.num_nodes, generator=torch.Generator().manual_seed(100 + seed))
        assert_close(layer(permute_nodes(g, perm), x[perm]), layer(g, x)[perm])


@pytest.mark.parametrize("case", sorted(set(PERM_CASES) - {"layer_lstm"}))  # LSTM reads edges in order
def test_edge_permutation_invariance(case):
    layer = randomize_(PERM_CASES[case]().double(), 0)
    for seed in range(4):
        g = make_graph(seed, num_nodes=8, num_edges=14)
        x = randn(g.num_nodes, 4, seed=seed, dtype=torch.float64)
        perm = torch.randperm(g.num_edges, generator=torch.Generator().manual_seed(200 + seed))
        assert_close(layer(Graph(g.src[perm], g.dst[perm], g.num_nodes), x), layer(g, x))


@pytest.mark.parametrize(
    "make", [lambda: GCNConv(4, 3), lambda: GNNLayer(EdgeWeighted(), "max")], ids=["gcn", "layer_weighted_max"]
)
def test_edge_weight_follows_edge_permutation(make):
    """Edge weights permuted with their edges give the same output; vertex permutation is equivariant."""
    layer = randomize_(make().double(), 0)
    for seed in range(4):
        g = make_graph(seed, num_nodes=8, num_edges=14)
        x = randn(g.num_nodes, 4, seed=seed, dtype=torch.float64)
        w = torch.rand(g.num_edges, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 0.1
        ref = layer(g, x, w)
        ep = torch.randperm(g.num_edges, generator=torch.Generator().manual_seed(300 + seed))
        assert_close(layer(Graph(g.src[ep], g.dst[ep], g.num_nodes), x, w[ep]), ref)
        nperm = torch.randperm(g.num_nodes, generator=torch.Generator().manual_seed(400 + seed))
        assert_close(layer(permute_nodes(g, nperm), x[nperm], w), ref[nperm])


# ================================================================== gradcheck
def _gradcheck_module(layer: nn.Module, g: Graph, x: Tensor, *extra: Tensor) -> None:
    """gradcheck through x, any extra inputs (edge weights) and every parameter of ``layer``."""
    names = [n for n, p in layer.named_parameters() if p.requires_grad]
    ps = [leaf(dict(layer.named_parameters())[n]) for n in names]
    n_extra = len(extra)

    def fn(x_, *rest):
        extra_, ps_ = rest[:n_extra], rest[n_extra:]
        return functional_call(layer, dict(zip(names, ps_)), (g, x_, *extra_))

    assert torch.autograd.gradcheck(fn, (leaf(x), *map(leaf, extra), *ps))


GRADCHECK_CASES = {
    "gcn": lambda: GCNConv(3, 2),
    "gcn_grow": lambda: GCNConv(3, 4),
    **{f"sage_{a}_{fo}": (lambda a=a, fo=fo: SAGEConv(3, fo, reduce=a)) for a in SAGE_AGGRS for fo in (2, 4)},
    "gat_h1": lambda: GATConv(3, 2, dropout=0.0),
    "gat_h2_concat": lambda: GATConv(3, 2, heads=2, dropout=0.0),
    "gat_h2_mean": lambda: GATConv(3, 2, heads=2, concat=False, dropout=0.0),
}


@pytest.mark.parametrize("case", sorted(GRADCHECK_CASES))
def test_gradcheck(case):
    g = tiny_graph()
    layer = randomize_(GRADCHECK_CASES[case]().double(), 0)
    _gradcheck_module(layer, g, randn(g.num_nodes, 3, seed=0, dtype=torch.float64))


def test_gradcheck_gcn_edge_weight():
    g = tiny_graph()
    layer = randomize_(GCNConv(3, 2).double(), 0)
    w = torch.rand(g.num_edges, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5
    _gradcheck_module(layer, g, randn(g.num_nodes, 3, seed=0, dtype=torch.float64), w)


# ------------------------------------------------------------- bipartite blocks
def _block_and_square():
    """A bipartite block over 6 sources / 3 destinations and the square graph it cuts out."""
    torch.manual_seed(3)
    src = torch.tensor([0, 3, 4, 5, 1, 2, 5, 0])
    dst = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2])
    block = Graph(src, dst, 3, num_src_nodes=6)
    square = Graph(src, dst, 6)  # destinations are the first 3 of the 6 vertices
    return block, square, torch.randn(6, 5)


@pytest.mark.parametrize("layer", [
    lambda: SAGEConv(5, 3), lambda: SAGEConv(5, 8), lambda: GINConv(torch.nn.Linear(5, 4)),
    lambda: GATConv(5, 2, heads=2, add_self_loops=False),
])
def test_layers_on_a_block_equal_the_square_graph_rows(layer):
    block, square, x = _block_and_square()
    conv = layer()
    torch.testing.assert_close(conv(block, x), conv(square, x)[:3])


def test_layers_that_need_one_vertex_set_reject_a_block():
    block, _, x = _block_and_square()
    with pytest.raises(ValueError, match="needs one vertex set"):
        GCNConv(5, 3)(block, x)
    with pytest.raises(ValueError, match="needs one vertex set"):
        GATConv(5, 3)(block, x)
