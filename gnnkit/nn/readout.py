r"""Permutation-invariant graph readouts: vertex features ``[N, F]`` of a batch → one vector per graph ``[B, F]``.

Each readout is one sparse op on the *pooling graph* of a batch: a bipartite graph
with an edge from every vertex to the graph it belongs to (``g.node_graph()``), so
sum, mean and max are ``spmm`` with ``reduce``, and attention pooling is
``edge_softmax`` followed by a weighted ``spmm``. There is no loop over graphs. A graph
with no vertices reads out 0 (attention: 0; Deep Sets: ``rho(0)``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import ops
from ..graph import CSR, Graph

__all__ = ["pooling_graph", "readout", "Readout", "DeepSetsReadout", "AttentionReadout", "READOUTS"]

READOUTS = ("sum", "mean", "max")


def pooling_graph(g: Graph) -> Graph:
    """The bipartite graph ``vertex v -> graph node_graph(v)``: ``N`` sources, ``B`` destinations.

    Edge ``v`` is vertex ``v``, so per-vertex data ``[N, ...]`` doubles as edge data.
    """
    if not isinstance(g, Graph):
        raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
    return g._cached("pooling_graph", lambda: _make_pooling_graph(g))  # built once per batch, whatever the readouts


def _make_pooling_graph(g: Graph) -> Graph:
    n, device = g.num_nodes, g.device
    vertices, graph_of = torch.arange(n, device=device), g.node_graph()  # [N], [N] non-decreasing
    # ids are valid by construction (node_graph lies in [0, B)), so skip the validation pass; the edges are
    # sorted both by destination (graph_of) and by source (vertex), so both layouts are offsets and the ids
    # themselves, with no bincount or sort
    pg = Graph(vertices, graph_of, g.batch_size, num_src_nodes=n, _validate=False)
    sizes = g.batch_num_nodes if g.batch_num_nodes is not None else torch.full((1,), n, device=device)
    graph_ptr = torch.zeros(g.batch_size + 1, dtype=torch.int64, device=device)
    torch.cumsum(sizes, 0, out=graph_ptr[1:])  # [B + 1]
    return pg._set_layouts(CSR(graph_ptr, vertices, None), CSR(torch.arange(n + 1, device=device), graph_of, None))


def _check_x(g: Graph, x: Tensor, owner: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] != g.num_nodes:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{owner} expects x of shape [N, F] with N = num_nodes = {g.num_nodes}, got {shape}")


def readout(g: Graph, x: Tensor, reduce: str = "sum") -> Tensor:
    r"""Sum, mean or max of the vertex features of each graph in a batch.

    .. math:: r_b = \bigoplus_{v \in V_b} x_v

    Args:
        g: a batched graph (:meth:`Graph.batch`) or a single graph (``B = 1``).
        x: vertex features.
        reduce: ``"sum" | "mean" | "max"``.

    Returns:
        ``[B, F]``; a graph without vertices gives 0.

    Shape:
        x ``[N, F]`` → ``[B, F]``.

    Raises:
        ValueError: unknown ``reduce`` or x not ``[N, F]``.
    """
    if reduce not in READOUTS:
        raise ValueError(f"reduce must be one of {READOUTS}, got {reduce!r}")
    pg = pooling_graph(g)
    _check_x(g, x, "readout")
    return ops.spmm(pg, x, reduce=reduce)  # [B, F]


class Readout(nn.Module):
    """Module form of :func:`readout`.

    Args:
        reduce: ``"sum" | "mean" | "max"``.

    Shape:
        x ``[N, F]`` → ``[B, F]``.
    """

    def __init__(self, reduce: str = "sum"):
        super().__init__()
        if reduce not in READOUTS:
            raise ValueError(f"reduce must be one of {READOUTS}, got {reduce!r}")
        self.reduce = reduce

    def forward(self, g: Graph, x: Tensor) -> Tensor:
        return readout(g, x, self.reduce)

    def extra_repr(self) -> str:
        return f"reduce={self.reduce!r}"


class DeepSetsReadout(nn.Module):
    r"""Deep Sets readout (Zaheer et al. 2017): :math:`r_b = \rho\big(\sum_{v \in V_b} \phi(x_v)\big)`.

    Any permutation-invariant continuous set function has this form.

    Args:
        phi: per-vertex map ``[N, F] → [N, M]``.
        rho: per-graph map ``[B, M] → [B, F']``.

    Shape:
        x ``[N, F]`` → ``[B, F']``.
    """

    def __init__(self, phi: nn.Module, rho: nn.Module):
        super().__init__()
        for name, fn in (("phi", phi), ("rho", rho)):
            if not callable(fn):
                raise TypeError(f"{name} must be an nn.Module or callable, got {type(fn).__name__}")
        self.phi, self.rho = phi, rho

    def forward(self, g: Graph, x: Tensor) -> Tensor:
        return self.rho(readout(g, self.phi(x), "sum"))


class AttentionReadout(nn.Module):
    r"""Gated attention pooling (Li et al. 2016): a softmax over the vertices of each graph.

    .. math:: r_b = \sum_{v \in V_b} \mathrm{softmax}_{v \in V_b}\big(\mathrm{gate}(x_v)\big)\, \mathrm{feat}(x_v)

    Args:
        gate: per-vertex score ``[N, F] → [N, 1]`` (or ``[N]``).
        feat: per-vertex value ``[N, F] → [N, F']``; ``None`` pools ``x`` itself.

    Shape:
        x ``[N, F]`` → ``[B, F']``.

    Raises:
        ValueError: (in ``forward``) a gate output that is not one score per vertex.
    """

    def __init__(self, gate: nn.Module, feat: nn.Module | None = None):
        super().__init__()
        if not callable(gate):
            raise TypeError(f"gate must be an nn.Module or callable, got {type(gate).__name__}")
        self.gate, self.feat = gate, feat

    def forward(self, g: Graph, x: Tensor, return_attention: bool = False):
        """Pool; with ``return_attention`` also return the weights ``alpha [N]``."""
        pg = pooling_graph(g)
        _check_x(g, x, "AttentionReadout")
        score = self.gate(x)
        if score.dim() == 2 and score.shape[1] == 1:
            score = score.squeeze(1)
        if score.shape != (g.num_nodes,):
            raise ValueError(f"gate must return one score per vertex, [N] or [N, 1] with N = {g.num_nodes}, "
                             f"got {tuple(score.shape)}")
        alpha = ops.edge_softmax(pg, score)  # [N]: the edges of the pooling graph are the vertices
        values = x if self.feat is None else self.feat(x)  # [N, F']
        out = ops.spmm(pg, values, alpha)  # [B, F']
        return (out, alpha) if return_attention else out
