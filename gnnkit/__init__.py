"""gnnkit: scalable sparse graph neural networks on PyTorch."""
from . import ops
from .graph import CSR, Graph

__version__ = "0.1.0"

__all__ = ["Graph", "CSR", "ops", "__version__"]
