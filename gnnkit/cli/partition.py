"""Partition a dataset or an edge list into N parts, write one file per part and print the edge cut.

The parts come from :func:`gnnkit.scale.partition.partition`. ``--out DIR`` receives one
folder per part, ``part-<p>/`` (:func:`gnnkit.scale.part_files.write_parts`: owned and halo
vertex ids, the halo's owners, the part's in-edges in local ids, the owned rows of the node
data, a JSON manifest; read back with ``gnnkit.scale.part_files.load_part``), so each machine
needs only its own, and ``partitioning.pt`` (the ``[N]`` assignment, method, edge cut). The printed summary gives
the sizes, the edge cut and the balance (largest part over the mean).

``--layout DIR`` partitions an on-disk layout (``gnnkit convert``) straight from its memory map,
without building a graph: ``fennel``, ``ldg``, ``random`` or ``contiguous``
(:func:`gnnkit.scale.partition.csr_assignment`), memory ``O(N)`` plus one chunk of rows, and the
same parts as partitioning the in-memory graph with that method and seed.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .argtypes import positive_int

__all__ = ["add_parser", "run", "partition_layout"]

_EXAMPLES = """examples:
  gnnkit partition --dataset cora --parts 4 --out parts/cora
  gnnkit partition --edges graph.txt --num-nodes 1000 --parts 8 --method random --out parts/g
  gnnkit partition --layout layouts/powerlaw --parts 4 --method fennel --out parts/powerlaw
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``partition`` subcommand to ``subparsers`` and return its parser."""
    from ..scale.partition import METHODS

    p = subparsers.add_parser("partition", help="partition a dataset or edge list into N parts and write them",
                              description=__doc__.split("\n\n")[1].replace("``", "'"), epilog=_EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="cora", help="a dataset gnnkit train reads (default: cora)")
    p.add_argument("--data-dir", type=Path, help="directory with the dataset's files (as for gnnkit train)")
    p.add_argument("--edges", type=Path, help="an edge list instead of --dataset: one 'src dst' line per edge "
                                              "(0-based ids, '#' comments); needs --num-nodes")
    p.add_argument("--num-nodes", type=positive_int, help="vertices of the --edges graph")
    p.add_argument("--layout", type=Path, help="an on-disk layout (gnnkit convert) instead of --dataset, partitioned "
                                               "from its memory map (--method fennel, ldg, random or contiguous)")
    p.add_argument("--parts", type=positive_int, required=False, default=2, help="number of parts (default 2)")
    p.add_argument("--method", choices=METHODS, default="metis", help="partitioning method (default: metis)")
    p.add_argument("--balance-edges", action="store_true", help="balance vertices plus owned edges per part")
    p.add_argument("--seed", type=int, default=0, help="seed of metis and random")
    p.add_argument("--out", type=Path, help="write the parts into this folder (default: only print the summary)")
    return p


def _read_edges(path: Path, num_nodes: int | None):
    """The ``--edges`` file as a Graph over ``num_nodes`` vertices."""
    import numpy as np
    import torch

    from ..data.textfile import read_table
    from ..graph import Graph
    from .loop import UsageError

    if num_nodes is None:
        raise UsageError("--edges needs --num-nodes (the number of vertices is never guessed from the largest id)")
    try:
        table = read_table(path, np.int64, None, "'src dst' lines")
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"--edges: {exc}") from exc
    if table.size == 0:
        table = np.zeros((0, 2), dtype=np.int64)
    if table.shape[1] < 2:
        raise UsageError(f"--edges {path}: expected 'src dst' lines, got {table.shape[1]} column(s)")
    try:
        return Graph(torch.from_numpy(table[:, 0].copy()), torch.from_numpy(table[:, 1].copy()), num_nodes)
    except (ValueError, IndexError) as exc:
        raise UsageError(f"--edges {path} with --num-nodes {num_nodes}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Partition, print the summary and (with ``--out``) write the parts; returns 0.

    Raises:
        UsageError: an unknown dataset or unreadable edge list, ``--parts`` above the vertex count,
            a method whose package is missing.
    """
    from ..checkpoint import atomic_save
    from ..data import load_dataset
    from ..scale.part_files import write_parts
    from ..scale.partition import partition
    from .loop import UsageError

    if args.layout is not None:
        if args.edges is not None or args.num_nodes is not None or args.balance_edges:
            raise UsageError("--layout takes no --edges, --num-nodes or --balance-edges")
        return _run_layout(args)
    if args.edges is not None:
        g, name = _read_edges(args.edges, args.num_nodes), str(args.edges)
    else:
        if args.num_nodes is not None:
            raise UsageError("--num-nodes applies to --edges only")
        try:
            data = load_dataset(args.dataset, root=args.data_dir)
        except (ValueError, FileNotFoundError) as exc:
            raise UsageError(f"--dataset {args.dataset!r}: {exc}") from exc
        if data.task == "graph":
            raise UsageError(f"--dataset {args.dataset!r} holds many graphs; partition needs one graph")
        g, name = data.graph, args.dataset
    try:
        parts = partition(g, args.parts, method=args.method, seed=args.seed, reorder=False,
                          balance_edges=args.balance_edges)
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--parts {args.parts} --method {args.method}: {exc}") from exc
    print(f"{name}: " + parts.summary())
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        csr = g.csr_in()
        write_parts(csr.indptr.numpy(), csr.indices.numpy(), parts.assignment.numpy(), args.out, parts.num_parts,
                    ndata=dict(g.ndata), meta={"graph": name, "method": parts.method},
                    eid=None if csr.eid is None else csr.eid.numpy())
        atomic_save({"assignment": parts.assignment, "method": parts.method, "edge_cut": parts.edge_cut,
                     "num_parts": parts.num_parts}, args.out / "partitioning.pt")
        print(f"wrote {parts.num_parts} parts to {args.out}")
    return 0


