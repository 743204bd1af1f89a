"""OGB node, link and graph datasets from a local directory: layouts, round trips, errors, Evaluator."""
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.data import load_dataset
from gnnkit.data.ogb import (OGB_GRAPH_DATASETS, OGB_NODE_DATASETS, load_ogb, load_ogb_graph, load_ogb_link, load_ogb_node,
                             main, ogb_evaluator, write_synthetic, write_synthetic_graph, write_synthetic_link)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("ogb")
    write_synthetic(root, "ogbn-arxiv", num_nodes=300, num_edges=1500, num_features=8, num_classes=4, seed=1)
    write_synthetic(root, "ogbn-products", num_nodes=200, num_edges=700, num_features=5, seed=2)
    return root


@pytest.fixture
def no_network_no_prompt(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the loader touched the network or stdin")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr("builtins.input", refuse)


def test_round_trip_with_the_synthetic_writer(synthetic, no_network_no_prompt):
    ds = load_ogb_node("ogbn-arxiv", synthetic)
    assert ds.graph.num_nodes == 300 and ds.graph.num_edges == 1500
    assert ds.x.shape == (300, 8) and ds.x.dtype == torch.float32
    assert ds.y.shape == (300,) and ds.y.dtype == torch.int64 and set(ds.y.unique().tolist()) <= set(range(4))
    assert ds.num_classes == 40  # the real arxiv's classes: the layout decides, not the labels that occur
    sizes = {k: v.numel() for k, v in ds.split_idx.items()}
    assert sizes == {"train": 180, "valid": 60, "test": 60}
    assert torch.equal(torch.sort(torch.cat(list(ds.split_idx.values()))).values, torch.arange(300))
    assert int(ds.train_mask.sum()) == 180 and not bool((ds.train_mask & ds.test_mask).any())
    assert ds.graph.ndata["node_year"].shape == (300,)
    # the same seed writes the same data
    other = write_synthetic(synthetic / "again", "ogbn-arxiv", num_nodes=300, num_edges=1500, num_features=8,
                            num_classes=4, seed=1)
    again = load_ogb_node("ogbn-arxiv", other.parent)
    assert again.graph.equal(ds.graph) and torch.equal(again.x, ds.x) and torch.equal(again.y, ds.y)
    # the root may also be the dataset folder itself
    assert load_ogb_node("ogbn-arxiv", other).graph.equal(ds.graph)


def test_labels_follow_the_features_and_edges_are_homophilous(synthetic):
    ds = load_ogb_node("ogbn-arxiv", synthetic)
    same = (ds.y[ds.graph.src] == ds.y[ds.graph.dst]).float().mean()
    assert same > 0.75  # 0.8 homophily + 0.2 * 1/4 by chance = 0.85 expected
    centroids = torch.stack([ds.x[ds.y == c].mean(0) for c in range(4)])
    nearest = torch.cdist(ds.x, centroids).argmin(1)
    assert (nearest == ds.y).float().mean() > 0.6


def test_products_layout_adds_interleaved_inverse_edges(synthetic):
    ds = load_ogb_node("ogbn-products", synthetic)
    assert ds.graph.num_edges == 1400
    assert torch.equal(ds.graph.src[1::2], ds.graph.dst[0::2]) and torch.equal(ds.graph.dst[1::2], ds.graph.src[0::2])
    assert ds.num_classes == 47 and ds.split_idx["train"].numel() == 120


@pytest.mark.parametrize("name", ["ogbn-arxiv", "ogbn-products"])
def test_ogbs_own_reader_agrees(synthetic, tmp_path, name):
    nodeproppred = pytest.importorskip("ogb.nodeproppred")
    write_synthetic(tmp_path, name, num_nodes=120, num_edges=400, num_features=3, seed=3)
    ours = load_ogb_node(name, tmp_path)
    theirs = nodeproppred.NodePropPredDataset(name, root=str(tmp_path))  # RELEASE_v1.txt present: no prompt
    graph, labels = theirs[0]
    np.testing.assert_array_equal(graph["edge_index"], ours.graph.edge_index.numpy())
    np.testing.assert_allclose(graph["node_feat"], ours.x.numpy())
    np.testing.assert_array_equal(labels.reshape(-1), ours.y.numpy())
    for part, ids in theirs.get_idx_split().items():
        np.testing.assert_array_equal(ids, ours.split_idx[part].numpy())


@pytest.mark.parametrize("missing", [
    "raw/edge.csv.gz", "raw/num-node-list.csv.gz", "raw/num-edge-list.csv.gz", "raw/node-feat.csv.gz",
    "raw/node-label.csv.gz", "split/time/train.csv.gz", "split/time/valid.csv.gz", "split/time/test.csv.gz",
])
def test_a_missing_file_is_named(tmp_path, missing, no_network_no_prompt):
    folder = write_synthetic(tmp_path, "ogbn-arxiv", num_nodes=50, num_edges=100, num_features=2, seed=0)
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(folder / missing))):
        load_ogb_node("ogbn-arxiv", tmp_path)


