r"""Partition-parallel full-graph node classification: one process per part, under ``torchrun``.

Small graphs are partitioned inside every rank (METIS with a fixed seed gives every rank
the same partitioning; the halo-exchange setup checks it)::

    torchrun --nproc-per-node 2 -m gnnkit.cli.dist_train --dataset cora --model gcn
    gnnkit train --parts 2 --dataset cora --model gcn          # the same, spawned for you

Large graphs are partitioned once, by one process, into per-part files; each rank then
loads only its own part::

    python -m gnnkit.cli.dist_train --prepare --parts 2 --parts-dir parts/ --dataset synthetic \
        --num-nodes 2449029 --num-edges 61859140 --features 64
    python -m gnnkit.cli.dist_train --prepare --parts 2 --parts-dir parts/ --layout layouts/powerlaw \
        --method fennel        # an on-disk layout, streamed from its memory map (no Graph built)
    torchrun --nproc-per-node 2 -m gnnkit.cli.dist_train --parts-dir parts/ --model sage --epochs 5

Rank 0 prints one line per epoch and ``test accuracy: X`` last, as ``gnnkit train`` does;
the model is selected on validation accuracy. With ``--checkpoint`` rank 0 writes model,
optimiser, epoch and selection state after every epoch (:class:`gnnkit.checkpoint.Checkpointer`:
atomic, checksummed, previous file kept) once every rank has shown it holds the same state;
``--resume`` makes rank 0 load it (falling back to the previous file if it is damaged) and
broadcast it, so every rank continues from one state. Dropout masks are seeded by
(seed, epoch, rank), so a resumed run repeats the epochs it would have run.

With ``--checkpoint-dir DIR`` every rank writes its own ``DIR/rank<R>.pt`` on its own node and
rank 0 a ``manifest.json``; ``--resume`` agrees on the newest epoch any rank holds (an
``all_gather``) and its holder broadcasts it, so several machines need no shared filesystem,
and ``torchrun --max-restarts K`` restarts resume where the ranks left off. Parts likewise:
rank ``r`` reads only ``--parts-dir/part-<r>`` (:func:`rank_part`).

A rank that dies or stalls makes the others stop with a :class:`~gnnkit.scale.distributed.PeerError`
message and exit status 1 within ``--timeout`` seconds; a rank that never joins does the same.
A rank whose parent (torchrun's agent) dies exits at once (:func:`exit_with_parent`), and
:func:`launch` names the rank that failed first.
"""
from __future__ import annotations

import argparse
import copy
import ctypes
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from .argtypes import non_negative_float, positive_float, positive_int
from .recipes import DEFAULTS  # the same paper defaults as single-process `gnnkit train`
from ..checkpoint import Checkpointer, CheckpointError, atomic_save, load_checkpoint, state_digest
from ..scale.distributed import (
    SUPPORTED_MODELS,
    HaloExchange,
    PartitionedGNN,
    PeerError,
    all_reduce_sum,
    broadcast_object,
    broadcast_parameters,
    communicating,
    gather_objects,
    init_distributed,
    store_address,
    sync_gradients,
    verify_same_state,
)
from ..graph import Graph
from ..models import GNN, GNNConfig
from ..scale.heartbeat import DEFAULT_HEARTBEAT_TIMEOUT_S, Heartbeat
from ..scale.part_files import load_part, part_dir, write_parts
from ..scale.partition import METHODS, Part, partition, partition_assignment

__all__ = ["PartData", "build_parser", "prepare", "rank_part", "run", "main", "launch", "free_port",
           "exit_with_parent", "first_failure"]

# Set by launch(): a directory where each rank notes that it started and how it ended, so that
# the launcher can name the rank that failed first (torchrun's summary names the last observed).
STATUS_ENV = "GNNKIT_DIST_STATUS_DIR"
PARENT_POLL_S = 0.5  # the watchdog's period: an orphaned rank exits well within 10 s
_RESUME_KEYS = ("dataset", "model", "config", "lr", "weight_decay", "seed", "method", "num_parts", "num_nodes", "dtype")


@dataclass
class PartData:
    """What one rank holds: its part and the owned rows of the node data.

    Shape:
        x ``[N_own, F]``, y ``[N_own]`` int64, masks ``[N_own]`` bool.
    """

    part: Part
    x: Tensor
    y: Tensor
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    num_nodes: int
    num_edges: int
    num_classes: int
    num_parts: int
    method: str
    dataset: str