def partition_layout(layout: Any, num_parts: int, method: str, seed: int, out_dir: Path | None,
                     meta: dict | None = None) -> tuple[np.ndarray, list[Path]]:
    """Partition an open :class:`~gnnkit.data.OnDiskGraph` from its memory map and write its parts.

    Streams the mapped CSR (:func:`gnnkit.scale.partition.csr_assignment`) and, with
    ``out_dir``, writes ``out_dir/part-<p>`` with :func:`gnnkit.scale.write_parts`, carrying
    the layout's :meth:`~gnnkit.data.OnDiskGraph.node_data` (features read per chunk of rows).
    Used by ``gnnkit partition --layout`` and ``dist_train --prepare --layout``.

    Returns:
        (``[N]`` int64 assignment, part directories or ``[]`` without ``out_dir``).

    Raises:
        ValueError: a method other than fennel/ldg/random/contiguous, ``num_parts`` outside ``[1, N]``.
    """
    from ..scale.part_files import write_parts
    from ..scale.partition import csr_assignment

    indptr, indices = layout.indptr.numpy(), layout.indices.numpy()  # views of the maps, not copies
    assignment = csr_assignment(indptr, indices, num_parts, method, seed=seed)
    if out_dir is None:
        return assignment, []
    return assignment, write_parts(indptr, indices, assignment, out_dir, num_parts, ndata=layout.node_data(),
                                   meta=meta)


def _run_layout(args: argparse.Namespace) -> int:
    from ..checkpoint import atomic_save
    from ..data.ondisk import OnDiskGraph
    from ..scale.streaming import edge_cut_csr
    from .loop import UsageError

    try:
        layout = OnDiskGraph.open(args.layout)
    except (ValueError, FileNotFoundError, OSError) as exc:
        raise UsageError(f"--layout {args.layout}: {exc}") from exc
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    try:
        assignment, _ = partition_layout(layout, args.parts, args.method, args.seed, args.out,
                                         meta={"graph": str(args.layout), "method": args.method})
    except ValueError as exc:
        raise UsageError(f"--layout {args.layout} --parts {args.parts} --method {args.method}: {exc}") from exc
    # chunks of 2^20 entries: the default 2^22 holds ~100 MB of temporaries, more than the partitioner itself
    cut = edge_cut_csr(layout.indptr.numpy(), layout.indices.numpy(), assignment, chunk_size=1 << 20)
    sizes = np.bincount(assignment, minlength=args.parts)
    e = layout.num_edges
    print(f"{args.layout}: {args.parts} parts by {args.method}: {layout.num_nodes} vertices, {e} edges, "
          f"edge cut {cut} ({100.0 * cut / max(e, 1):.1f}% of edges), "
          f"balance {float(sizes.max()) * args.parts / max(layout.num_nodes, 1):.3f} (max part / mean), "
          f"sizes {sizes.tolist()}")
    if args.out is not None:
        atomic_save({"assignment": torch.from_numpy(assignment), "method": args.method, "edge_cut": cut,
                     "num_parts": args.parts}, args.out / "partitioning.pt")
        print(f"wrote {args.parts} parts to {args.out}")
    return 0
