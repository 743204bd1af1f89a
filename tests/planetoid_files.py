"""Raw Planetoid files (``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}``) written from the bundled Cora.

The tests that read raw Planetoid files get them from here instead of a directory outside the
repository: :func:`write_planetoid` rebuilds the eight files from ``gnnkit/data/cora.npz`` in
the pickle format of the files Yang et al. published (Python 2, protocol 2): the same globals
(``scipy.sparse.csr csr_matrix``, ``numpy.core.multiarray _reconstruct``, ``numpy ndarray``,
``numpy dtype``, ``collections defaultdict``, ``__builtin__ list``), Python 2 ``str`` opcodes
(``SHORT_BINSTRING``/``BINSTRING``) for names and raw array bytes, the same ``csr_matrix``
``__dict__`` keys, ``float32`` features, ``int32`` one-hot labels, a ``{vertex: [neighbours]}``
``defaultdict`` with the lists in the published order (duplicates kept) and an unsorted
``test.index``. Test only: a fixture in ``conftest.py`` writes them into a temporary directory.
"""
from __future__ import annotations

import io
import pickle
import struct
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.sparse as sp

SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


class _Global:
    """A name the file refers to by ``GLOBAL module name``, as Python 2's pickler wrote it."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: object) -> None:  # pickle's save_reduce requires a callable; never called
        raise TypeError(f"{self.module}.{self.name} is a name for the pickle writer, not a function")


_RECONSTRUCT = _Global("numpy.core.multiarray", "_reconstruct")
_NDARRAY = _Global("numpy", "ndarray")
_DTYPE = _Global("numpy", "dtype")
_CSR = _Global("scipy.sparse.csr", "csr_matrix")


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote the Planetoid files: ``str`` as bytes, numpy/scipy under their old names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=2, fix_imports=True)  # fix_imports: builtins.list -> __builtin__ list

    def _save_py2_str(self, obj: str | bytes) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    def _save_named_global(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
        self.memoize(obj)

    def _save_csr(self, obj: sp.csr_matrix) -> None:
        # csr_matrix.__new__() then BUILD with its __dict__ (keys and order of the published files)
        self.save(_CSR)
        self.write(pickle.EMPTY_TUPLE + pickle.NEWOBJ)
        self.memoize(obj)
        self.save({"format": "csr", "_shape": tuple(int(d) for d in obj.shape), "indptr": obj.indptr,
                   "_cs_matrix__has_sorted_indices": True, "indices": obj.indices, "maxprint": 50, "data": obj.data})
        self.write(pickle.BUILD)

    dispatch[str] = _save_py2_str
    dispatch[bytes] = _save_py2_str
    dispatch[_Global] = _save_named_global
    dispatch[sp.csr_matrix] = _save_csr

    def reducer_override(self, obj: object) -> object:
        if isinstance(obj, np.ndarray):
            # numpy's own reduce: _reconstruct(ndarray, (0,), "b") then the state (version, shape, dtype, fortran, raw)
            return _RECONSTRUCT, (_NDARRAY, (0,), "b"), (1, obj.shape, obj.dtype, False, obj.tobytes())
        if isinstance(obj, np.dtype):
            return _DTYPE, (obj.str[1:], 0, 1), (3, "<", None, None, None, -1, -1, 0)
        return NotImplemented


def _dumps(obj: object) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf).dump(obj)
    return buf.getvalue()


def write_planetoid(npz: str | Path, root: str | Path, name: str = "cora") -> Path:
    """Write the eight raw files of ``name`` into ``root`` from a file of ``gnnkit.data.save_npz``.

    The inverse of ``save_npz``: ``allx``/``ally`` are the first ``N - len(test)`` vertices, ``x``/``y``
    the training ones, row ``j`` of ``tx``/``ty`` is vertex ``test[j]`` (``test.index`` keeps the file's
    order), and the graph lists each vertex's neighbours in ``src``/``dst`` order.

    Returns:
        ``root``, as a :class:`~pathlib.Path`.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    shape = tuple(int(d) for d in arrays["shape"])
    data = arrays.get("data", np.ones(arrays["indices"].size, dtype=np.float32)).astype(np.float32)
    feats = sp.csr_matrix((data, arrays["indices"].astype(np.int32), arrays["indptr"].astype(np.int32)), shape=shape)
    num_classes = int(arrays["num_classes"])
    onehot = np.eye(num_classes, dtype=np.int32)[arrays["y"].astype(np.int64)]  # [N, C]
    test = arrays["test"].astype(np.int64)
    num_all = shape[0] - test.size  # vertices before the test block (Cora: 1708)
    num_train = arrays["train"].size
    adjacency: defaultdict[int, list[int]] = defaultdict(list)
    for s, d in zip(arrays["src"].tolist(), arrays["dst"].tolist()):  # test helper, 10k edges: a loop is fine
        adjacency[s].append(d)
    objects = {
        "x": feats[:num_train], "y": onehot[:num_train],
        "tx": feats[test], "ty": onehot[test],
        "allx": feats[:num_all], "ally": onehot[:num_all],
        "graph": adjacency,
    }
    for suffix, obj in objects.items():
        if isinstance(obj, sp.spmatrix):
            obj = sp.csr_matrix(obj)
            obj.sort_indices()
        (root / f"ind.{name}.{suffix}").write_bytes(_dumps(obj))
    (root / f"ind.{name}.test.index").write_text("".join(f"{i}\n" for i in test.tolist()))
    return root