def test_a_missing_dataset_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "ogbn_products"))):
        load_ogb_node("ogbn-products", tmp_path)


def _rewrite(path: Path, rows: np.ndarray, fmt: str = "%d") -> None:
    import gzip

    with gzip.open(path, "wt") as fh:
        np.savetxt(fh, rows, fmt=fmt, delimiter=",")


def test_inconsistent_files_are_named(tmp_path):
    folder = write_synthetic(tmp_path, "ogbn-arxiv", num_nodes=50, num_edges=100, num_features=2, num_classes=3, seed=0)
    raw = folder / "raw"
    _rewrite(raw / "num-edge-list.csv.gz", np.array([99]))
    with pytest.raises(ValueError, match=r"edge\.csv\.gz must hold 99 rows"):
        load_ogb_node("ogbn-arxiv", tmp_path)
    _rewrite(raw / "num-edge-list.csv.gz", np.array([100]))
    edges = np.loadtxt(raw / "edge.csv.gz", delimiter=",", dtype=np.int64)
    edges[0, 0] = 50
    _rewrite(raw / "edge.csv.gz", edges)
    with pytest.raises(ValueError, match="edges do not fit the 50 vertices"):
        load_ogb_node("ogbn-arxiv", tmp_path)
    edges[0, 0] = 0
    _rewrite(raw / "edge.csv.gz", edges)
    _rewrite(folder / "split" / "time" / "test.csv.gz", np.array([3, 77]))
    with pytest.raises(ValueError, match=r"test\.csv\.gz holds vertex ids in \[3, 77\]"):
        load_ogb_node("ogbn-arxiv", tmp_path)
    _rewrite(folder / "split" / "time" / "test.csv.gz", np.array([3]))
    _rewrite(raw / "node-label.csv.gz", np.zeros(49, dtype=np.int64))
    with pytest.raises(ValueError, match="node-label has 49 rows but num-node-list says 50"):
        load_ogb_node("ogbn-arxiv", tmp_path)
    _rewrite(raw / "node-label.csv.gz", np.full(50, 40))
    with pytest.raises(ValueError, match=r"labels outside \[0, 40\)"):
        load_ogb_node("ogbn-arxiv", tmp_path)
    _rewrite(raw / "node-label.csv.gz", np.zeros(50, dtype=np.int64))
    _rewrite(raw / "node-feat.csv.gz", np.zeros((48, 2)), "%.1f")
    with pytest.raises(ValueError, match=r"node-feat\.csv\.gz has 48 rows but num-node-list\.csv\.gz says 50"):
        load_ogb_node("ogbn-arxiv", tmp_path)


