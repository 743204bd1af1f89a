"""``python -m gnnkit`` is the ``gnnkit`` command."""
import sys

from .cli import main

sys.exit(main())
