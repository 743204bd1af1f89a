r"""The sparse ops as ``torch.library`` custom ops: opaque to ``torch.compile``, differentiable to any order.

A :class:`~gnnkit.graph.Graph` cannot be a custom-op argument, so every op takes the graph's
*topology* as tensors: ``src``, ``dst``, the cached in-CSR (``indptr``, ``indices``, ``eid``) and,
when a backward will need it, the cached out-CSR (``rindptr``, ``rindices``, ``reid``), plus
``num_nodes`` and ``num_src_nodes``. :func:`topology` reads them from the graph's cache (no
per-call rebuild) and :class:`Topology` wraps them back into the part of the ``Graph`` interface
the implementations read, so the kernels and the reference ops are called unchanged through
:mod:`gnnkit.ops._dispatch`.

Each op has a fake (shape-only) implementation for tracing and an autograd formula registered
with ``register_autograd``. The same ``setup_context``/``backward`` pair also forms a new-style
``torch.autograd.Function`` per op (:class:`SpMM`, ...), which the public ops call in eager mode
(:func:`call`): unlike the function ``register_autograd`` generates, it works under ``torch.func``
transforms (grad, vjp). Under ``torch.compile`` they call the custom op itself, which dynamo records
as one opaque node with its fake implementation and registered autograd (no graph break). The formulas call these
Functions or plain differentiable torch ops (``spmm``'s backward is ``spmm`` on the reversed graph
and ``sddmm_dot``), so a backward is itself differentiable: double backward, Hessian-vector
products and ``torch.func.grad`` of ``grad`` work. ``vmap`` and forward-mode AD (``jvp``,
``jacfwd``, ``hessian``) are not registered.

Precision (see also ``docs/kernels.md``):

- float32 and float64 run as they are.
- bfloat16 on the CPU stays bfloat16: the compiled kernels read and write 2-byte elements and
  accumulate in float32 (sums, means, dot products, the softmax's shift, exponentials and
  denominator), rounding each output once. The reference ops (the fallback, and every other
  device) compute it in float32 and round the result. Edge weights beside bfloat16 features
  may be bfloat16 or float32 (the ``gcn_norm`` weights stay float32: they are read as such).
- float16 (and bfloat16 off the CPU) is computed in float32 and returned in the input's dtype.
- Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` the public ops cast a float32 main
  input to bfloat16 once (:func:`autocast_input`, torch's policy for ``matmul``), so a layer
  stack runs in bfloat16 from its first projection to its loss without float32 round trips.
  Kept in float32 (by not casting): max/min input (bfloat16 rounding turns near-ties into
  ties and sends the gradient to another edge; a comparison gains only bytes), edge weights
  (``gcn_norm`` sums degrees and takes ``rsqrt``: integers above 256 are not bfloat16
  numbers), float32 softmax scores (``edge_softmax`` on float32 input returns float32, as
  ``torch.softmax`` does under autocast; on bfloat16 input it returns bfloat16 with float32
  statistics), and the max/min backward, whose scatter-add into the sources accumulates in
  float32.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..graph import CSR, Graph
from . import _dispatch

# the dtypes the kernels compute in; anything narrower is upcast to float32 inside the op,
# except bfloat16 on the CPU, which has kernels that store it and accumulate in float32
_COMPUTE_DTYPES = (torch.float32, torch.float64)
_STORAGE_DEVICES = {torch.bfloat16: ("cpu",)}
_NO_ARG = torch.int64  # dtype of the (empty for sum/mean) arg output of spmm / segment_reduce

TopologyArgs = tuple  # (src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes)


class Topology:
    """The index tensors of a graph, standing in for ``Graph`` inside the custom ops.

    Provides what the kernels and reference ops read: ``src``, ``dst``, ``num_nodes``,
    ``num_src_nodes``, ``num_edges``, ``device``, ``is_bipartite``, ``csr_in()``, ``csr_out()``,
    ``in_degrees()``, ``reverse()`` and a ``_cache`` dict (the Triton schedules), which lives on
    the in-CSR's ``indptr`` tensor so it lasts as long as the graph's cached layout.
    """

    __slots__ = ("src", "dst", "num_nodes", "num_src_nodes", "_in", "_out")

    def __init__(self, src: Tensor, dst: Tensor, csr_in: CSR, csr_out: CSR | None, num_nodes: int,
                 num_src_nodes: int) -> None:
        self.src, self.dst, self.num_nodes, self.num_src_nodes = src, dst, num_nodes, num_src_nodes
        self._in, self._out = csr_in, csr_out

    @classmethod
    def from_args(cls, src: Tensor, dst: Tensor, indptr: Tensor, indices: Tensor, eid: Optional[Tensor],
                  rindptr: Optional[Tensor], rindices: Optional[Tensor], reid: Optional[Tensor], num_nodes: int,
                  num_src_nodes: int) -> "Topology":
        out = None if rindptr is None else CSR(rindptr, rindices, reid)
        return cls(src, dst, CSR(indptr, indices, eid), out, num_nodes, num_src_nodes)

    def args(self) -> TopologyArgs:
        """The custom-op arguments that rebuild this topology (inverse of :meth:`from_args`)."""
        o = self._out
        return (self.src, self.dst, self._in.indptr, self._in.indices, self._in.eid,
                None if o is None else o.indptr, None if o is None else o.indices, None if o is None else o.eid,
                self.num_nodes, self.num_src_nodes)

    @property
    def num_edges(self) -> int:
        return self.src.shape[0]

    @property
    def device(self) -> torch.device:
        return self.src.device

    @property
    def is_bipartite(self) -> bool:
        return self.num_src_nodes != self.num_nodes

    @property
    def _cache(self) -> dict:
        return self._in.indptr.__dict__.setdefault("_gnnkit_cache", {})

    def csr_in(self) -> CSR:
        return self._in

    def csr_out(self) -> CSR:
        if self._out is None:  # topology() passes the out-CSR whenever a backward can run
            raise RuntimeError("gnnkit: this op was called without the reversed layout its backward needs")
        return self._out

    def in_degrees(self) -> Tensor:
        return self._in.indptr.diff()  # [N]; an [N] int op, cheap beside the [N, F] work it scales

    def reverse(self) -> "Topology":
        return Topology(self.dst, self.src, self.csr_out(), self._in, self.num_src_nodes, self.num_nodes)


def topology(g: Graph, with_reverse: bool) -> TopologyArgs:
    """The custom-op arguments of ``g``'s topology, from the layouts cached on ``g``.

    Args:
        g: the graph.
        with_reverse: also pass the out-CSR (built once and cached on ``g``), which the backward of
            ``spmm`` and ``sddmm_dot`` read; pass False when no gradient can be asked for.
    """
    cin = g.csr_in()
    cout = g.csr_out() if with_reverse else None
    return Topology(g.src, g.dst, cin, cout, g.num_nodes, g.num_src_nodes).args()


def autocast_input(t: Tensor) -> Tensor:
    """``t`` as the sparse ops take it under the current autocast: a float32 CPU tensor becomes
    bfloat16 under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (one cast, as torch does for
    ``matmul``); anything else, and everything outside autocast, is returned unchanged.

    Layers call it once on an input that feeds several products, so it is cast once, not per product.

    Args:
        t: a tensor (any dtype or device).

    Returns:
        ``t`` or its bfloat16 copy.
    """
    if (t.dtype == torch.float32 and t.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16):
        return t.to(torch.bfloat16)
    return t


def _compute_dtype(*tensors: Tensor | None) -> torch.dtype:
    """The dtype an op's kernel runs in: its main (first) input's bfloat16 where a kernel stores
    bfloat16, else the promoted dtype of the inputs when it is float32/float64, else float32."""
    main = next(t for t in tensors if t is not None)
    if main.device.type in _STORAGE_DEVICES.get(main.dtype, ()):
        return main.dtype
    dtype = None
    for t in tensors:
        if t is not None:
            dtype = t.dtype if dtype is None else torch.promote_types(dtype, t.dtype)
    return dtype if dtype in _COMPUTE_DTYPES else torch.float32


def _to(t: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return None if t is None else t.to(dtype).contiguous()


def call(function: type[torch.autograd.Function], op, *args):
    """Run a custom op with autograd: through its Function in eager mode (``torch.func`` can transform
    that), as the custom op itself under ``torch.compile`` (dynamo traces it as one opaque node, where a
    Function would be refused for the aliased index tensors of a sorted graph, or when applied inside
    another Function's backward). Both carry the same autograd formula, so either is differentiable.

    With gradients off and nothing tracing (inference, or a backward pass without ``create_graph``,
    whose ``spmm`` on the reversed graph is most of the backward's Python work) there is nothing to
    record, so the op's implementation runs alone, without a Function node."""
    if torch.compiler.is_compiling():
        return op(*args)
    if not torch.is_grad_enabled() and _plain_tensors(args):
        return function._impl(*args)
    return function.apply(*args)


def _plain_tensors(args: tuple) -> bool:
    """Whether the op can skip the dispatcher: no dispatch mode is tracing (``make_fx``, fake
    tensors), no ``torch.func`` transform is active and no argument is one of its wrappers (they have
    no storage: a backward run inside ``torch.func.vjp`` gets them with no transform active), every
    tensor argument is a plain tensor or a Parameter (no subclass), and no profiler is recording (so
    profiles keep naming ``gnnkit::spmm`` and the other ops)."""
    if (torch._C._len_torch_dispatch_stack() or torch._C._are_functorch_transforms_active()
            or torch._C._autograd._profiler_enabled()):
        return False
    return all(type(a) in _PLAIN and not _is_wrapped(a) for a in args if isinstance(a, Tensor))


_PLAIN = (Tensor, torch.nn.Parameter)
_is_wrapped = torch._C._functorch.is_functorch_wrapped_tensor


def _as_function(name: str, op, impl, setup_context, backward) -> type[torch.autograd.Function]:
    """A new-style ``torch.autograd.Function`` running the custom op ``op`` with the autograd formula
    registered on it.

    Its forward calls ``impl``, the op's own implementation, straight away when nothing traces
    (:func:`_plain_tensors`): the dispatcher round trip of a custom op (its autograd layer, the
    redispatch below it, the alias check of the outputs) cost about 100 us of CPU per call against
    25 us for a 640-vertex ``spmm`` kernel, and a graph-classification batch makes 12 such calls.
    While a dispatch mode traces (``make_fx``, fake tensors) it calls the op, so tracers see the
    opaque op."""

    def forward(*args):
        return impl(*args) if _plain_tensors(args) else op(*args)

    def apply(cls, *args):
        # Function.apply binds the arguments with inspect.signature and unwraps functorch wrappers
        # on every call (~60 us on a two-vertex graph); outside torch.func transforms neither is
        # needed, so go straight to the C++ apply, as Function.apply itself ends up doing
        if torch._C._are_functorch_transforms_active():
            return torch.autograd.Function.apply.__func__(cls, *args)
        return super(torch.autograd.Function, cls).apply(*args)

    return type(name, (torch.autograd.Function,), {
        "__doc__": f"``{op._name}`` as a Function with its registered autograd formula (``torch.func`` can transform it).",
        "_impl": staticmethod(impl),
        "forward": staticmethod(forward),
        "apply": classmethod(apply),
        "setup_context": staticmethod(setup_context),
        "backward": staticmethod(backward),
    })


def _no_arg(like: Tensor) -> Tensor:
    return like.new_empty((0,), dtype=_NO_ARG)


# ---------------------------------------------------------------------------------- spmm
def _spmm(x: Tensor, w: Optional[Tensor], src: Tensor, dst: Tensor, indptr: Tensor, indices: Tensor,
            eid: Optional[Tensor], rindptr: Optional[Tensor], rindices: Optional[Tensor], reid: Optional[Tensor],
            num_nodes: int, num_src_nodes: int, reduce: str) -> tuple[Tensor, Tensor]:
    """``(out [N, H, F], arg)``: ``arg [N, H, F]`` winning edge ids for max/min, ``[0]`` otherwise."""
    topo = Topology.from_args(src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes)
    dt = _compute_dtype(x, w)
    # bfloat16 features read float32 weights as they are; any other weight dtype is cast to the compute dtype
    wdt = torch.float32 if dt == torch.bfloat16 and w is not None and w.dtype != dt else dt
    xc, wc = _to(x, dt), _to(w, wdt)
    out, arg = _dispatch.lookup("spmm", xc)(topo, xc, wc, reduce)
    return out.to(x.dtype), _no_arg(x) if arg is None else arg


spmm_op = torch.library.custom_op("gnnkit::spmm", _spmm, mutates_args=())


@spmm_op.register_fake
def _(x, w, src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes, reduce):
    shape = (num_nodes,) + tuple(x.shape[1:])
    arg = x.new_empty(shape, dtype=_NO_ARG) if reduce in ("max", "min") else _no_arg(x)
    return x.new_empty(shape), arg


def _spmm_setup(ctx, inputs, output) -> None:
    x, w, *topo_args, reduce = inputs
    ctx.reduce, ctx.sizes = reduce, topo_args[-2:]
    ctx.save_for_backward(x, w, output[1], *topo_args[:-2])


def _saved_topology(ctx, tensors: tuple) -> Topology:
    return Topology.from_args(*tensors, *ctx.sizes)


def _spmm_backward(ctx, dy: Tensor, _darg: Tensor | None):
    x, w, arg, *topo_tensors = ctx.saved_tensors
    g = _saved_topology(ctx, topo_tensors)
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    dx = dw = None
    if ctx.reduce in ("sum", "mean"):
        if ctx.reduce == "mean":
            dy = dy / g.in_degrees().clamp(min=1).to(dy.dtype).view(-1, 1, 1)
        if need_x:  # A^T dY: the same op on the reversed graph, whose edge i is our edge i
            dx = call(SpMM, spmm_op, dy, w, *g.reverse().args(), "sum")[0]
        if need_w:  # dL/dw_e = <dy[dst_e], x[src_e]>
            dw = call(SDDMMDot, sddmm_dot_op, x, dy, *g.args())
    else:
        if need_x:
            wsel = dy if w is None else dy * _select_weight(w, arg, dy.shape)
            dx = _scatter_arg_grad(wsel, arg, g.src, g.num_src_nodes)
        if need_w:
            dw = _arg_weight_grad(dy, x, arg, g)
    if dw is not None:
        if w.shape[1] != dw.shape[1]:
            dw = dw.sum(1, keepdim=True)  # one weight broadcast over all heads
        dw = dw.to(w.dtype)
    if dx is not None:
        dx = dx.to(x.dtype)
    return (dx, dw) + (None,) * 11


spmm_op.register_autograd(_spmm_backward, setup_context=_spmm_setup)

SpMM = _as_function("SpMM", spmm_op, _spmm, _spmm_setup, _spmm_backward)


def _scatter_arg_grad(dy: Tensor, arg: Tensor, rows: Tensor, num_rows: int) -> Tensor:
    """``d[rows[arg[v,h,f]], h, f] += dy[v,h,f]`` for every element whose arg is valid (max/min backward).

    Masked with ``where`` rather than boolean indexing, so the shapes do not depend on the data
    (``torch.compile`` traces it) and the result is differentiable in ``dy``.
    """
    _, h, f = dy.shape
    if rows.numel() == 0:  # no edges: every arg is -1, and rows[clamp(-1)] would index an empty tensor
        return dy.new_zeros(num_rows, h, f)
    valid = arg >= 0
    hf = torch.arange(h * f, device=dy.device).view(1, h, f)
    pos = rows[arg.clamp(min=0)] * (h * f) + hf  # [N, H, F] flat targets; invalid ones add 0
    vals = torch.where(valid, dy, torch.zeros((), dtype=dy.dtype, device=dy.device))
    acc = _accumulator(dy.dtype)  # a source may win many rows: sum their gradients in float32
    d = dy.new_zeros(num_rows * h * f, dtype=acc).index_add(0, pos.reshape(-1), vals.reshape(-1).to(acc))
    return d.view(num_rows, h, f).to(dy.dtype)


def _accumulator(dtype: torch.dtype) -> torch.dtype:
    """The dtype a scatter-add of ``dtype`` values accumulates in: float32 for bfloat16/float16."""
    return torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype


def _select_weight(w: Tensor, arg: Tensor, shape: torch.Size) -> Tensor:
    """``w[arg[v,h,f], h]`` (or head 0 when w is shared by heads), 0 where arg is -1."""
    n, h, f = shape
    if w.shape[0] == 0:  # no edges: nothing was selected
        return w.new_zeros(shape)
    head = torch.arange(h, device=w.device).view(1, h, 1) if w.shape[1] == h else torch.zeros(1, 1, 1, dtype=torch.int64, device=w.device)
    return torch.where(arg >= 0, w[arg.clamp(min=0), head], torch.zeros((), dtype=w.dtype, device=w.device))


def _arg_weight_grad(dy: Tensor, x: Tensor, arg: Tensor, g: Topology) -> Tensor:
    """``dw[arg, h] += dy * x[src[arg], h, f]`` summed over features (max/min backward), as ``[E, H]``."""
    n, h, f = dy.shape
    if g.num_edges == 0:  # no edges: no weight won anything
        return dy.new_zeros(0, h)
    valid = arg >= 0
    a = arg.clamp(min=0)
    heads = torch.arange(h, device=dy.device).view(1, h, 1).expand(n, h, f)
    feats = torch.arange(f, device=dy.device).view(1, 1, f).expand(n, h, f)
    xsel = x[g.src[a], heads, feats]  # [N, H, F]
    pos = a * h + heads  # flat index into [E, H]
    vals = torch.where(valid, dy * xsel, torch.zeros((), dtype=dy.dtype, device=dy.device))
    acc = _accumulator(dy.dtype)
    dw = dy.new_zeros(g.num_edges * h, dtype=acc).index_add(0, pos.reshape(-1), vals.reshape(-1).to(acc))
    return dw.view(g.num_edges, h).to(dy.dtype)


# ------------------------------------------------------------------------ segment_reduce
def _segment_reduce(m: Tensor, src: Tensor, dst: Tensor, indptr: Tensor, indices: Tensor, eid: Optional[Tensor],
                      rindptr: Optional[Tensor], rindices: Optional[Tensor], reid: Optional[Tensor], num_nodes: int,
                      num_src_nodes: int, reduce: str) -> tuple[Tensor, Tensor]:
    """``(out [N, H, F], arg)`` of edge messages ``m [E, H, F]``; ``arg`` holds edge ids for max/min."""
    topo = Topology.from_args(src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes)
    mc = _to(m, _compute_dtype(m))
    out, arg = _dispatch.lookup("segment_reduce", mc)(topo, mc, reduce)
    return out.to(m.dtype), _no_arg(m) if arg is None else arg


segment_reduce_op = torch.library.custom_op("gnnkit::segment_reduce", _segment_reduce, mutates_args=())


@segment_reduce_op.register_fake
def _(m, src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes, reduce):
    shape = (num_nodes,) + tuple(m.shape[1:])
    arg = m.new_empty(shape, dtype=_NO_ARG) if reduce in ("max", "min") else _no_arg(m)
    return m.new_empty(shape), arg


def _segment_reduce_setup(ctx, inputs, output) -> None:
    m, *topo_args, reduce = inputs
    ctx.reduce, ctx.sizes = reduce, topo_args[-2:]
    ctx.save_for_backward(output[1], *topo_args[:-2])


def _segment_reduce_backward(ctx, dy: Tensor, _darg: Tensor | None):
    arg, *topo_tensors = ctx.saved_tensors
    g = _saved_topology(ctx, topo_tensors)
    if ctx.reduce == "sum":
        dm = dy.index_select(0, g.dst)  # [E, H, F]
    elif ctx.reduce == "mean":
        dm = (dy / g.in_degrees().clamp(min=1).to(dy.dtype).view(-1, 1, 1)).index_select(0, g.dst)
    else:
        dm = _scatter_arg_grad(dy, arg, torch.arange(g.num_edges, device=dy.device), g.num_edges)
    return (dm,) + (None,) * 11


segment_reduce_op.register_autograd(_segment_reduce_backward, setup_context=_segment_reduce_setup)

SegmentReduce = _as_function("SegmentReduce", segment_reduce_op, _segment_reduce, _segment_reduce_setup, _segment_reduce_backward)


# ----------------------------------------------------------------------------- sddmm_dot
def _sddmm_dot(x_src: Tensor, x_dst: Tensor, src: Tensor, dst: Tensor, indptr: Tensor, indices: Tensor,
                 eid: Optional[Tensor], rindptr: Optional[Tensor], rindices: Optional[Tensor], reid: Optional[Tensor],
                 num_nodes: int, num_src_nodes: int) -> Tensor:
    """``out [E, H] = <x_src[src_e], x_dst[dst_e]>`` per head, in ``x_dst``'s dtype."""
    topo = Topology.from_args(src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes)
    dt = _compute_dtype(x_src, x_dst)
    return _dispatch.lookup("sddmm_dot", x_dst.to(dt))(topo, _to(x_src, dt), _to(x_dst, dt)).to(x_dst.dtype)


sddmm_dot_op = torch.library.custom_op("gnnkit::sddmm_dot", _sddmm_dot, mutates_args=())


@sddmm_dot_op.register_fake
def _(x_src, x_dst, src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes):
    return x_dst.new_empty((src.shape[0], x_dst.shape[1]))


def _sddmm_setup(ctx, inputs, output) -> None:
    x_src, x_dst, *topo_args = inputs
    ctx.sizes = topo_args[-2:]
    ctx.save_for_backward(x_src, x_dst, *topo_args[:-2])


def _sddmm_backward(ctx, dout: Tensor):
    x_src, x_dst, *topo_tensors = ctx.saved_tensors
    g = _saved_topology(ctx, topo_tensors)
    d_src = d_dst = None
    if ctx.needs_input_grad[0]:  # sum over out-edges of u of dout_e * x_dst[v]
        d_src = call(SpMM, spmm_op, x_dst, dout, *g.reverse().args(), "sum")[0].to(x_src.dtype)
    if ctx.needs_input_grad[1]:  # sum over in-edges of v of dout_e * x_src[u]
        d_dst = call(SpMM, spmm_op, x_src, dout, *g.args(), "sum")[0].to(x_dst.dtype)
    return (d_src, d_dst) + (None,) * 10


sddmm_dot_op.register_autograd(_sddmm_backward, setup_context=_sddmm_setup)

SDDMMDot = _as_function("SDDMMDot", sddmm_dot_op, _sddmm_dot, _sddmm_setup, _sddmm_backward)


# -------------------------------------------------------------------------- edge_softmax
def _edge_softmax(score: Tensor, src: Tensor, dst: Tensor, indptr: Tensor, indices: Tensor, eid: Optional[Tensor],
                    rindptr: Optional[Tensor], rindices: Optional[Tensor], reid: Optional[Tensor], num_nodes: int,
                    num_src_nodes: int) -> Tensor:
    """Softmax of ``score [E, H]`` over each destination's in-edges (max-shifted, float32 or wider)."""
    topo = Topology.from_args(src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes)
    sc = _to(score, _compute_dtype(score))
    return _dispatch.lookup("segment_softmax", sc)(topo, sc).to(score.dtype)


edge_softmax_op = torch.library.custom_op("gnnkit::edge_softmax", _edge_softmax, mutates_args=())


@edge_softmax_op.register_fake
def _(score, src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes):
    return torch.empty_like(score)


def _edge_softmax_setup(ctx, inputs, output) -> None:
    ctx.sizes = inputs[-2:]
    ctx.save_for_backward(output, *inputs[1:-2])  # y: the softmax's gradient needs only its output


def _edge_softmax_backward(ctx, dy: Tensor):
    y, *topo_tensors = ctx.saved_tensors
    return (call(EdgeSoftmaxBackward, edge_softmax_backward_op, y, dy, *topo_tensors, *ctx.sizes),) + (None,) * 10


edge_softmax_op.register_autograd(_edge_softmax_backward, setup_context=_edge_softmax_setup)

EdgeSoftmax = _as_function("EdgeSoftmax", edge_softmax_op, _edge_softmax, _edge_softmax_setup, _edge_softmax_backward)


def _edge_softmax_backward(y: Tensor, grad: Tensor, src: Tensor, dst: Tensor, indptr: Tensor, indices: Tensor,
                             eid: Optional[Tensor], rindptr: Optional[Tensor], rindices: Optional[Tensor],
                             reid: Optional[Tensor], num_nodes: int, num_src_nodes: int) -> Tensor:
    """Vector-Jacobian product of :func:`edge_softmax_op`: ``y * (grad - sum_{in-edges}(y * grad))``."""
    topo = Topology.from_args(src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes)
    dt = _compute_dtype(y, grad)
    yc = _to(y, dt)
    return _dispatch.lookup("segment_softmax_backward", yc)(topo, yc, _to(grad, dt)).to(y.dtype)


edge_softmax_backward_op = torch.library.custom_op("gnnkit::edge_softmax_backward", _edge_softmax_backward, mutates_args=())


@edge_softmax_backward_op.register_fake
def _(y, grad, src, dst, indptr, indices, eid, rindptr, rindices, reid, num_nodes, num_src_nodes):
    return torch.empty_like(y)


def _edge_softmax_backward_setup(ctx, inputs, output) -> None:
    y, grad, *topo_args = inputs
    ctx.sizes = topo_args[-2:]
    ctx.save_for_backward(y, grad, *topo_args[:-2])


def _edge_softmax_double_backward(ctx, u: Tensor):
    r"""Gradients of :math:`o_e = y_e (g_e - S_v)`, :math:`S_v = \sum_{e' \to v} y_{e'} g_{e'}`, for upstream ``u``.

    :math:`\partial/\partial g = y (u - T_v)` with :math:`T_v = \sum u y` (the same VJP again) and
    :math:`\partial/\partial y = u (g - S_v) - T_v g`.
    """
    y, grad, *topo_tensors = ctx.saved_tensors
    g = _saved_topology(ctx, topo_tensors)
    d_grad = d_y = None
    if ctx.needs_input_grad[1]:
        d_grad = call(EdgeSoftmaxBackward, edge_softmax_backward_op, y, u, *topo_tensors, *ctx.sizes)
    if ctx.needs_input_grad[0]:
        n, h = g.num_nodes, y.shape[1]
        s = y.new_zeros(n, h).index_add(0, g.dst, y * grad)  # [N, H]
        t = y.new_zeros(n, h).index_add(0, g.dst, u * y)  # [N, H]
        d_y = u * (grad - s.index_select(0, g.dst)) - t.index_select(0, g.dst) * grad  # [E, H]
    return (d_y, d_grad) + (None,) * 10


edge_softmax_backward_op.register_autograd(_edge_softmax_double_backward, setup_context=_edge_softmax_backward_setup)

EdgeSoftmaxBackward = _as_function("EdgeSoftmaxBackward", edge_softmax_backward_op, _edge_softmax_backward, _edge_softmax_backward_setup, _edge_softmax_double_backward)
