r"""A neural network run as what it is: a sparse graph of neurons joined by weighted synapses.

Every neuron is a vertex and every synapse :math:`s \to t` an edge with its own learnable
weight :math:`w_{s \to t}` (one entry of an ``[E]`` ``edge_weight`` parameter):

.. math:: a_t = \sigma_t\Big(\sum_{s \in I(t)} w_{s \to t}\, a_s + b_t\Big)

where the inputs :math:`I(t)` of a neuron may be any set of neurons: layers, skip
connections or an arbitrary DAG (feed-forward mode), or a graph with cycles run in
time steps (recurrent mode). Samples of a mini-batch are the feature axis, so the
activations of all neurons are one ``[N, B]`` matrix and the weighted sum is one
``gnnkit.ops.spmm``. Backward runs through the engine's own ops under autograd: the
error :math:`\delta_t = \sigma'(z_t) \sum_{u \in O(t)} w_{t \to u} \delta_u` is ``spmm``
on the reversed graph and :math:`\partial E / \partial w_{s \to t} = \delta_t a_s` is
``sddmm``, exactly the backward of :func:`gnnkit.ops.spmm`.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .. import ops
from .._deprecated import deprecated_names
from ..blocks.activations import ACTIVATIONS, activation_fn, make_activation
from ..graph import Graph

__all__ = ["NeuronGraph", "MODES"]

MODES = ("feedforward", "recurrent")


def _activation_name(module: nn.Module, index: int) -> str:
    if isinstance(module, nn.Identity):
        return "identity"
    for name, cls in ACTIVATIONS.items():
        if type(module) is cls:
            default = cls()
            for attr in ("approximate", "alpha", "negative_slope", "beta", "threshold"):
                if getattr(module, attr, None) != getattr(default, attr, None):
                    raise ValueError(
                        f"sequential[{index}] is {module!r}; only the default settings of {cls.__name__} "
                        f"({attr}={getattr(default, attr)!r}) are supported"
                    )
            return name
    raise TypeError(
        f"sequential[{index}] is a {type(module).__name__}; from_sequential takes nn.Linear layers, each optionally "
        f"followed by one of {tuple(c.__name__ for c in ACTIVATIONS.values())}"
    )


def check_node_ids(value: Tensor | Sequence[int], n: int, name: str) -> Tensor:
    """``value`` as distinct int64 neuron ids in ``[0, n)``, on the CPU (also used by :class:`gnnkit.brain.SpatialRNN`).

    Args:
        value: the ids. n: the number of neurons. name: the argument's name, for messages.

    Returns:
        ``[K]`` int64 on the CPU (checked and indexed there; buffers move to the graph later).

    Raises:
        ValueError: not a non-empty 1-D integer sequence, an id out of range, or a repeated id.
    """
    ids = torch.as_tensor(value).cpu()
    if ids.dim() != 1 or ids.is_floating_point() or ids.dtype == torch.bool or ids.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of integer neuron ids, got {ids.dtype} {tuple(ids.shape)}")
    ids = ids.to(torch.int64)
    if int(ids.min()) < 0 or int(ids.max()) >= n:
        raise ValueError(f"{name} must lie in [0, num_nodes={n}), got ids in [{int(ids.min())}, {int(ids.max())}]")
    if torch.unique(ids).numel() != ids.numel():
        raise ValueError(f"{name} must not repeat a neuron, got {ids.tolist()}")
    return ids


def _levels(g: Graph, is_input: Tensor) -> Tensor:
    """Topological level of every neuron: 0 for inputs, ``1 + max(level of its inputs)`` otherwise.

    Kahn's algorithm, one vectorised round per level (never a loop over neurons or edges).

    Raises:
        ValueError: the graph has a cycle (names some neurons on or behind it).
    """
    n, src, dst = g.num_nodes, g.src.cpu(), g.dst.cpu()
    level = torch.where(is_input.cpu(), 0, 1)  # a non-input neuron without inputs is a constant: level 1
    remaining = torch.bincount(dst, minlength=n)
    done = torch.zeros(n, dtype=torch.bool)
    frontier = remaining == 0
    while bool(frontier.any()):
        done |= frontier
        out = frontier[src]  # [E] edges leaving the finished neurons
        level = level.scatter_reduce(0, dst[out], level[src[out]] + 1, reduce="amax", include_self=True)
        remaining = remaining - torch.bincount(dst[out], minlength=n)
        frontier = (remaining == 0) & ~done
    if not bool(done.all()):
        stuck = (~done).nonzero().view(-1)
        raise ValueError(
            f"the neuron graph has a cycle, so it has no feed-forward order: neurons {stuck[:10].tolist()}"
            f"{' …' if stuck.numel() > 10 else ''} lie on or behind a cycle; build it with mode='recurrent' "
            f"to run it in time steps"
        )
    return level


class NeuronGraph(nn.Module):
    r"""A network whose neurons are vertices and whose synapses are edges with learnable weights.

    .. math:: a_t = \sigma_t\Big(\sum_{s \to t} w_{s \to t}\, a_s + b_t\Big)

    **Feed-forward mode** (the graph must be a DAG): neurons are grouped into topological
    levels (inputs are level 0, every other neuron one more than its deepest input), and
    ``forward`` evaluates one level at a time with one ``spmm`` over the sub-graph of the
    synapses *into* that level, so each synapse is used exactly once (a Python loop over
    levels only; never over neurons or synapses). Skip connections and arbitrary DAGs
    work the same as layers.

    **Recurrent mode** (cycles allowed): every step updates all neurons at once from the
    previous step's activations, ``a^{(k)} = \sigma(W a^{(k-1)} + b)`` with the input neurons
    clamped to the step's input; the state ``[N, B]`` is an argument and a return value.
    On a DAG of depth ``L`` and a constant input, step ``L`` equals the feed-forward output.

    Input neurons take the given values (no activation, no bias) and may not receive
    synapses. Duplicate synapses add up; a self-loop is a cycle. The graph structure is
    fixed at construction; ``weight`` and ``bias`` are the parameters (prune or rewire by
    building a new ``NeuronGraph``).

    Args:
        graph: the synapses ``src -> dst`` over ``N`` neurons (one vertex set).
        input_nodes: ids of the input neurons, in the order of the input's columns.
        output_nodes: ids of the output neurons, in the order of the output's columns.
        activation: one name from :data:`gnnkit.blocks.ACTIVATIONS` for every neuron, or a
            sequence of ``N`` names (one per neuron; entries of input neurons are ignored).
        bias: learn a bias per neuron (``bias[v]`` of an input neuron is unused).
        mode: ``"feedforward" | "recurrent"``.
        weight: initial synapse weights ``[E]`` in the graph's edge order; default
            uniform in :math:`\pm 1/\sqrt{\text{fan-in of } t}` (as ``nn.Linear``).

    Shape:
        feed-forward: x ``[B, n_in]`` → ``[B, n_out]``;
        recurrent: xs ``[T, B, n_in]``, state ``[N, B]`` or None (zeros) →
        ``(ys [T, B, n_out], state [N, B])``.

    Raises:
        ValueError: a cycle in feed-forward mode, synapses into an input neuron, bad node
            ids, activations or mode, or (in ``forward``) inputs of the wrong shape.
        TypeError: a non-Graph ``graph``.
    """

    def __init__(
        self,
        graph: Graph,
        input_nodes: Tensor | Sequence[int],
        output_nodes: Tensor | Sequence[int],
        activation: str | Sequence[str] = "sigmoid",
        bias: bool = True,
        mode: str = "feedforward",
        weight: Tensor | None = None,
    ):
        super().__init__()
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a gnnkit.Graph, got {type(graph).__name__}")
        graph._require_square("NeuronGraph")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        n = graph.num_nodes
        inputs = check_node_ids(input_nodes, n, "input_nodes")
        outputs = check_node_ids(output_nodes, n, "output_nodes")
        names = [activation] * n if isinstance(activation, str) else list(activation)
        if len(names) != n:
            raise ValueError(f"activation must be one name or a sequence of num_nodes = {n} names, got {len(names)} names")
        for name in set(names):
            activation_fn(name)  # raises ValueError naming the choices
        is_input = torch.zeros(n, dtype=torch.bool)
        is_input[inputs] = True
        if graph.num_edges and bool(is_input[graph.dst.cpu()].any()):
            bad = graph.dst.cpu()[is_input[graph.dst.cpu()]][0].item()
            raise ValueError(
                f"input neuron {bad} receives a synapse; input neurons are set by the input and take no synapses "
                f"(drop those edges or make it a hidden neuron)"
            )
        self.graph, self.mode, self.num_nodes = graph, mode, n
        self.activation_names = sorted(set(names))
        codes = torch.tensor([self.activation_names.index(a) for a in names], dtype=torch.int64)
        self.register_buffer("input_nodes", inputs.to(graph.device))
        self.register_buffer("output_nodes", outputs.to(graph.device))
        self.register_buffer("activation_codes", codes.to(graph.device))
        self.register_buffer("is_input", is_input.to(graph.device))

        e = graph.num_edges
        if weight is not None and (not isinstance(weight, Tensor) or weight.shape != (e,) or not weight.is_floating_point()):
            got = f"{weight.dtype} {tuple(weight.shape)}" if isinstance(weight, Tensor) else type(weight).__name__
            raise ValueError(f"weight must be a float tensor of shape [E] = [{e}] (one per synapse), got {got}")
        dtype = weight.dtype if weight is not None else torch.get_default_dtype()
        self.weight = nn.Parameter(torch.empty(e, dtype=dtype, device=graph.device))
        self.bias = nn.Parameter(torch.empty(n, dtype=dtype, device=graph.device)) if bias else None
        self.reset_parameters()
        if weight is not None:
            with torch.no_grad():
                self.weight.copy_(weight)

        self._device_cache: dict = {}
        self._levels: list[tuple[Graph, Tensor, int, int, list[int]]] = []
        if mode == "feedforward":
            level = _levels(graph, is_input)
            self.register_buffer("levels", level.to(graph.device))
            self._build_levels(level)
        else:
            self.levels = None

    @torch.no_grad()
    def reset_parameters(self) -> None:
        r"""Draw weights and biases uniformly in :math:`\pm 1/\sqrt{\text{fan-in}}` of the receiving neuron (as ``nn.Linear``)."""
        fan_in = torch.bincount(self.graph.dst, minlength=self.num_nodes).clamp(min=1).to(self.weight.dtype)
        bound = fan_in.rsqrt()  # [N]
        self.weight.copy_((torch.rand_like(self.weight) * 2 - 1) * bound[self.graph.dst])
        if self.bias is not None:
            self.bias.copy_((torch.rand_like(self.bias) * 2 - 1) * bound)

    # ------------------------------------------------------------ structure
    def _build_levels(self, level: Tensor) -> None:
        g = self.graph
        src, dst = g.src.cpu(), g.dst.cpu()
        edge_level = level[dst]  # [E]
        perm = torch.argsort(edge_level, stable=True)  # synapses grouped by the level they feed
        self.register_buffer("edge_perm", perm.to(g.device))
        counts = torch.bincount(edge_level, minlength=int(level.max()) + 1).tolist() if g.num_edges else []
        local = torch.zeros(self.num_nodes, dtype=torch.int64)
        start = 0
        codes = self.activation_codes.cpu()
        for lv in range(1, int(level.max()) + 1 if self.num_nodes else 1):
            nodes = (level == lv).nonzero().view(-1)  # [n_l]
            local[nodes] = torch.arange(nodes.numel())
            end = start + (counts[lv] if lv < len(counts) else 0)
            eids = perm[start:end]
            # bipartite: sources are all N neurons, destinations the n_l neurons of this level
            sub = Graph(src[eids], local[dst[eids]], nodes.numel(), num_src_nodes=self.num_nodes, _validate=False)
            kinds = torch.unique(codes[nodes]).tolist()
            self._levels.append((sub, nodes, start, end, kinds))
            start = end

    def _on(self, device: torch.device) -> tuple[Graph, list]:
        """The graph and level sub-graphs on ``device`` (moved once, then cached)."""
        if device == self.graph.device:
            return self.graph, self._levels
        if device not in self._device_cache:
            levels = [(sub.to(device), nodes.to(device), s, e, k) for sub, nodes, s, e, k in self._levels]
            self._device_cache[device] = (self.graph.to(device), levels)
        return self._device_cache[device]

    @property
    def num_levels(self) -> int:
        """Number of non-input levels (the depth); feed-forward mode only."""
        return len(self._levels)

    def _activate(self, z: Tensor, codes: Tensor, kinds: list[int]) -> Tensor:
        if len(kinds) == 1:
            return activation_fn(self.activation_names[kinds[0]])(z)
        out = z
        for k in kinds:  # a loop over activation kinds (a handful), not over neurons
            out = torch.where((codes == k).unsqueeze(1), activation_fn(self.activation_names[k])(z), out)
        return out

    def _check_input(self, x: Tensor, what: str, dims: int) -> None:
        n_in = self.input_nodes.numel()
        layout = "[B, n_in]" if dims == 2 else "[T, B, n_in]"
        if not isinstance(x, Tensor) or x.dim() != dims or x.shape[-1] != n_in:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{what} expects x of shape {layout} with n_in = {n_in} input neurons, got {got}")
        if x.dtype != self.weight.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the synapse weights are {self.weight.dtype}; cast one of them")

    # ------------------------------------------------------------- forward
    def forward(self, x: Tensor, state: Tensor | None = None):
        """Feed-forward: ``x [B, n_in] → [B, n_out]``. Recurrent: ``xs [T, B, n_in] → (ys, state)``."""
        if self.mode == "recurrent":
            return self.run(x, state)
        if state is not None:
            raise ValueError("a feed-forward NeuronGraph takes no state; build it with mode='recurrent' for time steps")
        self._check_input(x, "NeuronGraph (feed-forward)", 2)
        _, levels = self._on(x.device)
        w = self.weight[self.edge_perm]  # [E] grouped by level, so each level's weights are one slice
        a = x.new_zeros(self.num_nodes, x.shape[0]).index_copy(0, self.input_nodes, x.t())  # [N, B]
        for sub, nodes, start, end, kinds in levels:
            z = ops.spmm(sub, a, w[start:end])  # [n_l, B]: sum over the synapses into this level
            if self.bias is not None:
                z = z + self.bias[nodes].unsqueeze(1)
            a = a.index_copy(0, nodes, self._activate(z, self.activation_codes[nodes], kinds))  # [N, B]
        return a[self.output_nodes].t()  # [B, n_out]

    def initial_state(self, batch_size: int) -> Tensor:
        """Zero activations ``[N, B]``."""
        return self.weight.new_zeros(self.num_nodes, batch_size)

    def step(self, x: Tensor, state: Tensor) -> Tensor:
        r"""One synchronous time step: :math:`a' = \sigma(W\, a[\text{inputs} \leftarrow x] + b)`, inputs clamped to ``x``.

        Shape:
            x ``[B, n_in]``, state ``[N, B]`` → ``[N, B]``.
        """
        self._check_input(x, "NeuronGraph.step", 2)
        if not isinstance(state, Tensor) or state.shape != (self.num_nodes, x.shape[0]):
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"state must have shape [N, B] = [{self.num_nodes}, {x.shape[0]}], got {got}")
        g, _ = self._on(x.device)
        xt = x.t()  # [n_in, B]
        a = state.index_copy(0, self.input_nodes, xt)
        z = ops.spmm(g, a, self.weight)  # [N, B]
        if self.bias is not None:
            z = z + self.bias.unsqueeze(1)
        a = self._activate(z, self.activation_codes, list(range(len(self.activation_names))))
        return a.index_copy(0, self.input_nodes, xt)

    def run(self, xs: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run ``T`` time steps (any mode): ``xs [T, B, n_in]`` → ``(ys [T, B, n_out], state [N, B])``."""
        self._check_input(xs, "NeuronGraph.run", 3)
        if state is None:
            state = self.initial_state(xs.shape[1]).to(xs.device)
        ys = []
        for t in range(xs.shape[0]):
            state = self.step(xs[t], state)
            ys.append(state[self.output_nodes].t())  # [B, n_out]
        out = torch.stack(ys) if ys else xs.new_zeros(0, xs.shape[1], self.output_nodes.numel())
        return out, state

    # --------------------------------------------------------- conversions
    @classmethod
    def from_sequential(cls, sequential: nn.Sequential, drop_zeros: bool = False, mode: str = "feedforward") -> "NeuronGraph":
        """Build the neuron graph of an ``nn.Sequential`` of ``Linear`` layers and activations (dense → sparse).

        Neurons are numbered layer by layer: the ``in_features`` inputs first, then the
        outputs of each ``Linear``. Each weight ``W[k, j]`` of a layer becomes the synapse
        ``j → k`` (weights keep their values, dtype and device; biases too, 0 where a
        ``Linear`` has none).

        Args:
            sequential: ``Linear`` layers, each optionally followed by one activation.
            drop_zeros: leave out synapses whose weight is exactly 0 (pruned weights).
            mode: the mode of the result.

        Raises:
            TypeError: a module that is neither ``Linear`` nor a supported activation.
            ValueError: no ``Linear``, an activation first or twice in a row, or sizes that do not chain.
        """
        if not isinstance(sequential, nn.Sequential):
            raise TypeError(f"sequential must be an nn.Sequential, got {type(sequential).__name__}")
        layers: list[list] = []  # [Linear, activation name or None]
        for i, m in enumerate(sequential):
            if isinstance(m, nn.Linear):
                if layers and layers[-1][0].out_features != m.in_features:
                    raise ValueError(
                        f"sequential[{i}] is Linear({m.in_features}, {m.out_features}) but the previous layer has "
                        f"out_features = {layers[-1][0].out_features}"
                    )
                layers.append([m, None])
                continue
            name = _activation_name(m, i)
            if not layers or layers[-1][1] is not None:
                raise ValueError(f"sequential[{i}] ({type(m).__name__}) must follow a Linear layer directly")
            layers[-1][1] = name
        if not layers:
            raise ValueError("sequential must contain at least one nn.Linear")
        w0 = layers[0][0].weight
        sizes = [layers[0][0].in_features] + [lin.out_features for lin, _ in layers]
        offsets = [0]
        for s in sizes:
            offsets.append(offsets[-1] + s)
        srcs, dsts, ws, names = [], [], [], ["identity"] * sizes[0]
        bias = torch.zeros(offsets[-1], dtype=w0.dtype, device=w0.device)
        for i, (lin, act) in enumerate(layers):
            n_in, n_out = lin.in_features, lin.out_features
            # W[k, j] is synapse j -> k; row-major flattening pairs k * n_in + j
            dsts.append(offsets[i + 1] + torch.arange(n_out, device=w0.device).repeat_interleave(n_in))
            srcs.append(offsets[i] + torch.arange(n_in, device=w0.device).repeat(n_out))
            ws.append(lin.weight.detach().reshape(-1))
            if lin.bias is not None:
                bias[offsets[i + 1] : offsets[i + 2]] = lin.bias.detach()
            names += [act or "identity"] * n_out
        src, dst, w = torch.cat(srcs), torch.cat(dsts), torch.cat(ws)
        if drop_zeros:
            keep = w != 0
            src, dst, w = src[keep], dst[keep], w[keep]
        g = Graph(src, dst, offsets[-1])
        has_bias = any(lin.bias is not None for lin, _ in layers)
        net = cls(g, torch.arange(sizes[0]), torch.arange(offsets[-2], offsets[-1]), names, bias=has_bias,
                  mode=mode, weight=w)
        if has_bias:
            with torch.no_grad():
                net.bias.copy_(bias)
        return net

    def to_sequential(self) -> nn.Sequential:
        """The equivalent ``nn.Sequential`` of a strictly layered network (sparse → dense, missing synapses as 0).

        Requires that every synapse joins consecutive levels, that the outputs are exactly
        the last level, and that all neurons of a level share one activation. Hidden
        neurons keep ascending id order within their layer; inputs and outputs follow
        ``input_nodes`` and ``output_nodes``.

        Raises:
            ValueError: a cycle, a skip connection, outputs that are not the last level,
                or mixed activations within a level.
        """
        level = self.levels.cpu() if self.levels is not None else _levels(self.graph, self.is_input.cpu())
        src, dst = self.graph.src.cpu(), self.graph.dst.cpu()
        skip = level[src] != level[dst] - 1
        if bool(skip.any()):
            e = int(skip.nonzero()[0])
            raise ValueError(
                f"to_sequential needs a strictly layered network, but synapse {int(src[e])} -> {int(dst[e])} joins "
                f"level {int(level[src[e]])} to level {int(level[dst[e]])}"
            )
        depth = int(level.max())
        outputs = self.output_nodes.cpu()
        last = (level == depth).nonzero().view(-1)
        if depth == 0 or set(last.tolist()) != set(outputs.tolist()):
            raise ValueError(
                f"to_sequential needs the output neurons to be exactly the last level {depth}: outputs are "
                f"{outputs.tolist()[:10]}, the last level holds {last.tolist()[:10]}"
            )
        order = [self.input_nodes.cpu()] + [(level == lv).nonzero().view(-1) for lv in range(1, depth)] + [outputs]
        pos = torch.zeros(self.num_nodes, dtype=torch.int64)
        for nodes in order:
            pos[nodes] = torch.arange(nodes.numel())
        codes = self.activation_codes.cpu()
        w, dev = self.weight.detach(), self.weight.device
        modules: list[nn.Module] = []
        for lv in range(1, depth + 1):
            prev, nodes = order[lv - 1], order[lv]
            kinds = torch.unique(codes[nodes]).tolist()
            if len(kinds) != 1:
                raise ValueError(
                    f"to_sequential needs one activation per layer, level {lv} mixes "
                    f"{[self.activation_names[k] for k in kinds]}"
                )
            lin = nn.Linear(prev.numel(), nodes.numel(), bias=self.bias is not None, device=dev, dtype=w.dtype)
            into = (level[dst] == lv).nonzero().view(-1)  # synapses into this level
            dense = torch.zeros(nodes.numel(), prev.numel(), dtype=w.dtype, device=dev)
            dense.index_put_((pos[dst[into]].to(dev), pos[src[into]].to(dev)), w[into.to(dev)], accumulate=True)
            with torch.no_grad():
                lin.weight.copy_(dense)
                if self.bias is not None:
                    lin.bias.copy_(self.bias.detach()[nodes.to(dev)])
            modules.append(lin)
            name = self.activation_names[kinds[0]]
            if name != "identity":
                modules.append(make_activation(name))
        return nn.Sequential(*modules)

    def extra_repr(self) -> str:
        levels = f", levels={self.num_levels}" if self.mode == "feedforward" else ""
        return (f"num_nodes={self.num_nodes}, num_synapses={self.graph.num_edges}, inputs={self.input_nodes.numel()}, "
                f"outputs={self.output_nodes.numel()}, mode={self.mode!r}{levels}, bias={self.bias is not None}")


# the old per-module table was a name -> function dict: serve that view of the one table
__getattr__ = deprecated_names(__name__, {
    "NEURON_ACTIVATIONS": ("gnnkit.blocks.ACTIVATIONS or gnnkit.blocks.activation_fn", lambda: {k: activation_fn(k) for k in ACTIVATIONS}),
})
