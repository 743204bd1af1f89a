r"""Partition-parallel full-graph training on ``torch.distributed``: halo exchange with autograd.

One process (rank) per part of a :func:`gnnkit.partition.partition`. Rank ``p`` holds the
features of the vertices it owns; before each layer it fetches its halo rows (the
in-neighbours other ranks own) with one ``all_to_all_single``, runs the layer on its local
block, and gets its owned output rows. Backward runs the exchange in reverse: the
gradient of each halo row goes back to its owner and is summed there, with the
gradients of every other rank that used the same vertex. Parameters stay identical on
all ranks: rank 0's initial values are broadcast, and after each backward the gradients
are summed with one ``all_reduce``; every rank then takes the same optimiser step.

Why not DDP: its reducer launches gradient all-reduces from autograd hooks *during*
backward, on the same process group as the halo exchange's backward collectives; an
explicit all-reduce after ``backward()`` keeps one fixed collective order on every rank.

Communication per layer and epoch: each rank sends ``sum_q |halo_q ∩ owned_p|`` rows of
the layer's input width forward and as many gradient rows backward (Md et al. 2021,
"DistGNN", https://arxiv.org/abs/2104.06700, analyse the same halo scheme).

Faults: every collective runs under the process group's timeout; a dead peer makes gloo
fail at once ("Connection reset by peer"), a stalled one after the timeout. Either way the
failing ``torch.distributed`` call is turned into a :class:`PeerError` with the rank, the
operation, the step (:class:`communicating`) and the cause; nothing waits forever.
"""
from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass, field
from typing import Iterable

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ..graph import Graph
from ..models import GNN
from ..nn import GCNConv, GINConv, SAGEConv
from .partition import Part

__all__ = [
    "PeerError",
    "init_distributed",
    "store_address",
    "communicating",
    "HaloExchange",
    "halo_exchange",
    "PartitionedGNN",
    "broadcast_parameters",
    "sync_gradients",
    "all_reduce_sum",
    "parameters_in_sync",
    "broadcast_object",
    "gather_objects",
    "verify_same_state",
    "SUPPORTED_MODELS",
]

SUPPORTED_MODELS = ("gcn", "sage", "gin")


class PeerError(RuntimeError):
    """A collective failed: another rank died, stalled past the timeout, or never joined."""


def _rank() -> str:
    return str(dist.get_rank()) if dist.is_initialized() else os.environ.get("RANK", "?")


def _peer_error(op: str, cause: BaseException, during: str | None = None) -> PeerError:
    where = f" during {during}" if during else ""
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:500]
    err = PeerError(
        f"rank {_rank()}: communication failed{where} ({op}): another rank died, stalled past the timeout, "
        f"or never joined. Check the other ranks' logs. Cause: {first}"
    )
    err.op, err.cause = op, cause
    return err


def _collective(fn, *args, **kwargs):
    """Run one ``torch.distributed`` call; a failure (gloo raises RuntimeError) becomes a PeerError."""
    try:
        return fn(*args, **kwargs)
    except RuntimeError as exc:
        raise _peer_error(fn.__name__, exc) from exc


class communicating:
    """Context manager that names the step in a :class:`PeerError` raised inside it.

    Example::

        with communicating("epoch 3 training"):
            loss = loss_fn(model(x))
            loss.backward()          # the halo exchange's backward communicates too
    """

    def __init__(self, what: str):
        self.what = what

    def __enter__(self) -> "communicating":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, PeerError) and hasattr(exc, "op") and not getattr(exc, "named", False):
            err = _peer_error(exc.op, exc.cause, self.what)
            err.named = True
            raise err from exc.cause
        return False


