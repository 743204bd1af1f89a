"""The Dataset type and its loaders: Planetoid (raw, bundled, crafted files), TU, edge lists, load_dataset."""
import json
import os
import pickle
import pickletools
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph
from gnnkit.data import BUNDLED, Dataset, load_dataset, load_edgelist, load_npz, load_tu, read_planetoid, save_npz
from gnnkit.data.dataset import split_graphs
from gnnkit.data.__main__ import main as convert_main



def _write_planetoid(root: Path, name: str, x: np.ndarray, y: np.ndarray, num_train: int, num_allx: int,
                     test_ids: list[int], edges: list[tuple[int, int]], protocol: int = 2) -> None:
    """Write ``ind.<name>.*`` the way Planetoid did: allx/ally are rows ``[0, num_allx)``, row ``j`` of
    tx/ty belongs to vertex ``test_ids[j]`` (test.index, unsorted), graph is a dict of lists."""
    onehot = np.eye(int(y.max()) + 1)[y]
    graph = defaultdict(list)
    for s, d in edges:
        graph[s].append(d)
    files = {
        "x": sp.csr_matrix(x[:num_train]), "y": onehot[:num_train],
        "allx": sp.csr_matrix(x[:num_allx]), "ally": onehot[:num_allx],
        "tx": sp.csr_matrix(x[test_ids]), "ty": onehot[test_ids], "graph": graph,
    }
    for suffix, obj in files.items():
        with open(root / f"ind.{name}.{suffix}", "wb") as fh:
            pickle.dump(obj, fh, protocol=protocol)
    (root / f"ind.{name}.test.index").write_text("".join(f"{i}\n" for i in test_ids))


@pytest.fixture
def citeseer_like(tmp_path):
    """520 allx rows (20 train), test ids 520..531 with 523 and 529 missing from the files,
    as CiteSeer's isolated test vertices are; edges with a duplicate, a self-loop and one direction only."""
    rng = np.random.default_rng(0)
    n, f = 532, 12
    x = (rng.random((n, f)) < 0.3).astype(np.float64)
    x[:, 0] = 1  # no empty row, so a zero row below can only be a padded one
    y = rng.integers(0, 3, n)
    y[:3] = [0, 1, 2]
    missing = [523, 529]
    test_ids = [i for i in rng.permutation(np.arange(520, n)).tolist() if i not in missing]
    edges = [(0, 1), (1, 0), (0, 1), (2, 2), (3, 530), (531, 4), (5, 6)]
    _write_planetoid(tmp_path, "citeseer", x, y, 20, 520, test_ids, edges)
    x[missing], y[missing] = 0, 0
    return tmp_path, x, y, test_ids, missing


def test_bundled_cora_has_the_standard_sizes_and_split():
    d = load_dataset("cora")
    assert (d.graph.num_nodes, d.graph.num_edges, d.num_features, d.num_classes) == (2708, 10556, 1433, 7)
    assert (int(d.train_mask.sum()), int(d.val_mask.sum()), int(d.test_mask.sum())) == (140, 500, 1000)
    assert not (d.train_mask & d.val_mask).any() and not (d.val_mask & d.test_mask).any()
    assert not (d.train_mask & d.test_mask).any()
    assert bool((d.graph.src != d.graph.dst).all())
    assert d.graph.to_undirected().equal(d.graph)  # undirected, deduplicated, sorted by (dst, src)
    assert d.x.dtype == torch.float32 and d.x.shape == (2708, 1433)
    torch.testing.assert_close(d.x.sum(1), torch.ones(2708))  # row-normalised (no empty rows in Cora)
    assert d.y.dtype == torch.int64 and d.y.shape == (2708,) and int(d.y.max()) == 6


