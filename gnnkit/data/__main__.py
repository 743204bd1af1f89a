"""``python -m gnnkit.data --convert DIR NAME OUT.npz``: raw Planetoid files to gnnkit's compact ``.npz``.

The bundled ``cora.npz`` was made with
``python -m gnnkit.data --convert /path/to/planetoid cora gnnkit/data/cora.npz``.
"""
from __future__ import annotations

import argparse
import pickle
import sys

from .planetoid import save_npz


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gnnkit.data", description=__doc__.splitlines()[0])
    parser.add_argument("--convert", nargs=3, metavar=("DIR", "NAME", "OUT"), required=True,
                        help="read DIR/ind.NAME.* and write OUT (.npz, no pickles)")
    args = parser.parse_args(argv)
    data_dir, name, out = args.convert
    try:
        save_npz(data_dir, name, out)
    except (OSError, ValueError, pickle.UnpicklingError) as exc:
        parser.error(str(exc))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
