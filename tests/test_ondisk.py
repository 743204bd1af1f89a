"""The on-disk layout: round trip against the in-memory graph, sampling, feature storage, header checks."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit.data.convert import convert
from gnnkit.data.edgelist import load_edgelist
from gnnkit.data.ogb import load_ogb_node, write_synthetic
from gnnkit.data.ondisk import OnDiskGraph, _checksum
from gnnkit.data import _native_sampling as _native
from gnnkit.data.sampling import NeighborSampler
from gnnkit.graph import Graph

ROOT = Path(__file__).resolve().parents[1]


def _edge_folder(folder: Path, n: int = 60, e: int = 400, f: int = 5, seed: int = 0, text: bool = False,
                 feature_dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """An edge-list folder with features, labels and a split; returns (edges [E, 2], features [N, F])."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    edges = rng.integers(0, n, (e, 2))
    edges[:5] = [3, 3]  # duplicate self-loops
    if text:
        np.savetxt(folder / "edges.txt", edges, fmt="%d")
    else:
        np.save(folder / "edges.npy", edges)
    x = rng.standard_normal((n, f)).astype(feature_dtype)
    np.save(folder / "features.npy", x)
    np.save(folder / "labels.npy", rng.integers(0, 4, n))
    perm = rng.permutation(n)
    np.savez(folder / "split.npz", train=perm[:10], valid=perm[10:15], test=perm[15:20])
    return edges, x


def _graph(edges: np.ndarray, n: int) -> Graph:
    return Graph(torch.from_numpy(edges[:, 0].astype(np.int64)), torch.from_numpy(edges[:, 1].astype(np.int64)), n)


@pytest.fixture
def layout(tmp_path):
    edges, x = _edge_folder(tmp_path / "src", text=True)
    return convert(tmp_path / "src", tmp_path / "out", chunk_edges=37, progress=False), tmp_path / "src"


def test_ondisk_roundtrip_equals_load_edgelist(layout):
    g, src = layout
    ds = load_edgelist("src", src.parent)
    csr = ds.graph.csr_in()
    assert torch.equal(g.indptr, csr.indptr) and torch.equal(g.indices.long(), csr.indices)
    assert g.indices.dtype == torch.int32 and g.indptr.dtype == torch.int64
    torch.testing.assert_close(g.gather_features(torch.arange(g.num_nodes)), ds.graph.ndata["x"])
    assert torch.equal(g.labels(), ds.graph.ndata["y"]) and g.num_classes == ds.num_classes
    for name, part in (("train_idx", "train"), ("valid_idx", "valid"), ("test_idx", "test")):
        assert torch.equal(g.split(name), ds.split_idx[part])


def test_ondisk_arrays_share_the_mapped_file(layout):
    g, _ = layout
    for name in ("indptr", "indices"):
        mapped = g._arrays[name]  # the np.frombuffer view of the mmap
        assert not mapped.flags.writeable and getattr(g, name).data_ptr() == mapped.ctypes.data


@pytest.mark.parametrize("fanouts,replace", [([3, 2], False), ([-1, 4], False), ([2, 2, 2], True)])
def test_ondisk_sampling_equals_in_memory(tmp_path, fanouts, replace):
    edges, _ = _edge_folder(tmp_path / "src", n=80, e=900, seed=4)
    g = convert(tmp_path / "src", tmp_path / "out", chunk_edges=50, bucket_edges=64, progress=False)
    graph = _graph(edges, 80)
    eid = graph.csr_in().eid  # the layout numbers edges by CSR position
    if _native.library() is None:
        pytest.skip("the CPU kernels could not be built")
    # the layout's int32 CSR samples natively in place (gk_sample_layer_i32): the same draws as the
    # in-memory graph's int64 CSR for a seed
    mem = NeighborSampler(graph, fanouts, replace=replace, backend="native")
    disk = g.sampler(fanouts, replace=replace, backend="native")
    assert disk._indices.dtype == np.int32 and disk._indices.ctypes.data == g._arrays["indices"].ctypes.data
    for seed in range(5):
        seeds = np.random.default_rng(seed).permutation(80)[:12]
        a, b = mem.sample(seeds, seed), disk.sample(seeds, seed)
        assert torch.equal(a.input_nodes, b.input_nodes)
        for x, y, ex, ey in zip(a.blocks, b.blocks, a.edge_ids, b.edge_ids):
            assert torch.equal(x.src, y.src) and torch.equal(x.dst, y.dst) and torch.equal(ex, eid[ey])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_ondisk_feature_storage_upcasts(tmp_path, dtype):
    _, x = _edge_folder(tmp_path / "src")
    x[0, :3] = [65504.0, 1e-8, -0.0]  # float16's largest finite, a value below its subnormals, a signed zero
    np.save(tmp_path / "src" / "features.npy", x)
    g = convert(tmp_path / "src", tmp_path / "out", feature_dtype=dtype, chunk_edges=64, progress=False)
    ids = torch.tensor([0, 7, 3, 7])
    want = torch.from_numpy(x)[ids].to(getattr(torch, dtype)).float()  # torch's round-to-nearest-even
    got = g.gather_features(ids)
    assert got.dtype == torch.float32 and g.feature_dtype == dtype
    assert torch.equal(got, want) and torch.equal(torch.signbit(got), torch.signbit(want))


