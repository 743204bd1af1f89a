r"""CPU benchmark: a 3-view graph convolution, gnnkit vs DGL HeteroGraphConv vs PyG HeteroConv.

The arxiv-size power-law graph of ``core.py`` (same generator, same file) has its
undirected edges split uniformly at random into 3 views (both directions of an edge
go to the same view, so every view is undirected). One training step of a 2-layer
model with one weight matrix per view, views averaged (mean over relations):

- ``gcn``:  view-conv(128 → 256) → ReLU → view-conv(256 → 40), each view GCN-normalised,
  one bias per layer: :math:`\tfrac13 \sum_v \hat A_v X W_v + b`
  (DGL ``GraphConv(norm="both", bias=False)``, PyG ``GCNConv(add_self_loops=False, bias=False,
  cached=True)``, gnnkit ``MultiViewConv(norm="symmetric")``);
- ``sage``: mean aggregation per view and one root weight shared by the views,
  :math:`\tfrac13 \sum_v D_v^{-1} A_v X W_v + X W_r + b` (DGL ``GraphConv(norm="right",
  bias=False)``, PyG ``SAGEConv("mean", root_weight=False, bias=False)``, each plus one shared
  ``Linear`` root; gnnkit ``MultiViewConv(norm="mean", root_weight=True)``).

Every engine computes the same maths with the same parameters. DGL's and PyG's ``SAGEConv``
would give each relation its own root weight (``fc_self``/``lin_r``): three root GEMMs whose
mean is one matrix, so a different parameterisation, and not the model gnnkit runs; DGL's
``GraphConv(norm="right")`` is its documented mean aggregation without that root.
DGL runs ``HeteroGraphConv(aggregate="mean")``, which loops over relations, with its sparse
formats created before the timed steps; PyG runs ``HeteroConv(aggr="mean")`` with its GCN
normalisation cached (full-graph training, its documented setting); gnnkit runs each layer as
one GEMM and one sparse product. Rounds, medians and spreads as in ``core.py``.

    python benchmarks/multiview.py            # full size (a few minutes per round)
    python benchmarks/multiview.py --quick    # 20k-vertex graph, 1 round of 1 timed step
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import CLASSES, FEATS, HIDDEN, bench_main, time_steps, worker_inputs  # noqa: E402  (the core benchmark's graph and harness)

ENGINES = ("gnnkit", "dgl", "pyg")
WORKLOADS = ("gcn", "sage")
NUM_VIEWS = 3
VIEW_NAMES = tuple(f"view{i}" for i in range(NUM_VIEWS))


def split_views(src: np.ndarray, dst: np.ndarray, n: int, seed: int = 2) -> np.ndarray:
    """``[E]`` view index per directed edge; an edge and its reverse always share a view."""
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    pairs, inverse = np.unique(lo.astype(np.int64) * n + hi, return_inverse=True)
    return np.random.default_rng(seed).integers(0, NUM_VIEWS, pairs.size)[inverse.reshape(-1)]


# ----------------------------------------------------------------- engines
def build_gnnkit(workload, views, n):
    import gnnkit
    from gnnkit.graph.multiview import MultiViewGraph
    from gnnkit.nn.multiview import MultiViewConv

    mvg = MultiViewGraph({name: gnnkit.Graph(s, d, n) for name, (s, d) in views.items()})
    kw = dict(norm="symmetric") if workload == "gcn" else dict(norm="mean", root_weight=True)
    layers = (MultiViewConv(FEATS, HIDDEN, NUM_VIEWS, **kw), MultiViewConv(HIDDEN, CLASSES, NUM_VIEWS, **kw))
    return (lambda x: layers[1](mvg, layers[0](mvg, x).relu())), layers


class SharedTerms:
    """What the views share in a DGL/PyG layer: the bias, and for ``sage`` the root weight ``X W_r``.

    A plain callable holding modules (the layers tuple gives the optimizer their parameters).
    """

    def __init__(self, workload: str, fin: int, fout: int) -> None:
        import torch

        self.root = torch.nn.Linear(fin, fout) if workload == "sage" else None  # its bias is b
        self.bias = None if workload == "sage" else torch.nn.Parameter(torch.zeros(fout))

    def parameters(self):
        return list(self.root.parameters()) if self.root is not None else [self.bias]

    def __call__(self, x, aggregated):
        return aggregated + (self.root(x) if self.root is not None else self.bias)


def build_dgl(workload, views, n):
    os.environ.setdefault("DGLBACKEND", "pytorch")
    import dgl
    import dgl.nn as dglnn
    import torch

    g = dgl.heterograph({("n", name, "n"): (torch.from_numpy(s), torch.from_numpy(d)) for name, (s, d) in views.items()},
                        num_nodes_dict={"n": n})
    g.create_formats_()  # every relation's COO/CSR/CSC built now, not inside the warm-up step
    norm = "both" if workload == "gcn" else "right"  # "right": divide by the in-degree, the mean

    def conv(fin, fout):
        mods = {r: dglnn.GraphConv(fin, fout, norm=norm, bias=False, allow_zero_in_degree=True) for r in views}
        return dglnn.HeteroGraphConv(mods, aggregate="mean"), SharedTerms(workload, fin, fout)

    (c1, s1), (c2, s2) = conv(FEATS, HIDDEN), conv(HIDDEN, CLASSES)

    def model(x):
        h = s1(x, c1(g, {"n": x})["n"]).relu()
        return s2(h, c2(g, {"n": h})["n"])

    return model, (c1, s1, c2, s2)


def build_pyg(workload, views, n):
    import torch
    import torch_geometric.nn as pnn

    eis = {("n", name, "n"): torch.from_numpy(np.stack([s, d])) for name, (s, d) in views.items()}

    def conv(fin, fout):
        if workload == "gcn":
            mods = {k: pnn.GCNConv(fin, fout, add_self_loops=False, bias=False, cached=True) for k in eis}
        else:
            mods = {k: pnn.SAGEConv(fin, fout, aggr="mean", root_weight=False, bias=False) for k in eis}
        return pnn.HeteroConv(mods, aggr="mean"), SharedTerms(workload, fin, fout)

    (c1, s1), (c2, s2) = conv(FEATS, HIDDEN), conv(HIDDEN, CLASSES)

    def model(x):
        h = s1(x, c1({"n": x}, eis)["n"]).relu()
        return s2(h, c2({"n": h}, eis)["n"])

    return model, (c1, s1, c2, s2)


BUILDERS = {"gnnkit": build_gnnkit, "dgl": build_dgl, "pyg": build_pyg}


def worker(engine: str, workload: str, quick: bool, steps: int, threads: int) -> dict:
    src, dst, n, x, y = worker_inputs(quick, threads)
    view = split_views(src, dst, n)
    views = {name: (src[view == i], dst[view == i]) for i, name in enumerate(VIEW_NAMES)}
    model, layers = BUILDERS[engine](workload, views, n)
    return {"engine": engine, "workload": workload, **time_steps(model, layers, x, y, steps), "num_nodes": n,
            "num_edges": int(src.size), "view_edges": [int((view == i).sum()) for i in range(NUM_VIEWS)]}


def main(argv: list[str] | None = None) -> int:
    def describe(data, args) -> str:
        view = split_views(data["src"], data["dst"], int(data["n"]))
        sizes = ", ".join(f"{int((view == i).sum()):,}" for i in range(NUM_VIEWS))
        return (f"graph: {int(data['n']):,} vertices, {data['src'].size:,} edges in {NUM_VIEWS} views ({sizes}), "
                f"{FEATS} features, per-view W; {args.steps} timed steps, {args.threads} threads")

    return bench_main(argv, doc=__doc__, script=__file__, engines=ENGINES, workloads=WORKLOADS, worker=worker,
                      describe=describe)


if __name__ == "__main__":
    sys.exit(main())
