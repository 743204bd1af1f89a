"""Layer-wise full-graph inference: each layer for all vertices, in chunks of destination vertices.

A full forward keeps every layer's activations of all ``N`` vertices alive at once (and, with
autograd, more). Layer-wise inference (DGL's "offline inference") computes layer ``l`` for
all vertices before layer ``l + 1``: each chunk of destinations takes its in-edges as a
bipartite block, runs the layer on it and writes its rows into a preallocated
``[N, F_l]`` output; only the previous layer's full output and one chunk's temporaries
are alive at a time. See docs/memory_model.md (Inference).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import torch
from torch import Tensor, nn

from ..graph import Graph
from ..nn import GATConv, GCNConv, GINConv, SAGEConv
from ..ops import gcn_norm

if TYPE_CHECKING:  # the model module imports this one
    from .gnn import GNN

__all__ = ["chunk_block", "layerwise_inference"]


def chunk_block(g: Graph, start: int, stop: int) -> tuple[Graph, Tensor, Tensor]:
    """The in-edges of destinations ``[start, stop)`` as a block in DGL's convention.

    Block destination ``i`` is vertex ``start + i``; the block's first ``stop - start``
    sources are those destinations and the remaining ones the other sources of the in-edges,
    in increasing id order. Edges keep ``g.csr_in()``'s order (by destination, then by edge
    id), so a sum over a destination's in-edges adds them in the same order as on ``g``.

    Args:
        g: a graph with one vertex set. start, stop: the destination range.

    Returns:
        ``(block, src_ids, eid)``: the block, the ``[num_src_nodes]`` vertex id of each block
        source in ``g``, and the ``[E_block]`` id in ``g`` of each block edge (to select
        ``g``'s edge weights).
    """
    csr = g.csr_in()
    e0, e1 = int(csr.indptr[start]), int(csr.indptr[stop])
    src = csr.indices[e0:e1]  # [E_b] ids in g
    eid = torch.arange(e0, e1, device=src.device) if csr.eid is None else csr.eid[e0:e1]  # [E_b]
    n_dst = stop - start
    deg = csr.indptr[start:stop + 1].diff()  # [n_dst]
    dst_local = torch.repeat_interleave(torch.arange(n_dst, device=src.device), deg)  # [E_b]
    inside = (src >= start) & (src < stop)  # [E_b] sources that are destinations of this chunk
    outside_ids, inverse = torch.unique(src[~inside], return_inverse=True)  # sorted, [S_out], [E_out]
    src_local = torch.empty_like(src)
    src_local[inside] = src[inside] - start
    src_local[~inside] = n_dst + inverse
    src_ids = torch.cat([torch.arange(start, stop, device=src.device), outside_ids])  # [n_dst + S_out]
    block = Graph.block(src_local, dst_local, n_dst, int(src_ids.numel()), _validate=False)
    return block, src_ids, eid


@contextmanager
def _without_self_loops(layer: GATConv) -> Iterator[None]:
    """Run a GATConv on a block whose loops were added on the whole graph (its forward rejects
    ``add_self_loops=True`` on a bipartite input)."""
    saved = layer.add_self_loops
    layer.add_self_loops = False
    try:
        yield
    finally:
        layer.add_self_loops = saved


def _layer_graph(layer: nn.Module, g: Graph, dtype: torch.dtype) -> tuple[Graph, Tensor | None]:
    """The graph the layer really runs on (with its self-loops) and, for GCN, the whole graph's norm."""
    if isinstance(layer, GCNConv):
        looped = g.add_self_loops(only_missing=True) if layer.add_self_loops else g
        # the norm uses every vertex's whole-graph degree, which a block does not hold
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


def _run_layer(layer: nn.Module, block: Graph, h: Tensor, w: Tensor | None) -> Tensor:
    if isinstance(layer, GCNConv):
        return layer.propagate(block, h, w)
    if isinstance(layer, GATConv):
        with _without_self_loops(layer):
            return layer(block, h)
    return layer(block, h)


def layerwise_inference(model: GNN, g: Graph, x: Tensor, batch_size: int, device: torch.device | str | None = None,
                        progress: bool = False) -> Tensor:
    """``model(g, x)`` in eval mode, computed layer by layer in chunks of ``batch_size`` destinations.

    Each layer's output for all vertices is a preallocated ``[N, F_l]`` tensor on ``x``'s
    device; a chunk's block and input rows move to ``device`` to run. GCN uses the whole
    graph's normalisation, GAT the whole graph's self-loops, so every chunk computes exactly
    its rows of the full forward. Dropout is off (eval mode) and no autograd graph is kept;
    the model's training flag is restored afterwards.

    Args:
        model: a :class:`~gnnkit.GNN`. g: the whole graph (one vertex set).
        x: ``[N, in_features]`` input features. batch_size: destinations per chunk (>= 1).
        device: where each chunk runs (the model must already be there); ``None``: ``x``'s device.
        progress: show a tqdm bar over the chunks of all layers.

    Returns:
        ``[N, out_features]`` on ``x``'s device.

    Raises:
        TypeError: ``g`` not a Graph, or ``batch_size`` not an int.
        ValueError: ``batch_size < 1``, a bipartite ``g``, ``x`` without ``N`` rows, or an
            unsupported layer.
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
    device = x.device if device is None else torch.device(device)
    starts = range(0, n, batch_size)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(model.layers) * len(starts), desc="inference", unit="chunk")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i, layer in enumerate(model.layers):
                lg, w = _layer_graph(layer, g, x.dtype)
                out = None  # allocated once the first chunk gives the layer's width
                for start in starts:
                    stop = min(start + batch_size, n)
                    block, src_ids, eid = chunk_block(lg, start, stop)
                    h = _run_layer(layer, block.to(device), x[src_ids].to(device),
                                   None if w is None else w[eid].to(device))  # [stop - start, F_l]
                    if i < len(model.layers) - 1:  # the rest of GNN.apply_layers' loop, on the chunk's rows
                        h = model._act(model.norms[i](h))
                        if model.config.residual:
                            h = h + model.skips[i](x[start:stop].to(device))
                    if out is None:
                        out = x.new_empty((n, h.shape[1]), dtype=h.dtype)  # [N, F_l]
                    out[start:stop] = h.to(out.device)
                    if bar is not None:
                        bar.update(1)
                x = out if out is not None else x.new_empty((0, model.config.out_features))
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    return x
