"""How the C. elegans brain's wiring changes from birth to adulthood (Witvliet et al. 2021, 8 animals).

Witvliet et al. (2021, *Nature* 596:257) reconstructed the nerve ring of eight isogenic
hermaphrodites from birth (L1, 0 h) to adulthood (50 h). This script loads the 8 datasets that
the ``cect`` package ships (``gnnkit.brain.load_celegans``, neurons only) and measures, per stage:

- size: neurons, chemical edges (directed pairs) and synapses (sum of counts), electrical
  edges (undirected pairs) and gap junctions, and the chemical:electrical balance of both;
- density: directed density of the chemical graph and undirected density of chemical +
  electrical pairs (``gnnkit.brain.density``);
- modularity: weighted Newman Q of Louvain communities of the undirected graph (each synapse
  counted once: a chemical synapse a->b and a gap junction a-b both add their count to the
  pair), mean +- std over ``--louvain-seeds`` seeds; and the same on the binary graph of
  connected pairs (``modularity_binary``, mean over seeds);
- small-worldness: sigma of the binary undirected graph against ``--random`` G(n, m) references
  (``gnnkit.brain.small_world_sigma``); omega too when ``gnnkit.brain.metrics`` has
  ``small_world_omega`` (not in ``--quick``: its lattice references are the slow part).

Each metric's trend with age is tested with Spearman's rank correlation over the 8 animals
(scipy; two datasets share the adult age). Outputs in ``--out``: ``development.csv``,
``development.md`` (the table), ``development.json`` and ``development.png`` (metrics against
age); the last line printed is the L1-to-adult comparison.

    python examples/celegans_development.py --out runs/celegans      # ~20 s on 2 CPU cores
    python examples/celegans_development.py --quick --out /tmp/ce    # CI: a few seconds
"""
from __future__ import annotations

import argparse
import csv
import inspect
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from tqdm import tqdm

import gnnkit.brain as brain
from gnnkit import Graph

METRICS = ["neurons", "chemical_edges", "chemical_synapses", "electrical_edges", "electrical_synapses",
           "chem_elec_synapse_ratio", "chem_elec_edge_ratio", "density_chemical", "density_all",
           "modularity", "modularity_std", "modularity_binary", "sigma", "omega"]


def undirected_synapse_graph(c: brain.Connectome) -> tuple[Graph, torch.Tensor]:
    """Chemical + electrical synapses as one edge list whose ``A + A^T`` counts every synapse once.

    The electrical view stores each gap junction in both directions, so its weights are halved;
    self-loops (autapses, self gap junctions) are dropped, as in networkx's undirected metrics.
    """
    chem, elec = c.graph("chemical"), c.graph("electrical")
    src = torch.cat([chem.src, elec.src])
    dst = torch.cat([chem.dst, elec.dst])
    w = torch.cat([c.weight("chemical").double(), c.weight("electrical").double() / 2])
    keep = src != dst
    return Graph(src[keep], dst[keep], c.num_nodes), w[keep]


def pairs(g: Graph) -> int:
    """Distinct unordered neuron pairs joined by ``g`` (self-loops excluded)."""
    s, d = g.src.numpy(), g.dst.numpy()
    keep = s != d
    lo, hi = np.minimum(s, d)[keep], np.maximum(s, d)[keep]
    return int(np.unique(lo * g.num_nodes + hi).size)


def stage_metrics(c: brain.Connectome, louvain_seeds: int, num_random: int, with_omega: bool = True) -> dict:
    chem, elec = c.graph("chemical"), c.graph("electrical")
    chem_syn = float(c.weight("chemical").double().sum())
    e_self = elec.src == elec.dst
    ew = c.weight("electrical").double()
    elec_syn = float(ew[~e_self].sum() / 2 + ew[e_self].sum())  # each gap junction once
    elec_edges = int((~e_self).sum()) // 2 + int(e_self.sum())
    und, w = undirected_synapse_graph(c)
    both = Graph(torch.cat([und.src, und.dst]), torch.cat([und.dst, und.src]), c.num_nodes).coalesce()
    qs, qb = [], []
    for seed in range(louvain_seeds):  # Louvain is randomised: spread over seeds
        labels = brain.detect_communities(und, w, method="louvain", seed=seed)
        qs.append(brain.modularity(und, labels, weight=w))
        labels = brain.detect_communities(both, method="louvain", seed=seed)
        qb.append(brain.modularity(both, labels))
    sw = brain.small_world_sigma(both, reference="random", num_random=num_random, seed=0)
    omega_fn = getattr(brain.metrics, "small_world_omega", None) if with_omega else None  # used when metrics has it
    omega = math.nan
    if omega_fn is not None:
        res = omega_fn(both, **({"seed": 0} if "seed" in inspect.signature(omega_fn).parameters else {}))
        omega = float(res["omega"] if isinstance(res, dict) else res)
    n = c.num_nodes
    return {
        "neurons": n,
        "chemical_edges": chem.num_edges,
        "chemical_synapses": chem_syn,
        "electrical_edges": elec_edges,
        "electrical_synapses": elec_syn,
        "chem_elec_synapse_ratio": chem_syn / elec_syn,
        "chem_elec_edge_ratio": chem.num_edges / elec_edges,
        "density_chemical": brain.density(chem, directed=True),
        "density_all": pairs(both) / (n * (n - 1) / 2),
        "modularity": float(np.mean(qs)),
        "modularity_std": float(np.std(qs)),
        "modularity_binary": float(np.mean(qb)),
        "sigma": sw["sigma"],
        "omega": omega,
    }


