"""Deprecated: moved to :mod:`gnnkit.cli.dist_train`."""
from ._deprecated import moved

moved("gnnkit.dist_train", "gnnkit.cli.dist_train")
from gnnkit.cli.dist_train import *  # noqa: E402,F401,F403

if __name__ == "__main__":
    import sys

    from gnnkit.cli.dist_train import main

    sys.exit(main())