# -------------------------------------------------------------------- data
def _synthetic(args: argparse.Namespace) -> tuple[str, Graph, Tensor, Tensor, Tensor, Tensor, Tensor, int]:
    """A Chung-Lu power-law graph with random features and feature-determined labels.

    Labels are the arg-max of a fixed random projection of the features, so a model can
    learn them; splits are random 8/2/90 % (ogbn-products' proportions).
    """
    from ..data.generators import chung_lu

    g = chung_lu(args.num_nodes, args.num_edges, seed=args.seed, progress=not args.quiet).to_graph()
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(g.num_nodes, args.features, generator=gen)
    y = (x @ torch.randn(args.features, args.classes, generator=gen)).argmax(1)
    r = torch.rand(g.num_nodes, generator=gen)
    return "synthetic", g, x, y, r < 0.08, (r >= 0.08) & (r < 0.10), r >= 0.10, args.classes


def _load_whole(args: argparse.Namespace):
    if args.dataset == "synthetic":
        return _synthetic(args)
    from ..data import load_dataset

    d = load_dataset(args.dataset, args.data_dir)
    return d.name, d.graph, d.x, d.y, d.train_mask, d.val_mask, d.test_mask, d.num_classes


def _method_name(args: argparse.Namespace) -> str:
    return args.method + (" (edge-balanced)" if args.balance_edges else "")


def _split(args: argparse.Namespace, num_parts: int, only: int | None = None) -> list[PartData]:
    name, g, x, y, tr, va, te, c = _load_whole(args)
    parts = partition(g, num_parts, args.method, seed=args.seed, reorder=False, balance_edges=args.balance_edges)
    out = []
    for p in parts:
        if only is not None and p.part_id != only:
            continue
        o = p.owned
        out.append(PartData(p, x[o].contiguous(), y[o], tr[o], va[o], te[o], g.num_nodes, g.num_edges, c,
                            num_parts, _method_name(args), name))
    return out


_NDATA = ("x", "y", "train_mask", "val_mask", "test_mask")


def prepare(args: argparse.Namespace) -> list[Path]:
    """Partition the dataset once and write one directory per part (``--prepare``); no process group.

    The parts go to ``--parts-dir/part-<p>`` (:func:`gnnkit.scale.part_files.write_parts`: raw
    arrays plus a JSON manifest); copy ``part-<p>`` to the node that runs rank ``p``.
    With ``--method fennel`` or ``ldg`` nothing but the graph's CSR and ``O(N)`` arrays is held
    while partitioning and writing.
    """
    if args.parts_dir is None or args.parts is None:
        raise ValueError("--prepare needs --parts N and --parts-dir DIR")
    if args.layout is not None:
        return _prepare_layout(args)
    t0 = time.perf_counter()
    name, g, x, y, tr, va, te, c = _load_whole(args)
    t1 = time.perf_counter()
    assignment = partition_assignment(g, args.parts, args.method, seed=args.seed, balance_edges=args.balance_edges)
    t2 = time.perf_counter()
    csr = g.csr_in()
    dirs = write_parts(csr.indptr.numpy(), csr.indices.numpy(), assignment.numpy(), args.parts_dir, args.parts,
                       ndata=dict(zip(_NDATA, (x, y, tr, va, te))),
                       meta={"num_classes": int(c), "method": _method_name(args), "dataset": name},
                       eid=None if csr.eid is None else csr.eid.numpy())
    if not args.quiet:
        sizes = torch.bincount(assignment, minlength=args.parts).tolist()
        print(f"loaded {g} in {t1 - t0:.1f} s; partitioned in {t2 - t1:.1f} s ({sizes} vertices per part); "
              f"wrote the parts in {time.perf_counter() - t2:.1f} s", file=sys.stderr)
    return dirs


