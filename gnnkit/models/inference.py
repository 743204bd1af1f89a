"""Layer-wise full-graph inference: each layer for all vertices, projected once, aggregated in chunks.

A full forward keeps every layer's ``[N, ·]`` temporaries alive at once. Layer-wise
inference (DGL's "offline inference") computes layer ``l`` for all vertices before layer
``l + 1``, in two passes:

1. **Project once.** When the layer is linear in the source feature (GCN and SAGE's
   neighbour branch when they project before aggregating, GAT's per-head projection and its
   attention scores), ``X W`` is computed for all vertices in row chunks into one
   ``[N, F_l]`` buffer.
2. **Aggregate per destination chunk.** Rows ``[start, stop)`` of the CSR by destination
   are already the chunk's in-edges with their sources as whole-graph ids, so a chunk is a
   bipartite graph over all ``N`` sources built from a slice of ``g.csr_in()`` (no
   relabelling, no gathered copy of the sources); ``spmm`` reads the projected buffer
   directly. Layers that are not linear in the source (GIN, SAGE with ``max``/``min``, or a
   layer that aggregates before projecting because that is cheaper) run on the chunk with the
   pair ``(x, x[start:stop])``: they aggregate the raw features and apply their vertex
   function to the chunk's rows only.

Nothing is projected twice, so the work is one full forward's. Alive at once: the graph,
the layer's input and output ``[N, ·]`` buffers (plus the projected one) and one chunk's
temporaries; with ``out_dir`` those buffers are ``.npy`` files mapped in memory, so the
kernel can write them back and drop them under memory pressure. See docs/memory_model.md
(Inference).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..graph import Graph
from ..nn import GATConv, GCNConv, GINConv, SAGEConv
from ..ops import edge_softmax, empty, gcn_norm, sddmm, spmm

if TYPE_CHECKING:  # the model module imports this one
    from .gnn import GNN

__all__ = ["chunk_block", "layerwise_inference"]

# one chunk's view of the layer's source-side tensors: identity for a whole-graph-source chunk,
# a gather of the chunk's sources (moved to the compute device) for a compact one
Take = Callable[[Tensor], Tensor]


def chunk_block(g: Graph, start: int, stop: int) -> tuple[Graph, Tensor, Tensor]:
    """The in-edges of destinations ``[start, stop)`` as a compact block in DGL's convention.

    Block destination ``i`` is vertex ``start + i``; the block's first ``stop - start``
    sources are those destinations and the remaining ones the other sources of the in-edges,
    in increasing id order. Edges keep ``g.csr_in()``'s order (by destination, then by edge
    id), so a sum over a destination's in-edges adds them in the same order as on ``g``.
    Layer-wise inference uses it when a chunk runs on another device than the stored
    activations: only the chunk's sources then move.

    Args:
        g: a graph with one vertex set. start, stop: the destination range.

    Returns:
        ``(block, src_ids, eid)``: the block, the ``[num_src_nodes]`` vertex id of each block
        source in ``g``, and the ``[E_block]`` id in ``g`` of each block edge (to select
        ``g``'s edge weights).
    """
    rows, eid = g.dst_range(start, stop)  # sources still whole-graph ids
    src, n_dst = rows.src, stop - start  # [E_b]
    inside = (src >= start) & (src < stop)  # [E_b] sources that are destinations of this chunk
    outside_ids, inverse = torch.unique(src[~inside], return_inverse=True)  # sorted, [S_out], [E_out]
    src_local = torch.empty_like(src)
    src_local[inside] = src[inside] - start
    src_local[~inside] = n_dst + inverse
    src_ids = torch.cat([torch.arange(start, stop, device=src.device), outside_ids])  # [n_dst + S_out]
    block = Graph.block(src_local, rows.dst, n_dst, int(src_ids.numel()), _validate=False)
    return block, src_ids, eid


def _layer_graph(layer: nn.Module, g: Graph, dtype: torch.dtype) -> tuple[Graph, Tensor | None]:
    """The graph the layer really runs on (with its self-loops) and, for GCN, the whole graph's norm."""
    if isinstance(layer, GCNConv):
        looped = g.add_self_loops(only_missing=True) if layer.add_self_loops else g
        # the norm uses every vertex's whole-graph degree, which a chunk does not hold
        w = gcn_norm(looped, dtype=dtype) if layer.normalize else None
        return looped, w
    if isinstance(layer, GATConv):
        if layer.edge_dim is not None:
            raise ValueError("layer-wise inference does not support GATConv with edge_dim (edge features)")
        return (g.add_self_loops(only_missing=True) if layer.add_self_loops else g), None
    if isinstance(layer, (SAGEConv, GINConv)):
        return g, None
    raise ValueError(f"layer-wise inference supports GCNConv, SAGEConv, GATConv and GINConv layers, got "
                     f"{type(layer).__name__}")


def _projects_first(layer: nn.Module) -> bool:
    """Whether the layer's forward multiplies the sources by its weight before aggregating: the
    same choice as the layer's own forward, so both compute the same sums in the same order."""
    if isinstance(layer, GCNConv):
        return layer.out_features <= layer.in_features
    if isinstance(layer, SAGEConv):
        return layer.reduce in ("sum", "mean") and layer.out_features < layer.in_features
    return isinstance(layer, GATConv)


def _weights(layer: nn.Module) -> list[Tensor]:
    """The ``[F_out_k, F_in]`` matrices applied to every source vertex by a project-first layer."""
    if isinstance(layer, GATConv):
        # a_s . (W x) = (a_s^T W) x, folded as in GATConv.forward: the scores are one [F, 2H] product
        h, f = layer.heads, layer.out_features
        w = layer.lin.weight.view(h, f, -1)  # [H, F', F]
        att = torch.cat([layer.att_src, layer.att_dst], 1).view(2 * h, f, 1)  # [2H, F', 1]
        w_att = (w.repeat(2, 1, 1) * att).sum(1)  # [2H, F]
        # the source and destination scores in buffers of their own: a column slice of one
        # [N, 2H] buffer would be copied to contiguous memory by every chunk's sddmm
        return [layer.lin.weight, w_att[:h], w_att[h:]]  # [H F', F], [H, F], [H, F]
    return [layer.lin.weight if isinstance(layer, GCNConv) else layer.lin_l.weight]


def _buffer(shape: tuple[int, int], like: Tensor, path: Path | None) -> Tensor:
    """An uninitialised ``[N, F]`` buffer on ``like``'s device: 2 MB pages, or a mapped ``.npy`` file."""
    if path is None:
        return empty(shape, like.dtype, like.device)
    import numpy as np

    array = np.lib.format.open_memmap(path, mode="w+", dtype=torch.empty((), dtype=like.dtype).numpy().dtype,
                                      shape=shape)
    return torch.from_numpy(array)


def _project(x: Tensor, weights: list[Tensor], batch_size: int, paths: list[Path | None]) -> list[Tensor]:
    """``x W_kᵀ`` for all rows of ``x``, ``batch_size`` rows at a time, each into its own buffer."""
    outs = [_buffer((x.shape[0], w.shape[0]), x, p) for w, p in zip(weights, paths)]
    for start in range(0, x.shape[0], batch_size):
        rows = x[start:start + batch_size].to(weights[0].device)  # [B, F]
        for w, out in zip(weights, outs):
            if out.device == rows.device:  # a row slice is contiguous: the GEMM writes it in place, no copy
                torch.mm(rows, w.t(), out=out[start:start + batch_size])  # [B, F_out_k]
            else:
                out[start:start + batch_size] = rows @ w.t()
    return outs


def _run_chunk(layer: nn.Module, g: Graph, x: Tensor, proj: list[Tensor], x_dst: Tensor, w: Tensor | None,
               take: Take, rows: slice) -> Tensor:
    """The layer's output rows for one chunk ``g`` (destinations ``rows``), from the projected
    source tensors ``proj`` when it projects first, else from the input ``x``."""
    if isinstance(layer, GCNConv):
        if proj:
            out = spmm(g, take(proj[0]), w)  # [n_dst, F']
            return layer.finish(out if layer.bias is None else out + layer.bias)
        return layer.propagate(g, take(x), w)
    if isinstance(layer, GATConv):
        h, a_src, a_dst = proj  # [N, H F'], [N, H], [N, H]
        heads = layer.heads
        score = sddmm(g, take(a_src), a_dst[rows].to(x_dst.device), op="add")  # [E_b, H]
        alpha = edge_softmax(g, F.leaky_relu(score, layer.negative_slope))  # [E_b, H]
        out = spmm(g, take(h).view(-1, heads, layer.out_features), alpha)  # [n_dst, H, F']
        out = out.reshape(-1, heads * layer.out_features) if layer.concat else out.mean(1)
        return out if layer.bias is None else out + layer.bias
    if isinstance(layer, SAGEConv) and proj:
        out = spmm(g, take(proj[0]), reduce=layer.reduce)  # [n_dst, F']
        if layer.lin_l.bias is not None:
            out = out + layer.lin_l.bias
        if layer.lin_r is not None:
            out = out + x_dst @ layer.lin_r.weight.t()
        return layer.finish(out)
    # not linear in the source: aggregate the raw features, apply the vertex function to the chunk
    return layer(g, (take(x), x_dst))


def layerwise_inference(model: GNN, g: Graph, x: Tensor, batch_size: int, device: torch.device | str | None = None,
                        progress: bool = False, out_dir: str | os.PathLike | None = None) -> Tensor:
    """``model(g, x)`` in eval mode, computed layer by layer: projected once, aggregated in chunks.

    Each layer's output for all vertices is one ``[N, F_l]`` buffer on ``x``'s device. A
    layer linear in the source feature is projected for all vertices first (``batch_size``
    rows at a time) and then aggregated per chunk of ``batch_size`` destinations over a row
    slice of the CSR by destination; other layers aggregate the raw features per chunk. GCN
    uses the whole graph's normalisation, GAT the whole graph's self-loops, so every chunk
    computes exactly its rows of the full forward. Dropout is off (eval mode) and no autograd
    graph is kept; the model's training flag is restored afterwards.

    Args:
        model: a :class:`~gnnkit.GNN`. g: the whole graph (one vertex set).
        x: ``[N, in_features]`` input features (also a ``torch.from_numpy`` view of a memory-mapped array).
        batch_size: destinations (and projected rows) per chunk (>= 1).
        device: where each chunk runs (the model must already be there); ``None``: ``x``'s
            device. On another device each chunk moves only its own sources' rows there
            (:func:`chunk_block`).
        progress: show a tqdm bar per layer.
        out_dir: a directory for the layer buffers as ``.npy`` memory maps, for graphs whose
            activations exceed memory: the result is ``out_dir/output.npy`` (returned as a
            tensor view of it); the intermediate files are deleted once used. ``None``: in memory.

    Returns:
        ``[N, out_features]`` on ``x``'s device.

    Raises:
        TypeError: ``g`` not a Graph, or ``batch_size`` not an int.
        ValueError: ``batch_size < 1``, a bipartite ``g``, ``x`` without ``N`` rows, an
            unsupported layer, or ``out_dir`` with ``x`` off the CPU.
    """
    if not isinstance(g, Graph):
        raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__} ({batch_size!r})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if g.is_bipartite:
        raise ValueError("layer-wise inference needs the whole graph (one vertex set), got a bipartite graph")
    n = g.num_nodes
    if x.dim() != 2 or x.shape[0] != n:
        raise ValueError(f"x must be [num_nodes={n}, F], got {tuple(x.shape)}")
    folder = None
    if out_dir is not None:
        if x.device.type != "cpu":
            raise ValueError(f"out_dir maps the layer buffers from files, which needs x on the CPU, got x on {x.device}")
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
    device = x.device if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return _layers(model, g, x, batch_size, device, compact=device != x.device, progress=progress, folder=folder)
    finally:
        model.train(was_training)


