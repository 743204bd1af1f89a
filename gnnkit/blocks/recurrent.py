r"""Recurrent cells holding one state per vertex: GRU, LSTM and the linear recurrent unit (LRU).

Every cell has the same interface, batched over all vertices at once:

- ``forward(x [N, F], state) -> (y [N, D_out], state)``: one step (the *step API*);
- ``forward_sequence(xs [T, N, F], state) -> (ys [T, N, D_out], state)``: a whole sequence
  per vertex, time-major, looping over time steps only (the LRU also has a parallel scan);
- ``initial_state(num_nodes)``, and ``pack_state``/``unpack_state`` between the cell's state
  and one real ``[N, S]`` tensor (``S = state_features``) so that a state can travel as
  vertex features through :class:`~gnnkit.nn.GNNLayer` (see
  :class:`~gnnkit.blocks.RecurrentVertexFn`).

The state is always an argument and a return value, never a module attribute, so one
cell can run many independent sequences and ``torch.func`` transforms apply.
"""
from __future__ import annotations

import math
from typing import Tuple, Union

import torch
from torch import Tensor, nn

from .mlp import _check_positive

__all__ = ["RecurrentCell", "GRUCell", "LSTMCell", "LRU", "SequenceEncoder", "gru_update", "lstm_update"]

State = Union[Tensor, Tuple[Tensor, Tensor]]


# ------------------------------------------------------------- gate algebra
def gru_update(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    r"""The GRU state update from input and hidden pre-activations (torch's gate order r, z, n).

    .. math::
        r = \sigma(g^i_r + g^h_r),\ z = \sigma(g^i_z + g^h_z),\
        n = \tanh(g^i_n + r \odot g^h_n),\ h' = (1 - z) \odot n + z \odot h

    Shared by :class:`GRUCell` (``gh = W_{hh} h + b_{hh}``) and the graph-convolutional
    GRU (``gh = W_{hh} \hat A h + b_{hh}``).

    Shape:
        gi, gh ``[N, 3D]``, h ``[N, D]`` → ``[N, D]``.
    """
    i_r, i_z, i_n = gi.chunk(3, dim=-1)  # [N, D] each
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)