def _prepare_layout(args: argparse.Namespace) -> list[Path]:
    """``--prepare --layout DIR``: stream the on-disk layout's memory map into parts, never building a Graph.

    Memory: ``O(N)`` (assignment, labels, masks, the writer's lookup table) plus one chunk of
    rows; features are read and upcast per chunk of owned rows.
    """
    from ..data.ondisk import OnDiskGraph
    from .partition import partition_layout

    t0 = time.perf_counter()
    layout = OnDiskGraph.open(args.layout)
    ndata = layout.node_data()
    missing = [k for k in _NDATA if k not in ndata]
    if missing:
        raise ValueError(f"--layout {args.layout}: dist_train needs features, labels and the three splits; "
                         f"the layout lacks {missing}")
    num_classes = int(ndata["y"].max()) + 1 if ndata["y"].size else 0
    t1 = time.perf_counter()
    assignment, dirs = partition_layout(layout, args.parts, args.method, args.seed, args.parts_dir,
                                        meta={"num_classes": num_classes, "method": args.method,
                                              "dataset": layout.path.name})
    if not args.quiet:
        sizes = np.bincount(assignment, minlength=args.parts).tolist()
        print(f"opened {layout} in {t1 - t0:.1f} s; partitioned and wrote {sizes} vertices per part in "
              f"{time.perf_counter() - t1:.1f} s", file=sys.stderr)
    return dirs


def rank_part(parts_dir: Path, rank: int, world_size: int) -> PartData:
    """Read this rank's part ``parts_dir/part-<rank>`` written by :func:`prepare` (raw arrays, no unpickling).

    Each node needs only the parts of its own ranks in its own ``--parts-dir``.

    Raises:
        FileNotFoundError: no part directory for this rank (the message lists what is there).
        ValueError: a damaged part, parts made for another world size, or a part without the
            node data ``prepare`` writes.
    """
    d = part_dir(parts_dir, rank)
    if not (d / "manifest.json").is_file():
        found = sorted(p.name for p in parts_dir.glob("part-*")) if parts_dir.is_dir() else []
        raise FileNotFoundError(
            f"rank {rank}: {d} holds no part (found {found}); write the parts with "
            f"`python -m gnnkit.cli.dist_train --prepare --parts {world_size} --parts-dir DIR ...` and copy "
            f"DIR/part-{rank} into this node's --parts-dir"
        )
    f = load_part(d)
    if f.num_parts != world_size:
        raise ValueError(f"rank {rank}: the part in {d} was made for {f.num_parts} ranks, but world_size is {world_size}")
    missing = [k for k in _NDATA if k not in f.ndata]
    if missing or not isinstance(f.meta.get("num_classes"), int):
        raise ValueError(f"rank {rank}: the part in {d} lacks node data {missing} or meta num_classes; "
                         "write it with dist_train --prepare")
    return PartData(f.part, *(f.ndata[k] for k in _NDATA), f.num_nodes, f.num_edges, f.meta["num_classes"],
                    f.num_parts, str(f.meta.get("method", "")), str(f.meta.get("dataset", "")))


