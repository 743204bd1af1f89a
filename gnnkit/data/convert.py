r"""Build an on-disk layout (:mod:`gnnkit.data.ondisk`) in bounded memory: an external bucketed sort.

Sources:

* an edge-list folder (:mod:`gnnkit.data.edgelist`'s files): ``edges.txt`` (``src dst [weight]``
  lines; weights are not kept), ``edges.npy`` (``[E, 2]``), or ``edges/`` holding ``*.npy`` chunks
  (``[m, 2]`` each, in name order); with ``features.npy`` ``[N, F]``, ``labels.npy`` ``[N]`` and
  ``split.npz`` beside them, read through memory maps;
* an OGB node-property dataset folder (``raw/edge.csv.gz`` or ``raw/data.npz``, ``node-feat``,
  ``node-label``, ``split/``), inverse edges added as :func:`gnnkit.data.ogb.load_ogb_node` adds them;
* a :class:`GeneratorSpec`: :func:`generate` writes a power-law edge-list folder chunk by chunk,
  which is then converted like any other.

The CSR is by destination (row ``v`` lists ``v``'s in-neighbours, as the neighbour sampler
reads it). Three passes over the edge chunks:

1. count the in-degree of every destination (``[N]`` int64), which gives ``indptr`` and cuts
   the vertices into buckets of at most ``bucket_edges`` edges (a hub row stands alone);
2. scatter every chunk into per-bucket files (``src`` and the destination's offset in its
   bucket), in input order;
3. load each bucket, sort it by destination (stable: a row keeps the edges' input order, as
   :meth:`Graph.csr_in`), append its sources to ``indices`` and delete the bucket's files.

Memory: ``O(N)`` degree and pointer tables plus one chunk plus one bucket, never ``O(E)``.
Disk: the layout plus, at most, the bucket files (the edges once more in the index dtype).
"""
from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from ..graph.checks import read_npz
from .generators import _row_blocks, chung_lu_edge_chunks
from .ondisk import FEATURE_DTYPES, OnDiskGraph, index_dtype, write_header

__all__ = ["convert", "generate", "describe", "GeneratorSpec", "GENERATOR_KINDS", "DEFAULT_CHUNK_EDGES"]

DEFAULT_CHUNK_EDGES = 1 << 24  # 16 M edges: 128-256 MB per chunk of (src, dst)
GENERATOR_KINDS = ("chung-lu",)
_SPLIT_FILES = {"train_idx": "train", "valid_idx": "valid", "test_idx": "test"}  # layout name -> source name


