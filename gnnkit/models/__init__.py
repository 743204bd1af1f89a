"""Models: layer stacks configured by a dataclass (:mod:`.gnn`) and graph-level classifiers (:mod:`.graph_classifier`)."""
from .gnn import FEATURE_DTYPES, GNN, MODELS, GNNConfig
from .inference import chunk_block, layerwise_inference
from .graph_classifier import GRAPH_CONVS, GRAPH_READOUTS, GraphClassifier

__all__ = ["GNNConfig", "GNN", "MODELS", "FEATURE_DTYPES", "GraphClassifier", "GRAPH_CONVS", "GRAPH_READOUTS", "layerwise_inference", "chunk_block"]