# -------------------------------------------------------------------- args
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gnnkit.cli.dist_train",
                                description="Partition-parallel full-graph training; run under torchrun.")
    p.add_argument("--dataset", default="cora", help="cora (bundled), a Planetoid name with --data-dir, or 'synthetic'")
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--num-nodes", type=positive_int, default=2_449_029, help="synthetic: vertices (ogbn-products')")
    p.add_argument("--num-edges", type=positive_int, default=61_859_140, help="synthetic: edges (ogbn-products')")
    p.add_argument("--features", type=positive_int, default=64, help="synthetic: feature width")
    p.add_argument("--classes", type=positive_int, default=47, help="synthetic: classes")
    p.add_argument("--model", choices=SUPPORTED_MODELS, default="gcn")
    p.add_argument("--hidden", type=positive_int, help="hidden width (model default as gnnkit train)")
    p.add_argument("--layers", type=positive_int, default=2)
    p.add_argument("--dropout", type=float)
    p.add_argument("--lr", type=positive_float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--method", choices=METHODS, default="metis", help="partitioning method")
    p.add_argument("--balance-edges", action="store_true",
                   help="balance vertices + owned edges per part (metis, contiguous), not vertices alone")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parts-dir", type=Path, help="per-part files written by --prepare (else partition in every rank)")
    p.add_argument("--prepare", action="store_true", help="only partition into --parts files in --parts-dir, then exit")
    p.add_argument("--parts", type=positive_int, help="number of parts (with --prepare)")
    p.add_argument("--layout", type=Path,
                   help="with --prepare: partition this on-disk layout (gnnkit convert) from its memory map instead "
                        "of --dataset (--method fennel, ldg, random or contiguous; features, labels and splits needed)")
    p.add_argument("--timeout", type=positive_float, default=300.0,
                   help="seconds any collective (and the rendezvous) may wait before the run fails")
    p.add_argument("--heartbeat-timeout", type=non_negative_float, default=DEFAULT_HEARTBEAT_TIMEOUT_S,
                   help="with 2+ ranks: a rank whose heartbeat (a counter in the rendezvous store, every 1/6 of this) "
                        "stops for this many seconds is reported by id and every other rank exits, even while "
                        "--timeout is long; 0 turns it off")
    p.add_argument("--checkpoint", type=Path, help="rank 0 writes a resumable checkpoint here after every epoch")
    p.add_argument("--checkpoint-dir", type=Path,
                   help="every rank writes its own checkpoint (rank<R>.pt) into this folder on its own node, "
                        "rank 0 also a manifest.json; no shared filesystem needed")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint / --checkpoint-dir if there is one")
    p.add_argument("--save", type=Path, help="write the selected model (state_dict + config) here")
    p.add_argument("--eval-every", type=int, default=1, help="evaluate every K epochs (0: only at the end)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--threads", type=positive_int, help="torch threads per rank (default: cores / local ranks)")
    p.add_argument("--quiet", action="store_true")
    return p


def _hyper_parameters(args: argparse.Namespace) -> dict:
    hp = dict(DEFAULTS[args.model])
    for key in ("hidden", "dropout", "lr", "weight_decay", "epochs"):
        if getattr(args, key) is not None:
            hp[key] = getattr(args, key)
    return hp


# ------------------------------------------------------------------- train
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def _local_loss(logits: Tensor, y: Tensor, mask: Tensor, total: float) -> Tensor:
    """This rank's share of the global mean cross-entropy: its sum over labelled rows / the global count."""
    return F.cross_entropy(logits[mask], y[mask], reduction="sum") / max(total, 1.0)


def _train_digest(model: torch.nn.Module, opt: torch.optim.Optimizer) -> str:
    return state_digest({"model": model.state_dict(), "optimizer": opt.state_dict()})


def _resumed_state(checkpointer: Checkpointer | None, run_id: dict) -> dict | None:
    """Rank 0 loads the checkpoint (falling back to the previous file) and broadcasts it; every rank gets it.

    Returns:
        The checkpoint (``model``, ``optimizer``, ``state``, ``run``); None for a fresh start.

    Raises:
        ValueError: on every rank, when rank 0 found only damaged files or another run's checkpoint.
    """
    found, error = None, None
    if checkpointer is not None:  # rank 0
        try:
            found = checkpointer.load()
        except CheckpointError as exc:
            error = str(exc)
        if found is not None:
            differ = [k for k in _RESUME_KEYS if found.state.get("run", {}).get(k) != run_id[k]]
            if differ:
                error = (f"checkpoint {found.path} was written by another run (different {', '.join(differ)}); "
                         "pass the same arguments or another --checkpoint")
        for problem in found.problems if found is not None and error is None else []:
            print(f"rank 0: {problem}; resuming from {found.path} instead", file=sys.stderr)
        if error is None and found is None:
            print(f"rank 0: no checkpoint at {checkpointer.path}: starting from epoch 1", file=sys.stderr)
        elif error is None:
            print(f"rank 0: resuming from {found.path} after epoch {found.state['state']['epoch']}", file=sys.stderr)
    message = broadcast_object({"error": error, "ckpt": None if error or found is None else found.state})
    if message["error"] is not None:
        raise ValueError(f"rank {dist.get_rank()}: cannot resume: {message['error']}")
    return message["ckpt"]


MANIFEST_FORMAT = "gnnkit.dist-checkpoint/1"


def _write_manifest(folder: Path, epoch: int, digest: str, world_size: int, run_id: dict) -> None:
    """Rank 0's ``manifest.json``: the epoch and state digest every rank verified before saving its file."""
    doc = {"format": MANIFEST_FORMAT, "epoch": epoch, "digest": digest, "world_size": world_size,
           "files": [f"rank{r}.pt" for r in range(world_size)], "run": run_id}
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1, default=str))
    os.replace(tmp, folder / "manifest.json")


def _manifest_epoch(path: Path) -> int | None:
    """The epoch in rank 0's manifest; None when it is missing or unreadable (it is a record, not a source)."""
    try:
        epoch = json.loads(path.read_text()).get("epoch")
    except (OSError, ValueError, AttributeError):
        return None
    return epoch if isinstance(epoch, int) else None