def lstm_update(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    r"""The LSTM update from summed pre-activations (torch's gate order i, f, g, o).

    .. math:: c' = \sigma(f) \odot c + \sigma(i) \odot \tanh(g),\quad h' = \sigma(o) \odot \tanh(c')

    Shape:
        gates ``[N, 4D]``, c ``[N, D]`` → ``(h' [N, D], c' [N, D])``.
    """
    i, f, g, o = gates.chunk(4, dim=-1)  # [N, D] each
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


# -------------------------------------------------------------- validation
def _check_step_input(x: Tensor, in_features: int, owner: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner}: x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ValueError(
            f"{owner} expects one step x of shape [N, F] with F = in_features = {in_features}, got {tuple(x.shape)}"
            + ("; use forward_sequence for [T, N, F] sequences" if x.dim() == 3 else "")
        )


def _check_sequence(xs: Tensor, in_features: int, owner: str) -> None:
    if not isinstance(xs, Tensor):
        raise TypeError(f"{owner}: xs must be a torch.Tensor, got {type(xs).__name__}")
    if xs.dim() != 3 or xs.shape[2] != in_features:
        raise ValueError(
            f"{owner} expects a time-major sequence xs of shape [T, N, F] with F = in_features = {in_features}, "
            f"got {tuple(xs.shape)}"
        )


def _check_state_tensor(t: Tensor, rows: int, cols: int, owner: str, name: str = "state") -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{owner}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.shape != (rows, cols):
        raise ValueError(f"{owner} expects {name} of shape [N, D] = [{rows}, {cols}], got {tuple(t.shape)}")


def _check_packed(packed: Tensor, cols: int, owner: str, layout: str) -> None:
    if not isinstance(packed, Tensor):
        raise TypeError(f"{owner}: the packed state must be a torch.Tensor, got {type(packed).__name__}")
    if packed.dim() != 2 or packed.shape[1] != cols:
        raise ValueError(f"{owner} expects a packed state {layout} of shape [N, {cols}], got {tuple(packed.shape)}")


# -------------------------------------------------------------------- base
class RecurrentCell(nn.Module):
    """Common interface of the per-vertex recurrent cells (see the module docstring).

    Subclasses define ``in_features``, ``out_features`` (size of ``y``),
    ``state_features`` (size of the packed state) and the five methods below.
    """

    in_features: int
    out_features: int
    state_features: int

    def initial_state(self, num_nodes: int, dtype: torch.dtype | None = None, device: torch.device | None = None) -> State:
        raise NotImplementedError

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        raise NotImplementedError

    def forward_sequence(self, xs: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        raise NotImplementedError

    def pack_state(self, state: State) -> Tensor:
        raise NotImplementedError

    def unpack_state(self, packed: Tensor) -> State:
        raise NotImplementedError

    def _param_like(self) -> Tensor:
        return next(self.parameters())


class GRUCell(RecurrentCell):
    r"""Gated recurrent unit with one hidden state per vertex (Cho et al. 2014).

    .. math::
        r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}),\quad
        z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})),\quad
        h' = (1 - z) \odot n + z \odot h

    Parameters are laid out exactly as in :class:`torch.nn.GRUCell` (``weight_ih``
    ``[3D, F]``, ``weight_hh`` ``[3D, D]``, ``bias_ih``, ``bias_hh``), so weights copy
    over either way. ``y = h``; the state is ``h``.

    Args:
        in_features: ``F``.
        hidden_features: ``D``.
        bias: learn ``b_ih`` and ``b_hh``.

    Shape:
        step: x ``[N, F]``, state ``[N, D]`` or None (zeros) → ``(h' [N, D], h' [N, D])``;
        sequence: xs ``[T, N, F]`` → ``(ys [T, N, D], h_T [N, D])``.

    Raises:
        ValueError: non-positive sizes; inputs or states of the wrong shape.
    """

    def __init__(self, in_features: int, hidden_features: int, bias: bool = True):
        super().__init__()
        _check_positive(in_features=in_features, hidden_features=hidden_features)
        self.in_features, self.hidden_features = in_features, hidden_features
        self.out_features = self.state_features = hidden_features
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_features, in_features))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_features, hidden_features))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_features)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_features)  # torch.nn.GRUCell's init
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def initial_state(self, num_nodes: int, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Tensor:
        p = self._param_like()
        return torch.zeros(num_nodes, self.hidden_features, dtype=dtype or p.dtype, device=device or p.device)

    def _input_gates(self, x: Tensor) -> Tensor:  # [..., F] -> [..., 3D]
        return nn.functional.linear(x, self.weight_ih, self.bias_ih)

    def _step(self, gi: Tensor, h: Tensor) -> Tensor:
        return gru_update(gi, nn.functional.linear(h, self.weight_hh, self.bias_hh), h)

    def _state(self, state: Tensor | None, n: int, like: Tensor) -> Tensor:
        if state is None:
            return self.initial_state(n, like.dtype, like.device)
        _check_state_tensor(state, n, self.hidden_features, type(self).__name__)
        return state

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_step_input(x, self.in_features, type(self).__name__)
        h = self._step(self._input_gates(x), self._state(state, x.shape[0], x))
        return h, h

    def forward_sequence(self, xs: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_sequence(xs, self.in_features, type(self).__name__)
        h = self._state(state, xs.shape[1], xs)
        gi = self._input_gates(xs)  # [T, N, 3D]: the input half of every step in one product
        ys = []
        for t in range(xs.shape[0]):
            h = self._step(gi[t], h)
            ys.append(h)
        out = torch.stack(ys) if ys else xs.new_zeros(0, xs.shape[1], self.hidden_features)  # [T, N, D]
        return out, h

    def pack_state(self, state: Tensor) -> Tensor:
        return state

    def unpack_state(self, packed: Tensor) -> Tensor:
        _check_packed(packed, self.hidden_features, type(self).__name__, "h")
        return packed

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.hidden_features}, bias={self.bias_ih is not None}"


class LSTMCell(RecurrentCell):
    r"""Long short-term memory with a ``(h, c)`` state per vertex (Hochreiter & Schmidhuber 1997).

    .. math::
        (i, f, g, o) = W_{ih} x + b_{ih} + W_{hh} h + b_{hh},\quad
        c' = \sigma(f) \odot c + \sigma(i) \odot \tanh(g),\quad h' = \sigma(o) \odot \tanh(c')

    Parameters are laid out as in :class:`torch.nn.LSTMCell` (gate order i, f, g, o).
    ``y = h``; the state is the pair ``(h, c)``, packed as ``[h ‖ c]`` (``S = 2D``).

    Args:
        in_features: ``F``.
        hidden_features: ``D``.
        bias: learn ``b_ih`` and ``b_hh``.

    Shape:
        step: x ``[N, F]``, state ``([N, D], [N, D])`` or None → ``(h' [N, D], (h', c'))``;
        sequence: xs ``[T, N, F]`` → ``(ys [T, N, D], (h_T, c_T))``.

    Raises:
        ValueError: non-positive sizes; inputs or states of the wrong shape.
    """

    def __init__(self, in_features: int, hidden_features: int, bias: bool = True):
        super().__init__()
        _check_positive(in_features=in_features, hidden_features=hidden_features)
        self.in_features, self.hidden_features = in_features, hidden_features
        self.out_features, self.state_features = hidden_features, 2 * hidden_features
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_features, in_features))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_features, hidden_features))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_features)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_features)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def initial_state(self, num_nodes: int, dtype: torch.dtype | None = None,
                      device: torch.device | None = None) -> tuple[Tensor, Tensor]:
        p = self._param_like()
        z = torch.zeros(num_nodes, self.hidden_features, dtype=dtype or p.dtype, device=device or p.device)
        return z, z.clone()

    def _state(self, state, n: int, like: Tensor) -> tuple[Tensor, Tensor]:
        if state is None:
            return self.initial_state(n, like.dtype, like.device)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"LSTMCell expects state as a pair (h, c) of [N, D] tensors, got {type(state).__name__}")
        _check_state_tensor(state[0], n, self.hidden_features, "LSTMCell", "state h")
        _check_state_tensor(state[1], n, self.hidden_features, "LSTMCell", "state c")
        return state[0], state[1]

    def _step(self, gi: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        return lstm_update(gi + nn.functional.linear(h, self.weight_hh, self.bias_hh), c)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        _check_step_input(x, self.in_features, "LSTMCell")
        h, c = self._state(state, x.shape[0], x)
        h, c = self._step(nn.functional.linear(x, self.weight_ih, self.bias_ih), h, c)
        return h, (h, c)

    def forward_sequence(self, xs: Tensor, state: tuple[Tensor, Tensor] | None = None):
        _check_sequence(xs, self.in_features, "LSTMCell")
        h, c = self._state(state, xs.shape[1], xs)
        gi = nn.functional.linear(xs, self.weight_ih, self.bias_ih)  # [T, N, 4D]
        ys = []
        for t in range(xs.shape[0]):
            h, c = self._step(gi[t], h, c)
            ys.append(h)
        out = torch.stack(ys) if ys else xs.new_zeros(0, xs.shape[1], self.hidden_features)  # [T, N, D]
        return out, (h, c)

    def pack_state(self, state: tuple[Tensor, Tensor]) -> Tensor:
        return torch.cat([state[0], state[1]], dim=-1)  # [N, 2D]

    def unpack_state(self, packed: Tensor) -> tuple[Tensor, Tensor]:
        _check_packed(packed, 2 * self.hidden_features, "LSTMCell", "[h | c]")
        return packed[:, : self.hidden_features], packed[:, self.hidden_features :]

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.hidden_features}, bias={self.bias_ih is not None}"