def test_ondisk_float16_source_is_kept_as_float16(tmp_path):
    _, x = _edge_folder(tmp_path / "src", feature_dtype=np.float16)
    g = convert(tmp_path / "src", tmp_path / "out", progress=False)
    assert g.feature_dtype == "float16"
    assert torch.equal(g.gather_features(np.arange(60)), torch.from_numpy(x).float())


def test_ondisk_gather_features_rejects_bad_ids(layout):
    g, _ = layout
    with pytest.raises(IndexError, match=r"ids must lie in \[0, num_nodes=60\)"):
        g.gather_features(torch.tensor([0, 60]))


def test_ondisk_ogb_layout_equals_load_ogb_node(tmp_path):
    write_synthetic(tmp_path, "ogbn-arxiv", num_nodes=90, num_edges=500, num_features=4, seed=2)
    ds = load_ogb_node("ogbn-arxiv", tmp_path)
    g = convert(tmp_path / "ogbn_arxiv", tmp_path / "out", chunk_edges=70, progress=False)
    csr = ds.graph.csr_in()
    assert torch.equal(g.indptr, csr.indptr) and torch.equal(g.indices.long(), csr.indices)
    torch.testing.assert_close(g.gather_features(torch.arange(90)), ds.x)
    assert torch.equal(g.labels(), ds.y) and torch.equal(g.split("valid_idx"), ds.split_idx["valid"])


def test_ondisk_ogb_binary_layout_streams_edge_index(tmp_path):
    raw = tmp_path / "ogbn_papers100M" / "raw"
    raw.mkdir(parents=True)
    ei = np.random.default_rng(0).integers(0, 30, (2, 200))
    np.savez_compressed(raw / "data.npz", edge_index=ei, node_feat=np.ones((30, 2), np.float16),
                        num_nodes_list=np.array([30]), num_edges_list=np.array([200]))
    labels = np.arange(30, dtype=np.float64)[:, None]
    labels[::3] = np.nan
    np.savez(raw / "node-label.npz", node_label=labels)
    split = tmp_path / "ogbn_papers100M" / "split" / "time"
    split.mkdir(parents=True)
    for part, ids in (("train", [0, 1]), ("valid", [2]), ("test", [4])):
        with gzip.open(split / f"{part}.csv.gz", "wt") as fh:
            fh.write("\n".join(map(str, ids)) + "\n")
    ds = load_ogb_node("ogbn-papers100M", tmp_path)
    g = convert(tmp_path / "ogbn_papers100M", tmp_path / "out", chunk_edges=16, progress=False)
    assert torch.equal(g.indices.long(), ds.graph.csr_in().indices) and torch.equal(g.labels(), ds.y)
    assert g.feature_dtype == "float16"


# ------------------------------------------------------------------ header checks
def _edit(path: Path, **changes) -> None:
    h = json.loads((path / "header.json").read_text())
    h.update(changes)
    (path / "header.json").write_text(json.dumps(h))


def _rewrite_with_checksum(path: Path, mutate) -> None:
    """Change a field and recompute the checksum, so only the field's own check can catch it."""
    h = json.loads((path / "header.json").read_text())
    mutate(h)
    h["checksum"] = _checksum(h)
    (path / "header.json").write_text(json.dumps(h))


