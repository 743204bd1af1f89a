"""Train one model on Cora over several seeds and print mean ± std test accuracy.

    python examples/cora_seeds.py --model gcn --seeds 10
    python examples/cora_seeds.py --model gat --seeds 10
    python examples/cora_seeds.py --model gcn --seeds 10 --precision bf16   # bfloat16 autocast training
    python examples/cora_seeds.py --quick      # 2 seeds, 20 epochs (CI)
"""
from __future__ import annotations

import argparse
import statistics
import sys

from tqdm import tqdm

from gnnkit.cli.argtypes import positive_int
from gnnkit.cli.train import build_parser, train
from gnnkit.models import MODELS
from gnnkit.precision import PRECISIONS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODELS, default="gcn")
    p.add_argument("--seeds", type=positive_int, default=10, help="run seeds 0 .. SEEDS-1")
    p.add_argument("--dataset", default="cora")
    p.add_argument("--data-dir")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="gnnkit train --precision")
    p.add_argument("--quick", action="store_true", help="2 seeds, 20 epochs")
    args = p.parse_args(argv)
    seeds = range(2 if args.quick else args.seeds)
    accs = []
    for seed in tqdm(seeds, desc=f"{args.model} seeds", unit="seed", file=sys.stderr):
        cli = ["train", "--model", args.model, "--dataset", args.dataset, "--seed", str(seed), "--quiet",
               "--precision", args.precision]
        if args.data_dir:
            cli += ["--data-dir", args.data_dir]
        if args.quick:
            cli += ["--epochs", "20"]
        accs.append(train(build_parser().parse_args(cli)))
        tqdm.write(f"seed {seed}: test accuracy {accs[-1]:.4f}")
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    print(f"{args.model} on {args.dataset}: test accuracy {100 * statistics.mean(accs):.2f} ± {100 * std:.2f} % over {len(accs)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
