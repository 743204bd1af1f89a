"""gnnkit.blocks: MLP, CNN encoders, GRU/LSTM/LRU cells, attention, and the GNNLayer adapters."""
import cmath
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.testing import assert_close

from gnnkit import Graph
from gnnkit.blocks import (
    LRU,
    MLP,
    ConcatEdgeFn,
    ConcatVertexFn,
    Conv1dEncoder,
    Conv2dEncoder,
    GRUCell,
    LSTMCell,
    NeighborAttention,
    RecurrentVertexFn,
    SequenceEncoder,
    SourceTransform,
    TransformerBlock,
)
from gnnkit.nn import GNNLayer, LinearSource

from conftest import dense_adjacency, random_graph


def simple_graph(n: int = 6, e: int = 14, seed: int = 0) -> Graph:
    """A random graph without duplicate edges (dense oracles cannot tell duplicates apart)."""
    return random_graph(n, e, seed).coalesce()


# ------------------------------------------------------------------- MLP
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
def test_mlp_depth_and_shape(norm):
    mlp = MLP(5, 8, 3, num_layers=3, activation="gelu", norm=norm, dropout=0.1)
    assert sum(isinstance(m, nn.Linear) for m in mlp.modules()) == 3
    assert mlp(torch.randn(7, 5)).shape == (7, 3)
    mlp.eval()
    x = torch.randn(4, 5)
    assert_close(mlp(x), mlp(x))  # dropout off in eval


def test_mlp_one_layer_is_linear():
    mlp = MLP(4, 99, 2, num_layers=1)
    lin = mlp.layers[0]
    x = torch.randn(3, 4)
    assert_close(mlp(x), lin(x))


def test_mlp_bad_input():
    with pytest.raises(ValueError, match=r"MLP expects x of shape \[\.\.\., F\] with F = in_features = 5, got \(3, 4\)"):
        MLP(5, 8, 3)(torch.randn(3, 4))
    with pytest.raises(ValueError, match="activation must be one of"):
        MLP(5, 8, 3, activation="swishy")
    with pytest.raises(ValueError, match="num_layers must be a positive int, got 0"):
        MLP(5, 8, 3, num_layers=0)
    with pytest.raises(ValueError, match="norm must be one of"):
        MLP(5, 8, 3, norm="group")
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\), got 1.0"):
        MLP(5, 8, 3, dropout=1.0)


def test_mlp_as_edge_fn_matches_per_edge_loop():
    torch.manual_seed(0)
    g = random_graph(5, 12, seed=1)  # duplicates and self-loops welcome here
    x, e = torch.randn(5, 3), torch.randn(12, 2)
    mlp = MLP(3 + 3 + 2, 16, 4)
    layer = GNNLayer(ConcatEdgeFn(mlp, use_dst=True, use_edge=True), "sum", ConcatVertexFn(MLP(3 + 4, 8, 6)))
    out = layer(g, x, e)
    h = torch.zeros(5, 4)
    for i in range(g.num_edges):
        u, v = int(g.src[i]), int(g.dst[i])
        h[v] += mlp(torch.cat([x[u], x[v], e[i]]))
    assert_close(out, layer.vertex_fn.block(torch.cat([x, h], -1)))
    with pytest.raises(ValueError, match="needs edge data"):
        layer(g, x)


# ------------------------------------------------------------------- CNN
def test_conv_encoders_shapes_and_vertex_independence():
    torch.manual_seed(0)
    enc1 = Conv1dEncoder(2, [4, 8], 5, norm="batch").eval()
    x1 = torch.randn(6, 2, 16)
    assert enc1(x1).shape == (6, 5)
    assert_close(enc1(x1[2:3]), enc1(x1)[2:3])  # batched over vertices, no mixing
    enc2 = Conv2dEncoder(3, [4, 8, 8], 7, pool="max").eval()
    x2 = torch.randn(5, 3, 12, 10)
    assert enc2(x2).shape == (5, 7)
    assert_close(enc2(x2[4:]), enc2(x2)[4:])


def test_conv_encoder_bad_input():
    enc = Conv2dEncoder(3, [4, 8], 5)
    with pytest.raises(ValueError, match=r"Conv2dEncoder expects x of shape \[N, C, H, W\] with C = in_channels = 3, "
                                         r"got \(6, 48\) \(flat vertex features"):
        enc(torch.randn(6, 48))
    with pytest.raises(ValueError, match=r"got \(6, 1, 8, 8\)"):
        enc(torch.randn(6, 1, 8, 8))
    with pytest.raises(ValueError, match=r"every spatial size must be >= 2, got \(1, 8\)"):
        enc(torch.randn(6, 3, 1, 8))
    with pytest.raises(ValueError, match=r"Conv1dEncoder expects x of shape \[N, C, L\]"):
        Conv1dEncoder(2, [4], 5)(torch.randn(3, 2, 4, 4))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        Conv1dEncoder(2, [4], 5, kernel_size=4)
    with pytest.raises(ValueError, match="channels must list at least one"):
        Conv1dEncoder(2, [], 5)