def test_binary_layout_with_missing_labels(tmp_path):
    raw = tmp_path / "ogbn_papers100M" / "raw"
    raw.mkdir(parents=True)
    np.savez(raw / "data.npz", edge_index=np.array([[0, 1, 2], [1, 2, 3]]), node_feat=np.ones((4, 2), np.float16),
             num_nodes_list=np.array([4]), num_edges_list=np.array([3]), node_year=np.array([1, 2, 3, 4]))
    np.savez(raw / "node-label.npz", node_label=np.array([[1.0], [np.nan], [171.0], [np.nan]]))
    split = tmp_path / "ogbn_papers100M" / "split" / "time"
    split.mkdir(parents=True)
    for part, ids in (("train", [0]), ("valid", [2]), ("test", [])):
        _rewrite(split / f"{part}.csv.gz", np.array(ids, dtype=np.int64))
    ds = load_ogb_node("ogbn-papers100M", tmp_path)
    assert ds.y.tolist() == [1, -1, 171, -1] and ds.x.dtype == torch.float32 and ds.graph.num_edges == 3
    assert ds.split_idx["test"].numel() == 0 and ds.graph.ndata["node_year"].tolist() == [1, 2, 3, 4]


def test_evaluate_uses_ogbs_evaluator(synthetic):
    pytest.importorskip("ogb")
    ds = load_ogb_node("ogbn-arxiv", synthetic)
    evaluator = ogb_evaluator("ogbn-arxiv")
    assert Path(sys.modules[type(evaluator).__module__].__file__).parts[-3:] == ("ogb", "nodeproppred", "evaluate.py")
    assert evaluator.eval_metric == "acc"
    assert ds.evaluate(ds.y, "test") == 1.0
    pred = torch.zeros(300, dtype=torch.int64)
    idx = ds.split_idx["valid"]
    assert ds.evaluate(pred, "valid") == pytest.approx(float((ds.y[idx] == 0).float().mean()))
    assert ds.evaluate(pred.view(-1, 1), "valid") == ds.evaluate(pred, "valid")
    with pytest.raises(ValueError, match="split must be one of"):
        ds.evaluate(pred, "val")
    with pytest.raises(ValueError, match=r"y_pred must have one row per vertex \(300\)"):
        ds.evaluate(pred[:5])
    with pytest.raises(ValueError, match="Evaluator does not know dataset 'ogbn-nope'"):
        ogb_evaluator("ogbn-nope")


