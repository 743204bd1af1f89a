r"""Sparse graph ops with autograd: the engine under every layer.

All ops aggregate over the *in-edges* of each destination vertex. Each op validates
its input here (kernels trust it), makes tensors contiguous, and runs through
:mod:`gnnkit.ops._dispatch` to a compiled kernel or the pure-PyTorch reference.
Backward passes reuse the same ops: the gradient of ``spmm`` with respect to ``x`` is
``spmm`` on the reversed graph, with respect to the edge weights it is ``sddmm``.

A vertex with no in-edges aggregates to 0 for every reduction, with zero gradient.

Non-finite values propagate the same way in the compiled CPU kernels, the Triton CUDA
kernels and the reference ops, following torch: a NaN is never turned into a plausible number.

- ``sum``/``mean``: IEEE arithmetic (a NaN or ``inf - inf`` among the messages gives NaN).
- ``max``/``min``: a NaN in any incoming message gives NaN for that destination and
  feature, as ``torch.amax``/``scatter_reduce`` and PyG do, whatever the edge order;
  ``+inf``/``-inf`` are ordinary extremes.
- ``edge_softmax``: a NaN score makes its destination's whole row NaN, as ``torch.softmax``;
  so does a ``+inf`` score (``exp(inf - inf)`` is NaN, also as ``torch.softmax``). A row
  whose scores are all ``-inf`` (fully masked) gives zeros, where torch gives NaN.

``spmm``, ``segment_reduce``, ``sddmm`` and ``edge_softmax`` are ``torch.library`` custom ops
(:mod:`gnnkit.ops._library`) whose backward passes are built from the same ops: they are
differentiable to any order (``create_graph=True``, gradient penalties, Hessian-vector products,
``torch.func.grad``/``vjp``), and ``torch.compile(fullgraph=True)`` traces them without a graph
break once the graph's layouts are cached (they are built on first use by data-dependent code:
run one eager step, forward and backward, before the compiled one). ``gather`` is an
``index_select``. ``gat_attention``'s fused CUDA kernels are once-differentiable.

Dtypes: each op returns the dtype of its main input (``x``, ``m``, ``x_dst``, ``score``).
float32/float64 compute as they are. bfloat16 on the CPU is stored as bfloat16 (half the bytes)
and accumulated in float32 (sums, means, dot products, softmax statistics), rounded once per
output; float16, and bfloat16 on other devices, is computed in float32. Under
``torch.autocast("cpu", dtype=torch.bfloat16)`` the ops cast a float32 main input to bfloat16
once (:func:`autocast_input`, torch's ``matmul`` policy) and return bfloat16; edge weights and
float32 softmax scores stay float32 (the policy and its reasons: :mod:`gnnkit.ops._library`).
``spmm`` takes float32 ``edge_weight`` beside bfloat16 ``x`` (the float32 ``gcn_norm`` weights).
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..graph import CSR, Graph
from . import _cpu, _dispatch, _library, reference
from ._adjacency import NormalizedAdjacency, spmm_adjacency
from ._library import autocast_input

__all__ = [
    "spmm",
    "spmm_csr",
    "segment_reduce",
    "sddmm",
    "edge_softmax",
    "segment_softmax",
    "gat_attention",
    "gather",
    "gcn_norm",
    "check_float",
    "autocast_input",
    "REDUCES",
    "HAS_KERNELS",
    "reference",
    "empty",
    "NormalizedAdjacency",
    "spmm_adjacency",
]

REDUCES = ("sum", "mean", "max", "min")


def __getattr__(name: str) -> bool:
    # HAS_KERNELS is answered by building/loading the CPU kernels, so only on first read
    if name == "HAS_KERNELS":
        return _dispatch.HAS_KERNELS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str = "cpu") -> Tensor:
    """An uninitialised tensor for a large intermediate: on the CPU backed by 2 MB pages.

    glibc maps every block over 32 MB afresh, so a fresh ``[N, F]`` activation is
    page-faulted in 4 KB at a time (40-60 ms for ``[169k, 256]`` float32 on the benchmark
    machine, more than the GEMM that fills it). See ``_cpu.empty``.
    """
    if torch.device(device).type == "cpu":
        return _cpu.empty(tuple(shape), dtype)
    return torch.empty(shape, dtype=dtype, device=device)


# --------------------------------------------------------------------- checks
def _check_graph(g: Graph) -> None:
    if not isinstance(g, Graph):
        raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
    g._check_unchanged()  # ids rewritten in place after validation must never reach a kernel


def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCES:
        raise ValueError(f"reduce must be one of {REDUCES}, got {reduce!r}")


def _check_float(t: Tensor, name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():  # integer, bool and complex data would fail deep inside a kernel or matmul
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}; cast with .float()")


def check_float(t: Tensor, name: str) -> None:
    """Raise unless ``t`` is a floating-point tensor: layers call it on their input features
    before a projection, so integer, bool or complex features are named (``x``) instead of
    failing inside ``torch.matmul``.

    Args:
        t: the tensor to check. name: how the message names it.

    Raises:
        TypeError: ``t`` is not a tensor, or its dtype is not floating point.
    """
    _check_float(t, name)


def _check_device(t: Tensor, g: Graph, name: str) -> None:
    if t.device != g.device:
        raise ValueError(f"{name} is on {t.device} but the graph is on {g.device}; move one with .to(device)")


def _node_input(x: Tensor, g: Graph, name: str, side: str = "dst") -> Tensor:
    """Validate node data ``[N]``, ``[N, F]`` or ``[N, H, F]`` and return it as ``[N, H, F]``.

    ``side="src"`` checks against the source vertex set (``num_src_nodes``).
    """
    _check_float(x, name)
    _check_device(x, g, name)
    rows, what = (g.num_src_nodes, "num_src_nodes") if side == "src" and g.is_bipartite else (g.num_nodes, "num_nodes")
    if x.dim() not in (1, 2, 3) or x.shape[0] != rows:
        raise ValueError(
            f"{name} must have shape [N], [N, F] or [N, H, F] with N = {what} = {rows}, "
            f"got {tuple(x.shape)}"
        )
    if x.dim() == 1:
        return x.reshape(-1, 1, 1).contiguous()
    if x.dim() == 2:
        return x.unsqueeze(1).contiguous()
    return x.contiguous()


def _edge_input(m: Tensor, g: Graph, name: str) -> Tensor:
    """Validate edge data ``[E]``, ``[E, F]`` or ``[E, H, F]`` and return it as ``[E, H, F]``."""
    _check_float(m, name)
    _check_device(m, g, name)
    if m.dim() not in (1, 2, 3) or m.shape[0] != g.num_edges:
        raise ValueError(
            f"{name} must have shape [E], [E, F] or [E, H, F] with E = num_edges = {g.num_edges}, "
            f"got {tuple(m.shape)}"
        )
    if m.dim() == 1:
        return m.reshape(-1, 1, 1).contiguous()
    if m.dim() == 2:
        return m.unsqueeze(1).contiguous()
    return m.contiguous()


def _edge_weight(w: Tensor | None, g: Graph, heads: int) -> Tensor | None:
    """Validate edge weights ``[E]`` / ``[E, 1]`` / ``[E, H]`` and return them as ``[E, Hw]``."""
    if w is None:
        return None
    _check_float(w, "edge_weight")
    _check_device(w, g, "edge_weight")
    given = tuple(w.shape)
    if w.dim() == 1:
        w = w.unsqueeze(1)
    if w.dim() != 2 or w.shape[0] != g.num_edges or w.shape[1] not in (1, heads):
        raise ValueError(
            f"edge_weight must have shape [E], [E, 1] or [E, H] with E = {g.num_edges} and H = {heads} "
            f"(the head dimension of x [N, H, F]), got {given}"
        )
    return w.contiguous()


# ------------------------------------------------------------------ autograd
# spmm, segment_reduce, sddmm (dot) and edge_softmax are torch.library custom ops (_library):
# their backward passes are built from the same ops, so they are differentiable to any order and
# torch.compile sees one opaque node per op. The fused attention below is a CUDA kernel pair
# with a hand-written backward, so it stays once-differentiable.
def _wants_grad(*tensors: Tensor | None) -> bool:
    """Whether a backward can run, so the op needs the graph's reversed layout too."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