class LRU(RecurrentCell):
    r"""Linear recurrent unit (Orvieto et al. 2023, https://arxiv.org/abs/2303.06349), one state per vertex.

    A complex diagonal linear recurrence with a stable exponential parametrisation and
    input normalisation, and a real linear readout:

    .. math::
        \lambda = \exp(-\exp(\nu) + i \exp(\theta)),\quad \gamma = \sqrt{1 - |\lambda|^2} \\
        h_t = \lambda \odot h_{t-1} + \gamma \odot (B x_t),\quad
        y_t = \mathrm{Re}(C h_t) + D x_t

    :math:`|\lambda| = \exp(-\exp(\nu)) < 1` for every real :math:`\nu`, so the recurrence is
    stable by construction; :math:`\gamma` keeps the state's scale independent of how close
    :math:`|\lambda|` is to 1. :math:`\lambda` is initialised uniformly on the ring
    :math:`r_{min} \le |\lambda| \le r_{max}` with phase in :math:`[0, \text{max\_phase}]`.
    ``B`` and ``C`` are complex, ``D`` real (diagonal when ``out_features == in_features``, as
    in the paper, a full matrix otherwise). :math:`\gamma` is computed from :math:`\nu` (not a
    separate parameter), as ``sqrt(-expm1(-2 exp(ν)))`` for accuracy near :math:`|\lambda| = 1`.

    :meth:`forward_sequence` runs a parallel (Hillis–Steele) scan by default: ``log2 T``
    vectorised steps, each over all times, vertices and channels, using
    :math:`h_t = \sum_{s \le t} \lambda^{t-s} \gamma B x_s + \lambda^{t+1} h_{-1}`.
    ``parallel=False`` runs the plain loop over time instead (same result).

    Args:
        in_features: ``F``.
        hidden_features: ``D``, the number of complex state channels.
        out_features: ``F'`` (default ``F``).
        r_min, r_max: ring of the initial eigenvalue moduli, ``0 <= r_min < r_max <= 1``.
        max_phase: initial phases are drawn from ``[0, max_phase]``, ``> 0``.

    Shape:
        step: x ``[N, F]``, state complex ``[N, D]`` or None (zeros) → ``(y [N, F'], h [N, D])``;
        sequence: xs ``[T, N, F]`` → ``(ys [T, N, F'], h_T [N, D])``. The packed state is
        ``[Re h ‖ Im h]``, ``[N, 2D]``.

    Raises:
        ValueError: bad sizes or ring; inputs or states of the wrong shape; a real state.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int | None = None,
        r_min: float = 0.0,
        r_max: float = 1.0,
        max_phase: float = 2 * math.pi,
    ):
        super().__init__()
        out_features = in_features if out_features is None else out_features
        _check_positive(in_features=in_features, hidden_features=hidden_features, out_features=out_features)
        if not 0.0 <= r_min < r_max <= 1.0:
            raise ValueError(f"the ring must satisfy 0 <= r_min < r_max <= 1, got r_min={r_min}, r_max={r_max}")
        if not max_phase > 0:
            raise ValueError(f"max_phase must be > 0, got {max_phase}")
        self.in_features, self.hidden_features, self.out_features = in_features, hidden_features, out_features
        self.state_features = 2 * hidden_features
        self.r_min, self.r_max, self.max_phase = r_min, r_max, max_phase
        self.nu_log = nn.Parameter(torch.empty(hidden_features))
        self.theta_log = nn.Parameter(torch.empty(hidden_features))
        self.B_re = nn.Parameter(torch.empty(hidden_features, in_features))
        self.B_im = nn.Parameter(torch.empty(hidden_features, in_features))
        self.C_re = nn.Parameter(torch.empty(out_features, hidden_features))
        self.C_im = nn.Parameter(torch.empty(out_features, hidden_features))
        self.D = nn.Parameter(torch.empty(in_features) if out_features == in_features else torch.empty(out_features, in_features))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        # ring initialisation (the paper's Lemma 3.2): |lambda|^2 uniform on [r_min^2, r_max^2]
        # drawn in float64: for |lambda| near 1, nu = log(-log(r^2) / 2) needs the precision
        u1 = torch.rand(self.hidden_features, dtype=torch.float64).clamp(min=1e-12)
        u2 = torch.rand(self.hidden_features, dtype=torch.float64).clamp(min=1e-12)
        r2 = u1 * (self.r_max**2 - self.r_min**2) + self.r_min**2
        self.nu_log.copy_(torch.log(-0.5 * torch.log(r2.clamp(max=1 - 1e-12))))
        self.theta_log.copy_(torch.log(self.max_phase * u2))
        nn.init.normal_(self.B_re, std=1 / math.sqrt(2 * self.in_features))
        nn.init.normal_(self.B_im, std=1 / math.sqrt(2 * self.in_features))
        nn.init.normal_(self.C_re, std=1 / math.sqrt(self.hidden_features))
        nn.init.normal_(self.C_im, std=1 / math.sqrt(self.hidden_features))
        nn.init.normal_(self.D, std=1.0 if self.D.dim() == 1 else 1 / math.sqrt(self.in_features))

    # ---- the recurrence's coefficients
    def log_eigenvalues(self) -> Tensor:
        r""":math:`\log\lambda = -\exp(\nu) + i\exp(\theta)`, complex ``[D]``."""
        return torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log))

    def eigenvalues(self) -> Tensor:
        r""":math:`\lambda`, complex ``[D]``, all with modulus below 1."""
        return torch.exp(self.log_eigenvalues())

    def gamma(self) -> Tensor:
        r""":math:`\gamma = \sqrt{1 - |\lambda|^2}`, real ``[D]``."""
        return torch.sqrt(-torch.expm1(-2 * torch.exp(self.nu_log)))

    def _drive(self, x: Tensor) -> Tensor:
        """``gamma * (B x)`` as a complex tensor ``[..., D]`` (real products, no complex matmul)."""
        g = self.gamma()
        return torch.complex(nn.functional.linear(x, self.B_re) * g, nn.functional.linear(x, self.B_im) * g)

    def _readout(self, h: Tensor, x: Tensor) -> Tensor:
        # Re(C h) = C_re Re(h) - C_im Im(h)
        y = nn.functional.linear(h.real, self.C_re) - nn.functional.linear(h.imag, self.C_im)  # [..., F']
        return y + (x * self.D if self.D.dim() == 1 else nn.functional.linear(x, self.D))

    def _complex_dtype(self) -> torch.dtype:
        return torch.complex128 if self.nu_log.dtype == torch.float64 else torch.complex64

    def initial_state(self, num_nodes: int, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Tensor:
        """Zeros, complex ``[N, D]`` in the parameters' precision (``dtype`` is ignored)."""
        return torch.zeros(num_nodes, self.hidden_features, dtype=self._complex_dtype(), device=device or self.nu_log.device)

    def _state(self, state: Tensor | None, n: int, like: Tensor) -> Tensor:
        if state is None:
            return self.initial_state(n, device=like.device)
        _check_state_tensor(state, n, self.hidden_features, "LRU")
        if not state.is_complex():
            raise ValueError(f"LRU expects a complex state [N, D], got dtype {state.dtype}; use unpack_state for [Re | Im]")
        return state

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_step_input(x, self.in_features, "LRU")
        h = self._state(state, x.shape[0], x)
        h = self.eigenvalues() * h + self._drive(x)  # [N, D] complex
        return self._readout(h, x), h

    def forward_sequence(self, xs: Tensor, state: Tensor | None = None, parallel: bool = True) -> tuple[Tensor, Tensor]:
        _check_sequence(xs, self.in_features, "LRU")
        t_len = xs.shape[0]
        h0 = self._state(state, xs.shape[1], xs)
        if t_len == 0:
            return xs.new_zeros(0, xs.shape[1], self.out_features), h0
        b = self._drive(xs)  # [T, N, D] complex
        log_lam = self.log_eigenvalues()  # [D]
        if parallel:
            b = torch.cat([b[:1] + torch.exp(log_lam) * h0, b[1:]])  # fold h_{-1} into the first input
            d = 1
            while d < t_len:  # after this pass b[t] = sum over s in (t - 2d, t] of lambda^(t-s) b_s
                b = torch.cat([b[:d], b[d:] + torch.exp(d * log_lam) * b[:-d]])  # [T, N, D]
                d *= 2
            hs = b
        else:
            lam, h, out = torch.exp(log_lam), h0, []
            for t in range(t_len):
                h = lam * h + b[t]
                out.append(h)
            hs = torch.stack(out)  # [T, N, D]
        return self._readout(hs, xs), hs[-1]

    def pack_state(self, state: Tensor) -> Tensor:
        return torch.cat([state.real, state.imag], dim=-1)  # [N, 2D]

    def unpack_state(self, packed: Tensor) -> Tensor:
        _check_packed(packed, 2 * self.hidden_features, "LRU", "[Re h | Im h]")
        return torch.complex(packed[:, : self.hidden_features].contiguous(), packed[:, self.hidden_features :].contiguous())

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.hidden_features}, out_features={self.out_features}, r_min={self.r_min}, "
                f"r_max={self.r_max}, max_phase={self.max_phase:.3g}")


