r"""Graph recurrent networks trained by backpropagation through time (full or truncated).

A sequence of vertex features :math:`X_1 \ldots X_T` on a graph (optionally a
different graph per step) drives a recurrent state per vertex that also mixes along
the edges:

.. math:: H_t = f(X_t U + \hat A H_{t-1} W + b),\qquad Y_t = H_t V + b_o

with gated variants (graph-convolutional GRU and LSTM cells, Seo et al. 2018,
https://arxiv.org/abs/1612.07659). :math:`\hat A` is one ``spmm``: the symmetric
normalised adjacency with self-loops by default.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .. import ops
from ..blocks.activations import make_activation
from ..blocks.mlp import _check_positive
from ..blocks.recurrent import gru_update, lstm_update
from ..graph import Graph

__all__ = ["propagate", "GraphRNNCell", "GraphGRUCell", "GraphLSTMCell", "GraphRNN", "NORMALIZATIONS", "CELLS"]

NORMALIZATIONS = ("sym", "mean", "none")
CELLS = ("rnn", "gru", "lstm")
State = Union[Tensor, Tuple[Tensor, Tensor]]


def propagate(g: Graph, x: Tensor, norm: str = "sym", add_self_loops: bool = True) -> Tensor:
    r""":math:`\hat A x`, one sparse product over the in-edges.

    Args:
        g: the graph.
        x: vertex features.
        norm: ``"sym"``: :math:`D^{-1/2} A D^{-1/2}` (Kipf & Welling); ``"mean"``:
            :math:`D^{-1} A` (average of the in-neighbours); ``"none"``: plain sum.
        add_self_loops: use :math:`A + I` (loops added where missing; cached on ``g``).

    Shape:
        x ``[N, F]`` → ``[N, F]``. A vertex with no in-edges (and no loop) gets 0.
    """
    if norm not in NORMALIZATIONS:
        raise ValueError(f"norm must be one of {NORMALIZATIONS}, got {norm!r}")
    if add_self_loops:
        g = g.add_self_loops(only_missing=True)
    if norm == "sym":
        return ops.spmm(g, x, ops.gcn_norm(g, dtype=x.dtype))
    return ops.spmm(g, x, reduce="mean" if norm == "mean" else "sum")


class _GraphCell(nn.Module):
    gates = 1

    def __init__(self, in_features: int, hidden_features: int, norm: str, add_self_loops: bool, conv_input: bool):
        super().__init__()
        _check_positive(in_features=in_features, hidden_features=hidden_features)
        if norm not in NORMALIZATIONS:
            raise ValueError(f"norm must be one of {NORMALIZATIONS}, got {norm!r}")
        self.in_features, self.hidden_features = in_features, hidden_features
        self.norm, self.add_self_loops, self.conv_input = norm, add_self_loops, conv_input
        d_in = 2 * in_features if conv_input else in_features
        self.lin_x = nn.Linear(d_in, self.gates * hidden_features, bias=True)  # U (and b)
        self.lin_h = nn.Linear(hidden_features, self.gates * hidden_features, bias=self.gates > 1)  # W

    def reset_parameters(self) -> None:
        self.lin_x.reset_parameters()
        self.lin_h.reset_parameters()

    def _check(self, g: Graph, x: Tensor) -> None:
        if not isinstance(g, Graph):
            raise TypeError(f"g must be a gnnkit.Graph, got {type(g).__name__}")
        if x.dim() != 2 or x.shape != (g.num_nodes, self.in_features):
            raise ValueError(
                f"{type(self).__name__} expects x_t of shape [N, F] = [{g.num_nodes}, {self.in_features}], got {tuple(x.shape)}"
            )

    def _check_h(self, t: Tensor, n: int, name: str) -> None:
        if not isinstance(t, Tensor) or t.shape != (n, self.hidden_features):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{type(self).__name__} expects {name} of shape [N, D] = [{n}, {self.hidden_features}], got {got}")

    def _input(self, g: Graph, x: Tensor) -> Tensor:
        if self.conv_input:  # separate weights for the vertex's own input and its neighbours'
            x = torch.cat([x, propagate(g, x, self.norm, self.add_self_loops)], dim=-1)  # [N, 2F]
        return self.lin_x(x)  # [N, gates * D]

    def _neighbours(self, g: Graph, h: Tensor) -> Tensor:
        # propagate the D-wide state, then widen to gates * D: the sparse product moves fewer bytes
        return self.lin_h(propagate(g, h, self.norm, self.add_self_loops))  # [N, gates * D]

    def initial_state(self, num_nodes: int, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Tensor:
        w = self.lin_x.weight
        return torch.zeros(num_nodes, self.hidden_features, dtype=dtype or w.dtype, device=device or w.device)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.hidden_features}, norm={self.norm!r}, add_self_loops={self.add_self_loops}, "
                f"conv_input={self.conv_input}")


class GraphRNNCell(_GraphCell):
    r"""Elman graph RNN step: :math:`H_t = f(X_t U + \hat A H_{t-1} W + b)`.

    With ``conv_input=True`` the input term is :math:`[X_t \,\|\, \hat A X_t]\, U`, so the
    step also sees the neighbours' *current* input (otherwise neighbour information
    arrives one step late, through :math:`H_{t-1}`).

    Args:
        in_features: ``F``.
        hidden_features: ``D``.
        activation: ``f``, a name from :data:`gnnkit.blocks.ACTIVATIONS` (default tanh).
        norm: normalisation of :math:`\hat A`, see :func:`propagate`.
        add_self_loops: :math:`\hat A` built from :math:`A + I`.
        conv_input: also propagate the input.

    Shape:
        x_t ``[N, F]``, state ``[N, D]`` or None (zeros) → ``[N, D]``.
    """

    def __init__(self, in_features: int, hidden_features: int, activation: str = "tanh", norm: str = "sym",
                 add_self_loops: bool = True, conv_input: bool = False):
        super().__init__(in_features, hidden_features, norm, add_self_loops, conv_input)
        self.activation = activation
        self.act = make_activation(activation)

    def forward(self, g: Graph, x: Tensor, state: Tensor | None = None) -> Tensor:
        self._check(g, x)
        h = self.initial_state(g.num_nodes, x.dtype, x.device) if state is None else state
        self._check_h(h, g.num_nodes, "state")
        return self.act(self._input(g, x) + self._neighbours(g, h))


class GraphGRUCell(_GraphCell):
    r"""Graph-convolutional GRU step: a GRU whose hidden-to-hidden products act on :math:`\hat A H`.

    .. math::
        r = \sigma(X U_r + \hat A H W_r + b_r),\quad z = \sigma(X U_z + \hat A H W_z + b_z) \\
        n = \tanh(X U_n + b_n + r \odot (\hat A H W_n + b'_n)),\quad H' = (1 - z) \odot n + z \odot H

    Args:
        in_features: ``F``.
        hidden_features: ``D``.
        norm: normalisation of :math:`\hat A`, see :func:`propagate`.
        add_self_loops: :math:`\hat A` built from :math:`A + I`.
        conv_input: input term :math:`[X \| \hat A X] U` (see :class:`GraphRNNCell`).

    Shape:
        x_t ``[N, F]``, state ``[N, D]`` or None → ``[N, D]``.
    """

    gates = 3

    def __init__(self, in_features: int, hidden_features: int, norm: str = "sym", add_self_loops: bool = True,
                 conv_input: bool = False):
        super().__init__(in_features, hidden_features, norm, add_self_loops, conv_input)

    def forward(self, g: Graph, x: Tensor, state: Tensor | None = None) -> Tensor:
        self._check(g, x)
        h = self.initial_state(g.num_nodes, x.dtype, x.device) if state is None else state
        self._check_h(h, g.num_nodes, "state")
        return gru_update(self._input(g, x), self._neighbours(g, h), h)


class GraphLSTMCell(_GraphCell):
    r"""Graph-convolutional LSTM step: an LSTM whose hidden-to-hidden product acts on :math:`\hat A H`.

    .. math::
        (i, f, g, o) = X U + \hat A H W + b,\quad C' = \sigma(f) \odot C + \sigma(i) \odot \tanh(g),\quad
        H' = \sigma(o) \odot \tanh(C')

    Args:
        in_features: ``F``.
        hidden_features: ``D``.
        norm: normalisation of :math:`\hat A`, see :func:`propagate`.
        add_self_loops: :math:`\hat A` built from :math:`A + I`.
        conv_input: input term :math:`[X \| \hat A X] U` (see :class:`GraphRNNCell`).

    Shape:
        x_t ``[N, F]``, state ``(H [N, D], C [N, D])`` or None → ``(H', C')``.
    """

    gates = 4

    def __init__(self, in_features: int, hidden_features: int, norm: str = "sym", add_self_loops: bool = True,
                 conv_input: bool = False):
        super().__init__(in_features, hidden_features, norm, add_self_loops, conv_input)

    def initial_state(self, num_nodes: int, dtype: torch.dtype | None = None,
                      device: torch.device | None = None) -> tuple[Tensor, Tensor]:
        h = super().initial_state(num_nodes, dtype, device)
        return h, h.clone()

    def forward(self, g: Graph, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        self._check(g, x)
        if state is None:
            state = self.initial_state(g.num_nodes, x.dtype, x.device)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"GraphLSTMCell expects state as a pair (H, C), got {type(state).__name__}")
        h, c = state
        self._check_h(h, g.num_nodes, "state H")
        self._check_h(c, g.num_nodes, "state C")
        return lstm_update(self._input(g, x) + self._neighbours(g, h), c)


def _detach(state: State) -> State:
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class GraphRNN(nn.Module):
    r"""A graph RNN over a sequence: :math:`H_t = \mathrm{cell}(X_t, H_{t-1})`, :math:`Y_t = H_t V + b_o`.

    ``forward`` unrolls the cell over the ``T`` steps (a loop over time, each step
    vectorised over all vertices), so ``loss.backward()`` on any function of the outputs
    is backpropagation through time. For a loss summed over steps the gradient is the
    sum of the per-step gradients, :math:`\nabla_\theta L = \sum_t \nabla_\theta L_t`.

    *Truncated* BPTT: ``detach_every=k`` cuts the gradient path through the state after
    every ``k`` steps (``state.detach()``), so the loss at step ``t`` back-propagates only
    to the start of its ``k``-step window. For the usual chunked training loop (backward
    and optimiser step per window), call ``forward`` on each window with the returned,
    detached state.

    Args:
        cell: ``"rnn" | "gru" | "lstm"`` (:class:`GraphRNNCell`, :class:`GraphGRUCell`,
            :class:`GraphLSTMCell`).
        in_features: ``F``.
        hidden_features: ``D``.
        out_features: ``F'`` of each output :math:`Y_t`.
        norm: normalisation of :math:`\hat A`, see :func:`propagate`.
        add_self_loops: :math:`\hat A` built from :math:`A + I`.
        conv_input: also propagate the input (see :class:`GraphRNNCell`).
        activation: ``f`` of the ``"rnn"`` cell.

    Shape:
        graphs: one :class:`Graph` for all steps or a sequence of ``T`` graphs over the same
        ``N`` vertices; xs ``[T, N, F]``; state ``[N, D]`` (LSTM: a pair) or None →
        ``(ys [T, N, F'], state)``.

    Raises:
        ValueError: unknown cell; (in ``forward``) a number of graphs other than ``T``,
            graphs over a different number of vertices, or xs of the wrong shape.
    """

    def __init__(self, cell: str, in_features: int, hidden_features: int, out_features: int, norm: str = "sym",
                 add_self_loops: bool = True, conv_input: bool = False, activation: str = "tanh"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        _check_positive(out_features=out_features)
        self.cell_kind = cell
        if cell == "rnn":
            self.cell: nn.Module = GraphRNNCell(in_features, hidden_features, activation, norm, add_self_loops, conv_input)
        elif cell == "gru":
            self.cell = GraphGRUCell(in_features, hidden_features, norm, add_self_loops, conv_input)
        else:
            self.cell = GraphLSTMCell(in_features, hidden_features, norm, add_self_loops, conv_input)
        self.out = nn.Linear(hidden_features, out_features)  # V, b_o
        self.in_features, self.hidden_features, self.out_features = in_features, hidden_features, out_features

    def reset_parameters(self) -> None:
        self.cell.reset_parameters()
        self.out.reset_parameters()

    def forward(self, graphs: Graph | Sequence[Graph], xs: Tensor, state: State | None = None,
                detach_every: int | None = None) -> tuple[Tensor, State]:
        if not isinstance(xs, Tensor) or xs.dim() != 3 or xs.shape[2] != self.in_features:
            got = tuple(xs.shape) if isinstance(xs, Tensor) else type(xs).__name__
            raise ValueError(f"GraphRNN expects xs of shape [T, N, F] with F = {self.in_features}, got {got}")
        t_len, n = xs.shape[0], xs.shape[1]
        if isinstance(graphs, Graph):
            graphs = [graphs] * t_len
        else:
            graphs = list(graphs)
            if len(graphs) != t_len:
                raise ValueError(
                    f"graphs holds {len(graphs)} graphs but xs has T = {t_len} steps; pass one graph per step "
                    f"or a single Graph for all steps"
                )
        for t, g in enumerate(graphs):
            if not isinstance(g, Graph):
                raise TypeError(f"graphs[{t}] must be a gnnkit.Graph, got {type(g).__name__}")
            if g.num_nodes != n:
                raise ValueError(f"graphs[{t}] has num_nodes = {g.num_nodes} but xs has N = {n} vertices per step")
        if detach_every is not None and (isinstance(detach_every, bool) or not isinstance(detach_every, int)
                                         or detach_every < 1):
            raise ValueError(f"detach_every must be None or an int >= 1, got {detach_every!r}")
        ys = []
        for t in range(t_len):
            state = self.cell(graphs[t], xs[t], state)
            h = state[0] if isinstance(state, tuple) else state  # [N, D]
            ys.append(self.out(h))  # [N, F']
            if detach_every is not None and (t + 1) % detach_every == 0:
                state = _detach(state)  # truncated BPTT: later losses stop here
        out = torch.stack(ys) if ys else xs.new_zeros(0, n, self.out_features)  # [T, N, F']
        return out, state

    def extra_repr(self) -> str:
        return f"cell={self.cell_kind!r}"