def _layers(model: GNN, g: Graph, x: Tensor, batch_size: int, device: torch.device, compact: bool, progress: bool,
            folder: Path | None) -> Tensor:
    """The layer loop of :func:`layerwise_inference` (checked input, eval mode, no grad).

    ``compact``: each chunk is a :func:`chunk_block` whose sources are gathered and moved to
    ``device``; otherwise a whole-graph-source row slice of the CSR reading the
    buffers in place (:meth:`Graph.dst_range`).
    """
    n, last = g.num_nodes, len(model.layers) - 1
    starts = range(0, n, batch_size)

    def path(name: str) -> Path | None:
        return None if folder is None else folder / f"{name}.npy"

    for i, layer in enumerate(model.layers):
        lg, w = _layer_graph(layer, g, x.dtype)
        names = [f"layer{i}_proj{k}" for k in range(3)]
        proj = _project(x, _weights(layer), batch_size, [path(s) for s in names]) if _projects_first(layer) else []
        out = None  # allocated once the first chunk gives the layer's width
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(starts), desc=f"inference layer {i + 1}/{last + 1}", unit="chunk")
        for start in starts:
            stop = min(start + batch_size, n)
            if compact:
                block, src_ids, eid = chunk_block(lg, start, stop)
                block = block.to(device)

                def take(t: Tensor, ids: Tensor = src_ids) -> Tensor:
                    return t[ids].to(device)  # [S_b, F]
            else:
                (block, eid), take = lg.dst_range(start, stop), _identity
            x_dst = x[start:stop].to(device)  # [n_dst, F]
            w_b = None if w is None else w[eid].to(device)  # [E_b]
            h = _run_chunk(layer, block, x, proj, x_dst, w_b, take, slice(start, stop))  # [n_dst, F_l]
            if i < last:  # the rest of GNN.apply_layers' loop, on the chunk's rows
                h = model.after_conv(i, h)
                if model.config.residual:
                    h = h + model.skips[i](x_dst)
            if out is None:
                out = _buffer((n, h.shape[1]), x, path("output" if i == last else f"layer{i}"))  # [N, F_l]
            out[start:stop] = h.to(out.device)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        if out is None:  # no vertices: no chunk gave the width
            out = x.new_empty((0, model.config.out_features))
        del proj  # before the next layer's buffers: peak = input + output (+ projection) of one layer
        if folder is not None:
            for name in names + ([f"layer{i - 1}"] if i else []):
                path(name).unlink(missing_ok=True)
        x = out
    return x


def _identity(t: Tensor) -> Tensor:
    return t
