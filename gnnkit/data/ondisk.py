r"""An on-disk graph layout: raw little-endian arrays plus a small JSON header, memory-mapped on load.

A layout is a directory::

    header.json      format name and version, byte order, sizes, one entry per array
                     (file, dtype, shape) and a SHA-256 of those fields
    indptr.bin       [N + 1] int64    CSR by destination: row v lists v's in-neighbours
    indices.bin      [E] int32 (N < 2**31) or int64
    features.bin     [N, F] float32, float16 or bfloat16 (bfloat16 as raw 2-byte words), optional
    labels.bin       [N] int32 or int64 (-1: unlabelled), optional
    train_idx.bin, valid_idx.bin, test_idx.bin      [K] int64 vertex ids, optional

Rows are destinations because the neighbour sampler draws in-neighbours (the layout of
:meth:`Graph.csr_in`). This is how MariusGNN and OGB's ``papers100M`` keep a graph that is
larger than memory: flat arrays that the operating system pages in on demand. Nothing is ever
unpickled; the header is plain JSON and every array is raw bytes of a dtype the header names.

:meth:`OnDiskGraph.open` checks the header strictly (format, version, byte order, dtypes,
shapes against file lengths, the checksum) and maps every array read-only. Pages a process
has touched count towards its resident set while mapped, so long runs call
:meth:`OnDiskGraph.release_pages` (``madvise(MADV_DONTNEED)``: the pages leave the resident
set and stay in the page cache).
"""
from __future__ import annotations

import hashlib
import json
import mmap
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .sampling import NeighborSampler

__all__ = ["OnDiskGraph", "write_header", "FORMAT", "VERSION", "FEATURE_DTYPES", "SPLIT_NAMES", "index_dtype"]

FORMAT = "gnnkit-ondisk"
VERSION = 1
HEADER = "header.json"
FEATURE_DTYPES = ("float32", "float16", "bfloat16")
SPLIT_NAMES = ("train_idx", "valid_idx", "test_idx")
# dtype names a header may use for each array, and their numpy storage (bfloat16: raw uint16 words)
_ALLOWED = {
    "indptr": ("int64",),
    "indices": ("int32", "int64"),
    "features": FEATURE_DTYPES,
    "labels": ("int32", "int64"),
    **{s: ("int64",) for s in SPLIT_NAMES},
}
_STORAGE = {"int32": "<i4", "int64": "<i8", "float32": "<f4", "float16": "<f2", "bfloat16": "<u2"}
_FIELDS = ("format", "version", "byte_order", "num_nodes", "num_edges", "orientation", "num_classes", "arrays")


def index_dtype(num_nodes: int) -> str:
    """``"int32"`` when every vertex id fits (``num_nodes < 2**31``), else ``"int64"``."""
    return "int32" if num_nodes < 2**31 else "int64"


def _checksum(header: Mapping[str, Any]) -> str:
    body = {k: header.get(k) for k in _FIELDS}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_header(path: str | Path, num_nodes: int, num_edges: int, arrays: Mapping[str, Mapping[str, Any]],
                 num_classes: int = 0) -> dict:
    """Write ``header.json`` for the arrays already in ``path`` and return it.

    Args:
        path: the layout directory.
        num_nodes: ``N``. num_edges: ``E``.
        arrays: name -> ``{"file": ..., "dtype": ..., "shape": [...]}`` for each array present.
        num_classes: number of label classes (0 without labels).

    Raises:
        ValueError: an unknown array name or a dtype the layout does not allow for it.
    """
    for name, spec in arrays.items():
        if name not in _ALLOWED:
            raise ValueError(f"arrays must name only {sorted(_ALLOWED)}, got {name!r}")
        if spec["dtype"] not in _ALLOWED[name]:
            raise ValueError(f"arrays[{name!r}]['dtype'] must be one of {_ALLOWED[name]}, got {spec['dtype']!r}")
    header = {"format": FORMAT, "version": VERSION, "byte_order": "little", "num_nodes": int(num_nodes),
              "num_edges": int(num_edges), "orientation": "in", "num_classes": int(num_classes),
              "arrays": {k: {"file": str(v["file"]), "dtype": str(v["dtype"]), "shape": [int(s) for s in v["shape"]]}
                         for k, v in arrays.items()}}
    header["checksum"] = _checksum(header)
    tmp = Path(path) / (HEADER + ".tmp")
    tmp.write_text(json.dumps(header, indent=1, sort_keys=True))
    os.replace(tmp, Path(path) / HEADER)  # a reader never sees half a header
    return header


def _int_field(header: Mapping[str, Any], key: str, where: Path) -> int:
    v = header.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{where}: field {key!r} must be an int >= 0, got {v!r}")
    return v


