r"""Link-level mini-batches on the neighbour sampler: seed edges, their negatives, and the blocks of their endpoints.

A batch of ``B`` seed (positive) edges gets ``k`` negatives per edge from a negative
sampler; the distinct endpoints of all ``B (1 + k)`` pairs become the seeds of one
:meth:`gnnkit.data.sampling.NeighborSampler.sample`, so every endpoint's embedding comes
out of one pass over the blocks, and :attr:`LinkBatch.pair` indexes the output rows:

.. code-block:: python

    for batch in link_neighbor_loader(split.train_graph, split.train_pos, [10, 5], batch_size=512):
        h = batch.blocks.input_data["x"]
        for block, layer in zip(batch.blocks.blocks, layers):
            h = layer(block, h)                                  # [U, F'] for batch.blocks.seeds
        logits = decoder(h[batch.pair[0]], h[batch.pair[1]])     # [B (1 + k)]
        loss = F.binary_cross_entropy_with_logits(logits, batch.label)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..data.sampling import DataLoader, MiniBatch, NeighborSampler
from ..graph import Graph
from .negative import UniformNegativeSampler

__all__ = ["LinkBatch", "LinkNeighborSampler", "link_neighbor_loader"]


@dataclass
class LinkBatch:
    """One link-level mini-batch.

    Attributes:
        blocks: the neighbour-sampled :class:`~gnnkit.data.sampling.MiniBatch` whose
            ``seeds`` are the distinct endpoints ``[U]`` of every pair.
        pair: ``[2, B (1 + k)]`` rows of the model output (``blocks.seeds``) of each pair's
            source and destination: the ``B`` positives first, then their negatives.
        label: ``[B (1 + k)]`` float, 1 for a positive pair and 0 for a negative one.
        edge_ids: ``[B]`` ids of the seed edges (columns of the loader's ``edges``).
    """

    blocks: MiniBatch
    pair: Tensor
    label: Tensor
    edge_ids: Tensor

    def to(self, device: torch.device | str) -> "LinkBatch":
        """The batch with every tensor and block on ``device``."""
        return LinkBatch(self.blocks.to(device), self.pair.to(device), self.label.to(device), self.edge_ids.to(device))


def _build_layouts(blocks: Sequence[Graph]) -> None:
    """Build the CSR layouts the sparse ops of a training step read, here in the sampling thread.

    :class:`~gnnkit.graph.Graph` caches each layout on first use, so without this the training
    thread would build them inside its forward and backward (a bincount, a cumsum and, for the
    out-CSR, a stable sort per block). Every block's in-CSR feeds the forward ``spmm``; the
    out-CSR feeds its backward, which runs for every block after the first (their inputs are
    hidden layers and carry gradients). The first block's out-CSR is built only when its input
    asks for a gradient (learned embeddings), lazily as before. For 1024 seed edges with fan-outs
    ``[10, 10]`` on the 100k-vertex benchmark graph this moves about 2 ms of CPU time per step
    off the training thread (the ``layouts`` phase of ``python benchmarks/link.py --profile``).
    """
    for i, block in enumerate(blocks):
        block.csr_in()
        if i:
            block.csr_out()


class LinkNeighborSampler:
    """Samples a :class:`LinkBatch` for a list of seed-edge ids (``sample(items, generator)``, as DataLoader wants).

    Args:
        g: the message-passing graph (e.g. :attr:`LinkSplit.train_graph`), on the CPU.
        edges: ``[2, K]`` seed pairs (e.g. :attr:`LinkSplit.train_pos`).
        fanouts: per-layer fan-outs of the :class:`~gnnkit.data.sampling.NeighborSampler`.
        negative_sampler: called as ``negative_sampler(src, generator)`` → ``(neg_src, neg_dst)``;
            default :class:`UniformNegativeSampler` with one negative per edge (every batch
            holds both labels).

    Raises:
        ValueError: ``edges`` not ``[2, K]``. IndexError: pair ids outside ``[0, num_nodes)``.
        TypeError: non-integer ``edges``.
    """

    def __init__(self, g: Graph, edges: Tensor, fanouts: Sequence[int], negative_sampler: Any | None = None) -> None:
        if not isinstance(edges, Tensor) or edges.dim() != 2 or edges.shape[0] != 2:
            shape = tuple(edges.shape) if isinstance(edges, Tensor) else type(edges).__name__
            raise ValueError(f"edges must be a [2, K] tensor of (src, dst) pairs, got {shape}")
        if edges.dtype != torch.int64:
            raise TypeError(f"edges must be int64 vertex ids, got {edges.dtype}")
        if edges.numel() and (int(edges.min()) < 0 or int(edges.max()) >= g.num_nodes):
            raise IndexError(f"edges must lie in [0, num_nodes={g.num_nodes}), got ids in "
                             f"[{int(edges.min())}, {int(edges.max())}]")
        self.sampler = NeighborSampler(g, fanouts)
        self.edges = edges.cpu()
        self.negative_sampler = UniformNegativeSampler(g.num_nodes) if negative_sampler is None else negative_sampler

    def sample(self, items: Any, generator: np.random.Generator | int | None = None) -> LinkBatch:
        """The batch of seed edges ``items`` (ids into ``edges``).

        Args:
            items: ``[B]`` edge ids. generator: a numpy Generator or int seed (from the
                loader: a function of the batch's position), used for the negatives and the blocks.
        """
        rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)
        ids = torch.as_tensor(np.asarray(items, dtype=np.int64))
        pos_src, pos_dst = self.edges[0, ids], self.edges[1, ids]  # [B]
        torch_gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        neg_src, neg_dst = self.negative_sampler(pos_src, torch_gen)  # [B k]
        ends = torch.cat([pos_src, neg_src, pos_dst, neg_dst])  # [2 B (1 + k)]
        nodes, inverse = torch.unique(ends, return_inverse=True)  # [U]: each endpoint sampled once
        blocks = self.sampler.sample(nodes, rng)
        _build_layouts(blocks.blocks)
        label = torch.cat([torch.ones(pos_src.numel()), torch.zeros(neg_src.numel())])
        return LinkBatch(blocks=blocks, pair=inverse.view(2, -1), label=label, edge_ids=ids)


def link_neighbor_loader(g: Graph, edges: Tensor, fanouts: Sequence[int], batch_size: int,
                         negative_sampler: Any | None = None, shuffle: bool = True, drop_last: bool = False,
                         num_workers: int = 0, seed: int = 0, prefetch_factor: int = 2,
                         prefetch_thread: bool = True) -> DataLoader:
    """A :class:`~gnnkit.data.sampling.DataLoader` of :class:`LinkBatch` over the seed pairs ``edges``.

    Batches, shuffling, workers, per-batch seeding and prefetching are the node loader's: with
    ``num_workers=0`` a background thread samples the next ``prefetch_factor`` batches (negatives,
    endpoint dedup, blocks, their layouts and the ``ndata`` rows of their inputs) while the caller
    trains on the current one; ``prefetch_thread=False`` samples in the caller's thread instead.
    See :class:`LinkNeighborSampler` for the arguments it forwards.

    Shape: edges ``[2, K]``; each batch holds ``batch_size`` of the ``K`` pairs.
    """
    sampler = LinkNeighborSampler(g, edges, fanouts, negative_sampler)
    return DataLoader(sampler, torch.arange(edges.shape[1]), batch_size, shuffle=shuffle, drop_last=drop_last,
                      num_workers=num_workers, seed=seed, prefetch_factor=prefetch_factor,
                      prefetch_thread=prefetch_thread)