def init_distributed(backend: str = "gloo", timeout_s: float = 300.0, rank: int | None = None,
                     world_size: int | None = None) -> tuple[int, int]:
    """Join the default process group (env:// rendezvous: ``MASTER_ADDR``, ``MASTER_PORT``).

    ``torchrun`` sets ``RANK``/``WORLD_SIZE``/``MASTER_*``; ``rank``/``world_size`` override them.
    Every later collective inherits ``timeout_s``, which also bounds the rendezvous.

    Under a torchrun whose agents share their rendezvous store with the workers (the c10d
    rendezvous does), a restarted round would find the previous round's process-group keys
    in that store and connect to dead peers. So rank 0 opens a fresh store for each round
    and announces its port through the agent's store (:func:`_round_store`).

    Returns:
        ``(rank, world_size)``.

    Raises:
        ValueError: missing environment or a non-positive ``timeout_s``.
        PeerError: not every rank joined within ``timeout_s``.
    """
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    rank = int(os.environ["RANK"]) if rank is None and "RANK" in os.environ else rank
    world_size = int(os.environ["WORLD_SIZE"]) if world_size is None and "WORLD_SIZE" in os.environ else world_size
    if missing or rank is None or world_size is None:
        raise ValueError(
            "init_distributed needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT in the environment "
            f"(missing: {missing + [k for k, v in (('RANK', rank), ('WORLD_SIZE', world_size)) if v is None]}); "
            "launch with `torchrun --nproc-per-node N -m gnnkit.cli.dist_train ...`"
        )
    timeout = datetime.timedelta(seconds=timeout_s)
    try:
        store = _round_store(rank, world_size, timeout) if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True" \
            else None
        if store is None:
            dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timeout)
            _STORE_ADDRESS[:] = [os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])]  # env:// serves it there
        else:
            dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
            _STORE_ADDRESS[:] = [os.environ["MASTER_ADDR"], int(store.port)]
    except RuntimeError as exc:  # DistStoreError: "Timed out after 10 seconds waiting for clients. 1/2 clients joined."
        raise PeerError(
            f"rank {rank}: not all {world_size} ranks joined the process group at "
            f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} within {timeout_s:g} s. Start every rank with "
            f"the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE. Cause: {str(exc).strip()[:300]}"
        ) from exc
    return rank, world_size


_ROUND_KEY = "gnnkit/round-store-port"
_STORE_ADDRESS: list = []  # [host, port] of the store init_distributed joined (rank 0 serves it)


def store_address() -> tuple[str, int]:
    """``(host, port)`` of the rendezvous store this process joined in :func:`init_distributed`.

    Rank 0's process serves it (``MASTER_ADDR:MASTER_PORT``, or the store of the current round
    under a torchrun agent); :class:`gnnkit.scale.heartbeat.Heartbeat` connects to it.

    Raises:
        RuntimeError: :func:`init_distributed` has not run in this process.
    """
    if not _STORE_ADDRESS:
        raise RuntimeError("store_address() needs init_distributed() to have joined a process group first")
    return _STORE_ADDRESS[0], _STORE_ADDRESS[1]



def _round_store(rank: int, world_size: int, timeout: datetime.timedelta) -> dist.Store:
    """A store that holds only this round's keys: rank 0 serves it, the others find it through the agent's store.

    The key naming its port may still hold the previous round's value; that port's server died
    with the previous rank 0 (torchrun stops every worker before a new round), so a refused
    connection means a stale value: read the key again until the new one arrives.

    Raises:
        RuntimeError: the new store did not appear within ``timeout``.
    """
    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    agent = dist.TCPStore(host, port, is_master=False, timeout=timeout)
    if rank == 0:
        # wait_for_workers=False: the others can only connect once the port below is announced
        own = dist.TCPStore(host, 0, world_size, is_master=True, timeout=timeout, wait_for_workers=False)
        agent.set(_ROUND_KEY, str(own.port))
        return own
    deadline = time.monotonic() + timeout.total_seconds()
    while True:
        found = int(agent.get(_ROUND_KEY))  # waits until some round has written it
        try:
            own = dist.TCPStore(host, found, world_size, is_master=False, timeout=datetime.timedelta(seconds=2))
            own.set_timeout(timeout)
            return own
        except (RuntimeError, TimeoutError) as exc:  # refused: a previous round's store
            if time.monotonic() > deadline:
                raise RuntimeError(f"no process-group store of this round appeared at {host} within "
                                   f"{timeout.total_seconds():g} s (last port {found}): {exc}") from exc
            time.sleep(0.2)


# ---------------------------------------------------------------- exchange
@dataclass(frozen=True)
class _Plan:
    send_index: Tensor  # [S] local ids of owned rows to send, grouped by destination rank
    send_counts: list[int]  # [W] rows sent to each rank
    recv_counts: list[int]  # [W] halo rows received from each rank (halo is grouped by owner)
    num_owned: int
    num_halo: int
    seconds: list[float] = field(default_factory=lambda: [0.0])  # wall time inside all_to_all, waiting included


