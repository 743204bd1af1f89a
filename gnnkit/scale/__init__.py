"""Scale: partitioning a graph (:mod:`.partition`) and partition-parallel layers (:mod:`.distributed`)."""
from .partition import METHODS, Part, Partitioning, partition

__all__ = ["partition", "Part", "Partitioning", "METHODS"]