def test_cnn_as_edge_fn_fused_and_per_edge_agree():
    torch.manual_seed(0)
    g = random_graph(7, 20, seed=2)
    img = torch.randn(7, 1, 8, 8)
    cnn = Conv2dEncoder(1, [4, 8], 6).eval()
    fused = GNNLayer(SourceTransform(cnn), "mean", None)
    per_edge = GNNLayer(SourceTransform(cnn), "mean", None, fuse=False)
    a = dense_adjacency(g, dtype=torch.float32)
    deg = a.sum(1, keepdim=True).clamp(min=1)
    expected = (a @ cnn(img)) / deg
    assert_close(fused(g, img), expected)
    assert_close(per_edge(g, img), expected)


# -------------------------------------------------------- GRU and LSTM
def test_gru_cell_matches_torch():
    torch.manual_seed(0)
    ours, ref = GRUCell(4, 6), nn.GRUCell(4, 6)
    ours.load_state_dict(ref.state_dict())  # same parameter names and layouts
    x, h = torch.randn(5, 4, requires_grad=True), torch.randn(5, 6)
    y, s = ours(x, h)
    assert_close(y, ref(x, h))
    assert s is y
    (gx,) = torch.autograd.grad(y.square().sum(), x)
    (gx_ref,) = torch.autograd.grad(ref(x, h).square().sum(), x)
    assert_close(gx, gx_ref)
    gw = torch.autograd.grad(ours(x, h)[0].sum(), ours.weight_hh)[0]
    assert_close(gw, torch.autograd.grad(ref(x, h).sum(), ref.weight_hh)[0])


def test_gru_sequence_equals_steps_and_torch_gru():
    torch.manual_seed(0)
    cell = GRUCell(3, 5)
    xs = torch.randn(7, 4, 3)
    ys, h = cell.forward_sequence(xs)
    gru = nn.GRU(3, 5)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(gru, name + "_l0").copy_(getattr(cell, name))
    ref, h_ref = gru(xs)
    assert_close(ys, ref)
    assert_close(h, h_ref[0])
    s = None
    for t in range(7):
        y, s = cell(xs[t], s)
        assert_close(y, ys[t])


def test_lstm_cell_matches_torch():
    torch.manual_seed(0)
    ours, ref = LSTMCell(4, 6), nn.LSTMCell(4, 6)
    ours.load_state_dict(ref.state_dict())
    x, h, c = torch.randn(5, 4), torch.randn(5, 6), torch.randn(5, 6)
    y, (h1, c1) = ours(x, (h, c))
    h_ref, c_ref = ref(x, (h, c))
    assert_close(y, h_ref)
    assert_close(c1, c_ref)
    ys, (h_t, c_t) = ours.forward_sequence(x.unsqueeze(0).repeat(3, 1, 1), (h, c))
    for _ in range(3):
        h, c = ref(x, (h, c))
    assert_close(h_t, h)
    assert_close(c_t, c)
    assert_close(ours.unpack_state(ours.pack_state((h_t, c_t)))[1], c_t)


def test_recurrent_cells_bad_input():
    cell = GRUCell(3, 5)
    with pytest.raises(ValueError, match=r"GRUCell expects one step x of shape \[N, F\] with F = in_features = 3, "
                                         r"got \(2, 4, 3\); use forward_sequence"):
        cell(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match=r"GRUCell expects a time-major sequence xs of shape \[T, N, F\]"):
        cell.forward_sequence(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"GRUCell expects state of shape \[N, D\] = \[4, 5\], got \(3, 5\)"):
        cell(torch.randn(4, 3), torch.randn(3, 5))
    with pytest.raises(TypeError, match=r"LSTMCell expects state as a pair \(h, c\)"):
        LSTMCell(3, 5)(torch.randn(4, 3), torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"LSTMCell expects a packed state \[h \| c\] of shape \[N, 10\]"):
        LSTMCell(3, 5).unpack_state(torch.randn(4, 5))