# --------------------------------------------------------------------- generator
@dataclass(frozen=True)
class GeneratorSpec:
    """A synthetic power-law graph to generate: ``KIND:NODES:EDGES:FEATURES`` on the command line.

    Attributes:
        kind: ``"chung-lu"`` (:func:`gnnkit.data.generators.chung_lu_edge_chunks`, exponent 2.5).
        num_nodes: ``N >= 1``. num_edges: ``E >= 0``. num_features: ``F >= 0``.
        seed: the graph, features, labels and splits are a function of the seed and the sizes.
        num_classes: label classes (as ogbn-papers100M's 172).
    """

    kind: str
    num_nodes: int
    num_edges: int
    num_features: int
    seed: int = 0
    num_classes: int = 172

    def __post_init__(self) -> None:
        if self.kind not in GENERATOR_KINDS:
            raise ValueError(f"kind must be one of {GENERATOR_KINDS}, got {self.kind!r}")
        for name, low in (("num_nodes", 1), ("num_edges", 0), ("num_features", 0), ("num_classes", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> "GeneratorSpec":
        """``"chung-lu:100000000:1500000000:64"`` → a spec (``_`` may group digits: ``1_500_000_000``).

        Raises:
            ValueError: not four ``:``-separated fields, a non-integer size, or a bad value.
        """
        parts = text.split(":")
        if len(parts) != 4:
            raise ValueError(f"generator spec must be KIND:NODES:EDGES:FEATURES (e.g. chung-lu:1000:10000:16), got {text!r}")
        try:
            sizes = [int(p) for p in parts[1:]]
        except ValueError:
            raise ValueError(f"generator spec sizes must be integers, got {text!r}") from None
        return cls(parts[0], *sizes, seed=seed)


def generate(spec: GeneratorSpec, folder: str | Path, *, chunk_edges: int = DEFAULT_CHUNK_EDGES,
             feature_dtype: str = "float16", progress: bool = True) -> Path:
    """Write ``spec``'s graph as an edge-list folder, chunk by chunk: ``edges/part-*.npy``, ``features.npy``,
    ``labels.npy``, ``split.npz``.

    Labels are uniform over ``num_classes``; features are the label's centroid (standard
    normal) plus uniform noise in ``[-1/2, 1/2)``, so a model can learn them; the splits are 1 % / 0.1 % / 0.2 % of the vertices
    (papers100M's proportions). ``feature_dtype`` ``"bfloat16"`` writes float16 (numpy has no bfloat16).

    Raises:
        ValueError: ``folder`` already holds ``edges/``; a bad ``chunk_edges`` or ``feature_dtype``.
    """
    _check_chunk(chunk_edges)
    if feature_dtype not in FEATURE_DTYPES:
        raise ValueError(f"feature_dtype must be one of {FEATURE_DTYPES}, got {feature_dtype!r}")
    folder = Path(folder)
    if (folder / "edges").exists():
        raise ValueError(f"folder {folder} already holds edges/; pass an empty folder")
    (folder / "edges").mkdir(parents=True)
    n, e = spec.num_nodes, spec.num_edges
    dtype = np.dtype(index_dtype(n))
    stream = chung_lu_edge_chunks(n, e, seed=spec.seed, chunk_size=chunk_edges, dtype=dtype.type)
    bar = tqdm(total=e, desc="generate: edges", unit="edge", unit_scale=True, disable=not progress)
    for i, (s, d) in enumerate(stream):
        np.save(folder / "edges" / f"part-{i:05d}.npy", np.stack([s, d], axis=1))  # [m, 2]
        bar.update(s.size)
    bar.close()
    rng = np.random.default_rng([spec.seed, 7])
    labels = rng.integers(0, spec.num_classes, n, dtype=np.int32)  # [N]
    np.save(folder / "labels.npy", labels)
    if spec.num_features:
        centroids = rng.standard_normal((spec.num_classes, spec.num_features), dtype=np.float32)  # [C, F]
        store = np.float32 if feature_dtype == "float32" else np.float16
        rows = max(1, chunk_edges // max(spec.num_features, 1))
        # appended with write(), not through a writable memory map, whose dirty pages would count
        # towards this process's resident set (6.5 GB of 12.8 GB at 100 M x 64 float16)
        with open(folder / "features.npy", "wb") as out:
            np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(store)),
                                                       "fortran_order": False, "shape": (n, spec.num_features)})
            for a in tqdm(range(0, n, rows), desc="generate: features", unit="chunk", disable=not progress):
                x = rng.random((min(rows, n - a), spec.num_features), dtype=np.float32)  # [r, F]
                x -= 0.5  # uniform noise of variance 1/12: cheaper to draw than normal noise at 6.4 G values
                x += centroids[labels[a : a + rows]]
                out.write(x.astype(store).tobytes())
    perm = rng.permutation(n)
    k = [max(1, n // 100), max(1, n // 1000), max(1, n // 500)]
    split = {"train": np.sort(perm[: k[0]]), "valid": np.sort(perm[k[0] : k[0] + k[1]]),
             "test": np.sort(perm[k[0] + k[1] : sum(k)])}
    np.savez(folder / "split.npz", **split)
    return folder


# ----------------------------------------------------------------------- sources
def _check_chunk(chunk_edges: int) -> None:
    if isinstance(chunk_edges, bool) or not isinstance(chunk_edges, (int, np.integer)) or chunk_edges < 1:
        raise ValueError(f"chunk_edges must be an int >= 1, got {chunk_edges!r}")


@dataclass
class _Source:
    """What a converter needs of a source; ``edges(chunk)`` may be called once per pass."""

    where: str
    num_nodes: int
    num_edges: int | None  # None: known after pass 1
    edges: Callable[[int], Iterator[tuple[np.ndarray, np.ndarray]]]
    features: Any = None  # [N, F] array-like sliceable by rows (a memory map), or None
    labels: Any = None  # [N] integer array-like, -1 unlabelled
    splits: dict | None = None  # layout split name -> [K] ids
    num_classes: int = 0


def _read_rows(arr: Any, a: int, b: int) -> np.ndarray:
    """Rows ``[a, b)`` of an array; a memory-mapped ``.npy`` is read with ``read()`` instead.

    Pages read through a mapping count towards the resident set while it lives (a 12.8 GB
    feature file read through ``np.load(mmap_mode="r")`` took the 500M-edge conversion to 13.6 GB).
    """
    if isinstance(arr, np.memmap) and arr.flags.c_contiguous and arr.filename is not None:
        row = int(np.prod(arr.shape[1:], dtype=np.int64))
        b = min(b, arr.shape[0])
        out = np.fromfile(arr.filename, dtype=arr.dtype, count=max(0, b - a) * row,
                          offset=arr.offset + a * row * arr.dtype.itemsize)
        return out.reshape(-1, *arr.shape[1:])
    return np.asarray(arr[a:b])


def _npy_chunks(arr: np.ndarray, chunk: int, where: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.dtype.kind not in "iu":
        raise ValueError(f"{where} must hold [E, 2] integer (src, dst) rows, got {arr.dtype} of shape {arr.shape}")
    for a in range(0, arr.shape[0], chunk):
        part = _read_rows(arr, a, a + chunk)
        yield part[:, 0], part[:, 1]


def _text_chunks(path: Path, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    import pandas as pd

    try:
        reader = pd.read_csv(path, sep=r"\s+", comment="#", header=None, chunksize=chunk, dtype=np.float64)
        for frame in reader:
            ids = frame.to_numpy()
            if ids.shape[1] not in (2, 3):
                raise ValueError(f"{path} must have lines 'src dst' or 'src dst weight', got {ids.shape[1]} columns")
            ids = ids[:, :2]
            if (ids != np.round(ids)).any():
                raise ValueError(f"{path}: a vertex id that is not an integer")
            yield ids[:, 0].astype(np.int64), ids[:, 1].astype(np.int64)
    except pd.errors.EmptyDataError:
        return
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: not 'src dst [weight]' lines: {exc}") from None


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path}: not a plain .npy array ({exc})") from None


def _edgelist_source(folder: Path, num_nodes: int | None) -> _Source:
    feats = _load_npy(folder / "features.npy") if (folder / "features.npy").is_file() else None
    labels = _load_npy(folder / "labels.npy") if (folder / "labels.npy").is_file() else None
    if feats is not None and (feats.ndim != 2 or feats.dtype.kind not in "iuf"):
        raise ValueError(f"{folder / 'features.npy'} must be [N, F] numbers, got {feats.dtype} of shape {feats.shape}")
    if labels is not None and (labels.ndim != 1 or labels.dtype.kind not in "iu"):
        raise ValueError(f"{folder / 'labels.npy'} must be [N] integers, got {labels.dtype} of shape {labels.shape}")
    sizes = {name: int(a.shape[0]) for name, a in (("features.npy", feats), ("labels.npy", labels)) if a is not None}
    if num_nodes is not None:
        sizes["num_nodes"] = int(num_nodes)
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{folder}: the vertex counts disagree: {sizes}")
    if not sizes:
        raise ValueError(f"{folder}: pass num_nodes, or put features.npy [N, F] or labels.npy [N] beside the edges: "
                         f"an edge list alone cannot say how many isolated vertices there are")
    n = next(iter(sizes.values()))
    if (folder / "edges").is_dir():
        parts = sorted((folder / "edges").glob("*.npy"))
        if not parts:
            raise ValueError(f"{folder / 'edges'} holds no .npy chunks")

        def edges(chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for p in parts:
                yield from _npy_chunks(_load_npy(p), chunk, str(p))
    elif (folder / "edges.npy").is_file():
        def edges(chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            yield from _npy_chunks(_load_npy(folder / "edges.npy"), chunk, str(folder / "edges.npy"))
    elif (folder / "edges.txt").is_file():
        def edges(chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            yield from _text_chunks(folder / "edges.txt", chunk)
    else:
        raise FileNotFoundError(f"{folder}: no edges.txt, edges.npy or edges/ folder of .npy chunks")
    splits = None
    if (folder / "split.npz").is_file():
        z = read_npz(folder / "split.npz", ("train", "valid", "test"))
        splits = {k: z[v] for k, v in _SPLIT_FILES.items()}
    num_classes = 0
    if labels is not None and labels.size:
        num_classes = int(max(int(_read_rows(labels, a, a + (1 << 24)).max()) for a in range(0, labels.size, 1 << 24))) + 1
    return _Source(str(folder), int(n), None, edges, feats, labels, splits, num_classes)


def _npz_member(path: Path, key: str) -> tuple[zipfile.ZipFile, Any, np.dtype, tuple[int, ...]]:
    """An open stream positioned at the data of member ``key`` of an ``.npz`` (never unpickled)."""
    z = zipfile.ZipFile(path)
    if f"{key}.npy" not in z.namelist():
        raise ValueError(f"{path} has no field {key!r}")
    fh = z.open(f"{key}.npy")
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(fh)
    if fortran or dtype.hasobject:
        raise ValueError(f"{path} field {key!r} must be a C-order numeric array, got {dtype} (fortran={fortran})")
    return z, fh, dtype, shape


def _stream_rows(path: Path, key: str, row: int, chunk: int) -> Iterator[np.ndarray]:
    """Row ``row`` of a ``[2, E]`` npz member, ``chunk`` entries at a time."""
    z, fh, dtype, shape = _npz_member(path, key)
    try:
        e = shape[1]
        skip = row * e * dtype.itemsize
        while skip:  # a compressed member can only be read forwards
            skip -= len(fh.read(min(skip, 1 << 26)))
        for a in range(0, e, chunk):
            m = min(chunk, e - a)
            yield np.frombuffer(fh.read(m * dtype.itemsize), dtype=dtype)
    finally:
        fh.close()
        z.close()


def _ogb_source(folder: Path) -> _Source:
    from . import ogb

    name = folder.name.replace("_", "-")
    if name not in ogb.OGB_NODE_DATASETS:
        raise ValueError(f"{folder}: an OGB folder must be named after a node dataset "
                         f"({sorted(k.replace('-', '_') for k in ogb.OGB_NODE_DATASETS)}), got {folder.name!r}")
    meta = ogb.OGB_NODE_DATASETS[name]
    if meta.num_tasks != 1:
        raise ValueError(f"{name} has {meta.num_tasks} label tasks; the on-disk layout holds one label per vertex")
    raw = folder / "raw"
    inverse = meta.add_inverse_edge

    def with_inverse(s: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ogb._interleave_inverse(s, d) if inverse else (s, d)

    if meta.binary:
        path = raw / "data.npz"
        n = int(read_npz(ogb._require(path), ("num_nodes_list",))["num_nodes_list"].reshape(-1)[0])

        def edges(chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for s, d in zip(_stream_rows(path, "edge_index", 0, chunk), _stream_rows(path, "edge_index", 1, chunk)):
                yield with_inverse(s.astype(np.int64), d.astype(np.int64))
        feats = read_npz(path, ("node_feat",))["node_feat"] if meta.has_node_attr else None
        labels = read_npz(ogb._require(raw / "node-label.npz"), ("node_label",))["node_label"].astype(np.float64)
    else:
        import pandas as pd

        n = int(ogb._read_csv(raw / "num-node-list.csv.gz", np.int64).reshape(-1)[0])
        path = ogb._require(raw / "edge.csv.gz")

        def edges(chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            try:
                for frame in pd.read_csv(path, compression="gzip", header=None, chunksize=chunk, dtype=np.int64):
                    ids = frame.to_numpy()
                    yield with_inverse(ids[:, 0], ids[:, 1])
            except (ValueError, pd.errors.ParserError) as exc:
                raise ValueError(f"{path}: not 'src,dst' integer rows: {exc}") from None
        feats = ogb._read_csv(raw / "node-feat.csv.gz") if meta.has_node_attr else None
        labels = ogb._read_csv(raw / "node-label.csv.gz", np.float64)
    labels = ogb._labels(labels.reshape(n, -1), raw / "node-label", meta, name)[:, 0]
    split = ogb._read_split(folder / "split" / meta.split, n)
    splits = {k: split[v].numpy() for k, v in _SPLIT_FILES.items()}
    return _Source(str(folder), n, None, edges, feats, labels, splits, meta.num_classes)


def _open_source(src: Any, num_nodes: int | None) -> _Source:
    path = Path(src)
    if not path.is_dir():
        raise FileNotFoundError(f"src must be an edge-list or OGB dataset folder, got {path} (not a folder)")
    if (path / "raw").is_dir():
        return _ogb_source(path)
    return _edgelist_source(path, num_nodes)


# ---------------------------------------------------------------------- convert
def _bfloat16_words(x: np.ndarray) -> np.ndarray:
    """``[r, F]`` float rows as bfloat16 bit patterns (round to nearest even, torch's rule)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(torch.bfloat16).view(torch.int16).numpy()


def _write_rows(out: Any, arr: Any, rows: int, convert_rows: Callable[[np.ndarray], np.ndarray], desc: str,
                progress: bool) -> None:
    for a in tqdm(range(0, arr.shape[0], rows), desc=desc, unit="chunk", disable=not progress, leave=False):
        out.write(np.ascontiguousarray(convert_rows(_read_rows(arr, a, a + rows))).tobytes())


def convert(src: Any, dst: str | Path, *, chunk_edges: int = DEFAULT_CHUNK_EDGES, bucket_edges: int | None = None,
            feature_dtype: str | None = None, num_nodes: int | None = None, progress: bool = True) -> OnDiskGraph:
    """Convert ``src`` into an on-disk layout at ``dst`` with memory bounded by the chunk and bucket sizes.

    Args:
        src: an edge-list folder or an OGB node dataset folder (see the module docstring).
        dst: the layout directory to create (must not hold a layout yet).
        chunk_edges: edges read at a time.
        bucket_edges: most edges per sort bucket (default ``chunk_edges``); a vertex with more
            in-edges gets a bucket of its own.
        feature_dtype: ``"float32" | "float16" | "bfloat16"`` storage (default: float16 for
            float16 sources, else float32).
        num_nodes: ``N`` for an edge list without ``features.npy``/``labels.npy``.
        progress: show tqdm bars.

    Returns:
        The layout, opened (:meth:`OnDiskGraph.open`).

    Raises:
        ValueError: a bad argument, a source file of the wrong shape or dtype, ids outside
            ``[0, N)`` (the source named), or ``dst`` already holding a layout.
        FileNotFoundError: a missing source file.

    On failure the files written so far under ``dst`` are removed.
    """
    _check_chunk(chunk_edges)
    bucket_edges = chunk_edges if bucket_edges is None else bucket_edges
    _check_chunk(bucket_edges)
    if feature_dtype is not None and feature_dtype not in FEATURE_DTYPES:
        raise ValueError(f"feature_dtype must be one of {FEATURE_DTYPES}, got {feature_dtype!r}")
    dst = Path(dst)
    if (dst / "header.json").exists():
        raise ValueError(f"dst {dst} already holds a layout (header.json); pick a new folder or delete it")
    source = _open_source(src, num_nodes)
    dst.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        header = _convert(source, dst, chunk_edges, bucket_edges, feature_dtype, progress, written)
    except BaseException:
        for p in written:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        raise
    del header
    return OnDiskGraph.open(dst)


def _convert(source: _Source, dst: Path, chunk_edges: int, bucket_edges: int, feature_dtype: str | None,
             progress: bool, written: list[Path]) -> dict:
    n = source.num_nodes
    idx = np.dtype("<" + {"int32": "i4", "int64": "i8"}[index_dtype(n)])
    # pass 1: in-degrees
    deg = np.zeros(n, dtype=np.int64)  # [N]
    e = 0
    bar = tqdm(desc="convert 1/3: count", unit="edge", unit_scale=True, disable=not progress)
    for s, d in source.edges(chunk_edges):
        for name, ids in (("src", s), ("dst", d)):
            if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n):
                raise ValueError(f"{source.where}: {name} ids must lie in [0, num_nodes={n}), got ids in "
                                 f"[{int(ids.min())}, {int(ids.max())}] among edges {e}..{e + ids.size - 1}")
        deg += np.bincount(d, minlength=n)
        e += s.size
        bar.update(s.size)
    bar.close()
    indptr = np.zeros(n + 1, dtype="<i8")
    np.cumsum(deg, out=indptr[1:])
    del deg
    written.append(dst / "indptr.bin")
    indptr.tofile(dst / "indptr.bin")
    # buckets: vertex ranges [cuts[b], cuts[b + 1]) of at most bucket_edges edges
    cuts = np.array([r0 for r0, _ in _row_blocks(indptr, bucket_edges)] + [n], dtype=np.int64)
    num_buckets = cuts.size - 1
    bucket_dir = dst / "buckets.tmp"
    written.append(bucket_dir)
    bucket_dir.mkdir(exist_ok=True)
    # pass 2: scatter each chunk into its buckets' files, in input order
    files = [(open(bucket_dir / f"{b}.src", "wb"), open(bucket_dir / f"{b}.dst", "wb")) for b in range(num_buckets)]
    try:
        bar = tqdm(total=e, desc="convert 2/3: scatter", unit="edge", unit_scale=True, disable=not progress)
        for s, d in source.edges(chunk_edges):
            b = np.searchsorted(cuts, d, side="right") - 1  # [m] bucket of each edge
            # a stable sort on 16-bit keys is a radix sort in numpy: O(m)
            order = np.argsort(b.astype(np.uint16) if num_buckets < 2**16 else b, kind="stable")
            counts = np.bincount(b, minlength=num_buckets)
            s_sorted = s[order].astype(idx)
            d_local = (d[order] - cuts[b[order]]).astype(idx)  # offset within the bucket's vertex range
            bounds = np.r_[0, np.cumsum(counts)]
            for k in np.flatnonzero(counts):  # over buckets (a few hundred), not edges
                files[k][0].write(s_sorted[bounds[k] : bounds[k + 1]].tobytes())
                files[k][1].write(d_local[bounds[k] : bounds[k + 1]].tobytes())
            bar.update(s.size)
        bar.close()
    finally:
        for fs, fd in files:
            fs.close()
            fd.close()
    # pass 3: sort each bucket by destination and append it to indices
    written.append(dst / "indices.bin")
    bar = tqdm(total=e, desc="convert 3/3: sort", unit="edge", unit_scale=True, disable=not progress)
    with open(dst / "indices.bin", "wb") as out:
        for k in range(num_buckets):
            s = np.fromfile(bucket_dir / f"{k}.src", dtype=idx)
            d = np.fromfile(bucket_dir / f"{k}.dst", dtype=idx)
            want = int(indptr[cuts[k + 1]] - indptr[cuts[k]])
            if s.size != want or d.size != want:  # the source changed between passes 1 and 2
                raise ValueError(f"{source.where}: bucket {k} got {s.size} edges but pass 1 counted {want}; "
                                 f"was the source modified during the conversion?")
            # (row, position) keys are distinct, so an unstable sort of them is the stable sort by row;
            # an int64 sort costs about half of numpy's stable int32 argsort (0.9 s against 1.7 s of CPU per 10 M)
            if d.size < 2**32:
                key = d.astype(np.int64)
                key <<= 32
                key |= np.arange(d.size, dtype=np.int64)
                key.sort()
                key &= 0xFFFFFFFF
            else:  # one hub row of 2**32 edges or more: positions do not fit the low half
                key = np.argsort(d, kind="stable")
            out.write(s[key].tobytes())
            (bucket_dir / f"{k}.src").unlink()
            (bucket_dir / f"{k}.dst").unlink()
            bar.update(s.size)
    bar.close()
    bucket_dir.rmdir()
    arrays: dict[str, dict] = {"indptr": {"file": "indptr.bin", "dtype": "int64", "shape": [n + 1]},
                               "indices": {"file": "indices.bin", "dtype": idx.name, "shape": [e]}}
    if source.features is not None:
        f = source.features
        fdt = feature_dtype or ("float16" if f.dtype == np.float16 else "float32")
        conv = _bfloat16_words if fdt == "bfloat16" else (lambda x, t=np.dtype(_np_feature(fdt)): x.astype(t))
        written.append(dst / "features.bin")
        with open(dst / "features.bin", "wb") as out:
            _write_rows(out, f, max(1, chunk_edges // max(1, f.shape[1])), conv, "convert: features", progress)
        arrays["features"] = {"file": "features.bin", "dtype": fdt, "shape": [n, int(f.shape[1])]}
    if source.labels is not None:
        written.append(dst / "labels.bin")
        with open(dst / "labels.bin", "wb") as out:
            _write_rows(out, source.labels, chunk_edges, lambda y: y.astype("<i4"), "convert: labels", progress)
        arrays["labels"] = {"file": "labels.bin", "dtype": "int32", "shape": [n]}
    for name, ids in (source.splits or {}).items():
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu" or (ids.size and (ids.min() < 0 or ids.max() >= n)):
            raise ValueError(f"{source.where}: split {_SPLIT_FILES[name]!r} must be [K] vertex ids in [0, {n}), "
                             f"got {ids.dtype} of shape {ids.shape}")
        written.append(dst / f"{name}.bin")
        ids.astype("<i8").tofile(dst / f"{name}.bin")
        arrays[name] = {"file": f"{name}.bin", "dtype": "int64", "shape": [int(ids.size)]}
    written.append(dst / "header.json")
    return write_header(dst, n, e, arrays, source.num_classes)


def _np_feature(dtype: str) -> str:
    return {"float32": "<f4", "float16": "<f2"}[dtype]


def describe(path: str | Path) -> str:
    """One line about a layout: sizes, dtypes and bytes on disk (for the command line)."""
    g = OnDiskGraph.open(path)
    return json.dumps({"num_nodes": g.num_nodes, "num_edges": g.num_edges, "num_features": g.num_features,
                       "feature_dtype": g.feature_dtype, "disk_bytes": g.disk_bytes()})