class SequenceEncoder(nn.Module):
    r"""Encode a sequence per vertex, ``[N, T, F] → [N, D]``, with any :class:`RecurrentCell`.

    Vertex-major like the convolutional encoders (a vertex's feature *is* its sequence),
    so it can embed vertices before message passing or serve inside a vertex function.
    Runs the cell's ``forward_sequence`` once for all vertices.

    Args:
        cell: a :class:`GRUCell`, :class:`LSTMCell` or :class:`LRU`.
        readout: ``"last"`` (the output at each vertex's last valid step) or ``"mean"``
            (over its valid steps).

    Shape:
        x ``[N, T, F]``, lengths ``[N]`` (optional, ``1 <= lengths <= T``; steps past a vertex's
        length are padding) → ``[N, D_out]``.

    Raises:
        ValueError: unknown readout; in ``forward`` a wrong input shape or lengths that do
            not match the sequence.
    """

    def __init__(self, cell: RecurrentCell, readout: str = "last"):
        super().__init__()
        if not isinstance(cell, RecurrentCell):
            raise TypeError(f"cell must be a gnnkit.blocks.RecurrentCell (GRUCell, LSTMCell, LRU), got {type(cell).__name__}")
        if readout not in ("last", "mean"):
            raise ValueError(f"readout must be 'last' or 'mean', got {readout!r}")
        self.cell, self.readout = cell, readout
        self.out_features = cell.out_features

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[2] != self.cell.in_features:
            raise ValueError(
                f"SequenceEncoder expects x of shape [N, T, F] with F = {self.cell.in_features}, got {tuple(x.shape)}"
            )
        n, t_len = x.shape[0], x.shape[1]
        if t_len == 0:
            raise ValueError("SequenceEncoder needs sequences of length T >= 1, got T = 0")
        ys, _ = self.cell.forward_sequence(x.transpose(0, 1))  # [T, N, D]
        if lengths is None:
            return ys[-1] if self.readout == "last" else ys.mean(0)
        if lengths.shape != (n,) or lengths.is_floating_point():
            raise ValueError(f"lengths must be an integer tensor of shape [N] = [{n}], got {lengths.dtype} {tuple(lengths.shape)}")
        if n and (int(lengths.min()) < 1 or int(lengths.max()) > t_len):
            raise ValueError(
                f"lengths must lie in [1, T] = [1, {t_len}] (the padded sequence length), "
                f"got values in [{int(lengths.min())}, {int(lengths.max())}]"
            )
        lengths = lengths.to(device=x.device, dtype=torch.int64)
        if self.readout == "last":  # causal cells: the output at step len-1 ignores the padding after it
            return ys[lengths - 1, torch.arange(n, device=x.device)]  # [N, D]
        valid = torch.arange(t_len, device=x.device).view(-1, 1) < lengths.view(1, -1)  # [T, N]
        return (ys * valid.unsqueeze(-1)).sum(0) / lengths.view(-1, 1).to(ys.dtype)

    def extra_repr(self) -> str:
        return f"readout={self.readout!r}"
