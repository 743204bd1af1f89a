r"""Link-prediction metrics on the scores of positive and negative pairs: AUC, AP, Hits@K, MRR.

All are vectorised torch (one sort), take any float scores (logits or probabilities) and
return Python floats. Ties follow scikit-learn for AUC (``roc_auc_score``: a tied
positive/negative pair counts one half) and AP (``average_precision_score``: tied
scores form one threshold), and OGB's ``Evaluator`` for Hits@K and MRR.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["auc", "average_precision", "hits_at_k", "mrr", "ogb_link_eval"]


def _check_scores(pos: Tensor, neg: Tensor, neg_dims: tuple[int, ...] = (1,)) -> tuple[Tensor, Tensor]:
    for name, value, dims in (("pos", pos, (1,)), ("neg", neg, neg_dims)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            what = f"{value.dtype} tensor" if isinstance(value, Tensor) else type(value).__name__
            raise TypeError(f"{name} must be a float tensor of scores, got {what}")
        if value.dim() not in dims or value.numel() == 0:
            raise ValueError(f"{name} must be a non-empty {' or '.join(f'{d}-D' for d in dims)} tensor, "
                             f"got shape {tuple(value.shape)}")
    if neg.dim() == 2 and neg.shape[0] != pos.shape[0]:
        raise ValueError(f"a 2-D neg must have one row per positive ({pos.shape[0]}), got shape {tuple(neg.shape)}")
    return pos.detach().to(torch.float64), neg.detach().to(torch.float64)


def auc(pos: Tensor, neg: Tensor) -> float:
    r"""Area under the ROC curve: :math:`P(s_{pos} > s_{neg}) + \tfrac12 P(s_{pos} = s_{neg})`.

    The Mann-Whitney statistic on mid-ranks, equal to scikit-learn's ``roc_auc_score``.

    Shape: pos ``[P]``, neg ``[Q]``.

    Raises:
        TypeError: non-float scores. ValueError: empty or non-1-D scores.
    """
    pos, neg = _check_scores(pos, neg)
    scores = torch.cat([pos, neg])
    values, inverse, counts = torch.unique(scores, sorted=True, return_inverse=True, return_counts=True)
    # the mid-rank (1-based) of each distinct value: ties share the mean of their ranks
    mid = torch.cumsum(counts, 0).to(torch.float64) - (counts.to(torch.float64) - 1) / 2
    p, q = pos.numel(), neg.numel()
    rank_sum = mid[inverse[:p]].sum()
    return float((rank_sum - p * (p + 1) / 2) / (p * q))


def average_precision(pos: Tensor, neg: Tensor) -> float:
    r"""Average precision :math:`\sum_n (R_n - R_{n-1}) P_n` over the distinct score thresholds.

    Equal to scikit-learn's ``average_precision_score`` (tied scores are one threshold).

    Shape: pos ``[P]``, neg ``[Q]``.

    Raises:
        TypeError: non-float scores. ValueError: empty or non-1-D scores.
    """
    pos, neg = _check_scores(pos, neg)
    scores = torch.cat([pos, neg])
    labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
    order = torch.argsort(scores, descending=True)
    scores, labels = scores[order], labels[order]
    tps = torch.cumsum(labels, 0)  # [P + Q]
    # a threshold ends where the next score differs: tied scores enter together
    last = torch.ones_like(scores, dtype=torch.bool)
    last[:-1] = scores[1:] != scores[:-1]
    tps = tps[last]
    seen = (last.nonzero().view(-1) + 1).to(torch.float64)  # pairs at or above each threshold
    precision = tps / seen
    recall = tps / pos.numel()
    step = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((step * precision).sum())


def _ranks(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
    """Per positive: (#negatives scoring higher, #negatives scoring at least as high)."""
    if neg.dim() == 2:
        return (neg > pos[:, None]).sum(1), (neg >= pos[:, None]).sum(1)
    ordered = torch.sort(neg).values  # [Q] shared negatives: one sort, a search per positive
    q = ordered.numel()
    above = q - torch.searchsorted(ordered, pos, right=True)
    at_least = q - torch.searchsorted(ordered, pos, right=False)
    return above, at_least


def hits_at_k(pos: Tensor, neg: Tensor, k: int) -> float:
    """Fraction of positives ranked in the top ``k`` against the negatives, as OGB scores it.

    With shared negatives ``neg`` ``[Q]`` (``ogbl-collab``/``ppa``/``ddi``), a positive is a
    hit when it beats the ``k``-th best negative strictly (a tie is a miss; fewer than ``k``
    negatives: every positive hits). With per-positive negatives ``neg`` ``[P, Q]``
    (``ogbl-citation2``), the rank is the mean of the optimistic and pessimistic ranks, plus 1.

    Shape: pos ``[P]``, neg ``[Q]`` or ``[P, Q]``.

    Raises:
        TypeError: non-float scores or a non-int ``k``. ValueError: ``k < 1``, bad shapes.
    """
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pos, neg = _check_scores(pos, neg, (1, 2))
    above, at_least = _ranks(pos, neg)
    if neg.dim() == 1:
        return float((at_least < k).to(torch.float64).mean())
    rank = (above + at_least).to(torch.float64) / 2 + 1
    return float((rank <= k).to(torch.float64).mean())


def mrr(pos: Tensor, neg: Tensor) -> float:
    """Mean reciprocal rank of each positive among the negatives (ties: mean of the two ranks, as OGB).

    Shape: pos ``[P]``, neg ``[Q]`` (shared by every positive) or ``[P, Q]``.

    Raises:
        TypeError: non-float scores. ValueError: bad shapes.
    """
    pos, neg = _check_scores(pos, neg, (1, 2))
    above, at_least = _ranks(pos, neg)
    rank = (above + at_least).to(torch.float64) / 2 + 1
    return float((1 / rank).mean())


def ogb_link_eval(name: str, pos: Tensor, neg: Tensor) -> dict[str, float]:
    """OGB's own ``Evaluator(name)`` on an ``ogbl-*`` layout: ``{"hits@K": ...}`` or ``{"mrr_list": ...}``-means.

    Args:
        name: an OGB link dataset, e.g. ``"ogbl-collab"`` (``[Q]`` negatives) or
            ``"ogbl-citation2"`` (``[P, Q]`` negatives).
        pos: ``[P]`` positive scores. neg: negative scores in the dataset's layout.

    Returns:
        The evaluator's metrics, list-valued ones averaged, as floats.

    Raises:
        ImportError: ogb is not installed. ValueError: not an ``ogbl-*`` name.
    """
    from ..data.ogb import ogb_evaluator  # imports ogb's evaluate.py only when called

    if not name.startswith("ogbl-"):
        raise ValueError(f"name must be an OGB link dataset ('ogbl-...'), got {name!r}")
    out = ogb_evaluator(name).eval({"y_pred_pos": pos.detach().cpu(), "y_pred_neg": neg.detach().cpu()})
    return {key.replace("_list", ""): float(torch.as_tensor(v, dtype=torch.float64).mean()) for key, v in out.items()}
