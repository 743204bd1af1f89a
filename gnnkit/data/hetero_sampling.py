r"""Neighbour sampling on a :class:`~gnnkit.graph.HeteroGraph`: per-relation fan-outs, one block per layer.

For a batch of seed vertices (of one or several node types), :class:`HeteroNeighborSampler`
draws ``L`` blocks, input side first, as :class:`~gnnkit.data.sampling.NeighborSampler` does
for one vertex set: block ``L-1`` has the seeds as destinations; for every relation
``(s, e, d)`` each destination of type ``d`` keeps up to ``fanouts[l][relation]`` of its
in-edges in that relation, drawn uniformly without replacement; block ``l`` has block
``l+1``'s sources as destinations. Each block is a ``HeteroGraph`` *block*: per node type its
vertices are the layer's sources of that type, the first ``num_dst_nodes(t)`` of them being
its destinations (DGL's block convention), and every relation graph is bipartite. So a model runs

.. code-block:: python

    batch = sampler.sample({"paper": seeds})
    h = {t: batch.blocks[0].ndata[t]["x"] for t in batch.blocks[0].ntypes}  # = x[t][input_nodes[t]]
    for block, layer in zip(batch.blocks, layers):        # layer: a gnnkit.nn.HeteroConv
        h = layer(block, h)                               # {t: [num_dst_nodes(t), F']}

Every block carries the data of the sampled graph: ``ndata[t]`` holds the rows of its source
vertices and ``edata[rel]`` the rows of its sampled edges.

The per-destination draw is :class:`~gnnkit.data.sampling.NeighborSampler`'s own (vectorised
over destinations, Floyd's algorithm for ``k``-subsets), run on each relation's CSR; the loops
here run over layers, relations and node types only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ..graph.frame import DataDict
from ..graph.hetero import HeteroGraph, Relation
from .sampling import NeighborSampler, _as_numpy_index, _check_range, _rng

__all__ = ["HeteroMiniBatch", "HeteroNeighborSampler"]


@dataclass
class HeteroMiniBatch:
    """One sampled mini-batch of a :class:`HeteroNeighborSampler`.

    Attributes:
        seeds: ``{type: [B_t]}`` global ids of the output vertices (every node type, maybe empty).
        input_nodes: ``{type: [S_t]}`` global ids of the first block's sources of each type.
        blocks: ``L`` block ``HeteroGraph`` s, input side first; in block ``l`` vertex ``i`` of
            type ``t`` is global vertex ``input_nodes[t][i]`` (every layer's ids are prefixes).
        edge_ids: ``L`` mappings ``{relation: [E_r]}``: the id in the sampled graph's relation
            of each block edge.
    """

    seeds: dict[str, Tensor]
    input_nodes: dict[str, Tensor]
    blocks: list[HeteroGraph]
    edge_ids: list[dict[Relation, Tensor]]

    def to(self, device: torch.device | str) -> "HeteroMiniBatch":
        """The batch with every tensor and block on ``device`` (sampling itself runs on the CPU)."""
        return HeteroMiniBatch(
            seeds={t: v.to(device) for t, v in self.seeds.items()},
            input_nodes={t: v.to(device) for t, v in self.input_nodes.items()},
            blocks=[b.to(device) for b in self.blocks],
            edge_ids=[{r: v.to(device) for r, v in e.items()} for e in self.edge_ids],
        )


def _csr_sampler(indptr: np.ndarray, indices: np.ndarray, eid: np.ndarray | None, num_rows: int,
                 replace: bool) -> NeighborSampler:
    # NeighborSampler's draw and relabelling need only its CSR arrays and id table; from_csr
    # would insist on one vertex set, which a relation between two node types does not have
    s = NeighborSampler.__new__(NeighborSampler)
    # the relation's data is sliced by the HeteroGraph itself, so the draw carries none
    cpu = torch.device("cpu")
    s._init(indptr, indices, eid, num_rows, [1], replace, None,
            DataDict(num_rows, "ndata", "num_nodes", cpu), DataDict(indices.size, "edata", "num_edges", cpu))
    return s


class HeteroNeighborSampler:
    r"""Uniform neighbour sampling on a heterogeneous graph with per-layer, per-relation fan-outs.

    Args:
        g: the graph (a whole :class:`HeteroGraph` on the CPU; a :class:`MultiViewGraph` works).
        fanouts: ``L`` entries, input side first: an int for every relation, or a mapping
            ``{relation: int}`` naming every relation (an edge-type name alone when unique).
            ``-1`` takes every in-edge, ``0`` none.
        replace: draw with replacement (exactly ``k`` in-edges per destination that has any).
        seed: seed of the generator used when :meth:`sample` gets none.
        seed_ntype: the node type of seeds given as a plain id array (what
            :class:`~gnnkit.data.sampling.DataLoader` passes); default the only type, if one.

    Raises:
        TypeError: ``g`` not a HeteroGraph, fan-outs of the wrong type.
        ValueError: a block or a graph off the CPU, no fan-outs, a fan-out below ``-1``, a
            mapping that misses or repeats a relation, an unknown ``seed_ntype``.
    """

    def __init__(self, g: HeteroGraph, fanouts: Sequence[int | Mapping[Any, int]], replace: bool = False,
                 seed: int | None = 0, seed_ntype: str | None = None) -> None:
        if not isinstance(g, HeteroGraph):
            raise TypeError(f"g must be a gnnkit.HeteroGraph, got {type(g).__name__}")
        if g.is_block:
            raise ValueError("g must be a whole graph to sample from, got a block (num_dst_nodes given)")
        if g.device.type != "cpu":
            raise ValueError(f"g must be on the CPU (sampling runs there), got {g.device}; sample from g.to('cpu')")
        if isinstance(fanouts, (int, np.integer)) or not isinstance(fanouts, Sequence) or len(fanouts) == 0:
            raise ValueError(f"fanouts must be a non-empty sequence, one entry per layer, got {fanouts!r}")
        self.fanouts = [self._layer_fanouts(g, f, i) for i, f in enumerate(fanouts)]
        if seed_ntype is None and len(g.ntypes) == 1:
            seed_ntype = g.ntypes[0]
        if seed_ntype is not None and seed_ntype not in g.ntypes:
            raise ValueError(f"seed_ntype must be one of the node types {list(g.ntypes)}, got {seed_ntype!r}")
        self.seed_ntype = seed_ntype
        self.replace = bool(replace)
        self.graph = g
        self._rel_samplers = {}
        for rel in g.relations:  # once per relation
            csr = g[rel].csr_in()
            eid = None if csr.eid is None else csr.eid.numpy()
            self._rel_samplers[rel] = _csr_sampler(csr.indptr.numpy(), csr.indices.numpy(), eid,
                                                   g.num_dst_nodes(rel[2]), self.replace)
        empty = np.zeros(1, dtype=np.int64)
        self._relabelers = {t: _csr_sampler(np.zeros(g.num_dst_nodes(t) + 1, dtype=np.int64), empty[:0], None,
                                            g.num_dst_nodes(t), False) for t in g.ntypes}
        self._default_rng = np.random.default_rng(seed)

    @staticmethod
    def _layer_fanouts(g: HeteroGraph, f: Any, layer: int) -> dict[Relation, int]:
        def check(k: Any, where: str) -> int:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
                raise TypeError(f"{where} must be an int, got {type(k).__name__} ({k!r})")
            if k < -1:
                raise ValueError(f"{where} must be >= 0, or -1 for every in-edge, got {int(k)}")
            return int(k)

        if isinstance(f, Mapping):
            out: dict[Relation, int] = {}
            for key, k in f.items():
                rel = g.canonical(key)
                if rel in out:
                    raise ValueError(f"fanouts[{layer}] names relation {rel} twice")
                out[rel] = check(k, f"fanouts[{layer}][{key!r}]")
            missing = [r for r in g.relations if r not in out]
            if missing:
                raise ValueError(f"fanouts[{layer}] must give a fan-out for every relation; missing {missing}")
            return out
        k = check(f, f"fanouts[{layer}]")
        return {r: k for r in g.relations}

    @property
    def num_layers(self) -> int:
        return len(self.fanouts)

    def __repr__(self) -> str:
        return f"HeteroNeighborSampler(graph={self.graph!r}, num_layers={self.num_layers}, replace={self.replace})"

    def _seeds(self, seeds: Any) -> dict[str, np.ndarray]:
        g = self.graph
        if not isinstance(seeds, Mapping):
            if self.seed_ntype is None:
                raise ValueError(
                    f"seeds must be a mapping {{node_type: ids}} for a graph with node types {list(g.ntypes)}; "
                    f"or build the sampler with seed_ntype to pass plain ids"
                )
            seeds = {self.seed_ntype: seeds}
        out = {}
        for t in g.ntypes:
            ids = _as_numpy_index(seeds[t], f"seeds[{t!r}]") if t in seeds else np.zeros(0, dtype=np.int64)
            _check_range(ids, g.num_dst_nodes(t), f"seeds[{t!r}]", f"num_nodes[{t!r}]")
            if np.unique(ids).size != ids.size:
                raise ValueError(f"seeds[{t!r}] must be distinct vertex ids; drop repeats with .unique()")
            out[t] = ids
        for t in seeds:
            if t not in out:
                raise ValueError(f"seeds names node type {t!r}, which is not one of the node types {list(g.ntypes)}")
        return out

    def sample(self, seeds: Any, generator: np.random.Generator | int | None = None) -> HeteroMiniBatch:
        """Sample the blocks of one mini-batch.

        Args:
            seeds: ``{node_type: [B_t] ids}``, or ``[B]`` ids of ``seed_ntype``.
            generator: a numpy ``Generator`` or an int seed; default the sampler's own.

        Returns:
            A :class:`HeteroMiniBatch`.

        Raises:
            ValueError: an unknown node type, repeated seeds, plain ids without ``seed_ntype``.
            IndexError: a seed out of range. TypeError: non-integer seeds.
        """
        rng = _rng(generator, self._default_rng)
        g = self.graph
        seeds_np = self._seeds(seeds)
        dst = dict(seeds_np)
        blocks: list[HeteroGraph] = []
        edge_ids: list[dict[Relation, Tensor]] = []
        for fanout in reversed(self.fanouts):
            picked: dict[Relation, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
            for rel, sampler in self._rel_samplers.items():  # one vectorised draw per relation
                k, d = fanout[rel], dst[rel[2]]
                if k == 0 or d.size == 0:
                    pos, counts = np.zeros(0, dtype=np.int64), np.zeros(d.size, dtype=np.int64)
                else:
                    pos, counts = sampler._sample_positions(d, k, rng)
                dst_local = np.repeat(np.arange(d.size, dtype=np.int64), counts)  # [E_r]
                eid = pos if sampler._eid is None else sampler._eid[pos]
                picked[rel] = (sampler._indices[pos], dst_local, eid)
            src_nodes, src_local = {}, {}
            for t, relabel in self._relabelers.items():  # one relabelling per node type
                rels = [r for r in picked if r[0] == t]
                cand = np.concatenate([picked[r][0] for r in rels]) if rels else np.zeros(0, dtype=np.int64)
                local, src_nodes[t] = relabel._relabel(dst[t], cand)  # sources of type t, its destinations first
                for r, part in zip(rels, np.split(local, np.cumsum([picked[r][0].size for r in rels])[:-1])):
                    src_local[r] = part
            ids = {r: torch.from_numpy(picked[r][2]) for r in picked}
            src_t = {t: torch.from_numpy(v) for t, v in src_nodes.items()}
            blocks.append(HeteroGraph(
                {t: int(v.size) for t, v in src_nodes.items()},
                {r: (torch.from_numpy(src_local[r]), torch.from_numpy(picked[r][1])) for r in picked},
                ndata={t: g.ndata[t].select(src_t[t]) for t in g.ntypes},
                edata={r: g.edata[r].select(ids[r]) for r in picked},
                num_dst_nodes={t: int(v.size) for t, v in dst.items()},
                _validate=False,  # local ids come from the relabelling, in range by construction
            ))
            edge_ids.append(ids)
            dst = src_nodes
        blocks.reverse()
        edge_ids.reverse()
        return HeteroMiniBatch(seeds={t: torch.from_numpy(v) for t, v in seeds_np.items()},
                               input_nodes={t: torch.from_numpy(v) for t, v in dst.items()},
                               blocks=blocks, edge_ids=edge_ids)