# ------------------------------------------------------------------- LRU
def naive_lru(cell: LRU, xs: torch.Tensor, h0=None):
    """The LRU equations with Python complex numbers, one vertex and one channel at a time."""
    t_len, n, f = xs.shape
    d, f_out = cell.hidden_features, cell.out_features
    nu, th = cell.nu_log.tolist(), cell.theta_log.tolist()
    lam = [cmath.exp(complex(-math.exp(nu[k]), math.exp(th[k]))) for k in range(d)]
    gam = [math.sqrt(1 - abs(lam[k]) ** 2) for k in range(d)]
    b = [[complex(cell.B_re[k, j].item(), cell.B_im[k, j].item()) for j in range(f)] for k in range(d)]
    c = [[complex(cell.C_re[o, k].item(), cell.C_im[o, k].item()) for k in range(d)] for o in range(f_out)]
    dd = cell.D.tolist()
    ys = torch.zeros(t_len, n, f_out, dtype=torch.float64)
    last = []
    for v in range(n):
        h = [0j] * d if h0 is None else [complex(h0[v, k].item()) for k in range(d)]
        for t in range(t_len):
            u = xs[t, v].tolist()
            h = [lam[k] * h[k] + gam[k] * sum(b[k][j] * u[j] for j in range(f)) for k in range(d)]
            for o in range(f_out):
                skip = dd[o] * u[o] if cell.D.dim() == 1 else sum(dd[o][j] * u[j] for j in range(f))
                ys[t, v, o] = sum(c[o][k] * h[k] for k in range(d)).real + skip
        last.append(h)
    return ys, torch.tensor(last, dtype=torch.complex128)


@pytest.mark.parametrize("out_features", [None, 3])
def test_lru_matches_naive_complex_loop(out_features):
    torch.manual_seed(0)
    cell = LRU(2, 4, out_features=out_features, r_min=0.5, r_max=0.99).double()
    xs = torch.randn(6, 3, 2, dtype=torch.float64)
    h0 = torch.randn(3, 4, dtype=torch.complex128)
    ref, ref_h = naive_lru(cell, xs, h0)
    for parallel in (True, False):
        ys, h = cell.forward_sequence(xs, h0, parallel=parallel)
        assert_close(ys, ref)
        assert_close(h, ref_h)
    s = h0
    for t in range(6):  # the step API
        y, s = cell(xs[t], s)
        assert_close(y, ref[t])


@pytest.mark.parametrize("t_len", [1, 5, 8, 13])
def test_lru_parallel_scan_equals_loop_any_length(t_len):
    torch.manual_seed(t_len)
    cell = LRU(3, 5, out_features=2)
    xs = torch.randn(t_len, 4, 3)
    y_scan, h_scan = cell.forward_sequence(xs)
    y_loop, h_loop = cell.forward_sequence(xs, parallel=False)
    assert_close(y_scan, y_loop, rtol=1e-5, atol=1e-5)
    assert_close(h_scan, h_loop, rtol=1e-5, atol=1e-5)
    # a state handed over between two halves continues the same sequence
    k = t_len // 2
    y1, h1 = cell.forward_sequence(xs[:k])
    y2, _ = cell.forward_sequence(xs[k:], h1)
    assert_close(torch.cat([y1, y2]), y_scan, rtol=1e-5, atol=1e-5)


def test_lru_ring_initialisation_and_normalisation():
    torch.manual_seed(0)
    cell = LRU(4, 256, r_min=0.4, r_max=0.9, max_phase=math.pi / 10)
    lam = cell.eigenvalues().detach()
    assert bool(((lam.abs() >= 0.4 - 1e-5) & (lam.abs() <= 0.9 + 1e-5)).all())
    assert bool(((lam.angle() >= 0) & (lam.angle() <= math.pi / 10 + 1e-6)).all())
    assert_close(cell.gamma().detach(), torch.sqrt(1 - lam.abs() ** 2), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        cell.nu_log.fill_(-30.0)  # |lambda| = exp(-exp(-30)) ~ 1 - 1e-13: still stable, gamma still > 0
    assert bool((cell.eigenvalues().abs() <= 1).all()) and bool((cell.gamma() > 0).all())


class _Sequence(nn.Module):
    """Exposes a cell's forward_sequence as forward, for functional_call."""

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell

    def forward(self, xs):
        ys, h = self.cell.forward_sequence(xs)
        return ys, torch.view_as_real(h)


def test_lru_gradcheck():
    torch.manual_seed(0)
    cell = LRU(2, 3, out_features=2, r_min=0.3, r_max=0.9).double()
    wrapper = _Sequence(cell)
    names = [n for n, _ in wrapper.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in wrapper.named_parameters())
    xs = torch.randn(5, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.complex128)
    # the parallel scan, every parameter and the input
    assert torch.autograd.gradcheck(lambda x, *ps: functional_call(wrapper, dict(zip(names, ps)), (x,)), (xs, *params))
    # the step API, including the gradient through a given complex state
    h_re = torch.view_as_real(h0).clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x, h: cell(x, torch.view_as_complex(h))[0], (xs[0], h_re))