def test_bundled_cora_equals_the_raw_files(raw_cora):
    # raw_cora is written from the bundled file (conftest): this is the raw reader's round trip
    a, b = load_dataset("cora"), load_dataset("cora", data_dir=raw_cora)
    assert a.graph.equal(b.graph)
    for name in ("x", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.num_classes == b.num_classes == 7


def test_raw_cora_fixture_uses_the_published_pickle_format(raw_cora):
    # the names (and protocol) of Yang et al.'s Python 2 pickles, so the reader is tested on that format
    globals_, protocols = set(), set()
    for suffix in ("x", "y", "tx", "ty", "allx", "ally", "graph"):
        for op, arg, _ in pickletools.genops((raw_cora / f"ind.cora.{suffix}").read_bytes()):
            if op.name == "GLOBAL":
                globals_.add(arg)
            elif op.name == "PROTO":
                protocols.add(arg)
            assert op.name not in ("BINUNICODE", "SHORT_BINBYTES", "BINBYTES"), (suffix, op.name)  # Python 2 str only
    assert protocols == {2}
    assert globals_ == {"scipy.sparse.csr csr_matrix", "numpy.core.multiarray _reconstruct", "numpy ndarray",
                        "numpy dtype", "collections defaultdict", "__builtin__ list"}


def test_bundled_npz_is_what_the_converter_writes(raw_cora, tmp_path):
    assert convert_main(["--convert", str(raw_cora), "cora", str(tmp_path / "cora.npz")]) == 0
    with np.load(tmp_path / "cora.npz", allow_pickle=False) as new, np.load(BUNDLED["cora"], allow_pickle=False) as old:
        assert sorted(new.files) == sorted(old.files)
        for key in old.files:
            assert new[key].dtype == old[key].dtype and np.array_equal(new[key], old[key]), key


def test_npz_round_trip_and_unnormalised_features(raw_cora, tmp_path):
    save_npz(raw_cora, "cora", tmp_path / "c.npz")
    d = load_npz(tmp_path / "c.npz", normalize_features=False)
    raw = read_planetoid(raw_cora, "cora", normalize_features=False)
    assert torch.equal(d.x, raw.x) and set(d.x.unique().tolist()) == {0.0, 1.0}


def test_citeseer_missing_test_rows_are_zero_padded(citeseer_like):
    root, x, y, test_ids, missing = citeseer_like
    d = read_planetoid(root, "citeseer", normalize_features=False)
    assert d.graph.num_nodes == 532 and d.num_classes == 3
    assert torch.equal(d.x, torch.from_numpy(x).float())
    assert torch.equal(d.y, torch.from_numpy(y))
    expect_test = torch.zeros(532, dtype=torch.bool)
    expect_test[test_ids] = True
    assert torch.equal(d.test_mask, expect_test) and not d.test_mask[missing].any()
    assert d.train_mask[:20].all() and int(d.train_mask.sum()) == 20
    assert d.val_mask[20:520].all() and int(d.val_mask.sum()) == 500
    # undirected, duplicates and the self-loop gone
    assert d.graph.equal(Graph.from_edges([(0, 1), (1, 0), (3, 530), (530, 3), (531, 4), (4, 531), (5, 6), (6, 5)], 532).coalesce(), data=False)


def test_citeseer_like_matches_pyg_reader(citeseer_like):
    pyg_io = pytest.importorskip("torch_geometric.io")
    root = citeseer_like[0]
    ref = pyg_io.read_planetoid_data(str(root), "citeseer")
    d = read_planetoid(root, "citeseer", normalize_features=False)
    assert torch.equal(d.x, ref.x) and torch.equal(d.y, ref.y)
    for name in ("train_mask", "val_mask", "test_mask"):
        assert torch.equal(getattr(d, name), getattr(ref, name)), name


def test_real_valued_features_normalise_by_row_sum_and_round_trip(tmp_path):
    # PubMed's features are TF-IDF weights: rows sum below 1 and must still be normalised; empty rows stay 0
    x = np.zeros((530, 4))
    x[0] = [0.1, 0.3, 0.0, 0.0]
    x[1] = [2.0, 0.0, 2.0, 0.0]
    y = np.arange(530) % 3
    _write_planetoid(tmp_path, "pubmed", x, y, 20, 520, list(range(520, 530)), [(0, 1)])
    d = read_planetoid(tmp_path, "pubmed")
    torch.testing.assert_close(d.x[:3], torch.tensor([[0.25, 0.75, 0, 0], [0.5, 0, 0.5, 0], [0, 0, 0, 0]]))
    save_npz(tmp_path, "pubmed", tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        assert "data" in z.files  # not binary: the values are stored
    e = load_npz(tmp_path / "p.npz")
    assert torch.equal(e.x, d.x) and torch.equal(e.y, d.y) and e.graph.equal(d.graph)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_rejects_code(tmp_path, citeseer_like):
    root = citeseer_like[0]
    for f in root.glob("ind.citeseer.*"):
        shutil.copy(f, tmp_path / f.name.replace("citeseer", "evil"))
    with open(tmp_path / "ind.evil.x", "wb") as fh:
        pickle.dump(_Evil(), fh, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to unpickle (posix|nt|os)\.system"):
        read_planetoid(tmp_path, "evil")


@pytest.mark.parametrize("protocol", [2, 4])
def test_restricted_unpickler_accepts_files_written_by_python3(tmp_path, protocol):
    # the allowlist covers what today's numpy/scipy write, not only the Python 2 originals
    x, y = np.eye(530, 3), np.arange(530) % 3
    _write_planetoid(tmp_path, "cora", x, y, 20, 520, list(range(520, 530)), [(0, 1)], protocol=protocol)
    d = read_planetoid(tmp_path, "cora", normalize_features=False)
    assert torch.equal(d.x, torch.from_numpy(x).float()) and torch.equal(d.y, torch.from_numpy(y))


def test_missing_file_is_named(tmp_path):
    (tmp_path / "ind.foo.x").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"ind\.foo\.y .*\['foo'\]"):
        load_dataset("foo", data_dir=tmp_path)


def test_missing_dataset_lists_what_the_directory_holds(raw_cora):
    with pytest.raises(FileNotFoundError, match=r"ind\.citeseer\.x .*\['cora'\]"):
        load_dataset("citeseer", data_dir=raw_cora)


def test_unknown_bundled_name_lists_what_exists():
    with pytest.raises(ValueError, match=r"'citeseer' is not bundled \(bundled: \['cora'\]\)"):
        load_dataset("citeseer")


def test_bundled_file_is_small_and_holds_no_pickles():
    assert BUNDLED["cora"].stat().st_size < 1_000_000
    with np.load(BUNDLED["cora"], allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_license_ships_next_to_the_data():
    text = (BUNDLED["cora"].parent / "LICENSE-planetoid-data.txt").read_text()
    assert "MIT" in text


def test_convert_command_reports_a_missing_directory(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        convert_main(["--convert", str(tmp_path / "nowhere"), "cora", str(tmp_path / "c.npz")])
    assert exc.value.code == 2 and "ind.cora.x" in capsys.readouterr().err


# ------------------------------------------------------------------ crafted files, in a subprocess
# Runs each (loader, args) named on stdin in a child process and prints one outcome per call. A crafted
# csr_matrix with a backwards indptr corrupts scipy's heap (the process aborts), so only a subprocess
# turns that into a test failure instead of a dead test run.
_CALLER = """
import json, sys
import gnnkit.data
out = []
for fn, args in json.load(sys.stdin):
    try:
        getattr(gnnkit.data, fn)(*args)
        out.append("OK")
    except Exception as exc:
        out.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(out))
"""
ROOT = Path(__file__).resolve().parents[1]


def call_in_subprocess(calls: list[tuple[str, list]]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _CALLER], input=json.dumps(calls), capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, f"the loader crashed (return code {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def _tamper(m: sp.csr_matrix, **fields) -> sp.csr_matrix:
    """A csr_matrix whose __dict__ holds ``fields`` unchecked: what a crafted pickle rebuilds."""
    m = m.copy()
    for key, value in fields.items():
        m.__dict__[key] = value
    return m


class _FlaggedArray:
    """Pickles as an int64 array whose dtype state sets flag 1 (NPY_ITEM_REFCOUNT): "this int64 holds objects"."""

    def __init__(self, shape):
        self.shape = shape

    def __reduce__(self):
        dtype = _Reduce(np.dtype, ("i8", False, True), (3, "<", None, None, None, -1, -1, 1))
        return (np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"),
                (1, self.shape, dtype, False, np.zeros(self.shape, np.int64).tobytes()))


class _ShortArray(_FlaggedArray):
    """Pickles as an int64 array of ``shape`` whose raw bytes hold one value."""

    def __reduce__(self):
        dtype = _Reduce(np.dtype, ("i8", False, True), (3, "<", None, None, None, -1, -1, 0))
        return (np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, self.shape, dtype, False, b"\0" * 8))


class _Reduce:
    def __init__(self, *parts):
        self.parts = parts

    def __reduce__(self):
        return self.parts


def test_crafted_planetoid_pickles_are_value_errors_not_crashes(tmp_path, citeseer_like):
    root = citeseer_like[0]
    good = {p.name.split(".", 2)[2]: p.read_bytes() for p in root.glob("ind.citeseer.*")}
    with open(root / "ind.citeseer.tx", "rb") as fh:
        tx = pickle.load(fh)
    with open(root / "ind.citeseer.ally", "rb") as fh:
        ally = pickle.load(fh)
    n_cols = tx.shape[1]
    crafted = {
        "idx_high": ("tx", _tamper(tx, indices=np.full_like(tx.indices, n_cols + 10**6)), r"indices holds ids in"),
        "idx_negative": ("tx", _tamper(tx, indices=-np.ones_like(tx.indices)), r"indices holds ids in \[-1"),
        "ptr_backwards": ("tx", _tamper(tx, indptr=tx.indptr[::-1].copy()), r"indptr must run from 0 to|non-decreasing"),
        "ptr_decreasing": ("tx", _tamper(tx, indptr=np.r_[0, tx.indptr[2], tx.indptr[1], tx.indptr[3:]].astype(tx.indptr.dtype)),
                           r"indptr must be non-decreasing"),
        "ptr_short": ("tx", _tamper(tx, indptr=tx.indptr[:-3]), r"indptr must have num_rows \+ 1"),
        "data_short": ("tx", _tamper(tx, data=tx.data[:-1]), r"data and indices must have one entry per stored value"),
        "data_object": ("tx", _tamper(tx, data=np.array([None] * tx.data.size, dtype=object)),
                        r"data: dtype 'O8' is not a plain bool/integer/float type"),
        "dtype_flags": ("ally", _FlaggedArray(ally.shape), r"dtype state .* is not that of a plain i8 type"),
        "array_short": ("ally", _ShortArray(ally.shape), r"an ndarray of shape \(520, 3\) and dtype int64 needs 12480 bytes, got 8"),
        "shape_huge": ("tx", _tamper(tx, _shape=(10**6, 10**7)), r"shape must be two non-negative integers"),
        "shape_bad": ("tx", _tamper(tx, _shape=("a", 3)), r"shape must be two non-negative integers"),
        "no_indptr": ("tx", _tamper(tx, indptr=None), r"must be a numpy array, got NoneType"),
        "labels_string": ("ally", np.array([["a"]] * ally.shape[0]), r"one-hot labels\): dtype 'U1' is not a plain"),
        "labels_rows": ("ally", ally[:-1], r"ind\.citeseer\.allx has 520 rows but .*ind\.citeseer\.ally has 519"),
        "graph_list": ("graph", [1, 2], r"must hold a dict of vertex -> list of neighbours"),
        "graph_float_ids": ("graph", {0: [1.5]}, r"neighbour ids must be integers"),
        "graph_str_keys": ("graph", {"a": [1]}, r"vertex keys must be integers"),
        "x_is_a_list": ("x", [1, 2], r"must hold a scipy CSR matrix or a 2-D array, got list"),
    }
    calls, expected = [], []
    for name, (suffix, obj, match) in crafted.items():
        folder = tmp_path / name
        folder.mkdir()
        for s, content in good.items():
            (folder / f"ind.citeseer.{s}").write_bytes(content)
        with open(folder / f"ind.citeseer.{suffix}", "wb") as fh:
            pickle.dump(obj, fh, protocol=2)
        calls.append(("read_planetoid", [str(folder), "citeseer"]))
        expected.append((name, match))
    for name, (suffix, content, match) in {
        "truncated": ("tx", good["tx"][: len(good["tx"]) // 2], r"not a readable Planetoid pickle"),
        "test_index_text": ("test.index", b"520\nabc\n", r"must hold one integer vertex id per line"),
        "test_index_range": ("test.index", b"5\n", r"must hold 10 distinct ids"),
    }.items():
        folder = tmp_path / name
        folder.mkdir()
        for s, c in good.items():
            (folder / f"ind.citeseer.{s}").write_bytes(c)
        (folder / f"ind.citeseer.{suffix}").write_bytes(content)
        calls.append(("read_planetoid", [str(folder), "citeseer"]))
        expected.append((name, match))
    calls.append(("read_planetoid", [str(root), "citeseer"]))
    outcomes = call_in_subprocess(calls)
    assert outcomes[-1] == "OK"
    for (name, match), outcome in zip(expected, outcomes):
        assert outcome.startswith("ValueError: "), (name, outcome)
        assert re.search(match, outcome), (name, match, outcome)


def test_crafted_npz_features_are_value_errors_not_crashes(tmp_path):
    with np.load(BUNDLED["cora"], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    indptr = arrays["indptr"]
    crafted = {
        "indices_high": ({"indices": np.full_like(arrays["indices"], 2000)}, r"features indices holds ids in \[2000, 2000\]"),
        "indptr_backwards": ({"indptr": np.r_[indptr[0], indptr[2], indptr[1], indptr[3:]].astype(indptr.dtype)},
                             r"indptr must be non-decreasing"),
        "indptr_short": ({"indptr": indptr[:-1]}, r"indptr must have num_rows \+ 1"),
        "shape_3d": ({"shape": np.array([2708, 1433, 1])}, r"shape must be two non-negative integers"),
        "src_high": ({"src": np.array([2708], np.int32), "dst": np.array([0], np.int32)}, r"field 'src' holds ids in \[2708, 2708\]"),
        "test_negative": ({"test": np.array([-1], np.int32)}, r"field 'test' holds ids in \[-1, -1\]"),
        "y_class": ({"y": np.full_like(arrays["y"], 7)}, r"field 'y' holds ids in \[7, 7\] but they must lie in \[0, 7\)"),
        "y_float": ({"y": arrays["y"].astype(np.float32)}, r"field 'y' must have a dtype of kind 'iu'"),
        "num_classes": ({"num_classes": np.array(0)}, r"'num_classes' must be a positive integer"),
        "name_number": ({"name": np.array(3)}, r"'name' must be a string"),
        "missing": ({"src": None}, r"lacks the fields \['src'\]"),
    }
    calls, expected = [], []
    for name, (changes, match) in crafted.items():
        a = {**arrays, **changes}
        np.savez(tmp_path / f"{name}.npz", **{k: v for k, v in a.items() if v is not None})
        calls.append(("load_npz", [str(tmp_path / f"{name}.npz")]))
        expected.append((name, match))
    (tmp_path / "truncated.npz").write_bytes(BUNDLED["cora"].read_bytes()[:5000])
    calls.append(("load_npz", [str(tmp_path / "truncated.npz")]))
    expected.append(("truncated", r"not a readable \.npz file"))
    calls.append(("load_npz", [str(BUNDLED["cora"])]))
    outcomes = call_in_subprocess(calls)
    assert outcomes[-1] == "OK"
    for (name, match), outcome in zip(expected, outcomes):
        assert outcome.startswith("ValueError: "), (name, outcome)
        assert re.search(match, outcome), (name, match, outcome)


# ------------------------------------------------------------------ Planetoid raw files written from the bundled Cora
def test_raw_planetoid_written_from_the_bundled_arrays_reads_back_the_same(tmp_path):
    with np.load(BUNDLED["cora"], allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    feats = sp.csr_matrix((np.ones(a["indices"].size), a["indices"].astype(np.int64), a["indptr"].astype(np.int64)),
                          shape=tuple(a["shape"]))
    dense = np.asarray(feats.todense())
    y = a["y"].astype(np.int64)
    test_ids = a["test"].tolist()  # test.index order (unsorted), as the raw files
    num_allx = min(test_ids)  # Cora: allx holds every vertex before the test ones (1708 rows)
    edges = list(zip(a["src"].tolist(), a["dst"].tolist()))
    _write_planetoid(tmp_path, "cora", dense, y, int(a["train"].size), num_allx, test_ids, edges)
    raw, bundled = load_dataset("cora", root=tmp_path), load_dataset("cora")
    assert raw.graph.equal(bundled.graph) and raw.num_classes == bundled.num_classes == 7
    for key in ("x", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(raw.graph.ndata[key], bundled.graph.ndata[key]), key
    assert raw.task == "node" and len(raw) == 1 and raw[0] is raw.graph
    assert {k: v.numel() for k, v in raw.split_idx.items()} == {"train": 140, "valid": 500, "test": 1000}


# ------------------------------------------------------------------ the Dataset type
def test_dataset_fields_come_from_the_graph_data():
    g = Graph([0, 1], [1, 2], 3, ndata={"x": torch.ones(3, 4), "y": torch.tensor([0, 1, 1]),
                                         "train_mask": torch.tensor([True, False, False])})
    ds = Dataset("toy", "node", [g], 2, split_idx={"valid": torch.tensor([1]), "test": torch.tensor([2])})
    assert ds.graph is g and ds.x is g.ndata["x"] and ds.y is g.ndata["y"] and ds.num_features == 4
    assert ds.train_mask.tolist() == [True, False, False]  # from ndata
    assert ds.val_mask.tolist() == [False, True, False] and ds.test_mask.tolist() == [False, False, True]  # from split_idx
    assert "num_features=4" in repr(ds)


def test_dataset_validation_branches():
    g = Graph([0], [1], 2)
    with pytest.raises(ValueError, match=r"task must be one of \('node', 'link', 'graph'\), got 'edge'"):
        Dataset("d", "edge", [g], 2)
    with pytest.raises(ValueError, match="a 'node' dataset holds exactly one graph, got 2"):
        Dataset("d", "node", [g, g], 2)
    with pytest.raises(TypeError, match=r"graphs\[1\] must be a gnnkit.Graph, got int"):
        Dataset("d", "graph", [g, 3], 2, labels=torch.zeros(2))
    with pytest.raises(ValueError, match=r"labels must have first dimension B=2 \(one per graph\), got \(3,\)"):
        Dataset("d", "graph", [g, g], 2, labels=torch.zeros(3))
    with pytest.raises(ValueError, match="labels are graph labels"):
        Dataset("d", "node", [g], 2, labels=torch.zeros(1))
    with pytest.raises(ValueError, match=r"split_idx\['test'\] holds ids in \[0, 2\] but the dataset has 2 vertices"):
        Dataset("d", "node", [g], 2, split_idx={"test": torch.tensor([0, 2])})
    graphs = Dataset("d", "graph", [g, g], 2, labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"holds 2 graphs \(task 'graph'\); use ds\[i\]"):
        graphs.graph
    assert graphs.y.tolist() == [0, 1] and graphs.num_features == 0
    with pytest.raises(ValueError, match="has no vertex labels"):
        Dataset("d", "node", [g], 0).y
    with pytest.raises(ValueError, match="has no 'train' split"):
        Dataset("d", "node", [g], 0).train_mask
    with pytest.raises(ValueError, match="has no OGB metric"):
        Dataset("d", "node", [g], 0).evaluate(torch.zeros(2))


def test_split_graphs_rejects_an_edge_outside_its_graph():
    with pytest.raises(ValueError, match=r"f\.txt: edge 2 \(0, 2\) belongs to graph 1, whose vertex ids lie in \[0, 2\)"):
        split_graphs(np.array([0, 1, 0]), np.array([1, 0, 2]), np.array([2, 2]), np.array([2, 1]), {}, {}, "f.txt")
    with pytest.raises(ValueError, match=r"ndata\['x'\] has 3 rows, the graphs have 4 in all"):
        split_graphs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.array([2, 2]), np.array([0, 0]),
                     {"x": torch.zeros(3)}, {}, "f.txt")


# ------------------------------------------------------------------ TU
def _write_tu(folder: Path, name: str, files: dict[str, list]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for key, rows in files.items():
        text = "".join((", ".join(str(v) for v in row) if isinstance(row, (list, tuple)) else str(row)) + "\n" for row in rows)
        (folder / f"{name}_{key}.txt").write_text(text)


@pytest.fixture
def tu_toy(tmp_path):
    """Three graphs (a triangle, an edge, a lone vertex) with every optional file; graph labels -1/1/1."""
    files = {
        "A": [(1, 2), (2, 1), (2, 3), (3, 2), (3, 1), (1, 3), (4, 5), (5, 4)],
        "graph_indicator": [1, 1, 1, 2, 2, 3],
        "graph_labels": [-1, 1, 1],
        "node_labels": [2, 3, 2, 4, 2, 3],
        "node_attributes": [(0.5, 1.0), (1.5, 2.0), (2.5, 3.0), (3.5, 4.0), (4.5, 5.0), (5.5, 6.0)],
        "edge_labels": [1, 1, 0, 0, 2, 2, 1, 1],
        "edge_attributes": [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4],
    }
    _write_tu(tmp_path / "TOY" / "raw", "TOY", files)
    return tmp_path, files


def test_tu_reads_graphs_labels_and_data(tu_toy):
    root, files = tu_toy
    ds = load_tu("TOY", root)
    assert ds.task == "graph" and len(ds) == 3 and ds.num_classes == 2 and ds.y.tolist() == [0, 1, 1]
    assert [(g.num_nodes, g.num_edges) for g in ds] == [(3, 6), (2, 2), (1, 0)]
    assert ds[0].src.tolist() == [0, 1, 1, 2, 2, 0] and ds[1].src.tolist() == [0, 1]
    assert ds[0].ndata["node_labels"].tolist() == [2, 3, 2]
    torch.testing.assert_close(ds[1].edata["edge_attributes"], torch.tensor([0.4, 0.4]))
    # x: the attributes, then a one-hot of the labels shifted to start at 0 (PyG's TUDataset)
    expect = torch.tensor([[0.5, 1.0, 1, 0, 0], [1.5, 2.0, 0, 1, 0], [2.5, 3.0, 1, 0, 0]])
    torch.testing.assert_close(ds[0].ndata["x"], expect)
    assert ds.num_features == 5 and ds.split_idx == {}


def test_tu_matches_pyg_reader(tu_toy):
    pyg_tu = pytest.importorskip("torch_geometric.io.tu")
    root, _ = tu_toy
    data, slices, _ = pyg_tu.read_tu_data(str(root / "TOY" / "raw"), "TOY")
    ds = load_dataset("TOY", root=root)
    assert torch.equal(ds.y, data.y)
    torch.testing.assert_close(torch.cat([g.ndata["x"] for g in ds]), data.x)
    covered = slices["edge_index"].numel() - 1  # PyG's slices stop after the last graph with edges
    assert all(g.num_edges == 0 for g in ds.graphs[covered:])
    for b, g in enumerate(ds.graphs[:covered]):  # PyG coalesces each graph's edges; these files have no duplicates
        e0, e1 = slices["edge_index"][b], slices["edge_index"][b + 1]
        assert g.coalesce().equal(Graph(data.edge_index[0, e0:e1], data.edge_index[1, e0:e1], g.num_nodes).coalesce(), data=False)


def test_tu_regression_targets_and_other_folders(tmp_path):
    _write_tu(tmp_path, "REG", {"A": [(1, 2)], "graph_indicator": [1, 1, 2], "graph_attributes": [0.5, -1.5]})
    ds = load_tu("REG", tmp_path)
    assert ds.num_classes == 0 and ds.y.dtype == torch.float32 and ds.y.tolist() == [0.5, -1.5]
    assert "x" not in ds[0].ndata and ds[1].num_nodes == 1


@pytest.mark.parametrize("key, rows, match", [
    ("A", [(1, 2), (2, "x")], r"TOY_A\.txt: could not convert string .*x.* at line 2"),
    ("A", [(1, 2, 3)], r"TOY_A\.txt must have two columns"),
    ("A", [(1, 7)], r"TOY_A\.txt holds vertex ids in \[1, 7\] but .* lists 6 vertices"),
    ("A", [(1, 2), (3, 4)], r"TOY_A\.txt line 2: edge \(3, 4\) joins two graphs"),
    ("graph_indicator", [2, 2, 2, 1, 1, 3], r"must number the graphs 1\.\.B"),
    ("graph_indicator", [1, 1, 1, 2, 2, 10**12], r"must number the graphs 1\.\.B .*a gap"),
    ("graph_labels", [1, 1], r"graph_labels\.txt has 2 rows but .* numbers 3 graphs"),
    ("node_labels", [1, 2], r"node_labels\.txt has 2 rows but there are 6 vertices"),
    ("edge_attributes", [0.5, "nan?"], r"edge_attributes\.txt: could not convert .* at line 2"),
    ("node_labels", [0, 0, 0, 0, 0, 10**9], r"node_labels\.txt: node labels span \[1000000001\] values"),
])
def test_tu_malformed_files_name_file_and_line(tu_toy, key, rows, match):
    root, _ = tu_toy
    _write_tu(root / "TOY" / "raw", "TOY", {key: rows})
    with pytest.raises(ValueError, match=match):
        load_tu("TOY", root)


def test_tu_missing_files_say_what_to_put_there(tu_toy):
    root, _ = tu_toy
    with pytest.raises(FileNotFoundError, match=r"TU file missing: NOPE_A\.txt .*NOPE_graph_indicator\.txt"):
        load_tu("NOPE", root)
    (root / "TOY" / "raw" / "TOY_graph_labels.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"TOY_graph_labels\.txt does not exist \(it must hold one integer class"):
        load_tu("TOY", root)


# ------------------------------------------------------------------ edge lists
def _write_edgelist(folder: Path, lines: str, n: int = 4, features: bool = True, labels: bool = True,
                    split: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "edges.txt").write_text(lines)
    if features:
        np.save(folder / "features.npy", np.arange(n * 2, dtype=np.float64).reshape(n, 2))
    if labels:
        np.save(folder / "labels.npy", np.arange(n) % 2)
    if split:
        np.savez(folder / "split.npz", train=np.array([0, 1]), valid=np.array([2]), test=np.array([3]))
    return folder


def test_edgelist_reads_weights_features_labels_and_split(tmp_path):
    _write_edgelist(tmp_path / "toy", "# src dst weight\n0 1 0.5\n1\t2   2.0\n\n2 0 1\n")
    ds = load_dataset("toy", root=tmp_path)
    g = ds.graph
    assert (g.num_nodes, g.src.tolist(), g.dst.tolist()) == (4, [0, 1, 2], [1, 2, 0])  # vertex 3 isolated, kept
    torch.testing.assert_close(g.edata["edge_weight"], torch.tensor([0.5, 2.0, 1.0]))
    assert ds.x.dtype == torch.float32 and ds.x.shape == (4, 2) and ds.y.tolist() == [0, 1, 0, 1]
    assert ds.num_classes == 2 and ds.train_mask.tolist() == [True, True, False, False]
    assert ds.split_idx["test"].tolist() == [3]


def test_edgelist_without_weights_or_split(tmp_path):
    _write_edgelist(tmp_path, "0 1\n3 2\n", features=False, split=False)
    ds = load_edgelist("anything", tmp_path)  # edges.txt directly in root
    assert "edge_weight" not in ds.graph.edata and ds.x is None and ds.split_idx == {}


@pytest.mark.parametrize("lines, kwargs, match", [
    ("0 1\n1 x\n", {}, r"edges\.txt: could not convert string 'x' .* at line 2"),
    ("0 1\n1 2 3 4\n", {}, r"edges\.txt: the number of columns changed from 2 to 4 at line 2"),
    ("0\n", {}, r"must have lines 'src dst' or 'src dst weight', got 1 columns"),
    ("0 1.5\n", {}, r"edge 1 has a vertex id that is not an integer"),
    ("0 4\n", {}, r"column 2 \(dst\) holds ids in \[4, 4\] but they must lie in \[0, 4\)"),
    ("-1 0\n", {}, r"column 1 \(src\) holds ids in \[-1, -1\]"),
    ("0 1\n", {"features": False, "labels": False}, r"needs features\.npy \[N, F\] or labels\.npy \[N\]"),
])
def test_edgelist_malformed_content_names_file_and_line(tmp_path, lines, kwargs, match):
    _write_edgelist(tmp_path / "toy", lines, **kwargs)
    with pytest.raises(ValueError, match=match):
        load_edgelist("toy", tmp_path)


def test_edgelist_bad_arrays(tmp_path):
    folder = _write_edgelist(tmp_path / "toy", "0 1\n")
    np.save(folder / "labels.npy", np.arange(5))
    with pytest.raises(ValueError, match=r"labels\.npy has 5 rows but features\.npy has 4"):
        load_edgelist("toy", tmp_path)
    np.save(folder / "labels.npy", np.array(["a"] * 4))
    with pytest.raises(ValueError, match=r"labels\.npy must have a dtype of kind 'iu'"):
        load_edgelist("toy", tmp_path)
    np.save(folder / "labels.npy", np.array([object()] * 4, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"labels\.npy is not a readable \.npy file"):
        load_edgelist("toy", tmp_path)
    np.save(folder / "labels.npy", np.arange(4))
    np.savez(folder / "split.npz", train=np.array([9]), valid=np.array([0]), test=np.array([1]))
    with pytest.raises(ValueError, match=r"split\.npz field 'train' holds ids in \[9, 9\]"):
        load_edgelist("toy", tmp_path)
    np.savez(folder / "split.npz", train=np.array([0]))
    with pytest.raises(ValueError, match=r"split\.npz lacks the fields \['valid', 'test'\]"):
        load_edgelist("toy", tmp_path)


def test_edgelist_missing_file_says_what_to_put_there(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"toy/edges\.txt \(put one 'src dst \[weight\]' line per edge there"):
        load_edgelist("toy", tmp_path)


# ------------------------------------------------------------------ load_dataset
def test_load_dataset_dispatch_and_arguments(tmp_path, tu_toy):
    root, _ = tu_toy
    _write_edgelist(root / "toy", "0 1\n")
    assert load_dataset("TOY", root).task == "graph"
    assert load_dataset("toy", data_dir=root).task == "node"  # the former keyword still works
    assert load_dataset("TOY", root, format="tu").name == "TOY"
    with pytest.raises(ValueError, match="pass root or data_dir"):
        load_dataset("toy", root, data_dir=root)
    with pytest.raises(ValueError, match=r"format must be one of \('planetoid', 'ogb', 'tu', 'edgelist'\)"):
        load_dataset("toy", root, format="csv")
    with pytest.raises(FileNotFoundError, match=r"no dataset 'zzz' under .*ind\.zzz\..*zzz_A\.txt.*zzz/edges\.txt"):
        load_dataset("zzz", root)
    with pytest.raises(ValueError, match=r"'ogbg-molhiv' is an OGB dataset: pass root=DIR"):
        load_dataset("ogbg-molhiv")


def test_train_cli_runs_on_an_edge_list_and_refuses_graph_tasks(tmp_path, tu_toy, capsys):
    from gnnkit.cli.train import main as train_main

    root, _ = tu_toy
    _write_edgelist(root / "toy", "0 1\n1 0\n2 3\n3 2\n")
    assert train_main(["train", "--dataset", "toy", "--data-dir", str(root), "--epochs", "2", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("test accuracy: ")
    with pytest.raises(SystemExit) as exc:
        train_main(["train", "--dataset", "TOY", "--data-dir", str(root), "--quiet"])
    assert exc.value.code == 2 and "is a 'graph' dataset" in capsys.readouterr().err


# ------------------------------------------------------------------ property: written files read back exactly
@st.composite
def small_graph_sets(draw):
    """1-4 graphs of 1-5 vertices with random directed edges, integer graph labels and node labels."""
    graphs = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 5))
        edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=6))
        graphs.append((n, edges, draw(st.integers(-2, 3)), draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))))
    return graphs


@settings(max_examples=25, deadline=None)
@given(graphs=small_graph_sets())
def test_tu_files_read_back_exactly(tmp_path_factory, graphs):
    root = tmp_path_factory.mktemp("tu")
    a, indicator, node_labels, offset = [], [], [], 0
    for b, (n, edges, _, labels) in enumerate(graphs):
        a += [(offset + u + 1, offset + v + 1) for u, v in edges]
        indicator += [b + 1] * n
        node_labels += labels
        offset += n
    _write_tu(root, "P", {"A": a, "graph_indicator": indicator, "graph_labels": [g[2] for g in graphs],
                          "node_labels": node_labels})
    ds = load_tu("P", root)
    classes = sorted({g[2] for g in graphs})
    assert ds.y.tolist() == [classes.index(g[2]) for g in graphs] and ds.num_classes == len(classes)
    low = min(node_labels)
    for g, (n, edges, _, labels) in zip(ds.graphs, graphs):
        assert g.equal(Graph.from_edges(edges, n), data=False)  # file order kept within each graph
        assert g.ndata["node_labels"].tolist() == labels
        assert torch.equal(g.ndata["x"].argmax(1), torch.tensor(labels) - low)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), data=st.data())
def test_edge_lists_read_back_exactly(tmp_path_factory, n, data):
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=10))
    weights = np.array(data.draw(st.lists(st.floats(-1e6, 1e6, width=32), min_size=len(edges), max_size=len(edges))),
                       dtype=np.float32)
    root = tmp_path_factory.mktemp("el")
    lines = "".join(f"{u} {v} {repr(float(w))}\n" for (u, v), w in zip(edges, weights))
    _write_edgelist(root, lines, n=n, split=False)
    ds = load_edgelist("x", root)
    assert ds.graph.equal(Graph.from_edges(edges, n), data=False)
    assert torch.equal(ds.graph.edata["edge_weight"], torch.from_numpy(weights)) if edges else "edge_weight" not in ds.graph.edata