class _Exchange(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, plan: _Plan, group) -> Tensor:
        ctx.plan, ctx.group = plan, group
        send = x.index_select(0, plan.send_index)  # [S, ...]
        recv = x.new_empty((plan.num_halo,) + tuple(x.shape[1:]))  # [N_halo, ...]
        t0 = time.perf_counter()
        _collective(dist.all_to_all_single, recv, send, plan.recv_counts, plan.send_counts, group=group)
        plan.seconds[0] += time.perf_counter() - t0
        return recv

    @staticmethod
    @once_differentiable
    def backward(ctx, dh: Tensor):
        plan = ctx.plan
        dsend = dh.new_empty((plan.send_index.numel(),) + tuple(dh.shape[1:]))  # [S, ...]
        t0 = time.perf_counter()
        _collective(dist.all_to_all_single, dsend, dh.contiguous(), plan.send_counts, plan.recv_counts, group=ctx.group)
        plan.seconds[0] += time.perf_counter() - t0
        # a row sent to several ranks collects the gradient of every copy
        dx = dh.new_zeros((plan.num_owned,) + tuple(dh.shape[1:])).index_add_(0, plan.send_index, dsend)
        return dx, None, None


class HaloExchange:
    """The communication plan of one rank's part: what to send to whom, what arrives from whom.

    Building it is collective (every rank of ``group`` must call it with its own part): each
    rank tells every owner which of its vertices it needs, so a rank only ever holds its own
    :class:`~gnnkit.partition.Part`. It also checks that all ranks hold parts of one
    partitioning (same vertex count and part count, requests only for owned vertices).

    Args:
        part: this rank's part; ``part.part_id`` must equal the rank in ``group``.
        group: process group (default: the world).

    Raises:
        ValueError: the part does not match the rank or the world size, or the ranks hold
            parts of different partitionings (raised on every rank at once).
    """

    def __init__(self, part: Part, num_nodes: int, group=None):
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        mine = torch.tensor([part.part_id, num_nodes, int(part.halo_owner.max()) + 1 if part.num_halo else 0])
        every = [torch.zeros_like(mine) for _ in range(world)]
        _collective(dist.all_gather, every, mine, group=group)
        every = torch.stack(every)  # [W, 3]
        if not torch.equal(every[:, 0], torch.arange(world)) or int(every[:, 2].max()) > world or \
                int(every[:, 1].min()) != int(every[:, 1].max()):
            raise ValueError(
                f"rank {rank}: the ranks must hold parts 0..{world - 1} of one partitioning of one graph into "
                f"world_size={world} parts; got part ids {every[:, 0].tolist()}, graph sizes {every[:, 1].tolist()}, "
                f"halo owners up to {(every[:, 2] - 1).tolist()}"
            )
        recv_counts = torch.bincount(part.halo_owner, minlength=world)  # [W] halo is grouped by owner
        send_counts = torch.empty_like(recv_counts)
        _collective(dist.all_to_all_single, send_counts, recv_counts, group=group)
        requested = torch.empty(int(send_counts.sum()), dtype=torch.int64)  # [S] global ids others need from us
        _collective(dist.all_to_all_single, requested, part.halo, send_counts.tolist(), recv_counts.tolist(), group=group)
        send_index = part.global_to_local(requested)
        bad = torch.tensor([int(((send_index < 0) | (send_index >= part.num_owned)).sum())])
        _collective(dist.all_reduce, bad, group=group)
        if int(bad):
            raise ValueError(
                f"rank {rank}: {int(bad)} halo vertices were requested from ranks that do not own them: the ranks "
                "hold parts of different partitionings (partition with the same method, seed and graph everywhere)"
            )
        self.group = group
        self.rank, self.world_size = rank, world
        self.plan = _Plan(send_index, send_counts.tolist(), recv_counts.tolist(), part.num_owned, part.num_halo)

    @property
    def seconds(self) -> float:
        """Wall time spent in this plan's all_to_all calls so far, including waiting for slower ranks."""
        return self.plan.seconds[0]

    @property
    def rows_sent(self) -> int:
        """Rows this rank sends per exchange (and receives back as gradients)."""
        return self.plan.send_index.numel()

    def __call__(self, x: Tensor) -> Tensor:
        """The halo rows of ``x``; differentiable (backward returns gradients to their owners).

        Shape:
            x ``[N_own, ...]`` → ``[N_halo, ...]``.
        """
        if x.shape[0] != self.plan.num_owned:
            raise ValueError(f"x must have one row per owned vertex ({self.plan.num_owned}), got shape {tuple(x.shape)}")
        return _Exchange.apply(x.contiguous(), self.plan, self.group)

    def __repr__(self) -> str:
        return (f"HaloExchange(rank={self.rank}, world_size={self.world_size}, sends={self.plan.send_counts}, "
                f"receives={self.plan.recv_counts})")