@pytest.mark.parametrize("mutate,match", [
    (lambda h: h.update(version=2), r"unknown format version 2"),
    (lambda h: h.update(format="npz"), r"field 'format' must be 'gnnkit-ondisk'"),
    (lambda h: h.update(byte_order="big"), r"field 'byte_order' must be 'little'"),
    (lambda h: h.update(orientation="out"), r"field 'orientation' must be 'in'"),
    (lambda h: h["arrays"]["indices"].update(dtype="float32"), r"arrays\['indices'\]\['dtype'\] must be one of"),
    (lambda h: h["arrays"]["indices"].update(shape=[7]), r"arrays\['indices'\]\['shape'\] must be \[400\]"),
    (lambda h: h.update(num_edges=401), r"must be \[401\]"),
    (lambda h: h["arrays"]["labels"].update(file="../labels.bin"), r"must be a file name inside the layout"),
    (lambda h: h["arrays"].update(edge_weight=h["arrays"]["labels"]), r"unknown array 'edge_weight'"),
    (lambda h: h.update(num_nodes=-1), r"field 'num_nodes' must be an int >= 0"),
    (lambda h: h["arrays"].pop("indices"), r"at least 'indptr' and 'indices'"),
])
def test_ondisk_open_rejects_bad_header(layout, mutate, match):
    g, _ = layout
    _rewrite_with_checksum(g.path, mutate)
    with pytest.raises(ValueError, match=match):
        OnDiskGraph.open(g.path)


def test_ondisk_open_rejects_edited_header_without_checksum(layout):
    g, _ = layout
    _edit(g.path, num_classes=9)
    with pytest.raises(ValueError, match=r"header checksum does not match"):
        OnDiskGraph.open(g.path)


def test_ondisk_open_rejects_non_json_and_missing(layout, tmp_path):
    g, _ = layout
    (g.path / "header.json").write_bytes(b"\x80\x04 pickled")
    with pytest.raises(ValueError, match=r"header\.json is not valid JSON"):
        OnDiskGraph.open(g.path)
    with pytest.raises(FileNotFoundError, match=r"header\.json missing"):
        OnDiskGraph.open(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"advice must be 'random' or 'normal'"):
        OnDiskGraph.open(g.path, advice="sequential")


def test_ondisk_open_rejects_truncated_and_missing_arrays(layout):
    g, _ = layout
    path = g.path
    del g
    data = (path / "indices.bin").read_bytes()
    (path / "indices.bin").write_bytes(data[:-4])
    with pytest.raises(ValueError, match=r"indices\.bin: expected 1600 bytes .* got 1596"):
        OnDiskGraph.open(path)
    (path / "indices.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"indices\.bin missing"):
        OnDiskGraph.open(path)


def test_ondisk_open_rejects_bad_indptr_end(layout):
    g, _ = layout
    path = g.path
    ip = np.fromfile(path / "indptr.bin", dtype="<i8")
    ip[-1] = 5
    ip.tofile(path / "indptr.bin")
    with pytest.raises(ValueError, match=r"indptr must run from 0 to num_edges=400, got 0 \.\. 5"):
        OnDiskGraph.open(path)


def test_ondisk_truncated_file_fails_cleanly_in_a_subprocess(layout):
    # a crash (SIGBUS from a short mapping) would show as a negative return code
    g, _ = layout
    for name in ("indptr.bin", "features.bin"):
        data = (g.path / name).read_bytes()
        (g.path / name).write_bytes(data[: len(data) // 2])
    code = ("import sys\nfrom gnnkit.data.ondisk import OnDiskGraph\n"
            "try:\n    OnDiskGraph.open(sys.argv[1])\nexcept ValueError as e:\n    print(e); sys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(g.path)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 3, proc.stderr
    assert "truncated" in proc.stdout


def test_ondisk_check_finds_bad_index(layout):
    g, _ = layout
    path = g.path
    g.check()
    del g
    ind = np.fromfile(path / "indices.bin", dtype="<i4")
    ind[10] = 60
    ind.tofile(path / "indices.bin")
    with pytest.raises(ValueError, match=r"indices\.bin: indices in \[0, 400\) leave \[0, 60\)"):
        OnDiskGraph.open(path).check()


def test_ondisk_release_pages_keeps_the_data(layout):
    g, _ = layout
    before = g.gather_features(torch.arange(10))
    g.release_pages()
    assert torch.equal(g.gather_features(torch.arange(10)), before)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=60),
       st.integers(1, 9), st.integers(1, 9))
def test_ondisk_converter_equals_csr_in_property(tmp_path_factory, n, pairs, chunk, bucket):
    folder = tmp_path_factory.mktemp("prop")
    edges = np.array([(s % n, d % n) for s, d in pairs], dtype=np.int64).reshape(-1, 2)
    (folder / "src").mkdir()
    np.save(folder / "src" / "edges.npy", edges)
    g = convert(folder / "src", folder / "out", chunk_edges=chunk, bucket_edges=bucket, num_nodes=n, progress=False)
    csr = _graph(edges, n).csr_in()
    assert torch.equal(g.indptr, csr.indptr) and torch.equal(g.indices.long(), csr.indices)
