"""Per-part directories: each part of a partition written on its own, so a rank reads only its own.

``write_parts`` takes the CSR by destination (row ``v`` lists the in-neighbours of ``v``;
:class:`gnnkit.data.generators.CSRGraph`, :meth:`Graph.csr_in <gnnkit.Graph.csr_in>`), a vertex →
part assignment and optional per-vertex arrays, and writes ``out_dir/part-<p>/`` for every part::

    part-0/manifest.json   format, ids, sizes, user metadata, and per array: file, dtype, shape
    part-0/owned.bin       [N_own] int64 global ids of the owned vertices, ascending
    part-0/halo.bin        [N_halo] int64 global ids of the halo (in-neighbours owned elsewhere),
                           sorted by (owner part, global id)
    part-0/halo_owner.bin  [N_halo] int64 the part owning each halo vertex
    part-0/indptr.bin      [N_own + 1] int64 local CSR of the owned vertices' in-edges
    part-0/indices.bin     [E_own] int64 local source ids: owned 0..N_own-1, then halo
    part-0/edge_ids.bin    [E_own] int64 global edge id (position in the input CSR, or ``eid``)
    part-0/ndata.<key>.bin [N_own, ...] the owned rows of each per-vertex array

Arrays are raw little-endian bytes (``numpy.fromfile``), never pickles. The manifest is
written last and renamed into place, so a directory without one is an unfinished write.
Memory while writing: the CSR (read in chunks) plus ``O(N)`` (one lookup table) plus
``O(chunk_size)``; a part is never held whole. The layout follows DistDGL's
``partition_graph`` (a folder per part with its structure, features and a JSON config) with
halo maps in place of DGL's inner-node flags.

:func:`load_part` reads one directory back into a :class:`~gnnkit.scale.partition.Part`
and its owned rows, checking every array's size, dtype and range first.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from .partition import Part

__all__ = ["PART_FORMAT", "PartFile", "write_parts", "load_part", "part_dir"]

PART_FORMAT = "gnnkit.part/1"
_DTYPES = ("<i8", "<i4", "<f4", "<f8", "<f2", "|b1", "|u1", "|i1")  # what a manifest may name
_CHUNK = 1 << 16  # owned vertices per write step: about 65k x mean degree entries in flight (13 MB at degree 25)


def part_dir(out_dir: str | Path, part_id: int) -> Path:
    """``out_dir/part-<part_id>``: where :func:`write_parts` puts part ``part_id``."""
    return Path(out_dir) / f"part-{part_id}"


@dataclass
class PartFile:
    """One part read back by :func:`load_part`.

    Attributes:
        part: the :class:`~gnnkit.scale.partition.Part` (local block graph without data).
        ndata: owned rows of each per-vertex array, ``[N_own, ...]``.
        num_nodes: vertices of the whole graph. num_edges: its edges. num_parts: ``P``.
        meta: the JSON metadata given to :func:`write_parts`.
    """

    part: Part
    ndata: dict[str, Tensor]
    num_nodes: int
    num_edges: int
    num_parts: int
    meta: dict[str, Any] = field(default_factory=dict)


def _rows(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """CSR positions of the entries of ``rows``, row after row. Shape: ``[sum of their degrees]``."""
    deg = indptr[rows + 1] - indptr[rows]
    return np.repeat(indptr[rows] - np.cumsum(deg) + deg, deg) + np.arange(int(deg.sum()), dtype=np.int64)


def _append(f, a: np.ndarray) -> None:
    a = np.ascontiguousarray(a)
    f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())


def write_parts(indptr: np.ndarray, indices: np.ndarray, assignment: np.ndarray, out_dir: str | Path,
                num_parts: int | None = None, ndata: dict[str, np.ndarray] | None = None,
                meta: dict[str, Any] | None = None, eid: np.ndarray | None = None,
                chunk_size: int = _CHUNK) -> list[Path]:
    """Write every part of ``assignment`` to its own directory ``out_dir/part-<p>``.

    Args:
        indptr: ``[N + 1]`` int64 CSR offsets by destination (a ``np.memmap`` works).
        indices: ``[E]`` int64 or int32 in-neighbour ids (a ``np.memmap`` works).
        assignment: ``[N]`` int part of each vertex.
        out_dir: parent folder (created).
        num_parts: ``P`` (default ``assignment.max() + 1``); every part must own a vertex.
        ndata: per-vertex arrays ``[N, ...]`` (numpy, ``np.memmap``, CPU tensors, or any object
            with ``shape``, ``dtype`` and row indexing by an id array, such as
            :meth:`gnnkit.data.OnDiskGraph.node_data`'s ``"x"``); each part gets its owned rows.
        meta: JSON-serialisable metadata copied into every manifest (e.g. ``num_classes``).
        eid: ``[E]`` the graph's edge id of each CSR entry (``Graph.csr_in().eid``); default the
            CSR position.
        chunk_size: owned vertices handled per step.

    Returns:
        The part directories, in part order.

    Raises:
        ValueError: shapes that disagree, assignment values outside ``[0, P)``, an empty part,
            metadata that is not JSON.
    """
    n = indptr.size - 1
    a = np.asarray(assignment.numpy() if isinstance(assignment, Tensor) else assignment).astype(np.int64, copy=False)
    if a.shape != (n,):
        raise ValueError(f"assignment must have shape [num_nodes={n}], got {a.shape}")
    if indices.size != int(indptr[-1]):
        raise ValueError(f"indices must have indptr[-1]={int(indptr[-1])} entries, got {indices.size}")
    if eid is not None and np.shape(eid) != (indices.size,):
        raise ValueError(f"eid must have shape [num_edges={indices.size}], got {np.shape(eid)}")
    num_parts = int(a.max()) + 1 if num_parts is None else int(num_parts)
    if n and (int(a.min()) < 0 or int(a.max()) >= num_parts):
        raise ValueError(f"assignment must lie in [0, num_parts={num_parts}), got [{int(a.min())}, {int(a.max())}]")
    sizes = np.bincount(a, minlength=num_parts)
    if (sizes == 0).any():
        raise ValueError(f"every part must own a vertex; parts {np.flatnonzero(sizes == 0).tolist()} are empty")
    ndata = {k: (v.numpy() if isinstance(v, Tensor) else v) for k, v in (ndata or {}).items()}
    for k, v in ndata.items():
        if v.shape[:1] != (n,):
            raise ValueError(f"ndata[{k!r}] must have one row per vertex ({n}), got shape {v.shape}")
    try:
        meta_json = json.loads(json.dumps(meta or {}))
    except TypeError as exc:
        raise ValueError(f"meta must be JSON-serialisable: {exc}") from exc
    lookup = np.full(n, -1, dtype=np.int64)  # global -> local id of the part being written
    is_halo = np.zeros(n, dtype=bool)
    out = []
    for p in range(num_parts):
        d = part_dir(out_dir, p)
        d.mkdir(parents=True, exist_ok=True)
        manifest = d / "manifest.json"
        if manifest.exists():
            manifest.unlink()  # the directory is unfinished until the new manifest lands
        owned = np.flatnonzero(a == p)  # [N_own] ascending
        for a0 in range(0, owned.size, chunk_size):  # pass 1: which in-neighbours live elsewhere
            nb = indices[_rows(indptr, owned[a0:a0 + chunk_size])]
            is_halo[nb[a[nb] != p]] = True
        halo = np.flatnonzero(is_halo)
        halo = halo[np.argsort(a[halo], kind="stable")]  # by (owner, id): one slice per owner
        lookup[owned] = np.arange(owned.size)
        lookup[halo] = owned.size + np.arange(halo.size)
        deg = (indptr[owned + 1] - indptr[owned]).astype(np.int64)
        local_ptr = np.zeros(owned.size + 1, dtype=np.int64)
        np.cumsum(deg, out=local_ptr[1:])
        arrays = {"owned": owned, "halo": halo, "halo_owner": a[halo], "indptr": local_ptr}
        specs = {k: {"file": f"{k}.bin", "dtype": "<i8", "shape": [int(v.size)]} for k, v in arrays.items()}
        for k, v in arrays.items():
            with open(d / specs[k]["file"], "wb") as f:
                _append(f, v.astype(np.int64, copy=False))
        with open(d / "indices.bin", "wb") as fi, open(d / "edge_ids.bin", "wb") as fe:
            for a0 in range(0, owned.size, chunk_size):  # pass 2: local sources and edge ids
                pos = _rows(indptr, owned[a0:a0 + chunk_size])
                fi.write(lookup[indices[pos]].astype("<i8").tobytes())
                fe.write((pos if eid is None else np.asarray(eid)[pos]).astype("<i8").tobytes())
        e_own = int(local_ptr[-1])
        specs["indices"] = {"file": "indices.bin", "dtype": "<i8", "shape": [e_own]}
        specs["edge_ids"] = {"file": "edge_ids.bin", "dtype": "<i8", "shape": [e_own]}
        for k, v in ndata.items():
            dt = np.dtype(v.dtype).newbyteorder("<") if np.dtype(v.dtype).byteorder not in ("|",) else np.dtype(v.dtype)
            name = f"ndata.{k}"
            with open(d / f"{name}.bin", "wb") as f:
                for a0 in range(0, owned.size, chunk_size):
                    f.write(np.ascontiguousarray(v[owned[a0:a0 + chunk_size]]).astype(dt).tobytes())
            specs[name] = {"file": f"{name}.bin", "dtype": dt.str, "shape": [int(owned.size), *map(int, v.shape[1:])]}
        lookup[owned] = -1
        lookup[halo] = -1
        is_halo[halo] = False
        doc = {"format": PART_FORMAT, "part_id": p, "num_parts": num_parts, "num_nodes": n,
               "num_edges": int(indices.size), "meta": meta_json, "arrays": specs}
        tmp = d / "manifest.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, manifest)
        out.append(d)
    return out


# ------------------------------------------------------------------- reading
def _read_array(d: Path, name: str, spec: Any) -> np.ndarray:
    if not (isinstance(spec, dict) and isinstance(spec.get("file"), str) and isinstance(spec.get("shape"), list)
            and spec.get("dtype") in _DTYPES and all(isinstance(s, int) and s >= 0 for s in spec["shape"])):
        raise ValueError(f"part {d}: manifest entry for {name!r} must give file, a dtype in {_DTYPES} and a shape "
                         f"of ints >= 0, got {spec!r}")
    f = d / spec["file"]
    if Path(spec["file"]).name != spec["file"]:
        raise ValueError(f"part {d}: array file names must stay inside the part directory, got {spec['file']!r}")
    dt = np.dtype(spec["dtype"])
    want = int(np.prod(spec["shape"], dtype=np.int64)) * dt.itemsize
    have = f.stat().st_size if f.is_file() else -1
    if have != want:
        raise ValueError(f"part {d}: {f.name} must hold {want} bytes ({name}: {spec['dtype']} {spec['shape']}), "
                         f"got {'no file' if have < 0 else f'{have} bytes'}; the part is damaged or unfinished")
    return np.fromfile(f, dtype=dt).reshape(spec["shape"]).astype(dt.newbyteorder("="), copy=False)


def load_part(path: str | Path) -> PartFile:
    """Read one part directory written by :func:`write_parts` (raw arrays and JSON; nothing is unpickled).

    Args:
        path: the part directory (``out_dir/part-<p>``).

    Returns:
        A :class:`PartFile`.

    Raises:
        FileNotFoundError: no ``manifest.json`` in ``path`` (missing or unfinished part).
        ValueError: a manifest of another format or with missing fields, an array file whose size
            does not match its manifest entry, ids out of range, an ``indptr`` that is not a CSR.
    """
    d = Path(path)
    manifest = d / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"part {d}: no manifest.json (not a part directory, or its write did not finish)")
    try:
        doc = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"part {d}: manifest.json is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != PART_FORMAT:
        raise ValueError(f"part {d}: manifest format must be {PART_FORMAT!r}, got "
                         f"{doc.get('format') if isinstance(doc, dict) else type(doc).__name__!r}")
    ints = ("part_id", "num_parts", "num_nodes", "num_edges")
    bad = [k for k in ints if not isinstance(doc.get(k), int) or isinstance(doc.get(k), bool) or doc[k] < 0]
    if bad or not isinstance(doc.get("arrays"), dict) or not isinstance(doc.get("meta", {}), dict):
        raise ValueError(f"part {d}: manifest needs ints >= 0 {list(ints)} (bad: {bad}), an 'arrays' and a 'meta' dict")
    p, num_parts, n = doc["part_id"], doc["num_parts"], doc["num_nodes"]
    if not p < num_parts:
        raise ValueError(f"part {d}: part_id must lie in [0, num_parts={num_parts}), got {p}")
    specs = doc["arrays"]
    need = ("owned", "halo", "halo_owner", "indptr", "indices", "edge_ids")
    missing = [k for k in need if k not in specs]
    if missing:
        raise ValueError(f"part {d}: manifest lacks the arrays {missing}")
    arr = {k: _read_array(d, k, specs[k]) for k in need}
    if any(arr[k].dtype != np.int64 or arr[k].ndim != 1 for k in need):
        raise ValueError(f"part {d}: structure arrays {list(need)} must be 1-d int64")
    owned, halo, halo_owner, ptr, idx = (arr[k] for k in need[:5])
    n_own, n_halo = owned.size, halo.size
    problems = []
    if n_own == 0 or owned.min() < 0 or owned.max() >= n or (np.diff(owned) <= 0).any():
        problems.append(f"owned must be non-empty, ascending and in [0, {n})")
    if n_halo and (halo.min() < 0 or halo.max() >= n):
        problems.append(f"halo ids must lie in [0, {n})")
    if halo_owner.size != n_halo or (n_halo and (halo_owner.min() < 0 or halo_owner.max() >= num_parts
                                                 or (halo_owner == p).any() or (np.diff(halo_owner) < 0).any())):
        problems.append(f"halo_owner must be non-decreasing parts in [0, {num_parts}) other than {p}, one per halo vertex")
    if ptr.size != n_own + 1 or ptr[0] != 0 or (np.diff(ptr) < 0).any() or ptr[-1] != idx.size:
        problems.append(f"indptr must be a CSR offset array of {n_own + 1} entries from 0 to {idx.size}")
    if idx.size and (idx.min() < 0 or idx.max() >= n_own + n_halo):
        problems.append(f"indices must lie in [0, N_own + N_halo = {n_own + n_halo})")
    if arr["edge_ids"].size != idx.size:
        problems.append("edge_ids must have one entry per edge")
    if problems:
        raise ValueError(f"part {d}: " + "; ".join(problems))
    ndata = {}
    for name, spec in specs.items():
        if name.startswith("ndata."):
            v = _read_array(d, name, spec)
            if v.shape[:1] != (n_own,):
                raise ValueError(f"part {d}: {name} must have {n_own} rows, got shape {v.shape}")
            ndata[name[len("ndata."):]] = torch.from_numpy(v)
    src = torch.from_numpy(idx)
    dst = torch.repeat_interleave(torch.arange(n_own), torch.from_numpy(np.diff(ptr)))  # [E_own]
    g = Graph.block(src, dst, n_own, n_own + n_halo, _validate=False)  # ranges checked above
    part = Part(p, torch.from_numpy(owned), torch.from_numpy(halo), torch.from_numpy(halo_owner), g,
                torch.from_numpy(arr["edge_ids"]))
    return PartFile(part, ndata, n, doc["num_edges"], num_parts, doc.get("meta", {}))