def halo_exchange(x: Tensor, exchange: HaloExchange) -> Tensor:
    """``cat([x, halo(x)])``: the local source features ``[N_own + N_halo, ...]`` of a part's graph."""
    return torch.cat([x, exchange(x)])


# ------------------------------------------------------------------ model
class PartitionedGNN(nn.Module):
    r"""Run a :class:`~gnnkit.GNN` on one part; halo features are exchanged before each layer.

    Wraps (does not copy) ``model``, so its ``state_dict`` is the single-process model's.
    The forward is the model's own loop (:meth:`GNN.apply_layers`: dropout → conv → norm →
    activation → residual) with a halo exchange before each conv, and its layers' own maths
    (:meth:`GCNConv.propagate <gnnkit.nn.GCNConv.propagate>`, ``SAGEConv``/``GINConv`` on the
    part's block); it returns the owned rows of ``model(g, x)``.

    GCN needs the degrees of the whole graph: the symmetric norm :math:`1/\sqrt{d_u d_v}`
    uses the in-degree (with the added self-loop) of every source ``u``, and a halo
    source's in-edges live on another rank. Each rank counts its owned vertices' degrees
    (an owned vertex's in-edges are all local) and one exchange brings the halo's.

    Args:
        model: a GNN with ``model`` in :data:`SUPPORTED_MODELS` and ``norm`` not ``"batch"``
            (batch statistics would need a cross-rank reduction).
        part: this rank's part. exchange: its :class:`HaloExchange`.

    Shape:
        x ``[N_own, F]`` → ``[N_own, out_features]``.

    Raises:
        ValueError: an unsupported model or norm.
    """

    def __init__(self, model: GNN, part: Part, exchange: HaloExchange):
        super().__init__()
        cfg = model.config
        if cfg.model not in SUPPORTED_MODELS:
            raise ValueError(
                f"model must be one of {SUPPORTED_MODELS} for partition-parallel training, got {cfg.model!r} "
                "(GAT's attention needs self-loops on a bipartite block; use single-process training)"
            )
        if cfg.norm == "batch":
            raise ValueError("norm='batch' needs batch statistics over all ranks; use norm='layer' or None")
        self.model, self.exchange = model, exchange
        self.graph = part.graph
        self._gcn: dict[torch.dtype, tuple[Graph, Tensor]] = {}
        self._input_halo: tuple[tuple, Tensor] | None = None

    def _gcn_graph(self, dtype: torch.dtype) -> tuple[Graph, Tensor]:
        """The local graph with one self-loop per owned vertex, and the global GCN norm of its edges."""
        if dtype not in self._gcn:
            g, n = self.graph, self.graph.num_nodes
            keep = g.src != g.dst  # owned vertex i is source i too: a local loop is a global loop
            loops = torch.arange(n)
            looped = Graph(torch.cat([g.src[keep], loops]), torch.cat([g.dst[keep], loops]), n,
                           num_src_nodes=g.num_src_nodes, _validate=False)
            deg = torch.zeros(n, dtype=dtype).index_add_(0, looped.dst, torch.ones(looped.num_edges, dtype=dtype))
            with communicating("the GCN degree exchange"):
                deg_all = halo_exchange(deg, self.exchange)  # [N_own + N_halo], all >= 1
            dinv = deg_all.pow(-0.5)
            self._gcn[dtype] = (looped, dinv[looped.src] * dinv[looped.dst])  # as ops.gcn_norm on the whole graph
        return self._gcn[dtype]

    def _conv(self, i: int, layer: nn.Module, h: Tensor) -> Tensor:
        """``layer`` on this part's block: the owned rows ``h`` plus their exchanged halo → owned outputs."""
        x_src = torch.cat([h, self._halo(i, h)])  # [N_own + N_halo, F]
        if isinstance(layer, GCNConv):
            # the layer's own forward rejects bipartite blocks: same maths, global degrees
            g, w = self._gcn_graph(x_src.dtype)
            return layer.propagate(g, x_src, w)
        if isinstance(layer, (SAGEConv, GINConv)):
            return layer(self.graph, x_src)
        raise ValueError(f"unsupported layer {type(layer).__name__}")

    def _halo(self, i: int, h: Tensor) -> Tensor:
        # the first layer's input is constant when it is not dropped out: fetch its halo once
        static = i == 0 and not h.requires_grad and not (self.training and self.model.config.dropout > 0)
        if not static:
            return self.exchange(h)
        key = (h.data_ptr(), h._version, tuple(h.shape), h.dtype)
        if self._input_halo is None or self._input_halo[0] != key:
            self._input_halo = (key, self.exchange(h))
        return self._input_halo[1]

    def forward(self, x: Tensor) -> Tensor:
        # GNN's own loop; each owner drops out its rows before the exchange, so halos are copies
        return self.model.apply_layers(x, self._conv)