def _resumed_state_per_rank(checkpointer: Checkpointer, run_id: dict, folder: Path) -> dict | None:
    """Every rank reads its own ``rank<R>.pt`` (or the previous file); all resume from the newest epoch any rank holds.

    The state is the same on every rank (verified before each save), so the newest good file
    anywhere serves all: its holder (the lowest such rank) broadcasts it. A rank whose node lost
    its folder, or whose files are damaged, is served by another. Every rank says what it held.

    Returns:
        The checkpoint, or None when no rank holds one (a fresh start).

    Raises:
        ValueError: on every rank, when some rank holds another run's checkpoint.
    """
    rank = dist.get_rank()
    best, notes, error = None, [], None
    for path in (checkpointer.path, checkpointer.previous):
        try:
            found = load_checkpoint(path)
        except FileNotFoundError:
            continue
        except CheckpointError as exc:
            notes.append(str(exc))
            continue
        run = found.get("run", {}) if isinstance(found, dict) else {}
        differ = [k for k in _RESUME_KEYS if run.get(k) != run_id[k]]
        if differ:
            error = (f"checkpoint {path} was written by another run (different {', '.join(differ)}); pass the same "
                     "arguments or another --checkpoint-dir")
            break
        if best is None or found["state"]["epoch"] > best["state"]["epoch"]:
            best = found
    held = (-1 if best is None else int(best["state"]["epoch"]), error)
    every = gather_objects(held)
    errors = [f"rank {r}: {e}" for r, (_, e) in enumerate(every) if e is not None]
    if errors:
        raise ValueError(f"rank {rank}: cannot resume: " + "; ".join(errors))
    for note in notes:
        print(f"rank {rank}: {note}; skipped", file=sys.stderr)
    epochs = [e for e, _ in every]
    target = max(epochs)
    if target < 0:
        if rank == 0:
            print(f"rank 0: no checkpoint in any rank's {folder}: starting from epoch 1", file=sys.stderr)
        return None
    source = epochs.index(target)
    if rank == 0:
        said = _manifest_epoch(folder / "manifest.json")
        lost = f" (rank 0's manifest names epoch {said}: later files were damaged or missing)" \
            if said is not None and said > target else ""
        print(f"rank 0: resuming after epoch {target} from rank {source}'s checkpoint{lost}; epochs held per rank: "
              f"{epochs}", file=sys.stderr)
    return broadcast_object(best if rank == source else None, src=source)


