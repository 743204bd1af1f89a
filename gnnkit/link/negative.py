r"""Negative samplers for link prediction: uniform, degree-weighted and strict.

Every sampler keeps the source of each positive edge and draws ``k`` destinations for
it (DGL's ``PerSourceUniform``): for seed sources ``src`` ``[B]`` it returns
``(src.repeat_interleave(k), dst)`` with ``dst`` ``[B * k]`` drawn i.i.d. from
:meth:`probabilities`.

* :class:`UniformNegativeSampler`: ``P(v) = 1 / N``.
* :class:`DegreeNegativeSampler`: ``P(v) \propto \deg_{in}(v)^{power}``, word2vec's
  unigram^0.75 noise distribution (Mikolov et al. 2013, https://arxiv.org/abs/1310.4546).
* :class:`StrictNegativeSampler`: either of those conditioned on ``(u, v)`` not being an
  edge: draws are rejected against a sorted edge set (:class:`EdgeSet`) and redrawn,
  all rejected draws of a round at once.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..graph import Graph

__all__ = ["EdgeSet", "UniformNegativeSampler", "DegreeNegativeSampler", "StrictNegativeSampler"]


_MAX_KEYED_NODES = 2**31 - 1  # N * N < 2**62: src * N + dst cannot overflow int64


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k (negatives per positive edge) must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k (negatives per positive edge) must be >= 1, got {k}")
    return k


def _check_src(src: object, num_nodes: int) -> Tensor:
    if not isinstance(src, Tensor) or src.dtype != torch.int64 or src.dim() != 1:
        what = type(src).__name__ if not isinstance(src, Tensor) else f"{src.dtype} tensor of shape {tuple(src.shape)}"
        raise TypeError(f"src must be a 1-D int64 tensor of source vertex ids, got {what}")
    if src.numel() and (int(src.min()) < 0 or int(src.max()) >= num_nodes):
        raise IndexError(f"src must lie in [0, num_nodes={num_nodes}), got ids in [{int(src.min())}, {int(src.max())}]")
    return src


class EdgeSet:
    """A set of directed pairs ``(src, dst)`` with a vectorised membership test.

    When ``N * N < 2**62`` each pair is the int64 key ``src * N + dst`` and a query is one
    binary search of the sorted keys. Beyond that the key would overflow, so pairs are
    sorted lexicographically by two stable sorts; a query finds its source's row by a
    binary search of the sorted sources, then its destination by a binary search inside
    the row, for all queries at once. Nothing is sized ``N``. Memory: ``8 E`` or ``16 E`` bytes.

    Args:
        src: ``[E]`` int64 sources. dst: ``[E]`` int64 destinations.
        num_nodes: vertex count ``N`` (ids lie in ``[0, N)``).

    Raises:
        ValueError: ``src`` and ``dst`` of different shapes or not 1-D.
    """

    def __init__(self, src: Tensor, dst: Tensor, num_nodes: int) -> None:
        if src.dim() != 1 or src.shape != dst.shape:
            raise ValueError(f"src and dst must be 1-D of one length, got shapes {tuple(src.shape)} and {tuple(dst.shape)}")
        self.num_nodes = int(num_nodes)
        # one int64 key per pair when N * N fits (a single binary search per query); otherwise
        # the lexicographic two-level search, which never multiplies ids
        self._keyed = self.num_nodes <= _MAX_KEYED_NODES
        if self._keyed:
            self._keys = torch.sort(src * self.num_nodes + dst).values  # [E]
            return
        order = torch.argsort(dst, stable=True)
        order = order[torch.argsort(src[order], stable=True)]  # by src, ties by dst
        # rows are found by searching the sorted sources: no [N] indptr, so N may exceed memory
        self._src = src[order].contiguous()  # [E] sorted sources
        self._dst = dst[order].contiguous()  # [E] row-wise sorted destinations
        longest = int(torch.unique_consecutive(self._src, return_counts=True)[1].max()) if src.numel() else 0
        self._steps = max(1, math.ceil(math.log2(longest + 1))) if src.numel() else 0

    @classmethod
    def from_graph(cls, g: Graph, undirected: bool = False) -> "EdgeSet":
        """The edges of ``g``; with ``undirected`` each edge also in its reversed direction."""
        if undirected:
            return cls(torch.cat([g.src, g.dst]), torch.cat([g.dst, g.src]), g.num_nodes)
        return cls(g.src, g.dst, g.num_nodes)

    def __len__(self) -> int:
        return int((self._keys if self._keyed else self._dst).numel())

    def contains(self, src: Tensor, dst: Tensor) -> Tensor:
        """``[K]`` bool: whether each pair ``(src[i], dst[i])`` is in the set (ids must be in range)."""
        if self._keyed:
            if not len(self):
                return torch.zeros(src.shape, dtype=torch.bool, device=src.device)
            key = src * self.num_nodes + dst  # [K]
            at = torch.searchsorted(self._keys, key).clamp(max=len(self) - 1)
            return self._keys[at] == key
        src, dst = src.contiguous(), dst.contiguous()  # searchsorted copies (and warns on) strided queries
        lo = torch.searchsorted(self._src, src)  # [K] row start
        hi = torch.searchsorted(self._src, src, right=True)  # [K] row end (exclusive)
        end = hi.clone()
        # lower bound of dst in dst-sorted row [lo, hi): log2(max degree) vectorised steps
        for _ in range(self._steps):
            open_ = lo < hi
            mid = torch.div(lo + hi, 2, rounding_mode="floor")
            below = open_ & (self._dst[mid.clamp(max=max(len(self) - 1, 0))] < dst)
            lo = torch.where(below, mid + 1, lo)
            hi = torch.where(open_ & ~below, mid, hi)
        found = lo < end
        if not len(self):
            return found
        return found & (self._dst[lo.clamp(max=len(self) - 1)] == dst)


class UniformNegativeSampler:
    """``k`` destinations per source, uniform over all ``num_nodes`` vertices.

    Args:
        num_nodes: ``N``. k: negatives per positive edge.

    Raises:
        ValueError: ``num_nodes < 1`` or ``k < 1``.
    """

    def __init__(self, num_nodes: int, k: int = 1) -> None:
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
            raise ValueError(f"num_nodes must be an int >= 1, got {num_nodes!r}")
        self.num_nodes, self.k = num_nodes, _check_k(k)

    def probabilities(self) -> Tensor:
        """``[N]`` float64: the probability of each vertex as a negative destination."""
        return torch.full((self.num_nodes,), 1.0 / self.num_nodes, dtype=torch.float64)

    def _draw(self, count: int, generator: torch.Generator | None) -> Tensor:
        return torch.randint(self.num_nodes, (count,), generator=generator)

    def __call__(self, src: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Negatives for the positive edges with sources ``src``.

        Shape: src ``[B]`` → (neg_src ``[B * k]``, neg_dst ``[B * k]``), ``k`` rows per source in order.

        Raises:
            TypeError: ``src`` not a 1-D int64 tensor. IndexError: ids outside ``[0, N)``.
        """
        src = _check_src(src, self.num_nodes)
        return src.repeat_interleave(self.k), self._draw(src.numel() * self.k, generator)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_nodes={self.num_nodes}, k={self.k})"


