r"""Synthetic heterogeneous graphs for node classification, deterministic by seed.

:func:`academic_graph` builds a small citation network (papers, authors, venues) whose
paper labels are only weakly visible in the papers' own features but strongly in their
neighbourhoods: authors and venues each specialise in a topic, and citations are
homophilous. A model that reads features alone (an MLP) is therefore limited, while a
heterogeneous GNN that averages a paper's co-authors' and venue's other papers denoises
the topic (paper → author → paper and paper → venue → paper are the informative paths).
"""
from __future__ import annotations

import numpy as np
import torch

from ..graph.hetero import HeteroGraph

__all__ = ["academic_graph", "ACADEMIC_RELATIONS"]

ACADEMIC_RELATIONS = (
    ("author", "writes", "paper"),
    ("paper", "written_by", "author"),
    ("paper", "cites", "paper"),
    ("paper", "cited_by", "paper"),
    ("paper", "published_in", "venue"),
    ("venue", "publishes", "paper"),
)


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _ids(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def _floats(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _pick(rng: np.random.Generator, topic: np.ndarray, pool_topic: np.ndarray, homophily: float) -> np.ndarray:
    """For each entry of ``topic``, a member of the pool with the same topic with probability
    ``homophily`` (else any member), drawn uniformly; vectorised over entries."""
    order = np.argsort(pool_topic, kind="stable")  # pool members grouped by topic
    counts = np.bincount(pool_topic, minlength=int(topic.max(initial=0)) + 1)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    same = rng.random(topic.size) < homophily
    same &= counts[topic] > 0  # a topic nobody holds falls back to a uniform draw
    any_member = rng.integers(0, pool_topic.size, topic.size)
    in_topic = order[start[topic] + (rng.random(topic.size) * np.maximum(counts[topic], 1)).astype(np.int64)]
    return np.where(same, in_topic, any_member)


def academic_graph(num_papers: int = 3000, num_authors: int = 1000, num_venues: int = 20, num_classes: int = 4,
                   num_features: int = 32, authors_per_paper: int = 3, citations_per_paper: int = 5,
                   homophily: float = 0.6, signal: float = 0.15, split: tuple[float, float] = (0.3, 0.2),
                   seed: int = 0) -> HeteroGraph:
    r"""A paper / author / venue graph with paper labels that need the relations.

    Each paper has a topic ``y`` in ``[0, num_classes)``; each author and venue a topic of
    its own. A paper gets ``authors_per_paper`` authors, one venue and
    ``citations_per_paper`` cited papers, each of the paper's topic with probability
    ``homophily`` and uniform otherwise (duplicates possible, as in real co-authorship
    data after merging). Paper features are Gaussian noise plus ``signal`` times a
    per-topic mean direction (unit norm per dimension block), so the features alone carry
    a weak signal; author and venue features are pure noise (an untrained embedding).

    Relations (:data:`ACADEMIC_RELATIONS`): writes / written_by, cites / cited_by,
    published_in / publishes (each reverse holds the same edges flipped).

    Args:
        num_papers, num_authors, num_venues: vertex counts (>= 1).
        num_classes: topics (>= 2). num_features: feature size of every type.
        authors_per_paper, citations_per_paper: edges per paper (>= 1).
        homophily: probability that an edge stays within the paper's topic, in ``[0, 1]``.
        signal: strength of the topic in the paper features (>= 0).
        split: fractions of papers for training and validation; the rest is the test set.
        seed: the random seed; the same arguments give the same graph.

    Returns:
        A :class:`HeteroGraph` with ``ndata[t]["x"] [N_t, num_features]`` float32 for every
        type, and for ``"paper"`` also ``"y"`` ``[N]`` int64 and ``"train_mask"``,
        ``"val_mask"``, ``"test_mask"`` (disjoint, covering every paper).

    Raises:
        ValueError: a count below its minimum, ``homophily`` outside ``[0, 1]``, negative
            ``signal``, split fractions that are negative or sum to 1 or more.
    """
    for name, value in (("num_papers", num_papers), ("num_authors", num_authors), ("num_venues", num_venues),
                        ("num_features", num_features), ("authors_per_paper", authors_per_paper),
                        ("citations_per_paper", citations_per_paper)):
        _check_positive(value, name)
    if _check_positive(num_classes, "num_classes") < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"homophily must lie in [0, 1], got {homophily}")
    if signal < 0:
        raise ValueError(f"signal must be >= 0, got {signal}")
    if len(split) != 2 or min(split) < 0 or sum(split) >= 1:
        raise ValueError(f"split must be (train, val) fractions >= 0 summing to < 1, got {split!r}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, num_papers)  # [P] paper topics
    author_topic = rng.integers(0, num_classes, num_authors)  # [A]
    venue_topic = rng.integers(0, num_classes, num_venues)  # [V]

    paper_of_author_edge = np.repeat(np.arange(num_papers), authors_per_paper)  # [P·k]
    author = _pick(rng, y[paper_of_author_edge], author_topic, homophily)
    venue = _pick(rng, y, venue_topic, homophily)  # [P]: one venue per paper
    citing = np.repeat(np.arange(num_papers), citations_per_paper)  # [P·c]
    cited = _pick(rng, y[citing], y, homophily)

    means = rng.standard_normal((num_classes, num_features))
    means /= np.linalg.norm(means, axis=1, keepdims=True) / np.sqrt(num_features)  # every dimension O(1)
    x_paper = rng.standard_normal((num_papers, num_features)) + signal * means[y]
    x_author = rng.standard_normal((num_authors, num_features))
    x_venue = rng.standard_normal((num_venues, num_features))

    perm = rng.permutation(num_papers)
    n_train, n_val = int(split[0] * num_papers), int(split[1] * num_papers)
    masks = {}
    for name, ids in (("train_mask", perm[:n_train]), ("val_mask", perm[n_train:n_train + n_val]),
                      ("test_mask", perm[n_train + n_val:])):
        m = np.zeros(num_papers, dtype=bool)
        m[ids] = True
        masks[name] = torch.from_numpy(m)

    t = _ids
    edges = {
        ACADEMIC_RELATIONS[0]: (t(author), t(paper_of_author_edge)),
        ACADEMIC_RELATIONS[1]: (t(paper_of_author_edge), t(author)),
        ACADEMIC_RELATIONS[2]: (t(citing), t(cited)),
        ACADEMIC_RELATIONS[3]: (t(cited), t(citing)),
        ACADEMIC_RELATIONS[4]: (t(np.arange(num_papers)), t(venue)),
        ACADEMIC_RELATIONS[5]: (t(venue), t(np.arange(num_papers))),
    }
    ndata = {
        "paper": {"x": _floats(x_paper), "y": _ids(y), **masks},
        "author": {"x": _floats(x_author)},
        "venue": {"x": _floats(x_venue)},
    }
    return HeteroGraph({"paper": num_papers, "author": num_authors, "venue": num_venues}, edges, ndata=ndata,
                       _validate=False)  # ids drawn in range above
