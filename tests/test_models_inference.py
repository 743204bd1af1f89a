"""Layer-wise chunked inference (``GNN.inference``) equals the full forward in eval mode."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from gnnkit import GNN, Graph, GNNConfig
from gnnkit.models import MODELS, chunk_block
from gnnkit.models.inference import _layers


def _graph(seed: int, n: int = 13, e: int = 40) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(0, n, (e,), generator=gen), torch.randint(0, n, (e,), generator=gen)
    return Graph(src, dst, n)  # duplicates and self-loops included on purpose


def _model(model: str, dtype: torch.dtype, **kw) -> GNN:
    torch.manual_seed(0)
    cfg = GNNConfig(model=model, in_features=5, out_features=3, hidden_features=4, num_layers=3, heads=2, **kw)
    return GNN(cfg).to(dtype)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("batch_size", [1, 4, 5, 13, 100])  # 13 nodes: 1 and 13 divide N, 4 and 5 do not
def test_inference_equals_full_forward_float64(model, batch_size):
    g = _graph(1)
    x = torch.randn(13, 5, dtype=torch.float64)
    net = _model(model, torch.float64, norm="layer", residual=True).train()
    out = net.inference(g, x, batch_size=batch_size)
    assert net.training  # the mode is restored
    expected = net.eval()(g, x)
    # same edges in the same order per destination; only GEMM blocking may differ by rounding
    assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("batch_size", [3, 7])
def test_inference_equals_full_forward_float32(model, batch_size):
    g = _graph(2, n=21, e=80)
    x = torch.randn(21, 5)
    net = _model(model, torch.float32).eval()
    assert_close(net.inference(g, x, batch_size=batch_size), net(g, x), rtol=1e-5, atol=1e-5)


def _isolated_graph() -> Graph:
    """Vertices 3 and 8 without any edge, 5 with only a self-loop, 0 with a loop and a duplicate in-edge."""
    src = torch.tensor([0, 1, 1, 2, 4, 4, 5, 6, 7, 7, 9, 0])
    dst = torch.tensor([0, 0, 0, 1, 2, 6, 5, 7, 4, 9, 7, 1])
    return Graph(src, dst, 10)


# (model, widths): widths (in, hidden, out) chosen so GCN and SAGE take both their project-first
# and their aggregate-first branch; SAGE max/min and GIN mean take the generic (raw features) path
CONFIGS = [("gcn", (5, 4, 3)), ("gcn", (3, 6, 8)), ("sage", (5, 4, 3)), ("sage", (3, 6, 8)), ("gat", (5, 4, 3)),
           ("gin", (5, 4, 3))]


def _config_model(model: str, widths: tuple[int, int, int], dtype: torch.dtype, **kw) -> GNN:
    torch.manual_seed(0)
    fin, hidden, fout = widths
    cfg = GNNConfig(model=model, in_features=fin, out_features=fout, hidden_features=hidden, num_layers=3, heads=2, **kw)
    return GNN(cfg).to(dtype).eval()


@pytest.mark.parametrize("model, widths", CONFIGS)
@pytest.mark.parametrize("batch_size", [1, 3, 10, 11])
def test_inference_isolated_vertices_and_self_loops_float64(model, widths, batch_size):
    g = _isolated_graph()
    x = torch.randn(10, widths[0], dtype=torch.float64)
    net = _config_model(model, widths, torch.float64, residual=True)
    assert_close(net.inference(g, x, batch_size=batch_size), net(g, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model, reduce", [("sage", "max"), ("sage", "min"), ("sage", "sum"), ("gin", "mean"),
                                           ("gin", "max")])
@pytest.mark.parametrize("widths", [(5, 4, 3), (3, 6, 8)])
def test_inference_every_reduce_float64(model, reduce, widths):
    g = _graph(4, n=15, e=50)
    x = torch.randn(15, widths[0], dtype=torch.float64)
    net = _config_model(model, widths, torch.float64, reduce=reduce, norm="batch")
    assert_close(net.inference(g, x, batch_size=4), net(g, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model, widths", CONFIGS)
@pytest.mark.parametrize("batch_size", [1, 8, 50])
def test_inference_float32_every_chunk_size(model, widths, batch_size):
    g = _graph(5, n=30, e=120)
    x = torch.randn(30, widths[0])
    net = _config_model(model, widths, torch.float32)
    # float32 rounding only: the same sums in the same order, GEMMs blocked by other row counts
    assert_close(net.inference(g, x, batch_size=batch_size), net(g, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model, widths", CONFIGS)
def test_inference_compact_chunks_equal_full_forward(model, widths):
    # the path taken when chunks run on another device: each chunk gathers its own sources
    g = _isolated_graph()
    x = torch.randn(10, widths[0], dtype=torch.float64)
    net = _config_model(model, widths, torch.float64)
    with torch.no_grad():
        out = _layers(net, g, x, 3, torch.device("cpu"), compact=True, progress=False, folder=None)
    assert_close(out, net(g, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", ["gcn", "gat"])
def test_inference_out_dir_writes_memory_mapped_buffers(model, tmp_path):
    g = _graph(6, n=20, e=70)
    x = torch.randn(20, 5, dtype=torch.float64)
    net = _model(model, torch.float64).eval()
    out = net.inference(g, x, batch_size=6, out_dir=tmp_path / "acts", progress=True)
    assert_close(out, net(g, x), rtol=1e-12, atol=1e-12)
    # only the result stays: the hidden layers' and projections' files are removed once used
    assert [p.name for p in (tmp_path / "acts").iterdir()] == ["output.npy"]
    assert np.array_equal(np.load(tmp_path / "acts" / "output.npy"), out.numpy())


def test_inference_out_dir_needs_x_on_cpu(tmp_path):
    net = _model("gcn", torch.float32)
    x = torch.empty(13, 5, device="meta")
    with pytest.raises(ValueError, match="out_dir maps the layer buffers from files, which needs x on the CPU, got x on meta"):
        net.inference(_graph(0), x, batch_size=4, out_dir=tmp_path)


def test_inference_handles_isolated_vertices_and_no_edges():
    g = Graph(torch.tensor([], dtype=torch.int64), torch.tensor([], dtype=torch.int64), 6)
    x = torch.randn(6, 5, dtype=torch.float64)
    for model in MODELS:
        net = _model(model, torch.float64).eval()
        assert_close(net.inference(g, x, batch_size=4), net(g, x), rtol=1e-12, atol=1e-12)


def test_inference_keeps_no_autograd_graph():
    g, x = _graph(3), torch.randn(13, 5)
    out = _model("sage", torch.float32).inference(g, x, batch_size=4, progress=True)
    assert not out.requires_grad


def test_chunk_block_lists_the_in_edges_of_the_chunk():
    g = Graph(torch.tensor([0, 3, 2, 1, 3, 0]), torch.tensor([1, 1, 2, 2, 3, 0]), 4)
    block, src_ids, eid = chunk_block(g, 1, 3)
    # destinations 1, 2 come first as sources, then the outside sources 0 and 3 in id order
    assert src_ids.tolist() == [1, 2, 0, 3]
    assert (block.num_nodes, block.num_src_nodes) == (2, 4)
    assert sorted(zip(src_ids[block.src].tolist(), (block.dst + 1).tolist(), eid.tolist())) == [
        (0, 1, 0), (1, 2, 3), (2, 2, 2), (3, 1, 1)]


@pytest.mark.parametrize("batch_size, err, match", [
    (0, ValueError, "batch_size must be >= 1, got 0"),
    (-3, ValueError, "batch_size must be >= 1"),
    (2.5, TypeError, "batch_size must be an int, got float"),
    (True, TypeError, "batch_size must be an int, got bool"),
])
def test_inference_rejects_bad_batch_size(batch_size, err, match):
    with pytest.raises(err, match=match):
        _model("gcn", torch.float32).inference(_graph(0), torch.randn(13, 5), batch_size=batch_size)


def test_inference_rejects_bad_inputs():
    net = _model("gcn", torch.float32)
    with pytest.raises(ValueError, match=r"x must be \[num_nodes=13, F\], got \(12, 5\)"):
        net.inference(_graph(0), torch.randn(12, 5), batch_size=4)
    with pytest.raises(TypeError, match="g must be a gnnkit.Graph, got list"):
        net.inference([_graph(0)], torch.randn(13, 5), batch_size=4)
    block = Graph.block(torch.tensor([2]), torch.tensor([0]), 1, 3)
    with pytest.raises(ValueError, match="needs the whole graph"):
        net.inference(block, torch.randn(3, 5), batch_size=4)