def test_lru_bad_input():
    with pytest.raises(ValueError, match=r"0 <= r_min < r_max <= 1, got r_min=0.9, r_max=0.5"):
        LRU(2, 3, r_min=0.9, r_max=0.5)
    with pytest.raises(ValueError, match="max_phase must be > 0"):
        LRU(2, 3, max_phase=0.0)
    cell = LRU(2, 3)
    with pytest.raises(ValueError, match=r"LRU expects a complex state \[N, D\], got dtype torch.float32"):
        cell(torch.randn(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"LRU expects a time-major sequence xs of shape \[T, N, F\] with F = in_features = 2"):
        cell.forward_sequence(torch.randn(4, 5, 3))


def test_sequence_encoder_lengths_match_truncated_runs():
    torch.manual_seed(0)
    for cell in (GRUCell(2, 4), LSTMCell(2, 4), LRU(2, 4, out_features=3)):
        enc = SequenceEncoder(cell)
        x = torch.randn(3, 6, 2)  # [N, T, F]
        lengths = torch.tensor([6, 2, 4])
        out = enc(x, lengths)
        for v in range(3):
            alone, _ = cell.forward_sequence(x[v : v + 1, : lengths[v]].transpose(0, 1))
            assert_close(out[v], alone[-1, 0], rtol=1e-5, atol=1e-5)
        mean_enc = SequenceEncoder(cell, readout="mean")
        ys, _ = cell.forward_sequence(x[1:2, :2].transpose(0, 1))
        assert_close(mean_enc(x, lengths)[1], ys.mean(0)[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T\] = \[1, 6\]"):
        enc(x, torch.tensor([7, 1, 1]))
    with pytest.raises(ValueError, match=r"SequenceEncoder expects x of shape \[N, T, F\] with F = 2"):
        enc(torch.randn(3, 6))


# ------------------------------------------------------ cells as vertex fns
def test_gru_vertex_fn_in_gnn_layer():
    torch.manual_seed(0)
    g = random_graph(6, 15, seed=3)
    x = torch.randn(6, 5)
    msg, cell = LinearSource(5, 4), GRUCell(4, 5)
    layer = GNNLayer(msg, "sum", RecurrentVertexFn(cell))
    ref = nn.GRUCell(4, 5)
    ref.load_state_dict(cell.state_dict())
    m = dense_adjacency(g, dtype=torch.float32) @ msg.lin(x)  # [N, 4]
    assert_close(layer(g, x), ref(m, x))


def test_lstm_and_lru_vertex_fns_carry_packed_state():
    torch.manual_seed(0)
    g = random_graph(5, 10, seed=4)
    for cell in (LSTMCell(3, 4), LRU(3, 4)):
        layer = GNNLayer(LinearSource(cell.state_features, 3), "mean", RecurrentVertexFn(cell))
        s = torch.randn(5, cell.state_features)
        out = layer(g, layer(g, s))
        assert out.shape == (5, cell.state_features)
        state = cell.unpack_state(out)
        assert_close(cell.pack_state(state), out)


# ------------------------------------------------------------- attention
def dense_attention(att: NeighborAttention, g: Graph, x: torch.Tensor) -> torch.Tensor:
    """Softmax attention with a dense [N, N] mask from the adjacency, head by head."""
    n, h, d = x.shape[0], att.heads, att.head_features
    q = att.lin_q(x).view(n, h, d)
    k = att.lin_k(x).view(n, h, d)
    v = att.lin_v(x).view(n, h, d)
    mask = dense_adjacency(g, dtype=torch.float64) > 0  # [dst, src]
    outs = []
    for head in range(h):
        s = q[:, head] @ k[:, head].t() / math.sqrt(d)  # [dst, src]
        s = s.masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, dim=1).nan_to_num(0.0)  # rows without in-edges: all zero
        outs.append(a @ v[:, head])
    out = torch.cat(outs, dim=1)
    return att.lin_out(out) if att.lin_out is not None else out


@pytest.mark.parametrize("heads,out_features", [(1, None), (3, 5)])
def test_neighbor_attention_matches_dense_masked_softmax(heads, out_features):
    torch.manual_seed(0)
    g = Graph([0, 1, 2, 3, 3, 4, 5, 0, 2], [1, 2, 0, 0, 1, 4, 4, 4, 2], 7)  # vertices 3, 5, 6 have no in-edges
    x = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    att = NeighborAttention(4, 2, heads=heads, out_features=out_features).double()
    out = att(g, x)
    ref = dense_attention(att, g, x)
    assert_close(out, ref)
    if out_features is None:
        assert_close(out[[3, 5, 6]], torch.zeros(3, 2 * heads, dtype=torch.float64))
    w = torch.randn_like(out)
    gx, gq = torch.autograd.grad((out * w).sum(), (x, att.lin_q.weight))
    gx_ref, gq_ref = torch.autograd.grad((ref * w).sum(), (x, att.lin_q.weight))
    assert_close(gx, gx_ref)
    assert_close(gq, gq_ref)


def test_neighbor_attention_self_loops_and_gradcheck():
    torch.manual_seed(0)
    g = simple_graph(5, 9, seed=5).remove_self_loops()
    att = NeighborAttention(3, 2, heads=2, add_self_loops=True).double()
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    out, (g_loop, alpha) = att(g, x, return_attention=True)
    assert_close(out, dense_attention(att, g.add_self_loops(), x))
    assert alpha.shape == (g_loop.num_edges, 2)
    assert torch.autograd.gradcheck(lambda t: att(g, t), (x,))


def test_attention_bad_input():
    att = NeighborAttention(4, 2)
    g = simple_graph(6)
    with pytest.raises(ValueError, match=r"NeighborAttention expects x of shape \[N, F\] with N = num_nodes = 6 and F = 4, got \(5, 4\)"):
        att(g, torch.randn(5, 4))
    with pytest.raises(ValueError, match="heads must divide features, got features=6 and heads=4"):
        TransformerBlock(6, 4, 8)


def test_transformer_block_is_per_graph_dense_attention():
    torch.manual_seed(0)
    graphs = [random_graph(n, 2 * n, seed=n) for n in (3, 0, 5, 1)]
    batch = Graph.batch(graphs)
    block = TransformerBlock(8, 2, 16).double().eval()
    x = torch.randn(batch.num_nodes, 8, dtype=torch.float64)
    out = block(batch, x)
    # oracle: each graph alone, attention written out with the block's own weights
    f, h = 8, 2
    start = 0
    for gi in graphs:
        xi = x[start : start + gi.num_nodes]
        if gi.num_nodes:
            qkv = block.qkv(block.norm1(xi)).view(-1, 3, h, f // h)
            q, k, v = qkv[:, 0].transpose(0, 1), qkv[:, 1].transpose(0, 1), qkv[:, 2].transpose(0, 1)  # [H, n, D]
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(f // h), -1)
            y = xi + block.proj((a @ v).transpose(0, 1).reshape(-1, f))
            y = y + block.ff(block.norm2(y))
            assert_close(out[start : start + gi.num_nodes], y)
            assert_close(block(gi, xi), y)
        start += gi.num_nodes


# --------------------------------------------------------- docs example
def test_docs_example_gru_and_cnn_in_a_layer():
    torch.manual_seed(0)
    g = random_graph(10, 30, seed=6)
    # a GRU as the vertex function: x' = GRU(input = sum_u W x_u, state = x)
    layer = GNNLayer(LinearSource(32, 32), "sum", RecurrentVertexFn(GRUCell(32, 32)))
    h = layer(g, torch.randn(10, 32))
    assert h.shape == (10, 32)
    # a CNN as the edge function on vertices that hold a 1x16x16 image each
    images = torch.randn(10, 1, 16, 16)
    layer = GNNLayer(SourceTransform(Conv2dEncoder(1, [8, 16], 32)), "mean",
                     ConcatVertexFn(MLP(32 + 32, 64, 32), x_encoder=Conv2dEncoder(1, [8, 16], 32)))
    assert layer(g, images).shape == (10, 32)


def test_neighbor_attention_is_node_permutation_equivariant_and_edge_order_invariant():
    torch.manual_seed(0)
    g = random_graph(8, 20, seed=8)
    att = NeighborAttention(3, 4, heads=2, out_features=5).double()
    x = torch.randn(8, 3, dtype=torch.float64)
    out = att(g, x)
    perm = torch.randperm(8)  # new vertex i is old vertex perm[i]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(8)
    assert_close(att(Graph(inv[g.src], inv[g.dst], 8), x[perm]), out[perm])
    eperm = torch.randperm(g.num_edges)
    assert_close(att(Graph(g.src[eperm], g.dst[eperm], 8), x), out)
