"""Evaluation metrics for the recommender and the risk model.

Pure numpy functions with no side effects. Ranking metrics take, per user, the recommended
product ids in rank order and the set of relevant product ids; classification metrics take
binary labels and real-valued scores (higher means more likely positive).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "RankedLabels",
    "average_precision",
    "random_average_precision",
    "ndcg_at_k",
    "ndcg_values",
    "precision_at_budget",
    "recall_at_budget",
    "recall_at_k",
    "recall_values",
    "roc_auc",
]


# --------------------------------------------------------------------------- ranking metrics


def _check_ranking_input(
    recommended: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int
) -> list[int]:
    """Validate ranking-metric input; return the indices of users with >= 1 relevant item."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if len(recommended) != len(relevant):
        raise ValueError(
            f"recommended and relevant must have one entry per user, "
            f"got {len(recommended)} and {len(relevant)}"
        )
    if len(recommended) == 0:
        raise ValueError("ranking metrics need at least one user, got none")
    users = [i for i, items in enumerate(relevant) if len(items) > 0]
    if not users:
        raise ValueError("no user has a relevant item; the metric is undefined")
    return users


def recall_values(recommended: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> np.ndarray:
    """Per user, |top-k ∩ relevant| / |relevant|; NaN for a user with no relevant item.

    Args:
        recommended: per user, product ids in rank order (best first); may be shorter than k.
        relevant: per user, the set of relevant product ids.
        k: the cut-off.

    Raises:
        ValueError: on mismatched lengths, no users, no user with a relevant item, or k < 1.
    """
    users = _check_ranking_input(recommended, relevant, k)
    values = np.full(len(relevant), np.nan)
    for u in users:
        values[u] = len(set(list(recommended[u])[:k]) & set(relevant[u])) / len(relevant[u])
    return values


def recall_at_k(recommended: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> float:
    """Mean over users with >= 1 relevant item of |top-k ∩ relevant| / |relevant|.

    Raises:
        ValueError: on mismatched lengths, no users, no user with a relevant item, or k < 1.
    """
    return float(np.nanmean(recall_values(recommended, relevant, k)))


def ndcg_values(recommended: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> np.ndarray:
    """Per user, DCG@k / IDCG@k with binary relevance; NaN for a user with no relevant item.

    DCG@k = sum over relevant items at rank r <= k of 1 / log2(r + 1); IDCG@k is the DCG of
    an ideal list with min(|relevant|, k) relevant items on top. A product repeated in a list
    counts only at its first rank.

    Raises:
        ValueError: on mismatched lengths, no users, no user with a relevant item, or k < 1.
    """
    users = _check_ranking_input(recommended, relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = np.full(len(relevant), np.nan)
    for u in users:
        rel = set(relevant[u])
        seen: set[int] = set()
        gains = np.zeros(k)
        for position, item in enumerate(list(recommended[u])[:k]):
            if item in rel and item not in seen:
                gains[position] = 1.0
            seen.add(item)
        values[u] = float(np.sum(gains * discounts)) / float(np.sum(discounts[: min(len(rel), k)]))
    return values


def ndcg_at_k(recommended: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> float:
    """Mean over users with >= 1 relevant item of `ndcg_values`.

    Raises:
        ValueError: on mismatched lengths, no users, no user with a relevant item, or k < 1.
    """
    return float(np.nanmean(ndcg_values(recommended, relevant, k)))


# -------------------------------------------------------------------- classification metrics


def _check_binary_input(
    y_true: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Validate labels (0/1 or bool) and finite scores of equal, non-zero length."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-D, got shapes {y.shape} and {s.shape}")
    if len(y) != len(s):
        raise ValueError(f"y_true and scores must have the same length, got {len(y)} and {len(s)}")
    if len(y) == 0:
        raise ValueError("y_true and scores are empty")
    if y.dtype != np.bool_:
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isin(y, (0, 1))):
            raise ValueError("y_true must hold only 0/1 (or booleans)")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite (no NaN or infinity)")
    return y.astype(bool), s


class RankedLabels:
    """Labels sorted by score once, for many (weighted) average precisions, as in a bootstrap.

    A bootstrap resample is a count per row (how often it was drawn); `average_precision`
    of those counts equals the average precision of the resampled rows, in O(n) per resample.
    """

    def __init__(self, y_true: npt.ArrayLike, scores: npt.ArrayLike) -> None:
        y, s = _check_binary_input(y_true, scores)
        self._order = np.argsort(-s, kind="stable")
        self._positive = y[self._order].astype(np.float64)
        s_sorted = s[self._order]
        # The last position of each group of tied scores is where that threshold ends.
        self._ends = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]

    def average_precision(self, weights: npt.ArrayLike | None = None) -> float:
        """AP with each row counted `weights` times (all once when None).

        Raises:
            ValueError: when no positive row has weight.
        """
        w = np.ones(len(self._order)) if weights is None else np.asarray(weights, np.float64)[self._order]
        tp = np.cumsum(w * self._positive)[self._ends]
        predicted = np.cumsum(w)[self._ends]
        if tp[-1] <= 0:
            raise ValueError("average precision is undefined without a positive label")
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        recall = tp / tp[-1]
        return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def average_precision(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
) -> float:
    """Area under the precision-recall curve as average precision.

    AP = sum_n (R_n - R_{n-1}) * P_n over the distinct score thresholds, highest first; tied
    scores form one threshold, as in sklearn.metrics.average_precision_score. With
    `sample_weight`, every row counts that many times.

    Raises:
        ValueError: on empty or malformed input, or when there is no positive label.
    """
    return RankedLabels(y_true, scores).average_precision(sample_weight)


def random_average_precision(positives: float, total: float) -> float:
    """The expected average precision of a ranking at random of `total` rows, `positives` of
    them positive: (P−1)/(N−1) + (1 − (P−1)/(N−1)) · H_N / N, H_N the N-th harmonic number.

    A positive at rank r has on average 1 + (P−1)(r−1)/(N−1) positives at or above it, and
    r is uniform. It exceeds the share of positives P/N, by far when positives are few: 13
    in 1,000 give 0.019, not 0.013 (one in N gives H_N/N). 0 without a positive."""
    if positives <= 0 or total <= 0:
        return 0.0
    if total <= 1:
        return 1.0
    others = (positives - 1) / (total - 1)
    harmonic = float(np.sum(1.0 / np.arange(1, int(round(total)) + 1)))
    return float(others + (1 - others) * harmonic / total)


def roc_auc(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count half.

    Computed with the Mann-Whitney U statistic on average ranks.

    Raises:
        ValueError: on empty or malformed input, or when only one class is present.
    """
    y, s = _check_binary_input(y_true, scores)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both classes in y_true, got only one")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # Average 1-based rank of each distinct score value.
    upper = np.cumsum(counts)
    average_rank = upper - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _reviewed(y_true: npt.ArrayLike, scores: npt.ArrayLike, budget: float) -> tuple[int, int, int]:
    """(positives among reviewed, number reviewed, total positives) for a review budget."""
    y, s = _check_binary_input(y_true, scores)
    if isinstance(budget, bool) or not (0.0 < float(budget) <= 1.0):
        raise ValueError(f"budget must be a share in (0, 1], got {budget!r}")
    n = len(y)
    # Round away float noise (0.1 * 30 = 3.0000000000000004) before taking the ceiling.
    n_review = max(1, min(n, math.ceil(round(float(budget) * n, 9))))
    order = np.argsort(-s, kind="stable")  # ties: the earlier order is reviewed first
    caught = int(y[order[:n_review]].sum())
    return caught, n_review, int(y.sum())


def recall_at_budget(y_true: npt.ArrayLike, scores: npt.ArrayLike, budget: float) -> float:
    """Share of all positives among the top ceil(budget * n) scored orders.

    Ties in score are broken by position: the earlier order is reviewed first.

    Raises:
        ValueError: on empty or malformed input, budget outside (0, 1], or no positive label.
    """
    caught, _, n_pos = _reviewed(y_true, scores, budget)
    if n_pos == 0:
        raise ValueError("recall is undefined without a positive label")
    return caught / n_pos


def precision_at_budget(y_true: npt.ArrayLike, scores: npt.ArrayLike, budget: float) -> float:
    """Share of positives among the top ceil(budget * n) scored orders (ties as in recall).

    Raises:
        ValueError: on empty or malformed input or budget outside (0, 1].
    """
    caught, n_review, _ = _reviewed(y_true, scores, budget)
    return caught / n_review


# ----------------------------------------------------------------------------- calibration


def brier_score(y_true: npt.ArrayLike, probabilities: npt.ArrayLike) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome.

    Raises:
        ValueError: on empty or malformed input, or probabilities outside [0, 1].
    """
    y, p = _check_probabilities(y_true, probabilities)
    return float(np.mean((p - y) ** 2))


def reliability_table(
    y_true: npt.ArrayLike, probabilities: npt.ArrayLike, bins: int = 10
) -> list[dict[str, float]]:
    """What the probabilities claim against what happened, per bin of equal size.

    Rows are sorted by probability and cut into `bins` groups of (nearly) equal count, so the
    few high-risk rows get bins of their own instead of sharing one fixed-width bin; each row
    of the table holds the group's `rows`, `mean_predicted` and `realised` (share of 1s).

    Raises:
        ValueError: as `brier_score`, or `bins` below 1.
    """
    y, p = _check_probabilities(y_true, probabilities)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    order = np.argsort(p, kind="stable")
    return [
        {"rows": int(len(part)), "mean_predicted": float(p[part].mean()), "realised": float(y[part].mean())}
        for part in np.array_split(order, min(bins, len(p)))
    ]


def calibration_error(table: list[dict[str, float]]) -> float:
    """Expected calibration error of a `reliability_table`: the row-weighted mean absolute gap
    between predicted and realised."""
    rows = np.array([row["rows"] for row in table], dtype=np.float64)
    gaps = np.array([abs(row["mean_predicted"] - row["realised"]) for row in table])
    return float(rows @ gaps / rows.sum())


def _check_probabilities(
    y_true: npt.ArrayLike, probabilities: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    y, p = _check_binary_input(y_true, probabilities)
    if p.min() < 0 or p.max() > 1:
        raise ValueError("probabilities must lie in [0, 1]")
    return y.astype(np.float64), p
