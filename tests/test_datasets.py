"""Planetoid reader, restricted unpickler, the bundled Cora and its converter."""
import os
import pickle
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gnnkit import Graph
from gnnkit.data import BUNDLED, load_dataset, load_npz, read_planetoid, save_npz
from gnnkit.data.__main__ import main as convert_main

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "planetoid"
needs_raw = pytest.mark.skipif(not (RAW / "ind.cora.x").is_file(), reason=f"raw Planetoid files not found at {RAW}")


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


@needs_raw
def test_bundled_cora_equals_the_raw_files():
    a, b = load_dataset("cora"), load_dataset("cora", data_dir=RAW)
    assert a.graph.equal(b.graph)
    for name in ("x", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.num_classes == b.num_classes == 7


@needs_raw
def test_bundled_npz_is_what_the_converter_writes(tmp_path):
    assert convert_main(["--convert", str(RAW), "cora", str(tmp_path / "cora.npz")]) == 0
    with np.load(tmp_path / "cora.npz", allow_pickle=False) as new, np.load(BUNDLED["cora"], allow_pickle=False) as old:
        assert sorted(new.files) == sorted(old.files)
        for key in old.files:
            assert new[key].dtype == old[key].dtype and np.array_equal(new[key], old[key]), key


@needs_raw
def test_npz_round_trip_and_unnormalised_features(tmp_path):
    save_npz(RAW, "cora", tmp_path / "c.npz")
    d = load_npz(tmp_path / "c.npz", normalize_features=False)
    raw = read_planetoid(RAW, "cora", normalize_features=False)
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
    assert d.graph.equal(Graph.from_edges([(0, 1), (1, 0), (3, 530), (530, 3), (531, 4), (4, 531), (5, 6), (6, 5)], 532).coalesce())


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


@needs_raw
def test_missing_dataset_lists_what_the_directory_holds():
    with pytest.raises(FileNotFoundError, match=r"ind\.citeseer\.x .*\['cora'\]"):
        load_dataset("citeseer", data_dir=RAW)


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