def run(args: argparse.Namespace, rank: int, world_size: int) -> float:
    """Train on this rank's part; every rank of the process group calls it. Returns the test accuracy.

    Raises:
        PeerError: a collective failed (another rank died, stalled or never joined).
        ValueError: a checkpoint of another run, or parts that do not fit the world size.
    """
    hp = _hyper_parameters(args)
    dtype = getattr(torch, args.dtype)
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // local_ranks))
    t_load = time.perf_counter()
    if args.parts_dir is not None:
        data = rank_part(args.parts_dir, rank, world_size)
    else:
        (data,) = _split(args, world_size, only=rank)
    if data.num_parts != world_size:
        raise ValueError(f"rank {rank}: the parts were made for {data.num_parts} ranks, but world_size is {world_size}")
    part, x = data.part, data.x.to(dtype)
    load_s = time.perf_counter() - t_load
    with communicating("setup (halo plan)"):
        exchange = HaloExchange(part, data.num_nodes)
        counts = all_reduce_sum([float(data.train_mask.sum()), float(data.val_mask.sum()), float(data.test_mask.sum())])
    n_train, n_val, n_test = counts.tolist()

    torch.manual_seed(args.seed)
    config = GNNConfig(model=args.model, in_features=x.shape[1], out_features=data.num_classes,
                       hidden_features=hp["hidden"], num_layers=args.layers, dropout=hp["dropout"],
                       activation=hp["activation"])
    model = GNN(config).to(dtype)
    with communicating("setup (parameter broadcast)"):
        broadcast_parameters(model)
    net = PartitionedGNN(model, part, exchange)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    state = {"epoch": 0, "best_val_acc": -1.0, "selected_val_loss": float("inf"),
             "best_model": copy.deepcopy(model.state_dict())}
    run_id = {"dataset": data.dataset, "model": args.model, "config": config.to_dict(), "lr": hp["lr"],
              "weight_decay": hp["weight_decay"], "seed": args.seed, "method": data.method, "num_parts": world_size,
              "num_nodes": data.num_nodes, "dtype": args.dtype}
    # --checkpoint: only rank 0 touches the file, one source of truth whatever the other ranks can see;
    # --checkpoint-dir: every rank keeps its own copy on its own node, and the ranks agree on one at resume
    if args.checkpoint_dir is not None:
        checkpointer = Checkpointer(args.checkpoint_dir / f"rank{rank}.pt")
    else:
        checkpointer = Checkpointer(args.checkpoint) if args.checkpoint is not None and rank == 0 else None
    if args.resume:
        with communicating("resume (checkpoint agreement)"):
            if args.checkpoint_dir is not None:
                ckpt = _resumed_state_per_rank(checkpointer, run_id, args.checkpoint_dir)
            else:
                ckpt = _resumed_state(checkpointer, run_id)
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            state = ckpt["state"]
    with communicating("setup (state check)"):
        verify_same_state(state["epoch"], _train_digest(model, opt), "before training")

    def evaluate() -> tuple[float, float, float]:
        net.eval()
        with torch.no_grad():
            logits = net(x)
            pred = logits.argmax(1) == data.y
            val_loss = F.cross_entropy(logits[data.val_mask], data.y[data.val_mask], reduction="sum")
            sums = all_reduce_sum([float(pred[data.val_mask].sum()), float(pred[data.test_mask].sum()), float(val_loss)])
        return sums[0].item() / max(n_val, 1), sums[1].item() / max(n_test, 1), sums[2].item() / max(n_val, 1)

    epochs = hp["epochs"]
    lead = rank == 0 and not args.quiet
    if lead:
        print(f"rank 0: {world_size} ranks, {data.num_nodes} vertices, {data.num_edges} edges; part 0 owns "
              f"{part.num_owned} vertices, {part.num_edges} edges, {part.num_halo} halo; sends "
              f"{exchange.rows_sent} rows per exchange", file=sys.stderr)
    bar = tqdm(range(state["epoch"], epochs), initial=state["epoch"], total=epochs, disable=not lead,
               desc=f"{args.model} on {data.dataset} x{world_size}", unit="epoch", file=sys.stderr)
    times, comm = [], []
    for epoch in bar:
        torch.manual_seed(args.seed * 1_000_003 + epoch * 4099 + rank)  # dropout: fresh per epoch and rank, resumable
        t0, c0 = time.perf_counter(), exchange.seconds
        with communicating(f"epoch {epoch + 1} training"):
            net.train()
            opt.zero_grad(set_to_none=False)
            loss = _local_loss(net(x), data.y, data.train_mask, n_train)
            loss.backward()
            sync_gradients(model.parameters())
            opt.step()
            loss_sum = all_reduce_sum([loss.item()]).item()
        times.append(time.perf_counter() - t0)
        comm.append(exchange.seconds - c0)
        state["epoch"] = epoch + 1
        last = epoch + 1 == epochs
        if (args.eval_every and (epoch + 1) % args.eval_every == 0) or last:
            with communicating(f"epoch {epoch + 1} evaluation"):
                val_acc, _, val_loss = evaluate()
            if val_acc > state["best_val_acc"] or (val_acc == state["best_val_acc"] and val_loss < state["selected_val_loss"]):
                state.update(best_val_acc=val_acc, selected_val_loss=val_loss, best_model=copy.deepcopy(model.state_dict()))
            if lead:
                tqdm.write(f"epoch {epoch + 1:4d} | loss {loss_sum:.4f} | val loss {val_loss:.4f} | val acc {val_acc:.4f} "
                           f"| {times[-1]:.3f} s", file=sys.stderr)
        elif lead:
            tqdm.write(f"epoch {epoch + 1:4d} | loss {loss_sum:.4f} | {times[-1]:.3f} s", file=sys.stderr)
        if args.checkpoint is not None or args.checkpoint_dir is not None:
            # write only a state that every rank holds: a rank out of step never reaches the file
            digest = _train_digest(model, opt)
            with communicating(f"epoch {epoch + 1} checkpoint check"):
                verify_same_state(state["epoch"], digest, f"after epoch {epoch + 1}")
            if checkpointer is not None:
                checkpointer.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state,
                                   "run": run_id})
            if args.checkpoint_dir is not None and rank == 0:
                _write_manifest(args.checkpoint_dir, state["epoch"], digest, world_size, run_id)
    bar.close()

    model.load_state_dict(state["best_model"])
    with communicating("final evaluation"):
        _, test_acc, _ = evaluate()
        steady, steady_comm = times[1:] or times, comm[1:] or comm
        mean_comm = sum(steady_comm) / max(len(steady_comm), 1)
        per_rank = torch.zeros(2, world_size, dtype=torch.float64)
        per_rank[:, rank] = torch.tensor([_peak_rss_mb(), mean_comm])
        rss, waits = all_reduce_sum(per_rank).tolist()
    if rank == 0 and args.save is not None:
        atomic_save({"model": model.state_dict(), "config": config.to_dict()}, args.save)
    if lead:
        if steady:
            print(f"train epoch time: mean {sum(steady) / len(steady):.3f} s over {len(steady)} epochs "
                  f"(first: {times[0]:.3f} s); load {load_s:.1f} s", file=sys.stderr)
        print("halo all_to_all per epoch, waiting for slower ranks included (s): "
              + ", ".join(f"{w:.3f}" for w in waits), file=sys.stderr)
        print("peak RSS per rank (MB): " + ", ".join(f"{r:.0f}" for r in rss), file=sys.stderr)
    return test_acc


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gnnkit.cli.dist_train``; returns the exit status.

    Exit status 1 with a ``rank R: ...`` message on stderr when a peer fails or times out.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.prepare:
        try:
            for path in prepare(args):
                print(path)
        except (ValueError, FileNotFoundError) as exc:
            parser.error(str(exc))
        return 0
    if args.checkpoint is not None and args.checkpoint_dir is not None:
        parser.error("give --checkpoint PATH (rank 0 writes one file) or --checkpoint-dir DIR (a file per rank), not both")
    if args.resume and args.checkpoint is None and args.checkpoint_dir is None:
        parser.error("--resume needs --checkpoint PATH or --checkpoint-dir DIR")
    rank = int(os.environ.get("RANK", 0))
    exit_with_parent()
    _note_status(rank, "started")
    _note_when_stopped(rank)
    heartbeat = None
    try:
        rank, world = init_distributed("gloo", timeout_s=args.timeout)
        if world > 1 and args.heartbeat_timeout > 0:  # one process has no peer to lose
            heartbeat = Heartbeat(*store_address(), rank, world, timeout_s=args.heartbeat_timeout,
                                  on_silence=_silent_peer).start()
        acc = run(args, rank, world)
        if heartbeat is not None:
            # every rank stops beating before the barrier, so none outlives a peer's heartbeat and
            # takes a finished rank for a lost one
            heartbeat.stop()
            with communicating("the final barrier"):
                all_reduce_sum([0.0])  # a barrier through the wrapped collectives (a failure is a PeerError)
    except (PeerError, ValueError, FileNotFoundError) as exc:
        print(f"gnnkit.cli.dist_train: {exc}", file=sys.stderr, flush=True)
        _note_status(rank, "peer" if isinstance(exc, PeerError) else "error", str(exc))
        # skip destroy_process_group: after a peer failure it can block on the dead connection
        os._exit(1)
    if rank == 0:
        print(f"test accuracy: {acc:.4f}", flush=True)
    _note_status(rank, "done")
    dist.destroy_process_group()
    return 0


