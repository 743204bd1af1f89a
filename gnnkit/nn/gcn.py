"""Graph convolution (Kipf & Welling 2017, https://arxiv.org/abs/1609.02907)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import ops
from ..blocks.activations import activation_fn
from ..graph import Graph
from ._activation import FUSED
from ._dense import multi_linear

__all__ = ["GCNConv"]


class GCNConv(nn.Module):
    r"""Graph convolution :math:`X' = \hat D^{-1/2} \hat A \hat D^{-1/2} X W + b`, :math:`\hat A = A + I`.

    Matches PyG's ``GCNConv`` defaults: self-loops are added where missing and
    degrees are (weighted) in-degrees. The product runs as one ``spmm`` with the
    normalisation folded into the edge weights; no per-edge message tensor.

    Args:
        in_features: input size ``F``. out_features: output size ``F'``.
        add_self_loops: add :math:`I` (the loop graph and its norm are cached on ``g``).
        normalize: apply the symmetric normalisation; otherwise plain (weighted) sum.
        bias: learn an additive bias.
        activation: a name from :data:`gnnkit.blocks.ACTIVATIONS` applied to the output, or None
            (as DGL's ``GraphConv(activation=...)``). ``"relu"`` and ``"elu"`` run inside the
            projection's autograd node when the layer aggregates before projecting (widening
            layers), in place on its 2 MB-page output together with the bias, which saves the
            fresh ``[N, F']`` tensors (bias copy, output, gradient) of ``torch.relu(conv(g, x))``.

    ``forward`` also takes a :class:`gnnkit.ops.NormalizedAdjacency` in place of the graph:
    the same matrix with the loops and norm precomputed, int32 ids and no ``src``/``dst``
    (about 8 bytes per edge instead of ~70; the memory-saving path for large graphs).

    Shape:
        x ``[N, F]``, edge_weight ``[E]`` or None → ``[N, F']``.
    """

    def __init__(self, in_features: int, out_features: int, add_self_loops: bool = True, normalize: bool = True,
                 bias: bool = True, activation: str | None = None):
        super().__init__()
        if activation is not None:
            activation_fn(activation)  # raises ValueError naming the choices
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.add_self_loops, self.normalize = add_self_loops, normalize
        self.lin = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(self.lin.weight.new_zeros(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.lin.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, g: Graph | ops.NormalizedAdjacency, x: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """Apply the layer.

        Args:
            g: the graph, or its precomputed :class:`gnnkit.ops.NormalizedAdjacency`.
            x: ``[N, F]`` features. edge_weight: ``[E]`` weights (a Graph only), or None for 1.

        Raises:
            ValueError: a bipartite graph with loops or norm; ``edge_weight`` with an adjacency, or an
                adjacency built with other ``add_self_loops``/``normalize`` than this layer's.
        """
        ops.check_float(x, "x")  # before self.lin: an integer x would fail inside matmul, unnamed
        if isinstance(g, ops.NormalizedAdjacency):
            if edge_weight is not None:
                raise ValueError("edge_weight must be None with a NormalizedAdjacency: its values are the weights")
            if (g.self_loops, g.normalized) != (self.add_self_loops, self.normalize):
                raise ValueError(
                    f"the adjacency was built with add_self_loops={g.self_loops}, normalize={g.normalized} but this "
                    f"layer has add_self_loops={self.add_self_loops}, normalize={self.normalize}"
                )
            return self.propagate(g, x, None)
        w = edge_weight
        if g.is_bipartite and (self.add_self_loops or self.normalize):
            raise ValueError(
                "GCNConv with self-loops or symmetric normalisation needs one vertex set; on a bipartite "
                "block pass add_self_loops=False, normalize=False and precomputed edge_weight"
            )
        if self.add_self_loops:
            if w is None:
                g = g.add_self_loops(only_missing=True)
            else:
                g, w = g.add_self_loops(w, only_missing=True)
        if self.normalize:
            # bfloat16 features read float32 norms: the weights stay float32 under autocast (ops._library)
            w = ops.gcn_norm(g, w, dtype=torch.float32 if x.dtype == torch.bfloat16 else x.dtype)
        return self.propagate(g, x, w)

    def propagate(self, g: Graph | ops.NormalizedAdjacency, x: Tensor, edge_weight: Tensor | None) -> Tensor:
        r""":math:`X' = \sigma(A_w X W + b)` with the final edge weights: the layer after its loops and norm.

        ``forward`` calls it with :math:`\hat A` and the symmetric norm. Partition-parallel
        training calls it on a part's bipartite block with weights normalised by the whole
        graph's degrees, which ``forward`` cannot compute from the block.

        Args:
            g: the graph (bipartite allowed: x holds its ``num_src_nodes`` sources).
            x: source features. edge_weight: ``[E]`` weights, or None for 1.

        Shape:
            x ``[num_src_nodes, F]``, edge_weight ``[E]`` → ``[num_nodes, F']``.
        """
        def aggregate(h: Tensor) -> Tensor:
            if isinstance(g, ops.NormalizedAdjacency):
                return ops.spmm_adjacency(g, h)  # [N, F]
            return ops.spmm(g, h, edge_weight)  # [N, F]

        # multiply by W first when it shrinks the features: the sparse product then moves fewer bytes
        if self.out_features <= self.in_features:
            # [N, F] x: output and input gradient in 2 MB-page buffers (multi_linear); other shapes: nn.Linear
            out = aggregate(multi_linear([x], [self.lin.weight]) if x.dim() == 2 else self.lin(x))
            # the bias in out's dtype: a float32 bias would promote a bfloat16 [N, F'] output to float32
            return self.finish(out if self.bias is None else out + self.bias.to(out.dtype))
        act = self.activation if self.activation in FUSED else None
        # one node: the product in a 2 MB-page buffer, then bias and activation in place
        return self.finish(multi_linear([aggregate(x)], [self.lin.weight], self.bias, act), activated=act is not None)

    def finish(self, out: Tensor, activated: bool = False) -> Tensor:
        """The layer's output from its raw :math:`A_w X W + b`: the activation, unless ``activated``
        (a fused path applied it)."""
        return out if activated or self.activation is None else activation_fn(self.activation)(out)

    def extra_repr(self) -> str:
        act = "" if self.activation is None else f", activation={self.activation!r}"
        return f"{self.in_features}, {self.out_features}, add_self_loops={self.add_self_loops}, normalize={self.normalize}{act}"