class DegreeNegativeSampler(UniformNegativeSampler):
    r"""``k`` destinations per source with :math:`P(v) \propto \deg_{in}(v)^{power}`.

    Args:
        g: the graph whose in-degrees weight the vertices (for an undirected graph stored
            in both directions the in-degree is the degree).
        k: negatives per positive edge.
        power: exponent on the degree; word2vec's 0.75 flattens the distribution, 1 is
            proportional to degree, 0 is uniform over vertices with an in-edge.

    Raises:
        ValueError: ``k < 1``, a negative ``power``, or a graph without edges.
    """

    def __init__(self, g: Graph, k: int = 1, power: float = 0.75) -> None:
        super().__init__(g.num_nodes, k)
        if not power >= 0:
            raise ValueError(f"power must be >= 0, got {power!r}")
        if g.num_edges == 0:
            raise ValueError("g must have edges: a degree-weighted sampler has nothing to weight")
        deg = g.in_degrees().to(torch.float64)
        weights = torch.where(deg > 0, deg.pow(power), deg)  # 0 ** 0 would give isolated vertices weight
        self.power = float(power)
        self._probs = weights / weights.sum()  # [N]

    def probabilities(self) -> Tensor:
        return self._probs.clone()

    def _draw(self, count: int, generator: torch.Generator | None) -> Tensor:
        if count == 0:
            return torch.zeros(0, dtype=torch.int64)
        return torch.multinomial(self._probs, count, replacement=True, generator=generator)

    def __repr__(self) -> str:
        return f"DegreeNegativeSampler(num_nodes={self.num_nodes}, k={self.k}, power={self.power})"