# ------------------------------------------------------------ parameters
def broadcast_parameters(module: nn.Module, src: int = 0, group=None) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank (one broadcast per tensor)."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            _collective(dist.broadcast, t.data, src, group=group)


def sync_gradients(params: Iterable[nn.Parameter], group=None) -> None:
    """Sum every parameter's gradient over the ranks with one ``all_reduce``.

    A missing gradient counts as zero (and is created), so every rank reduces the same
    buffer layout. With a loss that each rank divides by the *global* number of labelled
    vertices, the sum is the single-process gradient.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])  # [sum of sizes]
    _collective(dist.all_reduce, flat, group=group)
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset:offset + p.numel()].view_as(p.grad))
        offset += p.numel()


def all_reduce_sum(values: list[float] | Tensor, group=None) -> Tensor:
    """Sum a few numbers over the ranks (float64), e.g. loss sums and correct counts."""
    t = torch.as_tensor(values, dtype=torch.float64).clone()
    _collective(dist.all_reduce, t, group=group)
    return t


def parameters_in_sync(module: nn.Module, group=None) -> bool:
    """Whether every rank holds bitwise the same parameters (compares float64 checksums)."""
    with torch.no_grad():
        sums = torch.stack([p.detach().double().sum() for p in module.parameters()] or [torch.zeros((), dtype=torch.float64)])
    world = dist.get_world_size(group)
    every = [torch.zeros_like(sums) for _ in range(world)]
    _collective(dist.all_gather, every, sums, group=group)
    return all(torch.equal(every[0], e) for e in every[1:])


# ----------------------------------------------------- resume and verification
def broadcast_object(obj: object, src: int = 0, group=None) -> object:
    """Rank ``src``'s ``obj`` on every rank (pickled: send only states of this run between its own ranks)."""
    box = [obj if dist.get_rank() == src else None]
    _collective(dist.broadcast_object_list, box, src=src, group=group)
    return box[0]


def gather_objects(obj: object, group=None) -> list:
    """Every rank's ``obj``, in rank order, on every rank (pickled: only small notes between this run's ranks)."""
    every = [None] * dist.get_world_size(group)
    _collective(dist.all_gather_object, every, obj, group=group)
    return every


def verify_same_state(epoch: int, digest: str, what: str, group=None) -> None:
    """Check that every rank holds the same epoch and state digest (``gnnkit.checkpoint.state_digest``).

    One ``all_gather`` of ``[epoch, 32 digest bytes]`` per rank.

    Raises:
        ValueError: ``digest`` is not 64 hex digits; or, on every rank, the ranks disagree (the
            message lists each rank's epoch and digest).
        PeerError: the all_gather failed.
    """
    if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise ValueError(f"digest must be a SHA-256 as 64 lowercase hex digits (state_digest), got {digest!r}")
    mine = torch.tensor([epoch, *bytes.fromhex(digest)], dtype=torch.int64)  # [33]
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    _collective(dist.all_gather, every, mine, group=group)
    if any(not torch.equal(every[0], e) for e in every[1:]):
        held = ", ".join(f"rank {r}: epoch {int(e[0])} state {bytes(e[1:9].tolist()).hex()}" for r, e in enumerate(every))
        raise ValueError(f"rank {_rank()}: the ranks hold different states {what} ({held}); "
                         "stopping before any step so that no checkpoint is overwritten")