def trends(rows: list[dict]) -> dict:
    """Spearman's rho (and two-sided p) of each metric against age over the datasets."""
    age = [r["age_hours"] for r in rows]
    out = {}
    for m in METRICS:
        vals = [r[m] for r in rows]
        if m == "modularity_std" or any(isinstance(v, float) and math.isnan(v) for v in vals):
            continue
        res = stats.spearmanr(age, vals)
        out[m] = {"rho": float(res.statistic), "p": float(res.pvalue)}
    return out


def fmt(v) -> str:
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and math.isnan(v):
        return "-"
    return f"{v:.4g}"


def table(rows: list[dict], trend: dict) -> str:
    shown = [m for m in METRICS if m != "modularity_std" and not all(isinstance(r[m], float) and math.isnan(r[m]) for r in rows)]
    head = "| dataset | stage | age (h) | " + " | ".join(shown) + " |"
    lines = [head, "|" + "---|" * (3 + len(shown))]
    for r in rows:
        cells = [fmt(r[m]) if m != "modularity" else f"{r[m]:.3f} ± {r['modularity_std']:.3f}" for m in shown]
        lines.append(f"| {r['dataset']} | {r['stage']} | {r['age_hours']:g} | " + " | ".join(cells) + " |")
    lines.append("| Spearman rho vs age (p) | | | " + " | ".join(
        f"{trend[m]['rho']:+.2f} ({trend[m]['p']:.2g})" if m in trend else "" for m in shown) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    age = np.array([r["age_hours"] for r in rows])
    col = lambda m: np.array([r[m] for r in rows], dtype=float)  # noqa: E731
    fig, ax = plt.subplots(2, 2, figsize=(10, 7))
    ax[0, 0].plot(age, col("density_chemical"), "o-", label="chemical (directed)")
    ax[0, 0].plot(age, col("density_all"), "s-", label="chemical + electrical (undirected)")
    ax[0, 0].set_ylabel("density")
    ax[0, 1].errorbar(age, col("modularity"), yerr=col("modularity_std"), fmt="o-", capsize=3, label="weighted")
    ax[0, 1].plot(age, col("modularity_binary"), "s-", label="binary")
    ax[0, 1].set_ylabel("modularity Q (Louvain)")
    ax[1, 0].plot(age, col("sigma"), "o-", label="sigma")
    if not np.isnan(col("omega")).all():
        ax[1, 0].plot(age, col("omega"), "s-", label="omega")
    ax[1, 0].axhline(1.0, color="grey", lw=0.8, ls=":")
    ax[1, 0].set_ylabel("small-world index")
    ax[1, 1].plot(age, col("chemical_synapses"), "o-", label="chemical synapses")
    ax[1, 1].plot(age, col("electrical_synapses"), "s-", label="gap junctions")
    ax[1, 1].plot(age, col("chemical_edges"), "o--", label="chemical edges")
    ax[1, 1].plot(age, col("electrical_edges"), "s--", label="electrical edges")
    ax[1, 1].set_yscale("log")
    ax[1, 1].set_ylabel("count")
    for a in ax.flat:
        a.set_xlabel("age (hours after birth)")
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    fig.suptitle("C. elegans nerve ring across development (Witvliet et al. 2021, 8 animals)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/celegans_development"))
    parser.add_argument("--quick", action="store_true", help="2 Louvain seeds, 1 random reference, no omega (CI)")
    parser.add_argument("--louvain-seeds", type=int, default=20)
    parser.add_argument("--random", type=int, default=20, help="G(n, m) references for sigma")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.louvain_seeds, args.random = 2, 1
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    rows = []
    for info in tqdm(brain.celegans_datasets("witvliet"), desc="stages", file=sys.stderr):
        c = brain.load_celegans(info, cells="neurons")
        rows.append({"dataset": info.name, "stage": info.stage, "age_hours": info.age_hours,
                     **stage_metrics(c, args.louvain_seeds, args.random, with_omega=not args.quick)})
    trend = trends(rows)
    with open(args.out / "development.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = table(rows, trend)
    (args.out / "development.md").write_text(md + "\n")
    (args.out / "development.json").write_text(json.dumps(
        {"config": {"louvain_seeds": args.louvain_seeds, "random": args.random}, "rows": rows, "spearman": trend},
        indent=1))
    if not args.no_plots:
        plot(rows, args.out / "development.png")
    print(md)
    first, adult = rows[0], rows[-2:]
    mean = lambda m: float(np.mean([r[m] for r in adult]))  # noqa: E731
    print(f"L1 (0 h) -> adult (50 h, mean of datasets 7-8): neurons {first['neurons']} -> {mean('neurons'):.0f}, "
          f"chemical synapses {first['chemical_synapses']:.0f} -> {mean('chemical_synapses'):.0f}, "
          f"density {first['density_all']:.4f} -> {mean('density_all'):.4f} (rho {trend['density_all']['rho']:+.2f}, "
          f"p {trend['density_all']['p']:.2g}), modularity {first['modularity']:.3f} -> {mean('modularity'):.3f} "
          f"(rho {trend['modularity']['rho']:+.2f}, p {trend['modularity']['p']:.2g}), sigma {first['sigma']:.2f} -> "
          f"{mean('sigma'):.2f}, chemical:electrical synapses {first['chem_elec_synapse_ratio']:.1f} -> "
          f"{mean('chem_elec_synapse_ratio'):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
