"""Planetoid reader, restricted unpickler and the bundled Cora."""
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.datasets import load_dataset, read_planetoid, save_npz, load_npz

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "planetoid"
needs_raw = pytest.mark.skipif(not (RAW / "ind.cora.x").is_file(), reason=f"raw Planetoid files not found at {RAW}")


def test_bundled_cora_has_the_standard_sizes_and_split():
    d = load_dataset("cora")
    assert (d.graph.num_nodes, d.graph.num_edges, d.num_features, d.num_classes) == (2708, 10556, 1433, 7)
    assert (int(d.train_mask.sum()), int(d.val_mask.sum()), int(d.test_mask.sum())) == (140, 500, 1000)
    assert not (d.train_mask & d.val_mask).any() and not (d.val_mask & d.test_mask).any()
    assert bool((d.graph.src != d.graph.dst).all())
    assert d.graph.to_undirected().equal(d.graph)  # undirected, deduplicated, sorted by (dst, src)
    torch.testing.assert_close(d.x.sum(1), torch.ones(2708))  # row-normalised (no empty rows in Cora)
    assert d.y.dtype == torch.int64 and int(d.y.max()) == 6


@needs_raw
def test_bundled_cora_equals_the_raw_files():
    a, b = load_dataset("cora"), load_dataset("cora", data_dir=RAW)
    assert a.graph.equal(b.graph)
    for name in ("x", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@needs_raw
def test_npz_round_trip_and_unnormalised_features(tmp_path):
    save_npz(RAW, "cora", tmp_path / "c.npz")
    d = load_npz(tmp_path / "c.npz", normalize_features=False)
    raw = read_planetoid(RAW, "cora", normalize_features=False)
    assert torch.equal(d.x, raw.x) and set(d.x.unique().tolist()) == {0.0, 1.0}


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@needs_raw
def test_restricted_unpickler_rejects_code(tmp_path):
    for f in RAW.glob("ind.cora.*"):
        shutil.copy(f, tmp_path / f.name.replace("cora", "evil"))
    with open(tmp_path / "ind.evil.x", "wb") as fh:
        pickle.dump(_Evil(), fh, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle .*system"):
        read_planetoid(tmp_path, "evil")


def test_missing_file_is_named(tmp_path):
    (tmp_path / "ind.foo.x").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"ind\.foo\.y"):
        load_dataset("foo", data_dir=tmp_path)


def test_unknown_bundled_name_lists_what_exists():
    with pytest.raises(ValueError, match=r"'citeseer' is not bundled \(bundled: \['cora'\]\)"):
        load_dataset("citeseer")


def test_bundled_file_holds_no_pickles():
    from gnnkit.datasets import BUNDLED

    with np.load(BUNDLED["cora"], allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