def _read_header(path: Path) -> dict:
    where = path / HEADER
    if not where.is_file():
        raise FileNotFoundError(f"{where} missing: {path} is not a gnnkit on-disk layout (build one with "
                                f"gnnkit.data.convert or `python -m gnnkit.cli.convert SRC DST`)")
    try:
        header = json.loads(where.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{where} is not valid JSON: {err}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where} must hold a JSON object, got {type(header).__name__}")
    if header.get("format") != FORMAT:
        raise ValueError(f"{where}: field 'format' must be {FORMAT!r}, got {header.get('format')!r}")
    if header.get("version") != VERSION:
        raise ValueError(f"{where}: unknown format version {header.get('version')!r}; this gnnkit reads version "
                         f"{VERSION} (convert the source again)")
    if header.get("byte_order") != "little":
        raise ValueError(f"{where}: field 'byte_order' must be 'little', got {header.get('byte_order')!r}")
    if header.get("orientation") != "in":
        raise ValueError(f"{where}: field 'orientation' must be 'in' (rows are destinations), "
                         f"got {header.get('orientation')!r}")
    if header.get("checksum") != _checksum(header):
        raise ValueError(f"{where}: the header checksum does not match its fields (the header was edited or "
                         f"damaged); convert the source again")
    for key in ("num_nodes", "num_edges", "num_classes"):
        _int_field(header, key, where)
    arrays = header.get("arrays")
    if not isinstance(arrays, dict) or "indptr" not in arrays or "indices" not in arrays:
        raise ValueError(f"{where}: field 'arrays' must map at least 'indptr' and 'indices' to files")
    return header


def _expected_shape(name: str, header: Mapping[str, Any]) -> tuple[int, ...] | None:
    n, e = header["num_nodes"], header["num_edges"]
    return {"indptr": (n + 1,), "indices": (e,), "labels": (n,)}.get(name)


def _map(path: Path, name: str, spec: Any, header: Mapping[str, Any]) -> tuple[np.ndarray, mmap.mmap | None]:
    """Map one array read-only after checking its entry against the header and the file's length."""
    where = path / HEADER
    if name not in _ALLOWED:
        raise ValueError(f"{where}: unknown array {name!r}; a layout holds only {sorted(_ALLOWED)}")
    if not isinstance(spec, dict) or not isinstance(spec.get("file"), str) or not isinstance(spec.get("shape"), list):
        raise ValueError(f"{where}: arrays[{name!r}] must be {{'file': str, 'dtype': str, 'shape': [int, ...]}}, "
                         f"got {spec!r}")
    if spec.get("dtype") not in _ALLOWED[name]:
        raise ValueError(f"{where}: arrays[{name!r}]['dtype'] must be one of {_ALLOWED[name]}, got {spec.get('dtype')!r}")
    shape = spec["shape"]
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ValueError(f"{where}: arrays[{name!r}]['shape'] must be ints >= 0, got {shape}")
    want = _expected_shape(name, header)
    if name == "features":
        want = (header["num_nodes"], shape[1]) if len(shape) == 2 else (header["num_nodes"], "F")
    if name in SPLIT_NAMES:
        want = (shape[0],) if len(shape) == 1 else ("K",)
    if want is not None and tuple(shape) != tuple(want):
        raise ValueError(f"{where}: arrays[{name!r}]['shape'] must be {list(want)}, got {shape}")
    file = path / spec["file"]
    if Path(spec["file"]).name != spec["file"]:
        raise ValueError(f"{where}: arrays[{name!r}]['file'] must be a file name inside the layout, got {spec['file']!r}")
    if not file.is_file():
        raise FileNotFoundError(f"{file} missing (listed in {where} as array {name!r})")
    dtype = np.dtype(_STORAGE[spec["dtype"]])
    count = int(np.prod(shape, dtype=np.int64))
    size = file.stat().st_size
    if size != count * dtype.itemsize:
        raise ValueError(f"{file}: expected {count * dtype.itemsize} bytes ({spec['dtype']} of shape {shape}), got "
                         f"{size} (truncated or not this layout's file); convert the source again")
    if count == 0:  # mmap cannot map an empty file
        return np.zeros(shape, dtype=dtype), None
    with open(file, "rb") as f:
        mm = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
    arr = np.frombuffer(mm, dtype=dtype, count=count).reshape(shape)
    return arr, mm


