"""Link prediction: leakage-free edge splits, negative samplers, decoders, metrics and link mini-batches."""
from .decoders import Bilinear, DotProduct, MLPDecoder
from .loader import LinkBatch, LinkNeighborSampler, link_neighbor_loader
from .metrics import auc, average_precision, hits_at_k, mrr, ogb_link_eval
from .negative import DegreeNegativeSampler, EdgeSet, StrictNegativeSampler, UniformNegativeSampler
from .split import LinkSplit, sample_non_edges, split_edges

__all__ = [
    "split_edges", "LinkSplit", "sample_non_edges",
    "EdgeSet", "UniformNegativeSampler", "DegreeNegativeSampler", "StrictNegativeSampler",
    "DotProduct", "Bilinear", "MLPDecoder",
    "auc", "average_precision", "hits_at_k", "mrr", "ogb_link_eval",
    "LinkBatch", "LinkNeighborSampler", "link_neighbor_loader",
]
