r"""``to_hetero``: a homogeneous model run on a :class:`~gnnkit.graph.HeteroGraph`, one copy per relation and per node type.

As PyG's ``to_hetero``, but without ``torch.fx``: the supported models are named
explicitly, so what is converted is visible and anything else fails with a clear error.

- a :class:`gnnkit.models.GNN`: its layer loop (dropout → conv → norm → activation →
  residual) runs per node type, every conv becomes a :class:`HeteroConv`. ``gnnkit.models``
  imports ``gnnkit.nn``, so the model is recognised by the attributes the loop reads
  (:data:`GNN_ATTRIBUTES`: ``config`` with ``dropout``/``residual``, the ``layers``,
  ``norms`` and ``skips`` module lists, the ``_act`` module) rather than by importing it;
- an ``nn.Sequential`` (or ``nn.ModuleList``) stack: each gnnkit convolution (``GCNConv``,
  ``SAGEConv``, ``GATConv``, ``GINConv``, ``GNNLayer``) is called as ``conv(g, h)``, every
  other module as ``module(h)`` on each node type's features.

A convolution becomes ``HeteroConv({relation: deepcopy(conv)}, reduce)``, so each relation
starts from the same weights and trains its own. A node-wise module (``Linear``, norm,
activation, dropout) with parameters or buffers is deep-copied per node type; one without
(``ReLU``, ``Dropout``) is shared. Every relation between two node types passes the pair
``(x_src, x_dst)``, so its layer must accept one (``SAGEConv``, ``GINConv``, ``GATConv`` with
``add_self_loops=False``; ``GCNConv`` only on relations within one type).
"""
from __future__ import annotations

import copy
from typing import Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..graph.hetero import HeteroGraph, Relation
from .gat import GATConv
from .gcn import GCNConv
from .gin import GINConv
from .hetero import HETERO_REDUCES, HeteroConv
from .message_passing import GNNLayer
from .sage import SAGEConv

__all__ = ["to_hetero", "HeteroGNN", "HeteroSequential", "CONV_TYPES", "GNN_ATTRIBUTES"]

CONV_TYPES = (GCNConv, SAGEConv, GATConv, GINConv, GNNLayer)  # called as conv(g, x)
GNN_ATTRIBUTES = ("config", "layers", "norms", "skips", "_act")  # what HeteroGNN reads of a gnnkit.models.GNN
Metadata = tuple[Sequence[str], Sequence[Relation]]
HeteroInput = Mapping[str, Tensor]


def _per_type(module: nn.Module, node_types: Sequence[str]) -> nn.Module:
    """One deep copy per node type when the module holds state, else the module itself (shared)."""
    has_state = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
    if not has_state:
        return module
    return nn.ModuleDict({t: copy.deepcopy(module) for t in node_types})


def _apply_per_type(module: nn.Module, x: HeteroInput) -> dict[str, Tensor]:
    if isinstance(module, nn.ModuleDict):
        return {t: module[t](h) for t, h in x.items()}
    return {t: module(h) for t, h in x.items()}


def _hetero_conv(conv: nn.Module, relations: Sequence[Relation], reduce: str) -> HeteroConv:
    return HeteroConv({rel: copy.deepcopy(conv) for rel in relations}, reduce=reduce)


def _without_activation(conv: nn.Module) -> nn.Module:
    """``conv``, or a copy without its own activation where it has one."""
    if getattr(conv, "activation", None) is None:
        return conv
    conv = copy.deepcopy(conv)
    conv.activation = None
    return conv


def _is_gnn(module: nn.Module) -> bool:
    """Whether ``module`` has the layout of a :class:`gnnkit.models.GNN` (module docstring)."""
    if not all(hasattr(module, a) for a in GNN_ATTRIBUTES):
        return False
    lists = all(isinstance(getattr(module, a), nn.ModuleList) for a in ("layers", "norms", "skips"))
    return lists and hasattr(module.config, "dropout") and hasattr(module.config, "residual")


def _check_metadata(metadata: object) -> tuple[tuple[str, ...], tuple[Relation, ...]]:
    if not (isinstance(metadata, (tuple, list)) and len(metadata) == 2):
        raise TypeError(f"metadata must be (node_types, relations) as HeteroGraph.ntypes and .relations, got {metadata!r}")
    node_types, relations = tuple(metadata[0]), tuple(metadata[1])
    if not node_types or not all(isinstance(t, str) for t in node_types):
        raise ValueError(f"metadata's node_types must be a non-empty sequence of strings, got {metadata[0]!r}")
    if not relations:
        raise ValueError("metadata's relations must not be empty")
    for rel in relations:
        if not (isinstance(rel, tuple) and len(rel) == 3 and all(isinstance(p, str) for p in rel)):
            raise ValueError(f"metadata's relations must be (src_type, edge_type, dst_type) triples, got {rel!r}")
        for t in (rel[0], rel[2]):
            if t not in node_types:
                raise ValueError(f"relation {rel} names node type {t!r}, which is not in metadata's node_types {list(node_types)}")
    return node_types, relations