def _silent_peer(message: str) -> None:
    """The heartbeat's verdict (on its thread): report as a failed collective would, then exit at once."""
    print(f"gnnkit.cli.dist_train: {message}", file=sys.stderr, flush=True)
    _note_status(int(os.environ.get("RANK", 0)), "peer", message)
    os._exit(1)  # the main thread may wait inside a collective for up to --timeout


def exit_with_parent(poll_s: float = PARENT_POLL_S) -> None:
    """End this process when its parent (torchrun's agent, or the launcher) dies.

    An orphaned rank would go on training and writing the checkpoint beside a resumed run.
    On Linux the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``),
    which works even while this rank waits inside a C call; elsewhere, and as a second
    guard, a daemon thread polls ``os.getppid()`` every ``poll_s`` seconds and exits with
    status 1 and a message.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG (linux/prctl.h)
        except (OSError, AttributeError):  # no prctl in this libc: the watchdog still runs
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        print(f"rank {os.environ.get('RANK', '?')}: the launcher (pid {parent}) died; exiting so that no orphan "
              "trains on or writes the checkpoint", file=sys.stderr, flush=True)
        os._exit(1)

    threading.Thread(target=watch, name="gnnkit-parent-watchdog", daemon=True).start()


def _note_status(rank: int, kind: str, message: str = "") -> None:
    """Leave ``rank<R>.<kind>`` (time, message) in launch()'s status directory, if there is one."""
    folder = os.environ.get(STATUS_ENV)
    if folder:
        Path(folder, f"rank{rank}.{kind}").write_text(f"{time.time()}\n{message}")


