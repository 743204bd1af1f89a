"""Scale: partitioning a graph (:mod:`.partition`, :mod:`.streaming`), per-part files (:mod:`.part_files`)
and partition-parallel layers (:mod:`.distributed`)."""
from .part_files import PartFile, load_part, write_parts
from .partition import CSR_METHODS, METHODS, Part, Partitioning, csr_assignment, partition
from .streaming import edge_cut_csr, stream_partition

__all__ = ["partition", "Part", "Partitioning", "METHODS", "stream_partition", "edge_cut_csr", "write_parts",
           "load_part", "PartFile", "csr_assignment", "CSR_METHODS"]
