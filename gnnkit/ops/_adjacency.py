"""A compact normalised adjacency for full-graph GCN training on large graphs.

A :class:`~gnnkit.Graph` keeps ``src`` and ``dst`` (16 bytes per edge); GCN adds a self-loop
graph (another 16 per edge), its ``gcn_norm`` weights (4) and, for backward, the out-CSR
(16 more). :class:`NormalizedAdjacency` keeps only what the product
:math:`\\hat D^{-1/2} \\hat A \\hat D^{-1/2} X` needs: one CSR with int32 column ids where the
vertex count allows and float32 values (8 bytes per entry), and for backward the
transposed CSR, which on an undirected graph *is* the same CSR (``A^T = A`` and the
symmetric norm is symmetric), so it is stored once (docs/memory_model.md, "Memory-saving
full-graph training").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..graph import CSR, Graph
from . import _dispatch

__all__ = ["NormalizedAdjacency", "spmm_adjacency"]

_INT32_MAX = 2**31 - 1


@dataclass(frozen=True, eq=False)
class NormalizedAdjacency:
    r"""The fixed sparse matrix of a GCN layer, :math:`\hat D^{-1/2} (A + I) \hat D^{-1/2}`, as a CSR by destination.

    Build it with :meth:`from_csr` or :meth:`from_graph`, then pass it to
    :class:`gnnkit.nn.GCNConv` or a ``GNN(GNNConfig(model="gcn"))`` in place of the graph.
    It has no gradient with respect to its values (they are constants of the graph).

    Attributes:
        indptr: ``[N + 1]`` int64 row offsets (rows are destinations).
        indices: ``[nnz]`` int32 (when ``N < 2^31``) or int64 source ids.
        values: ``[nnz]`` normalised weights in CSR order (float32 unless built with another ``dtype``).
        t_indptr, t_indices, t_values: the transposed CSR (rows are sources) that backward
            reads; the same tensors as the forward CSR when the matrix is symmetric.
        num_nodes: ``N``.
        self_loops, normalized: how the values were made (checked against ``GCNConv``'s options).
    """

    indptr: Tensor
    indices: Tensor
    values: Tensor
    t_indptr: Tensor
    t_indices: Tensor
    t_values: Tensor
    num_nodes: int
    self_loops: bool = True
    normalized: bool = True

    @property
    def num_src_nodes(self) -> int:
        """``N`` (the matrix is square)."""
        return self.num_nodes

    @property
    def nnz(self) -> int:
        """Stored entries (edges plus added self-loops)."""
        return self.indices.numel()

    @property
    def is_symmetric(self) -> bool:
        """Whether backward reuses the forward CSR (no transposed copy kept)."""
        return self.t_indices is self.indices

    @property
    def nbytes(self) -> int:
        """Bytes held (a shared transposed CSR counted once)."""
        tensors = {id(t): t for t in (self.indptr, self.indices, self.values, self.t_indptr, self.t_indices, self.t_values)}
        return sum(t.numel() * t.element_size() for t in tensors.values())

    def transposed(self) -> "NormalizedAdjacency":
        """The matrix :math:`\\hat A^\\top` (``self`` when symmetric); no copy."""
        if self.is_symmetric:
            return self
        return NormalizedAdjacency(self.t_indptr, self.t_indices, self.t_values, self.indptr, self.indices, self.values,
                                   self.num_nodes, self.self_loops, self.normalized)

    @classmethod
    def from_graph(cls, g: Graph, add_self_loops: bool = True, normalize: bool = True,
                   dtype: torch.dtype = torch.float32) -> "NormalizedAdjacency":
        """The matrix of ``GCNConv(add_self_loops, normalize)`` on ``g``.

        Args:
            g: a square (not bipartite) graph.
            add_self_loops: add the loops that are missing (``GCNConv``'s default).
            normalize: symmetric normalisation by in-degree (with the loops); otherwise ones.
            dtype: of the values (float64 for exact checks; products run in the features' dtype).

        Raises:
            TypeError: ``g`` is not a Graph, or ``dtype`` not floating point. ValueError: ``g`` is bipartite.
        """
        if not isinstance(g, Graph):
            raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
        if g.is_bipartite:
            raise ValueError("g must have one vertex set: a GCN adjacency is square, got a bipartite graph")
        cin = g.csr_in()
        src = cin.indices  # [E] sources in destination order
        return cls._build(cin.indptr, src, g.num_nodes, add_self_loops, normalize, dtype)

    @classmethod
    def from_csr(cls, indptr: Tensor, indices: Tensor, add_self_loops: bool = True, normalize: bool = True,
                 dtype: torch.dtype = torch.float32) -> "NormalizedAdjacency":
        """The matrix of ``GCNConv(add_self_loops, normalize)`` on the graph whose in-edges are a CSR.

        Nothing ``[E]``-sized of int64 is kept: pass the generators' CSR
        (:func:`gnnkit.data.generators.chung_lu` after ``symmetrize_csr``) and free it after.

        Args:
            indptr: ``[N + 1]`` int64 row offsets; row ``v`` lists the sources of ``v``'s in-edges.
            indices: ``[E]`` int32 or int64 source ids (a numpy array is accepted too).
            add_self_loops: add the loops that are missing. normalize: symmetric normalisation.
            dtype: of the values.

        Raises:
            TypeError: non-integer ids or a non-float ``dtype``. ValueError: a malformed ``indptr`` or ids out of range.
        """
        indptr, indices = torch.as_tensor(indptr), torch.as_tensor(indices)
        if indptr.dtype != torch.int64 or indptr.dim() != 1 or indptr.numel() < 1:
            raise TypeError(f"indptr must be a 1-D int64 tensor of N + 1 row offsets, got {indptr.dtype} {tuple(indptr.shape)}")
        if indices.dtype not in (torch.int32, torch.int64) or indices.dim() != 1:
            raise TypeError(f"indices must be a 1-D int32 or int64 tensor, got {indices.dtype} {tuple(indices.shape)}")
        n, nnz = indptr.numel() - 1, indices.numel()
        if int(indptr[0]) != 0 or int(indptr[-1]) != nnz or bool((indptr[1:] < indptr[:-1]).any()):
            raise ValueError(f"indptr must start at 0, never decrease and end at nnz = {nnz}, got "
                             f"indptr[0] = {int(indptr[0])}, indptr[-1] = {int(indptr[-1])}")
        if nnz and (int(indices.min()) < 0 or int(indices.max()) >= n):
            raise ValueError(f"indices must lie in [0, {n}) (the vertices), got [{int(indices.min())}, {int(indices.max())}]")
        return cls._build(indptr, indices, n, add_self_loops, normalize, dtype)

    @classmethod
    def _build(cls, indptr: Tensor, indices: Tensor, n: int, add_self_loops: bool, normalize: bool,
               dtype: torch.dtype) -> "NormalizedAdjacency":
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch.dtype (the values' dtype), got {dtype!r}")
        id_dtype = torch.int32 if n <= _INT32_MAX else torch.int64
        deg = indptr.diff()  # [N]
        if add_self_loops:
            rows = torch.repeat_interleave(torch.arange(n, dtype=id_dtype), deg)  # [E] transient
            keep = indices != rows  # existing loops are dropped, then one loop per vertex is added
            del rows
            # a loop's source id is its row, so counting the dropped ids counts each row's loops
            kept_deg = deg - torch.bincount(indices[~keep].long(), minlength=n)
            deg = kept_deg + 1
            new_indptr = torch.zeros(n + 1, dtype=torch.int64)
            torch.cumsum(deg, 0, out=new_indptr[1:])
            new_indices = torch.empty(int(new_indptr[-1]), dtype=id_dtype)
            # the loop first in each row, then the row's other entries in their order
            is_first = torch.zeros(new_indices.numel(), dtype=torch.bool)
            is_first[new_indptr[:-1]] = True
            new_indices[new_indptr[:-1]] = torch.arange(n, dtype=id_dtype)
            new_indices[~is_first] = indices[keep].to(id_dtype)
            del is_first, keep
            indptr, indices = new_indptr, new_indices
        else:
            indices = indices.to(id_dtype)
        if normalize:
            dinv = deg.to(dtype).clamp(min=1).pow(-0.5) * (deg > 0)  # [N]; in-degrees, loops included
            values = dinv[indices.long()] if indices.numel() < (1 << 24) else _gather_chunked(dinv, indices)
            values.mul_(torch.repeat_interleave(dinv, deg))  # [nnz] d_src^-1/2 d_dst^-1/2
        else:
            values = torch.ones(indices.numel(), dtype=dtype)
        # a transpose lists each row's columns in increasing order, so transposing twice puts the rows
        # in that canonical order, where a symmetric matrix equals its transpose entry for entry
        t_indptr, t_indices, t_values = _transpose(indptr, indices, values, n)
        indptr, indices, values = _transpose(t_indptr, t_indices, t_values, n)
        if torch.equal(t_indptr, indptr) and torch.equal(t_indices, indices) and torch.equal(t_values, values):
            t_indptr, t_indices, t_values = indptr, indices, values  # symmetric: backward reads the same CSR
        return cls(indptr, indices, values, t_indptr, t_indices, t_values, n, add_self_loops, normalize)


def _gather_chunked(table: Tensor, ids: Tensor, chunk: int = 1 << 24) -> Tensor:
    """``table[ids]`` without an ``[nnz]`` int64 copy of int32 ids."""
    out = torch.empty(ids.numel(), dtype=table.dtype)
    for a in range(0, ids.numel(), chunk):  # chunks bound the int64 temporary (memory, not a loop over edges)
        out[a : a + chunk] = table[ids[a : a + chunk].long()]
    return out


def _transpose(indptr: Tensor, indices: Tensor, values: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """The CSR of the transposed matrix: rows become columns (a stable sort keeps each row's order)."""
    order = torch.sort(indices, stable=True).indices  # [nnz] int64, transient
    t_indptr = torch.zeros(n + 1, dtype=torch.int64)
    torch.cumsum(torch.bincount(indices, minlength=n), 0, out=t_indptr[1:])
    rows = torch.repeat_interleave(torch.arange(n, dtype=indices.dtype), indptr.diff())  # [nnz]
    t_indices = rows[order]
    del rows
    return t_indptr, t_indices, values[order]


class _AdjacencySpMM(torch.autograd.Function):
    """``Â X`` with ``dX = Â^T dY``; ``Â``'s values are constants, so only ``X`` gets a gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, adj: NormalizedAdjacency) -> Tensor:  # type: ignore[override]
        ctx.adj = adj
        return _product(adj.indptr, adj.indices, adj.values, x)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor):  # type: ignore[override]
        t = ctx.adj.transposed()
        return _product(t.indptr, t.indices, t.values, dy), None


def _product(indptr: Tensor, indices: Tensor, values: Tensor, x: Tensor) -> Tensor:
    """``[N, F]`` rows of the CSR times ``x``, computed in ``x``'s dtype (float32 for reduced precision)."""
    dtype = x.dtype if x.dtype in _dispatch.KERNEL_DTYPES else torch.float32
    x3 = x.to(dtype).reshape(x.shape[0], 1, -1).contiguous()  # [N, 1, F]
    w = values.to(dtype).view(-1, 1)  # [nnz, 1]
    out, _ = _dispatch.lookup("spmm_csr", x3)(CSR(indptr, indices, None), x3, w, "sum")
    return out.view((indptr.numel() - 1,) + tuple(x.shape[1:])).to(x.dtype)


def spmm_adjacency(adj: NormalizedAdjacency, x: Tensor) -> Tensor:
    r""":math:`\hat A X` over a :class:`NormalizedAdjacency`, differentiable with respect to ``x``.

    Args:
        adj: the matrix. x: ``[N, F]`` (or ``[N]``) float features.

    Returns:
        ``[N, F]`` in ``x``'s dtype (bfloat16/float16 input is computed in float32).

    Raises:
        TypeError: ``adj`` not a NormalizedAdjacency or ``x`` not floating point.
        ValueError: ``x`` without ``N`` rows.
    """
    if not isinstance(adj, NormalizedAdjacency):
        raise TypeError(f"adj must be a NormalizedAdjacency, got {type(adj).__name__}")
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    if x.dim() not in (1, 2) or x.shape[0] != adj.num_nodes:
        raise ValueError(f"x must have shape [N={adj.num_nodes}] or [N={adj.num_nodes}, F], got {tuple(x.shape)}")
    return _AdjacencySpMM.apply(x, adj)