def test_evaluator_import_starts_no_thread_and_skips_dgl_and_pyg(synthetic):
    pytest.importorskip("ogb")
    code = (
        "import sys, threading, torch\n"
        "from gnnkit.data.ogb import load_ogb_node\n"
        f"ds = load_ogb_node('ogbn-arxiv', {str(synthetic)!r})\n"
        "acc = ds.evaluate(ds.y)\n"
        "print(acc, threading.active_count(), 'dgl' in sys.modules, 'torch_geometric' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1.0", "1", "False", "False"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        load_ogb_node("ogbn-nope", tmp_path)
    with pytest.raises(ValueError, match="heterogeneous graphs are not supported"):
        load_ogb_node("ogbn-mag", tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        write_synthetic(tmp_path, "ogbn-proteins")
    with pytest.raises(ValueError, match="num_nodes must be >= 1, got 0"):
        write_synthetic(tmp_path, num_nodes=0)
    with pytest.raises(ValueError, match="num_classes must be <= 40"):
        write_synthetic(tmp_path, num_classes=41)
    with pytest.raises(ValueError, match=r"homophily must lie in \[0, 1\]"):
        write_synthetic(tmp_path, homophily=1.5)
    with pytest.raises(ValueError, match="split must be"):
        write_synthetic(tmp_path, split=(0.9, 0.2))
    assert set(OGB_NODE_DATASETS) == {"ogbn-arxiv", "ogbn-products", "ogbn-proteins", "ogbn-papers100M"}


def test_command_line(tmp_path, capsys):
    assert main(["make-synthetic", str(tmp_path), "--nodes", "40", "--edges", "90", "--features", "3"]) == 0
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "ogbn-arxiv: 40 vertices, 90 edges, 3 features, 40 classes" in out
    with pytest.raises(SystemExit) as exc:
        main(["info", str(tmp_path / "none")])
    assert exc.value.code == 2
    assert "OGB dataset folder missing" in capsys.readouterr().err
    proc = subprocess.run([sys.executable, "-m", "gnnkit.data.ogb", "make-synthetic", str(tmp_path / "m"), "--nodes", "20"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0 and (tmp_path / "m" / "ogbn_arxiv" / "raw" / "edge.csv.gz").is_file()


# ------------------------------------------------------------------ link and graph layouts
def test_link_round_trip_with_the_synthetic_writer(tmp_path, no_network_no_prompt):
    write_synthetic_link(tmp_path, "ogbl-collab", num_nodes=40, num_edges=60, num_features=3, num_eval=7, seed=1)
    ds = load_dataset("ogbl-collab", root=tmp_path)
    g = ds.graph
    assert ds.task == "link" and ds.num_classes == 0 and ds.eval_metric == "hits@50"
    assert g.num_nodes == 40 and g.num_edges == 120  # collab adds inverse edges, interleaved
    assert torch.equal(g.src[1::2], g.dst[0::2]) and torch.equal(g.edata["edge_weight"][0::2], g.edata["edge_weight"][1::2])
    assert g.edata["edge_year"].shape == (120,) and ds.x.shape == (40, 3)
    train = ds.split_edges["train"]
    assert train["edge"].shape == (60, 2) and torch.equal(train["edge"][:, 0], g.src[0::2])
    assert {k: tuple(v.shape) for k, v in ds.split_edges["valid"].items()} == {"edge": (7, 2), "edge_neg": (7, 2)}


def test_link_layout_matches_ogbs_reader(tmp_path):
    linkproppred = pytest.importorskip("ogb.linkproppred")
    write_synthetic_link(tmp_path, "ogbl-ddi", num_nodes=30, num_edges=50, seed=2)
    ours = load_ogb_link("ogbl-ddi", tmp_path)
    theirs = linkproppred.LinkPropPredDataset("ogbl-ddi", root=str(tmp_path))
    np.testing.assert_array_equal(theirs[0]["edge_index"], ours.graph.edge_index.numpy())
    assert theirs[0]["num_nodes"] == ours.graph.num_nodes and "x" not in ours.graph.ndata  # ddi has no features
    for part, edges in theirs.get_edge_split().items():
        for key, value in edges.items():
            assert torch.equal(torch.as_tensor(value), ours.split_edges[part][key]), (part, key)


def test_link_split_files_are_checked(tmp_path):
    folder = write_synthetic_link(tmp_path, "ogbl-ppa", num_nodes=20, num_edges=30, seed=0)
    split = folder / "split" / "throughput"
    torch.save({"edge": torch.tensor([[0, 20]]), "edge_neg": torch.tensor([[0, 1]])}, split / "valid.pt")
    with pytest.raises(ValueError, match=r"valid\.pt 'edge' holds ids in \[0, 20\] but they must lie in \[0, 20\)"):
        load_ogb_link("ogbl-ppa", tmp_path)
    torch.save({"edge": torch.tensor([0, 1])}, split / "valid.pt")
    with pytest.raises(ValueError, match=r"valid\.pt 'edge' must have shape \[K, 2\], got \(2,\)"):
        load_ogb_link("ogbl-ppa", tmp_path)
    torch.save({"edge": np.zeros((2, 2), dtype=np.int64)}, split / "valid.pt")  # a pickled numpy array: not a tensor
    with pytest.raises(ValueError, match=r"valid\.pt: not a readable split file of tensors \(torch\.load\(weights_only=True\)"):
        load_ogb_link("ogbl-ppa", tmp_path)
    (split / "valid.pt").write_bytes((split / "test.pt").read_bytes()[:100])
    with pytest.raises(ValueError, match=r"valid\.pt: not a readable split file"):
        load_ogb_link("ogbl-ppa", tmp_path)
    (split / "valid.pt").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(split / "valid.pt"))):
        load_ogb_link("ogbl-ppa", tmp_path)


@pytest.mark.parametrize("name", ["ogbg-molhiv", "ogbg-moltox21", "ogbg-molesol"])
def test_graph_layout_matches_ogbs_reader(tmp_path, name):
    graphproppred = pytest.importorskip("ogb.graphproppred")
    write_synthetic_graph(tmp_path, name, num_graphs=12, max_nodes=5, seed=3)
    ours = load_ogb_graph(name, tmp_path)
    theirs = graphproppred.GraphPropPredDataset(name, root=str(tmp_path))
    assert ours.task == "graph" and len(ours) == len(theirs) == 12
    for i in range(12):
        graph, label = theirs[i]
        g = ours[i]
        np.testing.assert_array_equal(graph["edge_index"], g.edge_index.numpy())
        np.testing.assert_array_equal(graph["node_feat"], g.ndata["x"].numpy())
        np.testing.assert_array_equal(graph["edge_feat"], g.edata["edge_feat"].numpy())
        expect = np.where(np.isnan(label), -1, label) if ours.num_classes else label
        np.testing.assert_allclose(expect.reshape(-1), ours.y[i].reshape(-1).numpy(), rtol=1e-6)
    for part, ids in theirs.get_idx_split().items():
        np.testing.assert_array_equal(np.asarray(ids), ours.split_idx[part].numpy())
    assert ours.y.dim() == (1 if OGB_GRAPH_DATASETS[name].num_tasks == 1 else 2)


def test_graph_dataset_evaluate_uses_ogbs_evaluator(tmp_path):
    pytest.importorskip("ogb")
    write_synthetic_graph(tmp_path, "ogbg-molhiv", num_graphs=40, seed=4)
    ds = load_dataset("ogbg-molhiv", root=tmp_path)
    assert ds.eval_metric == "rocauc"
    assert ds.evaluate(ds.y.float(), "test") == 1.0  # the labels themselves rank perfectly
    with pytest.raises(ValueError, match=r"y_pred must have one row per graph \(40\)"):
        ds.evaluate(torch.zeros(3))
    link_eval = ogb_evaluator("ogbl-collab")
    hits = link_eval.eval({"y_pred_pos": torch.ones(5), "y_pred_neg": torch.zeros(60)})["hits@50"]
    assert hits == 1.0


def test_graph_layout_errors(tmp_path):
    folder = write_synthetic_graph(tmp_path, "ogbg-molhiv", num_graphs=5, max_nodes=4, seed=0)
    raw = folder / "raw"
    edges = np.loadtxt(raw / "edge.csv.gz", delimiter=",", dtype=np.int64)
    sizes = np.loadtxt(raw / "num-node-list.csv.gz", delimiter=",", dtype=np.int64)
    bad = edges.copy()
    bad[0, 1] = sizes[0]  # one past the first graph's vertices
    _rewrite(raw / "edge.csv.gz", bad)
    with pytest.raises(ValueError, match=r"edge\.csv\.gz: edge 0 .* belongs to graph 0, whose vertex ids lie in"):
        load_ogb_graph("ogbg-molhiv", tmp_path)
    _rewrite(raw / "edge.csv.gz", edges)
    _rewrite(raw / "graph-label.csv.gz", np.array([0, 1]))
    with pytest.raises(ValueError, match=r"graph-label\.csv\.gz has 2 rows but num-node-list lists 5 graphs"):
        load_ogb_graph("ogbg-molhiv", tmp_path)
    _rewrite(raw / "graph-label.csv.gz", np.array([0, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match=r"graph-label\.csv\.gz holds labels outside \[0, 2\)"):
        load_ogb_graph("ogbg-molhiv", tmp_path)
    (raw / "graph-label.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"graph-label\.csv\.gz: not a CSV of numbers"):
        load_ogb_graph("ogbg-molhiv", tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        load_ogb_graph("ogbg-code2", tmp_path)
    with pytest.raises(ValueError, match="name must start with ogbn-, ogbl- or ogbg-"):
        load_ogb("ogbx-foo", tmp_path)


def test_command_line_writes_link_and_graph_layouts(tmp_path, capsys):
    assert main(["make-synthetic", str(tmp_path), "--name", "ogbg-molbace", "--graphs", "6"]) == 0
    assert main(["info", str(tmp_path), "--name", "ogbg-molbace"]) == 0
    assert main(["make-synthetic", str(tmp_path), "--name", "ogbl-ddi", "--nodes", "10", "--edges", "12"]) == 0
    assert main(["info", str(tmp_path), "--name", "ogbl-ddi"]) == 0
    out = capsys.readouterr().out
    assert "ogbg-molbace: 6 graphs" in out and "ogbl-ddi: 10 vertices, 24 edges" in out