class StrictNegativeSampler:
    """A sampler whose negatives are never edges of ``g``: rejection against an :class:`EdgeSet`.

    Each round redraws, at once, every pair that hit an edge; the result follows
    ``base``'s distribution conditioned on ``(u, v)`` not being an edge of ``g``.

    Args:
        g: the graph whose edges are excluded.
        base: the proposal, a :class:`UniformNegativeSampler` (default, with ``k``) or
            :class:`DegreeNegativeSampler`.
        k: negatives per positive edge when ``base`` is None.
        undirected: also exclude the reversed direction of every edge.
        max_rounds: rejection rounds before giving up.

    Raises:
        ValueError: ``base`` over another vertex count; (in ``__call__``) a source whose every
            non-edge destination is out of ``base``'s reach after ``max_rounds`` rounds.
    """

    def __init__(self, g: Graph, base: UniformNegativeSampler | None = None, k: int = 1, undirected: bool = False,
                 max_rounds: int = 100) -> None:
        base = UniformNegativeSampler(g.num_nodes, k) if base is None else base
        if not isinstance(base, UniformNegativeSampler):
            raise TypeError(f"base must be a UniformNegativeSampler or DegreeNegativeSampler, got {type(base).__name__}")
        if base.num_nodes != g.num_nodes:
            raise ValueError(f"base must sample over num_nodes={g.num_nodes} vertices, got {base.num_nodes}")
        self.base, self.num_nodes, self.k, self.max_rounds = base, g.num_nodes, base.k, int(max_rounds)
        self.edges = EdgeSet.from_graph(g, undirected=undirected)

    def probabilities(self) -> Tensor:
        """``[N]`` float64: the proposal's probabilities (before rejecting edges)."""
        return self.base.probabilities()

    def __call__(self, src: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """As :meth:`UniformNegativeSampler.__call__`; no ``(neg_src[i], neg_dst[i])`` is an edge of ``g``."""
        neg_src, neg_dst = self.base(src, generator)
        bad = self.edges.contains(neg_src, neg_dst).nonzero().view(-1)  # [R] draws to redo
        for _ in range(self.max_rounds):
            if bad.numel() == 0:
                return neg_src, neg_dst
            neg_dst[bad] = self.base._draw(bad.numel(), generator)
            bad = bad[self.edges.contains(neg_src[bad], neg_dst[bad])]
        if bad.numel() == 0:
            return neg_src, neg_dst
        stuck = neg_src[bad].unique()[:5].tolist()
        raise ValueError(f"src vertices {stuck} still drew only edges after max_rounds={self.max_rounds} rounds: "
                         f"they are joined to (nearly) every vertex the base sampler can draw; drop them from src "
                         f"or use a non-strict sampler")

    def __repr__(self) -> str:
        return f"StrictNegativeSampler(base={self.base!r}, excluded_edges={len(self.edges)})"