class _GATAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g: Graph, x: Tensor, a_src: Tensor, a_dst: Tensor, negative_slope: float, dropout: float) -> Tensor:
        # the seed comes from torch's CPU generator (no device sync; torch.manual_seed reproduces it);
        # backward regenerates the dropout mask from it rather than storing one [E, H]
        seed = int(torch.randint(0, 2**31 - 1, ())) if dropout > 0 else 0
        out, lse = _dispatch.lookup("gat_forward", x)(g, x, a_src, a_dst, negative_slope, dropout, seed)
        ctx.g, ctx.negative_slope, ctx.dropout, ctx.seed = g, negative_slope, dropout, seed
        ctx.save_for_backward(x, a_src, a_dst, out, lse)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout: Tensor):
        x, a_src, a_dst, out, lse = ctx.saved_tensors
        dx, da_src, da_dst = _dispatch.lookup("gat_backward", x)(
            ctx.g, x, a_src, a_dst, out, lse, dout.contiguous(), ctx.negative_slope, ctx.dropout, ctx.seed
        )
        return None, dx, da_src, da_dst, None, None


# ------------------------------------------------------------------ public ops
def spmm(g: Graph, x: Tensor, edge_weight: Tensor | None = None, reduce: str = "sum") -> Tensor:
    r"""Sparse-dense product over in-edges: :math:`y_v = \bigoplus_{(u,v) \in E} w_{uv} x_u`.

    Args:
        g: the graph (bipartite graphs read ``x`` on the source side, ``num_src_nodes`` rows).
        x: node features ``[N]``, ``[N, F]`` or multi-head ``[N, H, F]``.
        edge_weight: ``[E]`` / ``[E, 1]`` (shared by heads) or ``[E, H]`` (per head), in
            the graph's edge order; ``None`` means all ones.
        reduce: ``"sum" | "mean" | "max" | "min"``.

    Returns:
        ``[N, ...]`` with the shape of ``x``. Vertices with no in-edges get 0. With
        ``"max"``/``"min"`` a NaN message gives NaN for its destination and feature (see
        the module docstring for every non-finite rule).

    Shape:
        x ``[N, H, F]``, edge_weight ``[E, H]`` → ``[N, H, F]``.

    Raises:
        TypeError: non-float ``x``/``edge_weight`` (integer, bool, complex). ValueError: wrong
            shapes or devices, unknown ``reduce``. RuntimeError: ``g.src``/``g.dst`` written in place.
    """
    _check_graph(g)
    _check_reduce(reduce)
    x3 = _node_input(x, g, "x", side="src")
    if reduce in ("sum", "mean"):
        # max/min stay in the input's dtype: rounding to bfloat16 turns near-ties into ties and moves
        # the gradient to another edge, and a comparison gains nothing from narrower storage but bytes
        x3 = autocast_input(x3)
    w = _edge_weight(edge_weight, g, x3.shape[1])
    mixed_ok = x3.dtype == torch.bfloat16 and w is not None and w.dtype == torch.float32
    if w is not None and w.dtype != x3.dtype and not mixed_ok and not torch.is_autocast_enabled(x3.device.type):
        # bfloat16 x reads float32 weights (gcn_norm) as they are; other pairs only under autocast
        raise TypeError(f"edge_weight dtype {w.dtype} differs from x dtype {x3.dtype}")
    out, _ = _library.call(_library.SpMM, _library.spmm_op, x3, w, *_library.topology(g, _wants_grad(x3, w)), reduce)
    return out.view((g.num_nodes,) + tuple(x.shape[1:]))


