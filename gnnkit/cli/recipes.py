"""Paper hyper-parameters per task and model, shared by ``gnnkit train`` and the partition-parallel trainer.

Kept apart from the trainers so that none imports another for them.
"""
from __future__ import annotations

__all__ = ["DEFAULTS", "LINK_DEFAULTS", "GRAPH_DEFAULTS"]

# Node classification. Paper settings: GCN (Kipf & Welling 2017), GAT (Velickovic et al. 2018); SAGE/GIN as PyG's examples.
DEFAULTS: dict[str, dict] = {
    "gcn": dict(hidden=16, heads=1, dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200, patience=0, activation="relu"),
    "gat": dict(hidden=8, heads=8, dropout=0.6, lr=0.005, weight_decay=5e-4, epochs=1000, patience=100, activation="elu"),
    "sage": dict(hidden=64, heads=1, dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200, patience=0, activation="relu"),
    "gin": dict(hidden=64, heads=1, dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200, patience=0, activation="relu"),
}

# Link prediction, any encoder: GAE (Kipf & Welling 2016, https://arxiv.org/abs/1611.07308): Adam lr 0.01,
# 200 epochs, a 32 -> 16 encoder, no dropout or weight decay, inner-product decoder. The paper weighs
# positives against all non-edges; here each epoch draws `negatives` uniform non-pairs per positive.
LINK_DEFAULTS: dict = dict(hidden=32, out=16, dropout=0.0, lr=0.01, weight_decay=0.0, epochs=200, patience=0,
                           negatives=1, decoder="dot")

# Graph classification: GIN (Xu et al. 2019, https://arxiv.org/abs/1810.00826): Adam lr 0.01, batch 32,
# hidden 64, 5 layers (4 GIN layers after the input in the paper's count), dropout 0.5, 350 epochs
# (the paper also halves lr every 50 epochs; not done here).
GRAPH_DEFAULTS: dict = dict(hidden=64, layers=5, dropout=0.5, lr=0.01, weight_decay=0.0, epochs=350, patience=0,
                            batch_size=32)
