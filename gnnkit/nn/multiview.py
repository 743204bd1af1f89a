r"""Multi-view convolution: every view (edge type) of a :class:`MultiViewGraph` in one sparse product."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from .. import ops
from ..graph.multiview import VIEW_NORMS, MultiViewGraph

__all__ = ["MultiViewConv", "VIEW_COMBINES"]

VIEW_COMBINES = ("fixed", "learned", "attention")


class MultiViewConv(nn.Module):
    r"""Multi-view graph convolution :math:`E' = \sum_v \alpha_v \hat A_v E W_v + E W_r + b`.

    The lecture's layer :math:`E^{t+1} = g(\tfrac13 A E W + \tfrac13 B E W + \tfrac13 C E W)` is
    ``MultiViewConv(F, F', num_views=3, share_weights=True, norm="none")`` followed by
    the activation ``g`` (applied by the caller, as for :class:`GCNConv`).

    .. math::
        E' = \sum_{v=1}^{V} \alpha_v \,\hat A_v E W_v \;(+\, E W_r) \;(+\, b), \qquad
        \hat A_v = \mathrm{norm}(A_v)

    Views are weighted by :math:`\alpha` that is ``"fixed"`` (default :math:`1/V`),
    ``"learned"`` (:math:`\alpha = \mathrm{softmax}(\theta)`), or ``"attention"``: per vertex,
    :math:`\beta_{n,v} = \mathrm{softmax}_v\big(q^\top \tanh(h_{n,v} + c)\big)` over the view
    aggregates :math:`h_{n,v} = (\hat A_v E W_v)_n`.

    No Python loop over views runs on the hot path; each case is one sparse product
    over the cached graphs of :class:`MultiViewGraph` (edges in one shared order):

    - shared :math:`W`, fixed/learned :math:`\alpha`: one ``spmm`` over the union graph
      with edge weights :math:`\alpha_{v(e)} \hat w_e` (learned :math:`\alpha` gets its
      gradient through the edge weights);
    - per-view :math:`W`, project first (:math:`F' \le F`): one GEMM
      :math:`X [W_1 | \dots | W_V]` viewed as ``[N·V, F']`` rows, then one ``spmm`` over
      ``expanded("src")`` (sources ``u·V + v``);
    - per-view :math:`W`, aggregate first (:math:`F' > F`): one ``spmm`` over
      ``expanded("dst")`` giving ``[N, V·F]``, then one GEMM with :math:`[W_1; \dots; W_V]`;
      learned :math:`\alpha` scales the weight blocks, not the edges;
    - attention: the per-view aggregates ``[N, V, F']`` from one ``spmm`` over
      ``expanded("dst")`` or ``expanded("both")``, then a softmax over views per vertex.

    Equals DGL's ``HeteroGraphConv(aggregate="mean")`` of ``GraphConv(norm="both")``
    (``norm="symmetric"``) or of ``SAGEConv("mean")`` (``norm="mean", root_weight=True``)
    per relation, and PyG's ``HeteroConv(aggr="mean")``, when the weights are copied
    and the biases averaged (tests/test_multiview.py).

    Args:
        in_features: input size ``F``.
        out_features: output size ``F'``.
        num_views: ``V``, the number of views the layer expects.
        combine: ``"fixed" | "learned" | "attention"``.
        alpha: for ``"fixed"``, the ``V`` view weights (default ``1/V`` each); for
            ``"learned"``, their initial value (softmax-normalised, default uniform).
        share_weights: one :math:`W` for all views instead of one per view.
        norm: per-view normalisation ``"none" | "mean" | "symmetric"`` (see
            :meth:`MultiViewGraph.normalized_edge_weight`).
        view_dropout: in training, drop each whole view with this probability and
            scale the kept ones by ``1 / (1 - p)`` (dropout over views).
        root_weight: add :math:`E W_r` (a self term, as in SAGE).
        bias: learn :math:`b`.

    Shape:
        x ``[N, F]`` → ``[N, F']``; with ``return_attention=True`` also the view weights,
        ``[N, V]`` for ``"attention"`` and ``[V]`` otherwise.

    Raises:
        ValueError: sizes < 1, an unknown ``combine`` or ``norm``, ``alpha`` of the wrong
            length or with negative entries, ``view_dropout`` outside ``[0, 1)``.

    Edge cases: a vertex with no in-edges in a view gets a zero aggregate from it (in
    attention mode that zero is still scored); duplicate edges are separate messages.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_views: int,
        combine: str = "fixed",
        alpha: Sequence[float] | None = None,
        share_weights: bool = False,
        norm: str = "symmetric",
        view_dropout: float = 0.0,
        root_weight: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features), ("num_views", num_views)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if combine not in VIEW_COMBINES:
            raise ValueError(f"combine must be one of {VIEW_COMBINES}, got {combine!r}")
        if norm not in VIEW_NORMS:
            raise ValueError(f"norm must be one of {VIEW_NORMS}, got {norm!r}")
        if not 0.0 <= view_dropout < 1.0:
            raise ValueError(f"view_dropout must lie in [0, 1), got {view_dropout}")
        if alpha is not None and combine == "attention":
            raise ValueError("alpha is not used with combine='attention' (the weights are per-vertex); pass alpha=None")
        if alpha is None:
            a = torch.full((num_views,), 1.0 / num_views)
        else:
            a = torch.as_tensor(list(alpha), dtype=torch.float32)
            if a.shape != (num_views,):
                raise ValueError(f"alpha must hold num_views={num_views} weights, got {len(a)}")
            if not bool(torch.isfinite(a).all()) or bool((a < 0).any()):
                raise ValueError(f"alpha must be finite and >= 0, got {a.tolist()}")
            if combine == "learned" and bool((a == 0).any()):
                raise ValueError(f"a learned alpha starts as a softmax and cannot hold zeros, got {a.tolist()}")
        self.in_features, self.out_features, self.num_views = in_features, out_features, num_views
        self.combine, self.share_weights, self.norm = combine, share_weights, norm
        self.view_dropout, self.root_weight = view_dropout, root_weight
        shape = (in_features, out_features) if share_weights else (num_views, in_features, out_features)
        self.weight = nn.Parameter(torch.empty(shape))  # x @ W layout, as DGL's GraphConv
        self.root = nn.Parameter(torch.empty(in_features, out_features)) if root_weight else None
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self._alpha_init = a
        if combine == "fixed":
            self.register_buffer("alpha", a.clone())
            self.alpha_logits = None
        elif combine == "learned":
            self.alpha = None
            self.alpha_logits = nn.Parameter(torch.log(a / a.sum()))
        else:
            self.alpha = None
            self.alpha_logits = None
        if combine == "attention":
            self.att_query = nn.Parameter(torch.empty(out_features))
            self.att_bias = nn.Parameter(torch.empty(out_features))
        else:
            self.att_query = self.att_bias = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for w in self.weight.view(-1, self.in_features, self.out_features):
            nn.init.xavier_uniform_(w)  # per view, as one GraphConv per relation would be
        if self.root is not None:
            nn.init.xavier_uniform_(self.root)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        if self.alpha_logits is not None:
            with torch.no_grad():
                a = self._alpha_init.to(self.alpha_logits.device)
                self.alpha_logits.copy_(torch.log(a / a.sum()))
        if self.att_query is not None:
            bound = 1.0 / math.sqrt(self.out_features)
            nn.init.uniform_(self.att_query, -bound, bound)
            nn.init.zeros_(self.att_bias)

    def view_weights(self) -> Tensor | None:
        """``[V]`` current :math:`\\alpha` (fixed or softmax of the learned logits); ``None`` for attention."""
        if self.combine == "fixed":
            return self.alpha
        if self.combine == "learned":
            return torch.softmax(self.alpha_logits, dim=0)
        return None

    def _check_input(self, mvg: MultiViewGraph, x: Tensor) -> None:
        if not isinstance(mvg, MultiViewGraph):
            raise TypeError(
                f"mvg must be a gnnkit.MultiViewGraph, got {type(mvg).__name__}; wrap a single graph as "
                f"MultiViewGraph({{'edges': g}})"
            )
        if mvg.num_views != self.num_views:
            raise ValueError(f"mvg has {mvg.num_views} views {list(mvg.names)} but the layer was built for num_views={self.num_views}")
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape != (mvg.num_nodes, self.in_features):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape [N={mvg.num_nodes}, F={self.in_features}], got {shape}")
        ops.check_float(x, "x")

    def forward(self, mvg: MultiViewGraph, x: Tensor, return_attention: bool = False):
        self._check_input(mvg, x)
        n, v, fi, fo = mvg.num_nodes, self.num_views, self.in_features, self.out_features
        w = mvg.normalized_edge_weight(self.norm, x.dtype)  # [E] in the shared edge order, cached
        keep = None
        if self.training and self.view_dropout > 0:
            keep = (torch.rand(v, device=x.device) >= self.view_dropout).to(x.dtype) / (1.0 - self.view_dropout)  # [V]
        # multiply by W first when it shrinks the features: the sparse product then moves fewer bytes
        project_first = fo <= fi
        weight = self.weight
        if self.combine == "attention":
            if keep is not None:
                w = w * keep[mvg.edge_view]  # [E]
            h = self._per_view(mvg, x, w, project_first)  # [N, V, F']
            score = torch.tanh(h + self.att_bias) @ self.att_query  # [N, V]
            beta = torch.softmax(score, dim=1)  # [N, V]
            out = torch.bmm(beta.unsqueeze(1), h).squeeze(1)  # [N, F']
            view_w = beta
        else:
            a = self.view_weights().to(x.dtype)  # [V]
            view_w = a
            if keep is not None:
                a = a * keep
            if self.share_weights:
                w = w * a[mvg.edge_view]  # [E]: alpha folded into the union graph's edges
                g = mvg.union()
                out = ops.spmm(g, x @ weight, w) if project_first else ops.spmm(g, x, w) @ weight  # [N, F']
            else:
                weight = weight * a.view(v, 1, 1)  # alpha scales W_v: no per-edge gradient pass
                if project_first:
                    y = x @ weight.permute(1, 0, 2).reshape(fi, v * fo)  # [N, V F']: row n holds x_n W_1 .. x_n W_V
                    out = ops.spmm(mvg.expanded("src"), y.view(n * v, fo), w)  # [N V, F'] rows -> [N, F']
                else:
                    z = ops.spmm(mvg.expanded("dst"), x, w)  # [N V, F]: row n V + v is (A_v X)_n
                    out = z.view(n, v * fi) @ weight.reshape(v * fi, fo)  # [N, F']
        if self.root is not None:
            out = torch.addmm(out, x, self.root)
        if self.bias is not None:
            out = out + self.bias
        return (out, view_w) if return_attention else out

    def _per_view(self, mvg: MultiViewGraph, x: Tensor, w: Tensor, project_first: bool) -> Tensor:
        """The per-view aggregates ``h[n, v] = (Â_v X W_v)_n`` as ``[N, V, F']``, in one spmm."""
        n, v, fi, fo = mvg.num_nodes, self.num_views, self.in_features, self.out_features
        weight = self.weight
        if self.share_weights:
            if project_first:
                return ops.spmm(mvg.expanded("dst"), x @ weight, w).view(n, v, fo)  # [N V, F'] -> [N, V, F']
            return ops.spmm(mvg.expanded("dst"), x, w).view(n, v, fi) @ weight  # [N, V, F] -> [N, V, F']
        if project_first:
            y = (x @ weight.permute(1, 0, 2).reshape(fi, v * fo)).view(n * v, fo)  # [N V, F']
            return ops.spmm(mvg.expanded("both"), y, w).view(n, v, fo)
        z = ops.spmm(mvg.expanded("dst"), x, w).view(n, v, fi)  # [N, V, F]
        return torch.einsum("nvf,vfo->nvo", z, weight)  # one batched GEMM over views

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, num_views={self.num_views}, combine={self.combine!r}, "
            f"share_weights={self.share_weights}, norm={self.norm!r}, view_dropout={self.view_dropout}, "
            f"root_weight={self.root_weight}"
        )