def _tensor(arr: np.ndarray) -> Tensor:
    """A tensor sharing ``arr``'s read-only memory (torch warns on non-writable arrays; writes are never made)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(arr)


def _upcast(rows: np.ndarray, dtype: str) -> Tensor:
    """``[B, F]`` stored rows as float32."""
    t = torch.from_numpy(rows)
    if dtype == "bfloat16":
        return t.view(torch.bfloat16).float()  # raw uint16 words reinterpreted, then widened exactly
    return t.float()


class _FeatureRows:
    """``[N, F]`` float32 view of a layout's features whose rows are read and upcast when indexed."""

    def __init__(self, g: "OnDiskGraph") -> None:
        self._g = g
        self.shape = (g.num_nodes, g.num_features)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, ids: Any) -> np.ndarray:
        return self._g.gather_features(ids).numpy()  # [B, F]


class OnDiskGraph:
    r"""A graph in an on-disk layout, memory-mapped read-only (see the module docstring for the files).

    Build one with :func:`gnnkit.data.convert.convert`; open it with :meth:`open`. Nothing is
    read into memory at open beyond the header: :attr:`indptr`/:attr:`indices` are tensors over
    the mapped files, :meth:`gather_features` reads and upcasts only the requested rows, and
    :meth:`sampler` samples straight from the mapped CSR.

    Attributes:
        path: the layout directory. header: the parsed ``header.json``.
        num_nodes, num_edges, num_classes: sizes from the header.
        feature_dtype: ``"float32" | "float16" | "bfloat16"`` or None without features.
    """

    def __init__(self, path: Path, header: dict, arrays: dict[str, np.ndarray], maps: list[mmap.mmap]) -> None:
        self.path, self.header = path, header
        self.num_nodes, self.num_edges = int(header["num_nodes"]), int(header["num_edges"])
        self.num_classes = int(header["num_classes"])
        self._arrays, self._maps = arrays, maps
        feats = header["arrays"].get("features")
        self.feature_dtype: str | None = None if feats is None else feats["dtype"]

    @classmethod
    def open(cls, path: str | Path, advice: str = "random") -> "OnDiskGraph":
        """Map the layout at ``path`` read-only after checking its header against the files.

        Args:
            path: the layout directory (holds ``header.json``).
            advice: ``"random"`` (``MADV_RANDOM``: no read-ahead, right for sampling and
                feature gathers) or ``"normal"`` (the kernel's default, right for scans).

        Raises:
            FileNotFoundError: no ``header.json``, or an array file it lists is missing.
            ValueError: the header is not JSON, names another format, an unknown version, a
                byte order other than ``"little"``, a dtype the layout does not allow, a shape
                that does not match the sizes, or a checksum that does not match its fields;
                or a file's length differs from its dtype times its shape (truncated).
        """
        if advice not in ("random", "normal"):
            raise ValueError(f"advice must be 'random' or 'normal', got {advice!r}")
        path = Path(path)
        header = _read_header(path)
        arrays, maps = {}, []
        for name, spec in header["arrays"].items():
            arr, mm = _map(path, name, spec, header)
            arrays[name] = arr
            if mm is not None:
                maps.append(mm)
                if advice == "random" and hasattr(mmap, "MADV_RANDOM"):
                    mm.madvise(mmap.MADV_RANDOM)
        ip = arrays["indptr"]
        if ip[0] != 0 or ip[-1] != header["num_edges"]:
            raise ValueError(f"{path / header['arrays']['indptr']['file']}: indptr must run from 0 to "
                             f"num_edges={header['num_edges']}, got {int(ip[0])} .. {int(ip[-1])}")
        return cls(path, header, arrays, maps)

    # ------------------------------------------------------------------ arrays
    @property
    def indptr(self) -> Tensor:
        """``[N + 1]`` int64 row pointer (a view of the mapped file)."""
        return _tensor(self._arrays["indptr"])

    @property
    def indices(self) -> Tensor:
        """``[E]`` int32 or int64 in-neighbours, rows by destination (a view of the mapped file)."""
        return _tensor(self._arrays["indices"])

    @property
    def num_features(self) -> int:
        f = self._arrays.get("features")
        return 0 if f is None else int(f.shape[1])

    def labels(self) -> Tensor | None:
        """``[N]`` int64 labels (-1: unlabelled), read into memory, or None."""
        y = self._arrays.get("labels")
        return None if y is None else torch.from_numpy(y.astype(np.int64))

    def split(self, name: str) -> Tensor:
        """``[K]`` int64 vertex ids of split ``name`` (``"train_idx" | "valid_idx" | "test_idx"``), in memory.

        Raises:
            KeyError: the layout has no such split.
        """
        if name not in self._arrays or name not in SPLIT_NAMES:
            have = [s for s in SPLIT_NAMES if s in self._arrays]
            raise KeyError(f"split {name!r} not in {self.path} (it has {have})")
        return torch.from_numpy(np.array(self._arrays[name]))

    def node_data(self) -> dict[str, Any]:
        """The layout's per-vertex data under gnnkit's ndata keys, for :func:`gnnkit.scale.write_parts`.

        ``"x"`` (when the layout has features) reads its rows on demand, upcast to float32, when
        indexed with an id array (``node_data()["x"][ids]`` is ``gather_features(ids)`` as numpy),
        so writing parts never holds the ``[N, F]`` matrix; ``"y"`` is the labels (int64, -1
        unlabelled) and ``"train_mask"``/``"val_mask"``/``"test_mask"`` the splits as ``[N]``
        bool masks, each present when the layout has it.

        Returns:
            ``{key: [N, ...] array-like}``; memory ``O(N)`` (labels and masks), features not read.
        """
        out: dict[str, Any] = {}
        if "features" in self._arrays:
            out["x"] = _FeatureRows(self)
        if "labels" in self._arrays:
            out["y"] = self.labels().numpy()
        for key, name in zip(("train_mask", "val_mask", "test_mask"), SPLIT_NAMES):
            if name in self._arrays:
                mask = np.zeros(self.num_nodes, dtype=bool)
                mask[self._arrays[name]] = True
                out[key] = mask
        return out

    def gather_features(self, ids: Any) -> Tensor:
        """Rows ``ids`` of the stored features, upcast to float32 (only those rows are read).

        Shape:
            ids ``[B]`` → ``[B, F]`` float32.

        Raises:
            ValueError: the layout has no features. IndexError: an id outside ``[0, N)``.
        """
        feats = self._arrays.get("features")
        if feats is None:
            raise ValueError(f"{self.path} has no features (convert with a features source)")
        idx = ids.numpy() if isinstance(ids, Tensor) else np.asarray(ids)
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= self.num_nodes):
            raise IndexError(f"ids must lie in [0, num_nodes={self.num_nodes}), got ids in "
                             f"[{int(idx.min())}, {int(idx.max())}]")
        return _upcast(feats[idx], self.feature_dtype)  # [B, F]: a fancy index copies only these rows

    def sampler(self, fanouts: Sequence[int], replace: bool = False, seed: int | None = 0, *, backend: str = "auto",
                num_threads: int | None = None) -> NeighborSampler:
        """A :class:`NeighborSampler` over the mapped CSR (nothing copied; batches carry no data).

        Built with ``NeighborSampler.from_csr(..., check=False)``: the native sampler reads the
        mapped int32 or int64 ``indices`` in place. ``backend``/``num_threads`` as for
        :class:`NeighborSampler`.

        A batch's ``edge_ids`` are CSR positions (the layout keeps no edge-id array).

        Gather the input features of a batch with ``gather_features(batch.input_nodes)``.
        Draws equal those of ``NeighborSampler(g, ...)`` on the in-memory graph with the same
        seed, generator and backend, because the CSR rows keep the edges' input order.
        """
        # the converter wrote the CSR checked (check() rescans it on demand): check=False skips a scan of
        # the whole file and keeps int32 indices as mapped, which the native sampler reads in place
        return NeighborSampler.from_csr(self._arrays["indptr"], self._arrays["indices"], fanouts, replace=replace,
                                        seed=seed, backend=backend, num_threads=num_threads, check=False)

    # ------------------------------------------------------------------ memory
    def release_pages(self) -> None:
        """Drop this process's mapped pages from its resident set (they stay in the page cache).

        A later read of such a page is a minor fault while the page cache still holds it.
        """
        for mm in self._maps:
            mm.madvise(mmap.MADV_DONTNEED)

    def disk_bytes(self) -> int:
        """Bytes of the layout's files (header included)."""
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())

    def check(self, chunk: int = 1 << 24) -> None:
        """Scan the CSR in chunks: ``indptr`` non-decreasing, every index in ``[0, N)``.

        Raises:
            ValueError: the first violation found, naming the file.
        """
        ip, ind, n = self._arrays["indptr"], self._arrays["indices"], self.num_nodes
        for a in range(0, ip.size - 1, chunk):
            if bool((np.diff(ip[a : a + chunk + 1]) < 0).any()):
                raise ValueError(f"{self.path / 'indptr.bin'}: indptr decreases within rows [{a}, {a + chunk})")
        for a in range(0, ind.size, chunk):
            part = ind[a : a + chunk]
            if part.size and (int(part.min()) < 0 or int(part.max()) >= n):
                raise ValueError(f"{self.path / 'indices.bin'}: indices in [{a}, {a + part.size}) leave [0, {n})")

    def __repr__(self) -> str:
        return (f"OnDiskGraph({str(self.path)!r}, num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
                f"features={self.num_features}x{self.feature_dtype})")
