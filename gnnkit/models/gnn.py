"""Layer stacks configured by a dataclass."""
from __future__ import annotations

import os
from dataclasses import InitVar, asdict, dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..blocks.activations import make_activation
from .._deprecated import renamed_keyword
from ..graph import Graph
from ..nn import GATConv, GCNConv, GINConv, SAGEConv
from ..nn._activation import FUSED as FUSED_ACTIVATIONS
from ..nn._gat_checkpoint import gat_layer_checkpointed
from ..nn._gcn_checkpoint import gcn_layer_checkpointed
from ..ops import REDUCES, NormalizedAdjacency
from .inference import layerwise_inference

__all__ = ["GNNConfig", "GNN", "MODELS", "FEATURE_DTYPES"]

MODELS = ("gcn", "sage", "gat", "gin")
FEATURE_DTYPES = (None, "bfloat16", "float16")


@dataclass(kw_only=True)
class GNNConfig:
    """How to build a :class:`GNN`.

    Args:
        model: ``"gcn" | "sage" | "gat" | "gin"``.
        in_features: input feature size. out_features: classes (or output size). Both are
            required: they come from the data (e.g. ``data.num_features``, ``data.num_classes``).
        reduce: SAGE/GIN reduction (``"sum" | "mean" | "max" | "min"``); ``None`` takes the
            layer's usual choice: mean for SAGE, sum for GIN (the injective one).
        hidden_features: width of the hidden layers (per head for GAT).
        num_layers: depth (>= 1).
        dropout: dropout on every layer's input (and GAT attention).
        heads: attention heads of GAT's hidden layers; out_heads: of its last layer.
        norm: ``None | "batch" | "layer"`` after each hidden layer.
        residual: add a (projected) skip connection around each hidden layer.
        activation: a name from :data:`gnnkit.blocks.ACTIVATIONS`.
        checkpoint: in training, keep only each layer's input for backward and recompute the
            layer (dropout → conv → norm → activation) there (``torch.utils.checkpoint``; dropout
            draws the same mask again): the ``[N, ·]`` and ``[E, ·]`` temporaries of one layer are
            alive at a time instead of every layer's. Gradients equal the plain run's. GCN on a
            :class:`~gnnkit.ops.NormalizedAdjacency` and GAT on one full graph (ReLU or ELU, no
            norm or residual) use hand-written checkpoints instead, which keep less
            (``gnnkit/nn/_gcn_checkpoint.py``, ``_gat_checkpoint.py``; docs/memory_model.md): their
            dropout masks are drawn from seeds taken from torch's generator, so they differ from
            the plain run's masks (same distribution, and reproducible with ``torch.manual_seed``).
        feature_dtype: ``None`` (the parameters' dtype) or ``"bfloat16" | "float16"``: the storage
            dtype of the activations passed between layers (and of the input features, which may
            come in that dtype); each layer computes in the parameters' dtype from an upcast copy.
            With ``checkpoint`` it halves what is kept per layer; values are rounded to 8 (bf16)
            or 11 (fp16) significant bits between layers, as are the gradients reaching them.
        aggr: deprecated name of ``reduce`` (accepted, e.g. from a saved config, with a warning).

    Raises:
        ValueError: an unknown choice or a size, depth or rate out of range.
        TypeError: a missing ``in_features``/``out_features`` (keyword-only fields), or both
            ``reduce`` and ``aggr``.
    """

    model: str = "gcn"
    in_features: int
    out_features: int
    hidden_features: int = 16
    num_layers: int = 2
    dropout: float = 0.5
    heads: int = 8
    out_heads: int = 1
    norm: str | None = None
    residual: bool = False
    activation: str = "relu"
    reduce: str | None = None
    checkpoint: bool = False
    feature_dtype: str | None = None
    aggr: InitVar[str | None] = None

    def __post_init__(self, aggr: str | None) -> None:
        self.reduce = renamed_keyword("GNNConfig", "aggr", "reduce", aggr, self.reduce, None)
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        for name in ("in_features", "out_features", "hidden_features", "heads", "out_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.norm not in (None, "batch", "layer"):
            raise ValueError(f"norm must be None, 'batch' or 'layer', got {self.norm!r}")
        if self.reduce is not None and self.reduce not in REDUCES:
            raise ValueError(f"reduce must be None or one of {REDUCES}, got {self.reduce!r}")
        if self.feature_dtype not in FEATURE_DTYPES:
            raise ValueError(f"feature_dtype must be one of {FEATURE_DTYPES}, got {self.feature_dtype!r}")
        make_activation(self.activation)  # raises ValueError naming the choices

    def to_dict(self) -> dict:
        return asdict(self)


def _fuses_activation(cfg: GNNConfig) -> bool:
    """Whether the hidden layers apply the activation themselves: GCN or SAGE with a fused activation
    and no norm between conv and activation (the conv runs it in place, see ``SAGEConv``/``GCNConv``)."""
    return cfg.model in ("gcn", "sage") and cfg.norm is None and cfg.activation in FUSED_ACTIVATIONS


def _make_layer(cfg: GNNConfig, fin: int, fout: int, last: bool) -> nn.Module:
    act = cfg.activation if _fuses_activation(cfg) and not last else None
    if cfg.model == "gcn":
        return GCNConv(fin, fout, activation=act)
    if cfg.model == "sage":
        return SAGEConv(fin, fout, reduce=cfg.reduce or "mean", activation=act)
    if cfg.model == "gin":
        mlp = nn.Sequential(nn.Linear(fin, fout), nn.ReLU(), nn.Linear(fout, fout))
        return GINConv(mlp, train_eps=True, reduce=cfg.reduce or "sum")
    if last:
        return GATConv(fin, fout, heads=cfg.out_heads, concat=False, dropout=cfg.dropout)
    return GATConv(fin, fout, heads=cfg.heads, concat=True, dropout=cfg.dropout)


class GNN(nn.Module):
    """A stack of ``num_layers`` convolutions: dropout → conv → (norm) → activation (→ residual).

    Shape:
        x ``[N, in_features]`` → ``[N, out_features]``. Mini-batch training passes one
        graph per layer instead (the sampled blocks of
        :class:`gnnkit.data.sampling.NeighborSampler`, input layer first): x then has the first
        block's ``num_src_nodes`` rows and the output the last block's ``num_nodes`` rows.
        Residuals add the skip of the destination rows (the first ``num_nodes`` sources,
        DGL's block convention). SAGE and GIN run on blocks as configured; GCN and GAT add
        self-loops and normalise by default, which a block does not allow (clear error).
    """

    def __init__(self, config: GNNConfig):
        super().__init__()
        self.config = cfg = config
        width = cfg.hidden_features * (cfg.heads if cfg.model == "gat" else 1)
        sizes = [cfg.in_features] + [width] * (cfg.num_layers - 1) + [cfg.out_features]
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.skips = nn.ModuleList()
        for i in range(cfg.num_layers):
            last = i == cfg.num_layers - 1
            fout = cfg.hidden_features if (cfg.model == "gat" and not last) else sizes[i + 1]
            self.layers.append(_make_layer(cfg, sizes[i], fout, last))
            if not last:
                if cfg.norm == "batch":
                    self.norms.append(nn.BatchNorm1d(sizes[i + 1]))
                elif cfg.norm == "layer":
                    self.norms.append(nn.LayerNorm(sizes[i + 1]))
                else:
                    self.norms.append(nn.Identity())
                if cfg.residual:
                    same = sizes[i] == sizes[i + 1]
                    self.skips.append(nn.Identity() if same else nn.Linear(sizes[i], sizes[i + 1], bias=False))
        self._act = make_activation(cfg.activation)
        self._fused_act = _fuses_activation(cfg)

    def after_conv(self, i: int, h: Tensor) -> Tensor:
        """Hidden layer ``i``'s norm and activation on its conv's output (the activation is the
        conv's own where it fuses it; the residual comes after this)."""
        h = self.norms[i](h)
        return h if self._fused_act else self._act(h)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def _per_layer(self, g: Graph | NormalizedAdjacency | Sequence[Graph]) -> list[Graph | NormalizedAdjacency]:
        n = len(self.layers)
        if isinstance(g, Graph):
            return [g] * n
        if isinstance(g, NormalizedAdjacency):
            if self.config.model != "gcn":
                raise TypeError(f"a NormalizedAdjacency is GCN's matrix: model='gcn' takes it, model={self.config.model!r} "
                                "needs a gnnkit.Graph")
            return [g] * n
        if not isinstance(g, (list, tuple)) or not all(isinstance(b, Graph) for b in g):
            raise TypeError(f"g must be a gnnkit.Graph or a list of {n} Graphs (one per layer), got {type(g).__name__}")
        if len(g) != n:
            raise ValueError(f"g holds {len(g)} graphs but the model has num_layers={n}: pass one graph per layer")
        for i in range(n - 1):
            if g[i].num_nodes != g[i + 1].num_src_nodes:
                raise ValueError(
                    f"graph {i} has {g[i].num_nodes} destinations but graph {i + 1} has {g[i + 1].num_src_nodes} "
                    f"sources: block i's destinations must be block i+1's sources"
                )
        return list(g)

    def forward(self, g: Graph | NormalizedAdjacency | Sequence[Graph], x: Tensor) -> Tensor:
        graphs = self._per_layer(g)
        if x.shape[0] != graphs[0].num_src_nodes:
            raise ValueError(f"x must have {graphs[0].num_src_nodes} rows (the first graph's sources), got {tuple(x.shape)}")
        if self._fused_gcn(graphs[0]):
            return self._fused_gcn_forward(graphs[0], x)
        if self._fused_gat(graphs, x):
            return self._fused_gat_forward(graphs[0], x)
        return self.apply_layers(x, lambda i, layer, h: layer(graphs[i], h))

    def _fused_gcn(self, g: Graph | NormalizedAdjacency) -> bool:
        """Whether the hand-written GCN checkpoint applies: it covers dropout → GCNConv → ReLU and nothing else."""
        cfg = self.config
        return (isinstance(g, NormalizedAdjacency) and cfg.checkpoint and self.training and torch.is_grad_enabled()
                and cfg.norm is None and not cfg.residual and cfg.activation == "relu")

    def _fused_gcn_forward(self, adj: NormalizedAdjacency, x: Tensor) -> Tensor:
        # each layer keeps its input, output and a dropout seed only (gnnkit/nn/_gcn_checkpoint.py); the seeds
        # come from torch's global generator, so torch.manual_seed makes the step reproducible
        cfg, last = self.config, len(self.layers) - 1
        dtype = self._compute_dtype()
        storage = dtype if cfg.feature_dtype is None else getattr(torch, cfg.feature_dtype)
        for i, layer in enumerate(self.layers):
            seed = int(torch.randint(0, 1 << 62, ()))
            x = gcn_layer_checkpointed(adj, x, layer.lin.weight, layer.bias, cfg.dropout, seed, relu=i < last,
                                       out_dtype=storage if i < last else dtype)
        return x

    def _fused_gat(self, graphs: list[Graph | NormalizedAdjacency], x: Tensor) -> bool:
        """Whether the hand-written GAT checkpoint applies: dropout → GATConv (one vertex set, its own
        self-loops, no edge features) → ReLU/ELU on one full graph, and nothing else (no autocast)."""
        cfg, g = self.config, graphs[0]
        return (cfg.model == "gat" and cfg.checkpoint and self.training and torch.is_grad_enabled()
                and cfg.norm is None and not cfg.residual and cfg.activation in FUSED_ACTIVATIONS
                and isinstance(g, Graph) and not g.is_bipartite and all(b is g for b in graphs)
                and not torch.is_autocast_enabled(x.device.type)
                and all(isinstance(c, GATConv) and c.add_self_loops and c.edge_dim is None for c in self.layers))

    def _fused_gat_forward(self, g: Graph, x: Tensor) -> Tensor:
        # each layer keeps its input, output, [N, H] softmax statistics and two dropout seeds only
        # (gnnkit/nn/_gat_checkpoint.py); the seeds come from torch's global generator, as the GCN path's
        cfg, last = self.config, len(self.layers) - 1
        dtype = self._compute_dtype()
        storage = dtype if cfg.feature_dtype is None else getattr(torch, cfg.feature_dtype)
        g = g.add_self_loops(only_missing=True)  # what GATConv attends over (cached on g)
        for i, layer in enumerate(self.layers):
            seed, att_seed = (int(s) for s in torch.randint(0, 1 << 62, (2,)))
            x = gat_layer_checkpointed(g, x, layer.lin.weight, layer.attention_projection(), layer.bias, layer.heads,
                                       layer.concat, layer.negative_slope, cfg.dropout, layer.dropout, seed, att_seed,
                                       act=cfg.activation if i < last else None,
                                       out_dtype=storage if i < last else dtype)
        return x

    def inference(self, g: Graph, x: Tensor, batch_size: int, device: torch.device | str | None = None,
                  progress: bool = False, out_dir: str | os.PathLike | None = None) -> Tensor:
        """Full-graph inference layer by layer, in chunks of ``batch_size`` destination vertices.

        Equals ``self.eval()(g, x)`` but keeps only one layer's input and output ``[N, F]``
        buffers and one chunk's temporaries alive, projecting each vertex once per layer (DGL's
        offline inference); see :func:`gnnkit.models.inference.layerwise_inference`.

        Args:
            g: the whole graph. x: ``[N, in_features]``. batch_size: destinations per chunk.
            device: where each chunk runs (``None``: ``x``'s device). progress: a tqdm bar per layer.
            out_dir: keep the layer buffers as memory-mapped ``.npy`` files there (the result
                is ``out_dir/output.npy``); ``None``: in memory.

        Returns:
            ``[N, out_features]`` on ``x``'s device.

        Raises:
            TypeError: ``g`` not a Graph or ``batch_size`` not an int.
            ValueError: ``batch_size < 1``, a bipartite ``g`` or ``x`` of the wrong shape.
        """
        return layerwise_inference(self, g, x, batch_size, device=device, progress=progress, out_dir=out_dir)

    def apply_layers(self, x: Tensor, conv: Callable[[int, nn.Module, Tensor], Tensor]) -> Tensor:
        """The layer loop (dropout → conv → norm → activation → residual) with the convolution step supplied.

        :meth:`forward` runs ``layer(g_i, h)``; partition-parallel training
        (:class:`gnnkit.scale.distributed.PartitionedGNN`) runs the same layer on a part's
        block after a halo exchange, so both share this one loop.

        Args:
            x: input features ``[N_0, in_features]``.
            conv: ``(i, layer, h) -> out``, applying ``self.layers[i]`` to the dropped-out ``h``.
                Its output's rows are the first rows of its input's destinations (DGL's block
                convention), which the residual adds to.

        Returns:
            The last layer's output (in the parameters' dtype).
        """
        cfg = self.config
        storage = None if cfg.feature_dtype is None else getattr(torch, cfg.feature_dtype)
        recompute = cfg.checkpoint and self.training and torch.is_grad_enabled()
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            def step(x: Tensor, i: int = i, layer: nn.Module = layer) -> Tensor:
                if storage is not None and x.dtype == storage:
                    x = x.to(self._compute_dtype())  # the stored reduced-precision input, upcast
                h = F.dropout(x, p=cfg.dropout, training=self.training)
                h = conv(i, layer, h)
                if i < last:
                    h = self.after_conv(i, h)
                    if cfg.residual:
                        h = h + self.skips[i](x[: h.shape[0]])  # a block's destinations are its first sources
                    if storage is not None:
                        h = h.to(storage)
                return h

            # the checkpoint keeps only x; dropout's RNG state is saved, so the recomputed mask is the same
            x = checkpoint(step, x, use_reentrant=False) if recompute else step(x)
        return x

    def _compute_dtype(self) -> torch.dtype:
        p = next(self.parameters(), None)
        return torch.get_default_dtype() if p is None else p.dtype
