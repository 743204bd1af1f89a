"""Partitioning straight from an on-disk layout: ``csr_assignment``, ``gnnkit partition --layout``, ``dist_train --prepare --layout``."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import random_graph, usage_error
from gnnkit.cli import main
from gnnkit.cli.dist_train import build_parser, prepare, rank_part
from gnnkit.data.convert import convert
from gnnkit.graph import Graph
from gnnkit.scale.part_files import load_part, part_dir
from gnnkit.scale.partition import CSR_METHODS, csr_assignment, partition_assignment
from test_ondisk import _edge_folder


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 40), e=st.integers(0, 160), parts=st.integers(1, 3), method=st.sampled_from(CSR_METHODS),
       seed=st.integers(0, 3), int32=st.booleans())
def test_csr_assignment_equals_partition_assignment_property(n, e, parts, method, seed, int32):
    g = random_graph(n, e, seed=seed)
    csr = g.csr_in()
    indices = csr.indices.numpy().astype(np.int32) if int32 else csr.indices.numpy()
    got = csr_assignment(csr.indptr.numpy(), indices, parts, method, seed=seed)
    assert got.dtype == np.int64
    assert np.array_equal(got, partition_assignment(g, parts, method, seed=seed).numpy())


def test_csr_assignment_rejects_bad_arguments():
    ip, ind = np.array([0, 1, 2], dtype=np.int64), np.array([1, 0], dtype=np.int64)
    with pytest.raises(ValueError, match="method must be one of .*METIS needs the graph in memory"):
        csr_assignment(ip, ind, 2, "metis")
    with pytest.raises(ValueError, match=r"num_parts must lie in \[1, num_nodes=2\]"):
        csr_assignment(ip, ind, 3, "random")
    with pytest.raises(ValueError, match=r"num_parts must lie in \[1, num_nodes=2\]"):
        csr_assignment(ip, ind, 3, "fennel")
    with pytest.raises(TypeError, match="num_parts must be an int"):
        csr_assignment(ip, ind, 1.5, "contiguous")
    with pytest.raises(TypeError, match="seed must be an int"):
        csr_assignment(ip, ind, 2, "random", seed="0")


@pytest.fixture
def layout_and_edges(tmp_path):
    edges, x = _edge_folder(tmp_path / "src", n=90, e=700, seed=3, text=True)
    convert(tmp_path / "src", tmp_path / "layout", chunk_edges=64, bucket_edges=128, progress=False)
    return tmp_path / "layout", tmp_path / "src", edges, x


@pytest.mark.parametrize("method", ["fennel", "ldg", "random"])
def test_partition_layout_parts_equal_the_in_memory_graphs(layout_and_edges, tmp_path, capsys, method):
    layout, src, edges, _ = layout_and_edges
    common = ["--parts", "3", "--method", method, "--seed", "2"]
    mem_out = main(["partition", "--edges", str(src / "edges.txt"), "--num-nodes", "90",
                                            *common, "--out", str(tmp_path / "mem")])
    disk_out = main(["partition", "--layout", str(layout), *common, "--out", str(tmp_path / "disk")])
    assert mem_out == disk_out == 0
    out = capsys.readouterr().out
    cuts = re.findall(r"edge cut (\d+)", out)
    assert len(cuts) == 2 and cuts[0] == cuts[1]
    eid = Graph(torch.from_numpy(edges[:, 0]), torch.from_numpy(edges[:, 1]), 90).csr_in().eid  # layout: CSR positions
    for p in range(3):
        a, b = load_part(part_dir(tmp_path / "mem", p)), load_part(part_dir(tmp_path / "disk", p))
        for name in ("owned", "halo", "halo_owner"):
            assert torch.equal(getattr(a.part, name), getattr(b.part, name))
        assert torch.equal(a.part.graph.src, b.part.graph.src) and torch.equal(a.part.graph.dst, b.part.graph.dst)
        assert torch.equal(a.part.edge_ids, eid[b.part.edge_ids])
    saved = torch.load(tmp_path / "disk" / "partitioning.pt", weights_only=True)
    assert torch.equal(saved["assignment"], torch.load(tmp_path / "mem" / "partitioning.pt",
                                                       weights_only=True)["assignment"])


def test_partition_layout_carries_the_node_data(layout_and_edges, tmp_path):
    layout, src, _, x = layout_and_edges
    assert main(["partition", "--layout", str(layout), "--parts", "2", "--method", "fennel",
                 "--out", str(tmp_path / "parts")]) == 0
    labels, split = np.load(src / "labels.npy"), np.load(src / "split.npz")
    for p in range(2):
        f = load_part(part_dir(tmp_path / "parts", p))
        o = f.part.owned.numpy()
        assert torch.equal(f.ndata["x"], torch.from_numpy(x[o]))
        assert torch.equal(f.ndata["y"], torch.from_numpy(labels[o].astype(np.int64)))
        assert torch.equal(f.ndata["val_mask"], torch.from_numpy(np.isin(o, split["valid"])))


@pytest.mark.parametrize("argv, message", [
    (["--method", "metis"], r"--method metis: method must be one of \('fennel', 'ldg', 'random', 'contiguous'\)"),
    (["--parts", "500"], r"--parts 500 --method fennel: num_parts must lie in \[1, num_nodes=90\]"),
    (["--num-nodes", "5"], r"--layout takes no --edges, --num-nodes or --balance-edges"),
])
def test_partition_layout_usage_errors_exit_2(layout_and_edges, capsys, argv, message):
    layout = layout_and_edges[0]
    err = usage_error(capsys, ["partition", "--layout", str(layout), "--method", "fennel", *argv])
    assert re.search(message, err)


def test_partition_layout_of_a_missing_folder_exits_2(tmp_path, capsys):
    assert "--layout" in usage_error(capsys, ["partition", "--layout", str(tmp_path / "none"), "--method", "fennel"])


def test_dist_train_prepare_from_a_layout_equals_the_in_memory_partitioning(layout_and_edges, tmp_path):
    layout, src, edges, x = layout_and_edges
    args = build_parser().parse_args(["--prepare", "--parts", "2", "--parts-dir", str(tmp_path / "parts"),
                                      "--layout", str(layout), "--method", "fennel", "--quiet"])
    dirs = prepare(args)
    assert dirs == [part_dir(tmp_path / "parts", p) for p in range(2)]
    g = Graph(torch.from_numpy(edges[:, 0]), torch.from_numpy(edges[:, 1]), 90)
    want = partition_assignment(g, 2, "fennel")
    labels, split = np.load(src / "labels.npy"), np.load(src / "split.npz")
    for p in range(2):
        d = rank_part(tmp_path / "parts", p, 2)
        o = d.part.owned.numpy()
        assert np.array_equal(o, np.flatnonzero(want.numpy() == p))
        assert torch.equal(d.x, torch.from_numpy(x[o])) and torch.equal(d.y, torch.from_numpy(labels[o]))
        assert torch.equal(d.train_mask, torch.from_numpy(np.isin(o, split["train"])))
        assert d.num_classes == int(labels.max()) + 1 and d.num_edges == 700


def test_dist_train_prepare_from_a_layout_rejects_metis_and_missing_data(layout_and_edges, tmp_path):
    layout = layout_and_edges[0]
    base = ["--prepare", "--parts", "2", "--parts-dir", str(tmp_path / "p"), "--layout", str(layout), "--quiet"]
    with pytest.raises(ValueError, match="method must be one of"):
        prepare(build_parser().parse_args(base + ["--method", "metis"]))
    bare = tmp_path / "bare"
    bare.mkdir()
    np.save(bare / "edges.npy", np.array([[0, 1], [1, 0]]))
    convert(bare, tmp_path / "bare_layout", num_nodes=2, progress=False)
    with pytest.raises(ValueError, match=r"dist_train needs features, labels and the three splits; the layout lacks"):
        prepare(build_parser().parse_args(base[:6] + [str(tmp_path / "bare_layout"), "--method", "fennel"]))
