"""Metrics against hand-computed values, cross-checks with scikit-learn, and input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from include.metrics import (
    RankedLabels,
    average_precision,
    ndcg_at_k,
    ndcg_values,
    precision_at_budget,
    recall_at_budget,
    recall_at_k,
    recall_values,
    roc_auc,
)

LOG2_3 = math.log2(3)

# ------------------------------------------------------------------------------ recall@k


def test_recall_at_k_averages_over_users_with_relevant_items() -> None:
    recommended = [[1, 2, 3], [5, 6, 7], [8, 9]]
    relevant = [{2, 4}, {7}, set()]
    # k=2: user 0 top-2 {1, 2} ∩ {2, 4} = {2} -> 1/2; user 1 top-2 {5, 6} ∩ {7} = {} -> 0;
    # user 2 has no relevant item and is skipped. Mean = (1/2 + 0) / 2 = 0.25.
    assert recall_at_k(recommended, relevant, 2) == pytest.approx(0.25)
    # k=3: user 0 -> 1/2, user 1 -> 1/1. Mean = 0.75.
    assert recall_at_k(recommended, relevant, 3) == pytest.approx(0.75)


def test_recall_at_k_is_capped_by_the_number_of_relevant_items() -> None:
    # 1 of 4 relevant items fits in a list of 1: recall 1/4 even though the list is perfect.
    assert recall_at_k([[1, 2, 3]], [{1, 2, 3, 4}], 1) == pytest.approx(0.25)


def test_recall_at_k_accepts_short_lists_and_numpy_ids() -> None:
    # A list shorter than k: 1 of 2 relevant found -> 0.5.
    assert recall_at_k([np.array([3], dtype=np.int64)], [{3, 4}], 10) == pytest.approx(0.5)


# -------------------------------------------------------------------------------- nDCG@k


def test_ndcg_relevant_at_rank_two() -> None:
    # DCG = 1/log2(2+1); IDCG (one relevant item) = 1/log2(1+1) = 1.
    assert ndcg_at_k([[1, 2, 3]], [{2}], 3) == pytest.approx(1 / LOG2_3)


def test_ndcg_two_relevant_at_ranks_two_and_three() -> None:
    # DCG = 1/log2(3) + 1/log2(4) = 0.63093 + 0.5; IDCG = 1/log2(2) + 1/log2(3) = 1 + 0.63093.
    expected = (1 / LOG2_3 + 0.5) / (1 + 1 / LOG2_3)
    assert expected == pytest.approx(0.69343, abs=1e-5)
    assert ndcg_at_k([[1, 2, 3]], [{2, 3}], 3) == pytest.approx(expected)


def test_ndcg_ideal_uses_at_most_k_positions() -> None:
    # 3 relevant items, k=2, both slots relevant: DCG = IDCG = 1 + 1/log2(3) -> 1.0.
    assert ndcg_at_k([[1, 2]], [{1, 2, 3}], 2) == pytest.approx(1.0)


def test_ndcg_averages_users_and_skips_users_without_relevant_items() -> None:
    # user 0: relevant at rank 1 -> 1.0; user 1: nothing relevant in the list -> 0.0;
    # user 2: no relevant items, skipped. Mean = 0.5.
    assert ndcg_at_k([[4, 5], [6, 7], [1]], [{4}, {9}, set()], 2) == pytest.approx(0.5)


def test_ndcg_counts_a_repeated_product_once() -> None:
    # [2, 2] with relevant {2}: only rank 1 gains -> DCG 1 = IDCG 1 (not 1 + 1/log2(3)).
    assert ndcg_at_k([[2, 2]], [{2}], 2) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [recall_at_k, ndcg_at_k])
def test_ranking_metrics_reject_bad_input(metric) -> None:
    with pytest.raises(ValueError, match="at least one user"):
        metric([], [], 5)
    with pytest.raises(ValueError, match="one entry per user"):
        metric([[1]], [{1}, {2}], 5)
    with pytest.raises(ValueError, match="no user has a relevant item"):
        metric([[1]], [set()], 5)
    with pytest.raises(ValueError, match="positive integer"):
        metric([[1]], [{1}], 0)


# ---------------------------------------------------------------------- average precision


def test_average_precision_hand_computed() -> None:
    # Sorted by score: labels 1, 0, 1, 0.
    # rank 1: P = 1/1, R = 1/2; rank 2: P = 1/2, R = 1/2; rank 3: P = 2/3, R = 2/2.
    # AP = (1/2 - 0) * 1 + 0 * 1/2 + (1 - 1/2) * 2/3 = 0.5 + 1/3 = 0.8333.
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)


def test_average_precision_treats_tied_scores_as_one_threshold() -> None:
    # Threshold 0.5 admits both tied orders at once: P = 1/2, R = 1/2.
    # Threshold 0.2: P = 2/3, R = 1. AP = 1/2 * 1/2 + 1/2 * 2/3 = 0.58333.
    assert average_precision([1, 0, 1], [0.5, 0.5, 0.2]) == pytest.approx(7 / 12)


def test_average_precision_matches_sklearn_on_random_data_with_ties() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        y = rng.integers(0, 2, 300)
        y[0] = 1
        scores = rng.integers(0, 25, 300) / 25.0  # coarse scores: many ties
        assert average_precision(y, scores) == pytest.approx(average_precision_score(y, scores))


# ------------------------------------------------------------------------------- ROC AUC


def test_weighted_average_precision_equals_that_of_the_repeated_rows() -> None:
    y = np.array([1, 0, 1, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.8, 0.4, 0.3, 0.1])
    counts = np.array([2, 0, 1, 3, 1, 1])
    repeated = np.repeat(np.arange(len(y)), counts)
    assert average_precision(y, s, counts) == pytest.approx(average_precision(y[repeated], s[repeated]))
    assert average_precision(y, s, counts) == pytest.approx(
        average_precision_score(y, s, sample_weight=counts)
    )
    # Hand-computed: thresholds 0.9 (2 positives of 2), 0.8 (3 of 3: the weight-0 negative does
    # not count), 0.4 (3 of 6), 0.3 (3 of 7), 0.1 (4 of 8); recall steps 2/4, 1/4, 0, 0, 1/4.
    assert average_precision(y, s, counts) == pytest.approx(2 / 4 * 1 + 1 / 4 * 1 + 1 / 4 * 4 / 8)


def test_ranked_labels_give_many_weighted_aps_from_one_sort() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(500) < 0.1).astype(int)
    s = np.round(rng.random(500), 2)
    ranked = RankedLabels(y, s)
    assert ranked.average_precision() == pytest.approx(average_precision_score(y, s))
    for _ in range(5):
        counts = np.bincount(rng.integers(0, 500, 500), minlength=500)
        assert ranked.average_precision(counts) == pytest.approx(
            average_precision_score(y, s, sample_weight=counts)
        )
    with pytest.raises(ValueError, match="without a positive"):
        ranked.average_precision(np.where(y == 1, 0, 1))


def test_per_user_values_are_nan_only_where_nothing_is_relevant() -> None:
    recommended = [[1, 2], [3, 4], [5]]
    relevant = [{2}, set(), {9}]
    np.testing.assert_allclose(ndcg_values(recommended, relevant, 2), [1 / LOG2_3, np.nan, 0.0])
    np.testing.assert_allclose(recall_values(recommended, relevant, 2), [1.0, np.nan, 0.0])
    assert ndcg_at_k(recommended, relevant, 2) == pytest.approx((1 / LOG2_3) / 2)


def test_roc_auc_hand_computed() -> None:
    # Positive-negative pairs: (0.9, 0.8) win, (0.9, 0.1) win, (0.7, 0.8) loss, (0.7, 0.1) win.
    # AUC = 3/4.
    assert roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.75)


def test_roc_auc_counts_ties_half() -> None:
    # One pair, tied -> 1/2.
    assert roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    # Pairs: (0.8, 0.5) win, (0.8, 0.2) win, (0.5, 0.5) tie = 1/2, (0.5, 0.2) win -> 3.5 / 4.
    assert roc_auc([1, 1, 0, 0], [0.8, 0.5, 0.5, 0.2]) == pytest.approx(0.875)


def test_roc_auc_matches_sklearn_on_random_data_with_ties() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        y = rng.integers(0, 2, 300)
        y[:2] = [0, 1]
        scores = rng.integers(0, 25, 300) / 25.0
        assert roc_auc(y, scores) == pytest.approx(roc_auc_score(y, scores))


def test_roc_auc_accepts_boolean_labels() -> None:
    assert roc_auc(np.array([True, False]), [0.9, 0.1]) == pytest.approx(1.0)


# ------------------------------------------------------------------- review-budget metrics

BUDGET_Y = [0, 1, 0, 1, 1, 0, 0, 0, 0, 0]  # 3 positives among 10 orders
BUDGET_SCORES = [0.9, 0.8, 0.8, 0.3, 0.7, 0.1, 0.2, 0.2, 0.2, 0.2]


def test_budget_metrics_hand_computed() -> None:
    # budget 0.3 -> ceil(3.0) = 3 reviewed: orders 0 (0.9), 1 (0.8), 2 (0.8) -> 1 positive.
    assert recall_at_budget(BUDGET_Y, BUDGET_SCORES, 0.3) == pytest.approx(1 / 3)
    assert precision_at_budget(BUDGET_Y, BUDGET_SCORES, 0.3) == pytest.approx(1 / 3)
    # budget 0.4 -> 4 reviewed: + order 4 (0.7) -> 2 positives; recall 2/3, precision 2/4.
    assert recall_at_budget(BUDGET_Y, BUDGET_SCORES, 0.4) == pytest.approx(2 / 3)
    assert precision_at_budget(BUDGET_Y, BUDGET_SCORES, 0.4) == pytest.approx(0.5)
    # budget 1.0 reviews everything: recall 1, precision 3/10.
    assert recall_at_budget(BUDGET_Y, BUDGET_SCORES, 1.0) == pytest.approx(1.0)
    assert precision_at_budget(BUDGET_Y, BUDGET_SCORES, 1.0) == pytest.approx(0.3)


def test_budget_rounds_the_number_of_reviewed_orders_up() -> None:
    # budget 0.25 of 10 -> ceil(2.5) = 3 reviewed, same as budget 0.3.
    assert recall_at_budget(BUDGET_Y, BUDGET_SCORES, 0.25) == pytest.approx(1 / 3)
    # A tiny budget still reviews one order: order 0 (0.9) is negative -> precision 0.
    assert precision_at_budget(BUDGET_Y, BUDGET_SCORES, 0.001) == pytest.approx(0.0)


def test_budget_is_not_fooled_by_float_noise() -> None:
    # 0.1 * 30 = 3.0000000000000004 in floating point; exactly 3 orders are reviewed.
    y = [1, 1, 1, 1] + [0] * 26
    scores = np.linspace(1.0, 0.0, 30)
    assert precision_at_budget(y, scores, 0.1) == pytest.approx(1.0)
    assert recall_at_budget(y, scores, 0.1) == pytest.approx(3 / 4)


def test_budget_breaks_ties_by_order_index() -> None:
    # Orders 0 and 1 tie; one is reviewed and it is the earlier one (a negative).
    assert recall_at_budget([0, 1], [0.5, 0.5], 0.5) == pytest.approx(0.0)
    assert recall_at_budget([1, 0], [0.5, 0.5], 0.5) == pytest.approx(1.0)
    assert precision_at_budget([0, 1], [0.5, 0.5], 0.5) == pytest.approx(0.0)


# ------------------------------------------------------------------------------ edge cases


@pytest.mark.parametrize(
    "metric",
    [
        average_precision,
        roc_auc,
        lambda y, s: recall_at_budget(y, s, 0.5),
        lambda y, s: precision_at_budget(y, s, 0.5),
    ],
)
def test_classification_metrics_reject_malformed_input(metric) -> None:
    with pytest.raises(ValueError, match="empty"):
        metric([], [])
    with pytest.raises(ValueError, match="same length"):
        metric([0, 1], [0.5])
    with pytest.raises(ValueError, match="0/1"):
        metric([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        metric([0, 1], [0.1, float("nan")])


def test_roc_auc_rejects_a_single_class() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([0, 0], [0.1, 0.2])


def test_average_precision_and_recall_reject_no_positives() -> None:
    with pytest.raises(ValueError, match="without a positive"):
        average_precision([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="without a positive"):
        recall_at_budget([0, 0], [0.1, 0.2], 0.5)


@pytest.mark.parametrize("budget", [0.0, -0.1, 1.5, float("nan")])
def test_budget_outside_unit_interval_is_rejected(budget: float) -> None:
    with pytest.raises(ValueError, match=r"budget must be a share in \(0, 1\]"):
        recall_at_budget([0, 1], [0.1, 0.2], budget)
    with pytest.raises(ValueError, match=r"budget must be a share in \(0, 1\]"):
        precision_at_budget([0, 1], [0.1, 0.2], budget)


def test_brier_score_by_hand() -> None:
    from include.metrics import brier_score

    assert brier_score([1, 0, 0, 1], [0.9, 0.2, 0.0, 0.5]) == pytest.approx((0.01 + 0.04 + 0 + 0.25) / 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier_score([1, 0], [1.2, 0.1])


def test_reliability_table_and_calibration_error_by_hand() -> None:
    from include.metrics import calibration_error, reliability_table

    y = [0, 0, 1, 0, 1, 1]
    p = [0.1, 0.0, 0.2, 0.5, 0.9, 0.7]
    table = reliability_table(y, p, bins=3)
    # Sorted by probability: (0.0, 0.1) -> 0 of 2; (0.2, 0.5) -> 1 of 2; (0.7, 0.9) -> 2 of 2.
    assert table == [
        {"rows": 2, "mean_predicted": pytest.approx(0.05), "realised": 0.0},
        {"rows": 2, "mean_predicted": pytest.approx(0.35), "realised": 0.5},
        {"rows": 2, "mean_predicted": pytest.approx(0.8), "realised": 1.0},
    ]
    assert calibration_error(table) == pytest.approx((0.05 + 0.15 + 0.2) / 3)
    assert len(reliability_table(y, p, bins=20)) == 6


def test_random_average_precision_matches_hand_computed_cases_and_random_rankings() -> None:
    from include.metrics import average_precision, random_average_precision

    # One positive among N: AP = 1/r, r uniform: H_N / N. Among 4: (1 + 1/2 + 1/3 + 1/4) / 4.
    assert random_average_precision(1, 4) == pytest.approx(25 / 48)
    # Every row positive: AP = 1.
    assert random_average_precision(5, 5) == pytest.approx(1.0)
    assert random_average_precision(0, 10) == 0.0
    # Against many random rankings of 13 frauds in 1,000 orders: far above the share 0.013.
    rng = np.random.default_rng(0)
    labels = np.zeros(1000)
    labels[:13] = 1
    observed = np.mean([average_precision(labels, rng.random(1000)) for _ in range(4000)])
    expected = random_average_precision(13, 1000)
    assert expected == pytest.approx(observed, rel=0.03)
    assert expected > 1.4 * 0.013