def spmm_csr(indptr: Tensor, indices: Tensor, x: Tensor, edge_weight: Tensor | None = None, *,
             check: bool = True) -> Tensor:
    r"""Sum over the rows of a raw CSR matrix: :math:`y_v = \sum_{j \in \text{row } v} w_j\, x_{\text{indices}_j}`.

    The forward-only form of :func:`spmm` for matrices too large for a :class:`~gnnkit.Graph`
    (whose ``src``/``dst`` take 16 bytes per edge): ``indices`` may be int32 when the source ids
    fit, so a synapse costs 4 bytes of index plus its weight, and no ``[E]`` int64 array
    is ever built (``benchmarks/brain_scale.py`` steps 10^9 synapses with it). CPU tensors run
    on the compiled kernel (the same code as :func:`spmm`, instantiated for int32 indices);
    other devices on ``reference.spmm_csr``, which works through the entries in bounded chunks.

    Args:
        indptr: ``[N + 1]`` int64 row offsets, ``indptr[0] = 0``, non-decreasing, ``indptr[-1] = nnz``.
        indices: ``[nnz]`` int32 or int64 column (source) id of each entry.
        x: ``[M, F]`` or ``[M]`` float source features.
        edge_weight: ``[nnz]`` values in CSR order, dtype of ``x``; None means all ones.
        check: validate ``indptr`` and the range of ``indices`` (one pass over them, O(nnz)); a
            caller stepping the same matrix many times checks once and passes False after.

    Returns:
        ``[N, F]`` (or ``[N]``): rows without entries are 0.

    Raises:
        TypeError: wrong dtypes. ValueError: wrong shapes or devices, inputs that require a
            gradient (this op has no backward; use :func:`spmm`), a malformed ``indptr`` or
            out-of-range ``indices`` (with ``check``).
    """
    for name, t in (("indptr", indptr), ("indices", indices), ("x", x)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if indptr.dtype != torch.int64 or indptr.dim() != 1 or indptr.numel() < 1:
        raise TypeError(f"indptr must be a 1-D int64 tensor of N + 1 row offsets, got {indptr.dtype} {tuple(indptr.shape)}")
    if indices.dtype not in (torch.int32, torch.int64) or indices.dim() != 1:
        raise TypeError(f"indices must be a 1-D int32 or int64 tensor, got {indices.dtype} {tuple(indices.shape)}")
    _check_float(x, "x")
    if x.dim() not in (1, 2):
        raise ValueError(f"x must have shape [M] or [M, F], got {tuple(x.shape)}")
    if edge_weight is not None:
        _check_float(edge_weight, "edge_weight")
        if edge_weight.shape != indices.shape or edge_weight.dtype != x.dtype:
            raise ValueError(f"edge_weight must have shape [nnz] = [{indices.numel()}] and x's dtype {x.dtype}, got "
                             f"{edge_weight.dtype} {tuple(edge_weight.shape)}")
    devices = {t.device for t in (indptr, indices, x, edge_weight) if t is not None}
    if len(devices) != 1:
        raise ValueError(f"indptr, indices, x and edge_weight must be on one device, got {sorted(map(str, devices))}")
    if torch.is_grad_enabled() and (x.requires_grad or (edge_weight is not None and edge_weight.requires_grad)):
        raise ValueError("spmm_csr has no backward: call it under torch.no_grad(), or use spmm(Graph, ...) to train")
    nnz, m = indices.numel(), x.shape[0]
    if check:
        if int(indptr[0]) != 0 or int(indptr[-1]) != nnz or bool((indptr[1:] < indptr[:-1]).any()):
            raise ValueError(f"indptr must start at 0, never decrease and end at nnz = {nnz}, got "
                             f"indptr[0] = {int(indptr[0])}, indptr[-1] = {int(indptr[-1])}")
        if nnz and (int(indices.min()) < 0 or int(indices.max()) >= m):
            raise ValueError(f"indices must lie in [0, {m}) (rows of x), got [{int(indices.min())}, {int(indices.max())}]")
    x3 = x.reshape(m, 1, -1).contiguous()  # [M, 1, F]
    w = None if edge_weight is None else edge_weight.contiguous().view(-1, 1)  # [nnz, 1]
    csr = CSR(indptr.contiguous(), indices.contiguous(), None)
    out, _ = _dispatch.lookup("spmm_csr", x3)(csr, x3, w, "sum")
    return out.view((indptr.numel() - 1,) + tuple(x.shape[1:]))


def segment_reduce(g: Graph, m: Tensor, reduce: str = "sum") -> Tensor:
    r"""Reduce per-edge messages into their destinations: :math:`h_v = \bigoplus_{e=(u,v)} m_e`.

    Args:
        g: the graph.
        m: messages ``[E]``, ``[E, F]`` or ``[E, H, F]`` in the graph's edge order.
        reduce: ``"sum" | "mean" | "max" | "min"``.

    Returns:
        ``[N, ...]``; a vertex with no in-edges gets 0; with ``"max"``/``"min"`` a NaN
        message gives NaN for its destination and feature.

    Raises:
        TypeError: non-float ``m``. ValueError: wrong shape or device, unknown ``reduce``.
    """
    _check_graph(g)
    _check_reduce(reduce)
    m3 = _edge_input(m, g, "m")
    if reduce in ("sum", "mean"):  # max/min: as in spmm
        m3 = autocast_input(m3)
    out, _ = _library.call(_library.SegmentReduce, _library.segment_reduce_op, m3, *_library.topology(g, False), reduce)
    return out.view((g.num_nodes,) + tuple(m.shape[1:]))


def sddmm(g: Graph, x_src: Tensor, x_dst: Tensor, op: str = "dot") -> Tensor:
    r"""Per-edge combination of source and destination features.

    ``op="dot"``: :math:`s_e = \langle x^{src}_u, x^{dst}_v \rangle` per head;
    ``"add"``, ``"sub"``, ``"mul"``: elementwise :math:`x^{src}_u \circ x^{dst}_v`.

    Args:
        g: the graph.
        x_src: ``[N, F]`` or ``[N, H, F]`` features read at each edge's source.
        x_dst: same shape, read at each edge's destination.
        op: ``"dot" | "add" | "sub" | "mul"``.

    Returns:
        dot: ``[E]`` for ``[N, F]`` inputs, ``[E, H]`` for ``[N, H, F]``; otherwise ``[E, ...]``.
    """
    _check_graph(g)
    if op not in ("dot", "add", "sub", "mul"):
        raise ValueError(f"op must be 'dot', 'add', 'sub' or 'mul', got {op!r}")
    _check_float(x_src, "x_src")
    _check_float(x_dst, "x_dst")
    if x_src.shape[1:] != x_dst.shape[1:]:
        raise ValueError(
            f"x_src and x_dst must have the same feature shape, got {tuple(x_src.shape)} and {tuple(x_dst.shape)}"
        )
    if op != "dot":
        for name, t, rows in (("x_src", x_src, g.num_src_nodes), ("x_dst", x_dst, g.num_nodes)):
            _check_device(t, g, name)
            if t.shape[0] != rows:
                raise ValueError(f"{name} must have {rows} rows (its side of the graph), got {tuple(t.shape)}")
        a, b = x_src.index_select(0, g.src), x_dst.index_select(0, g.dst)  # [E, ...] each
        return a + b if op == "add" else a - b if op == "sub" else a * b
    if x_src.dim() not in (2, 3):
        raise ValueError(f"sddmm dot needs x_src [N, F] or [N, H, F], got {tuple(x_src.shape)}")
    xs, xd = autocast_input(_node_input(x_src, g, "x_src", side="src")), autocast_input(_node_input(x_dst, g, "x_dst"))
    if xs.dtype != xd.dtype:  # the kernel reads both through one pointer type
        raise TypeError(f"x_src dtype {x_src.dtype} differs from x_dst dtype {x_dst.dtype}")
    out = _library.call(_library.SDDMMDot, _library.sddmm_dot_op, xs, xd, *_library.topology(g, _wants_grad(xs, xd)))  # [E, H]
    return out.view(-1) if x_src.dim() == 2 else out


def edge_softmax(g: Graph, score: Tensor) -> Tensor:
    r"""Softmax of edge scores over the in-edges of each destination (max-shifted, stable).

    .. math:: \alpha_e = \frac{\exp(s_e - m_v)}{\sum_{e' \to v} \exp(s_{e'} - m_v)}, \quad m_v = \max_{e' \to v} s_{e'}

    Args:
        g: the graph.
        score: ``[E]`` or ``[E, H]`` (one softmax per head).

    Returns:
        Same shape as ``score``; each destination's in-edge weights sum to 1. A NaN or
        ``+inf`` score makes its destination's whole row (for that head) NaN, as
        ``torch.softmax`` does; a row of only ``-inf`` scores gives zeros.

    Raises:
        TypeError: a non-float ``score``. ValueError: a wrong shape or device.
    """
    _check_graph(g)
    _check_float(score, "score")
    _check_device(score, g, "score")
    if score.dim() not in (1, 2) or score.shape[0] != g.num_edges:
        raise ValueError(f"score must have shape [E] or [E, H] with E = {g.num_edges}, got {tuple(score.shape)}")
    s2 = (score.unsqueeze(1) if score.dim() == 1 else score).contiguous()  # [E, H]
    return _library.call(_library.EdgeSoftmax, _library.edge_softmax_op, s2, *_library.topology(g, False)).view(score.shape)


segment_softmax = edge_softmax


def gat_attention(g: Graph, x: Tensor, a_src: Tensor, a_dst: Tensor, negative_slope: float = 0.2,
                  dropout: float = 0.0) -> Tensor:
    r"""Graph attention in one op: edge scores, edge softmax, dropout and aggregation.

    .. math:: y^h_v = \sum_{(u,v) \in E} \alpha^h_{uv} d^h_{uv} x^h_u,\quad
        \alpha^h_{uv} = \mathrm{softmax}_{u \to v}\big(\mathrm{LeakyReLU}(a^{src}_{u,h} + a^{dst}_{v,h})\big)

    The same as ``spmm(g, x, dropout(edge_softmax(g, leaky_relu(sddmm(g, a_src, a_dst, "add")))))``. On CUDA
    one Triton kernel computes it per destination with a streaming softmax, keeping ``[N, H]`` statistics:
    no ``[E, H]`` weights and no ``[E, H, F]`` messages; backward stores ``[E, H]`` score gradients.

    Args:
        g: the graph (bipartite graphs read ``x`` and ``a_src`` on the source side).
        x: ``[num_src_nodes, H, F]`` projected features.
        a_src: ``[num_src_nodes, H]`` source halves of the scores; a_dst: ``[N, H]`` destination halves.
        negative_slope: LeakyReLU slope.
        dropout: probability of zeroing an attention weight (pass 0.0 in eval mode); kept weights are
            scaled by ``1 / (1 - dropout)``.

    Returns:
        ``[N, H, F]``; a vertex with no in-edges gets 0.

    Raises:
        TypeError: non-float inputs or mixed dtypes. ValueError: wrong shapes or devices, dropout outside [0, 1).
    """
    _check_graph(g)
    _check_float(x, "x")
    if x.dim() != 3:
        raise ValueError(f"x must have shape [N, H, F], got {tuple(x.shape)}")
    x3 = _node_input(x, g, "x", side="src")
    heads = x3.shape[1]
    for name, t, rows in (("a_src", a_src, g.num_src_nodes), ("a_dst", a_dst, g.num_nodes)):
        _check_float(t, name)
        _check_device(t, g, name)
        if tuple(t.shape) != (rows, heads):
            raise ValueError(f"{name} must have shape [{rows}, H={heads}], got {tuple(t.shape)}")
        if t.dtype != x3.dtype:
            raise TypeError(f"{name} dtype {t.dtype} differs from x dtype {x3.dtype}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    return _GATAttention.apply(g, x3, a_src.contiguous(), a_dst.contiguous(), float(negative_slope), float(dropout))


def gather(g: Graph, x: Tensor, side: str = "src") -> Tensor:
    """Per-edge copy of node data: ``x[g.src]`` (``side="src"``) or ``x[g.dst]``. Returns ``[E, ...]``."""
    _check_graph(g)
    if side not in ("src", "dst"):
        raise ValueError(f"side must be 'src' or 'dst', got {side!r}")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    rows = g.num_src_nodes if side == "src" else g.num_nodes
    if x.shape[0] != rows:
        raise ValueError(f"x must have {rows} rows (the {side} side of the graph), got {tuple(x.shape)}")
    _check_device(x, g, "x")
    return x.index_select(0, g.src if side == "src" else g.dst)


def gcn_norm(g: Graph, edge_weight: Tensor | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    r"""Symmetric normalisation :math:`w_e / \sqrt{d_u d_v}` with weighted in-degrees :math:`d`.

    As PyG's ``gcn_norm`` (degrees counted at the destination); add self-loops first
    for Kipf & Welling's :math:`\hat D^{-1/2}(A+I)\hat D^{-1/2}`. Vertices of degree 0 get 0.
    bfloat16/float16 weights are computed in float32 and rounded once: a degree above 256 is
    not a bfloat16 number, so summing degrees in bfloat16 would be unsafe.

    Returns:
        ``[E]`` edge weights in the graph's edge order. Cached on the graph when
        ``edge_weight`` is None.

    Raises:
        TypeError: ``dtype`` that is not a floating-point dtype.
    """
    _check_graph(g)
    g._require_square("gcn_norm")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype (the weights' dtype), got {dtype!r}")

    def compute(w: Tensor) -> Tensor:
        deg = w.new_zeros(g.num_nodes).index_add_(0, g.dst, w)
        # pow on a guarded input: the gradient of deg**-0.5 at 0 is inf, and inf * 0 from
        # the where() would turn the weights' gradient into NaN for degree-0 vertices
        pos = deg != 0
        dinv = torch.where(pos, torch.where(pos, deg, torch.ones_like(deg)).pow(-0.5), torch.zeros_like(deg))
        return dinv[g.src] * w * dinv[g.dst]

    if edge_weight is None:
        key = f"gcn_norm_{dtype}"
        if key not in g._cache:
            g._cache[key] = compute(torch.ones(g.num_edges, dtype=reference.compute_dtype(dtype), device=g.device)).to(dtype)
        return g._cache[key]
    _check_float(edge_weight, "edge_weight")
    _check_device(edge_weight, g, "edge_weight")
    if edge_weight.shape != (g.num_edges,):
        raise ValueError(f"edge_weight must have shape [E={g.num_edges}], got {tuple(edge_weight.shape)}")
    return compute(edge_weight.to(reference.compute_dtype(edge_weight.dtype))).to(edge_weight.dtype)