class HeteroGNN(nn.Module):
    """A :class:`gnnkit.models.GNN` run on a :class:`HeteroGraph` (built by :func:`to_hetero`).

    The same loop as ``GNN.apply_layers`` per node type: dropout → :class:`HeteroConv` →
    norm → activation → residual, with the norms, skips and activation copied per node type
    where they hold parameters.

    Shape:
        x ``{type: [N_t, in_features]}`` → ``{type: [N_t, out_features]}`` for the types the
        last layer's relations end in. With one block :class:`HeteroGraph` per layer (input
        side first, as :class:`gnnkit.data.HeteroNeighborSampler` gives them), the output has
        the last block's ``num_dst_nodes(t)`` rows.
    """

    def __init__(self, model: nn.Module, node_types: Sequence[str], relations: Sequence[Relation], reduce: str) -> None:
        super().__init__()
        self.config = model.config
        self.node_types, self.relations = tuple(node_types), tuple(relations)
        # a conv that applies the model's activation itself (GNN's fused GCN/SAGE) is copied without it: the
        # activation follows the sum over relations, as for every other conv
        self.layers = nn.ModuleList(_hetero_conv(_without_activation(c), relations, reduce) for c in model.layers)
        self.norms = nn.ModuleList(_per_type(m, node_types) for m in model.norms)
        self.skips = nn.ModuleList(_per_type(m, node_types) for m in model.skips)
        self.act = _per_type(model._act, node_types)

    def forward(self, g: HeteroGraph | Sequence[HeteroGraph], x: HeteroInput) -> dict[str, Tensor]:
        n = len(self.layers)
        graphs = [g] * n if isinstance(g, HeteroGraph) else list(g)
        if len(graphs) != n or not all(isinstance(b, HeteroGraph) for b in graphs):
            raise TypeError(f"g must be a HeteroGraph or a list of {n} HeteroGraph blocks (one per layer), got {type(g).__name__}")
        for i, layer in enumerate(self.layers):
            h = {t: F.dropout(v, p=self.config.dropout, training=self.training) for t, v in x.items()}
            h = layer(graphs[i], h)
            if i < n - 1:
                h = _apply_per_type(self.act, _apply_per_type(self.norms[i], h))
                if self.config.residual:
                    skip = self.skips[i]
                    h = {t: v + (skip[t] if isinstance(skip, nn.ModuleDict) else skip)(x[t][: v.shape[0]]) for t, v in h.items()}
            x = h
        return x


class HeteroSequential(nn.Module):
    """A stack of modules on a :class:`HeteroGraph` (built by :func:`to_hetero`): each
    :class:`HeteroConv` is called as ``conv(g, x)``, each other module per node type.

    Shape:
        x ``{type: [N_t, F]}`` → ``{type: [N_t, F']}``; a conv keeps only the types its
        relations end in.
    """

    def __init__(self, steps: Sequence[nn.Module]) -> None:
        super().__init__()
        self.steps = nn.ModuleList(steps)

    def forward(self, g: HeteroGraph, x: HeteroInput) -> dict[str, Tensor]:
        if not isinstance(g, HeteroGraph):
            raise TypeError(f"g must be a gnnkit.HeteroGraph, got {type(g).__name__}")
        h = dict(x)
        for step in self.steps:
            h = step(g, h) if isinstance(step, HeteroConv) else _apply_per_type(step, h)
        return h


def to_hetero(module: nn.Module, metadata: Metadata, reduce: str = "sum") -> nn.Module:
    r"""Turn a homogeneous model into one over a heterogeneous graph (module docstring).

    Args:
        module: a :class:`gnnkit.models.GNN`, or an ``nn.Sequential``/``nn.ModuleList`` of
            gnnkit convolutions and node-wise modules (applied in order). It is not modified.
        metadata: ``(node_types, relations)``, e.g. ``(hg.ntypes, hg.relations)``.
        reduce: how each :class:`HeteroConv` combines the relations ending in a type
            (``"sum" | "mean" | "max" | "min"``).

    Returns:
        A :class:`HeteroGNN` (for a ``GNN``) or a :class:`HeteroSequential`, called as
        ``model(hg, {type: x_t})``, in the training mode of ``module``. Every node type
        needs the model's input size.

    Raises:
        TypeError: an unsupported model or a bad ``metadata``.
        ValueError: an unknown ``reduce`` or inconsistent ``metadata``.

    Example:
        >>> model = to_hetero(GNN(GNNConfig(model="sage", in_features=16, out_features=3)), (hg.ntypes, hg.relations))
        >>> out = model(hg, {t: hg.ndata[t]["x"] for t in hg.ntypes})  # {type: [N_t, 3]}
    """
    if reduce not in HETERO_REDUCES or reduce == "stack":
        raise ValueError(f"reduce must be one of {tuple(r for r in HETERO_REDUCES if r != 'stack')}, got {reduce!r}")
    node_types, relations = _check_metadata(metadata)
    if _is_gnn(module):
        return HeteroGNN(module, node_types, relations, reduce).train(module.training)
    if isinstance(module, (nn.Sequential, nn.ModuleList)):
        steps = [_hetero_conv(m, relations, reduce) if isinstance(m, CONV_TYPES) else _per_type(m, node_types) for m in module]
        return HeteroSequential(steps).train(module.training)
    raise TypeError(
        f"to_hetero supports a gnnkit.models.GNN or an nn.Sequential/nn.ModuleList of gnnkit convolutions "
        f"{[c.__name__ for c in CONV_TYPES]} and node-wise modules, got {type(module).__name__}; build a "
        f"HeteroConv per layer by hand for other models"
    )
