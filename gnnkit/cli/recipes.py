"""Per-model paper hyper-parameters, shared by ``gnnkit train`` and the partition-parallel trainer.

Kept apart from both trainers so that neither imports the other for them.
"""
from __future__ import annotations

__all__ = ["DEFAULTS"]

# Paper settings: GCN (Kipf & Welling 2017), GAT (Velickovic et al. 2018); SAGE/GIN as PyG's examples.
DEFAULTS: dict[str, dict] = {
    "gcn": dict(hidden=16, heads=1, dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200, patience=0, activation="relu"),
    "gat": dict(hidden=8, heads=8, dropout=0.6, lr=0.005, weight_decay=5e-4, epochs=1000, patience=100, activation="elu"),
    "sage": dict(hidden=64, heads=1, dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200, patience=0, activation="relu"),
    "gin": dict(hidden=64, heads=1, dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200, patience=0, activation="relu"),
}