def _note_when_stopped(rank: int) -> None:
    """On SIGTERM (torchrun's agent stopping the ranks after one failed) leave a ``stopped`` note, then die by it.

    Without it a rank stopped by the agent before it noticed the dead peer would end as silently
    as the rank that was killed, and :func:`first_failure` could not tell the two apart.
    """
    def on_sigterm(signum: int, frame) -> None:
        _note_status(rank, "stopped", "stopped by the launcher after another rank failed")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)


def first_failure(folder: Path, num_ranks: int) -> str | None:
    """Name the rank that failed first, from the notes of :func:`_note_status`; None if every rank finished.

    A rank's own error (not a :class:`PeerError`) comes first, earliest first: ranks that
    torchrun then stops end without a note. Otherwise a rank that ended without a note (killed
    by a signal, or a crash in native code) caused its peers' communication errors.
    """
    def note(rank: int, kind: str) -> tuple[float, str] | None:
        path = folder / f"rank{rank}.{kind}"
        if not path.is_file():
            return None
        when, _, message = path.read_text().partition("\n")
        return float(when), message

    ranks = range(num_ranks)
    errors = sorted((n[0], r, n[1]) for r in ranks if (n := note(r, "error")) is not None)
    if errors:
        _, r, message = errors[0]
        return f"rank {r} failed first: {message}"
    silent = [r for r in ranks if not any(note(r, k) for k in ("done", "error", "peer", "stopped"))]
    if silent:
        return (f"rank {silent[0]} failed first: it ended without a message (killed by a signal, or a crash in "
                "native code); the other ranks stopped because of it")
    peers = sorted((n[0], r, n[1]) for r in ranks if (n := note(r, "peer")) is not None)
    if peers:
        _, r, message = peers[0]
        return f"rank {r} failed first: {message}"
    return None


# ------------------------------------------------------------------ launch
def free_port() -> int:
    """A TCP port that was free a moment ago (for ``MASTER_PORT``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(num_parts: int, argv: list[str], timeout_s: float | None = None, stdout=None, stderr=None) -> int:
    """Run ``torchrun --standalone --nproc-per-node num_parts -m gnnkit.cli.dist_train *argv``; return its status.

    torchrun rather than ``torch.multiprocessing.spawn``: it is the documented launcher
    for one node and many, picks a free rendezvous port (``--standalone``), and its agent
    stops every worker as soon as one fails, so no rank is left waiting.

    After a failed run it prints ``gnnkit train: rank R failed first: ...`` on stderr (from the
    ranks' notes, see :func:`first_failure`), or, if the agent itself was killed, says so.

    Args:
        num_parts: ranks to start. argv: arguments of ``gnnkit.cli.dist_train``.
        timeout_s: kill torchrun after this long (``subprocess.TimeoutExpired``); None: no limit.
        stdout, stderr: where the ranks' output goes (as for ``subprocess.run``); default: inherited.

    Returns:
        torchrun's exit status; 128 + the signal number when the agent was killed by a signal.

    Raises:
        ValueError: ``num_parts < 1``.
    """
    if num_parts < 1:
        raise ValueError(f"num_parts must be >= 1, got {num_parts}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={num_parts}",
           "-m", "gnnkit.cli.dist_train", *argv]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // num_parts)))  # silences torchrun's warning
    with tempfile.TemporaryDirectory(prefix="gnnkit-ranks-") as folder:
        env[STATUS_ENV] = folder
        # the agent gets SIGTERM if this process dies, and then stops its workers itself
        agent = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr, preexec_fn=_term_with_parent)
        try:
            status = agent.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
            raise
        if status < 0:  # the agent itself was killed; its workers follow it (exit_with_parent)
            name = signal.Signals(-status).name
            print(f"gnnkit train: the torchrun agent (pid {agent.pid}) was killed by {name}; its ranks exit on their "
                  "own within seconds. Resume with --resume from the last checkpoint.", file=sys.stderr, flush=True)
            return 128 - status
        failed = first_failure(Path(folder), num_parts) if status != 0 else None
        if failed is not None:
            print(f"gnnkit train: {failed}", file=sys.stderr, flush=True)
    return status


def _term_with_parent() -> None:
    """``preexec_fn`` of the agent: SIGTERM when the launching thread dies (Linux; a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


if __name__ == "__main__":
    sys.exit(main())
