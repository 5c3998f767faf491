"""Judging recommenders on a time holdout: who is judged, on what, and per-customer results.

Every model of one evaluation is judged on the same customers, so their per-customer figures
can be compared pair by pair (the promotion gate's paired bootstrap). A customer whose history
a model cannot use (none of their products is known to it) counts as a miss for that model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from include.metrics import ndcg_values, recall_values
from include.models.recommender.base import Recommender, check_k


@dataclass(frozen=True)
class HoldoutCustomers:
    """The customers judged on a holdout and the purchases that count as hits."""

    customer_ids: np.ndarray  # sorted
    relevant: list[set[int]]  # per customer: products bought in the holdout, not bought before
    cold: int  # holdout buyers without any history: they get popularity, and are not judged
    catalogue: int  # products in history or holdout, for coverage
    as_of: datetime | None = None  # where the history ends and the holdout begins

    def __len__(self) -> int:
        return len(self.customer_ids)


@dataclass(frozen=True)
class RankingResult:
    """One model's figures on a holdout; the arrays follow `HoldoutCustomers.customer_ids`."""

    metrics: dict[str, float]
    ndcg: np.ndarray
    recall: np.ndarray


def holdout_customers(
    history: pd.DataFrame, holdout: pd.DataFrame, *, as_of: datetime | None = None
) -> HoldoutCustomers:
    """The holdout buyers with some history and at least one new purchase.

    Args:
        history: the interactions models recommend from (before the holdout).
        holdout: customer_id, product_id of purchases in the holdout.
        as_of: the start of the holdout (recency weighting counts back from it).

    Raises:
        ValueError: on malformed frames or when no holdout customer can be judged.
    """
    missing = [c for c in ("customer_id", "product_id") if c not in holdout.columns]
    if missing:
        raise ValueError(f"holdout lacks column(s) {missing}; got {list(holdout.columns)}")
    if holdout[["customer_id", "product_id"]].isna().any().any():
        raise ValueError("holdout has null customer_id or product_id")
    buyers = np.unique(holdout["customer_id"].to_numpy(np.int64))
    known = np.intersect1d(buyers, history["customer_id"].to_numpy(np.int64))
    bought_before = history.loc[history["purchases"] > 0, ["customer_id", "product_id"]].astype(np.int64)
    pairs = (
        holdout.loc[holdout["customer_id"].isin(known), ["customer_id", "product_id"]]
        .astype(np.int64)
        .drop_duplicates()
        .merge(bought_before, how="left", indicator=True)
    )
    pairs = pairs[pairs["_merge"] == "left_only"]
    relevant = pairs.groupby("customer_id")["product_id"].agg(set).sort_index()
    if relevant.empty:
        raise ValueError(
            f"no holdout customer can be evaluated: {len(buyers)} bought in the holdout, "
            f"{len(known)} of them have history, none bought something new"
        )
    catalogue = np.union1d(history["product_id"].to_numpy(np.int64), holdout["product_id"].to_numpy(np.int64))
    return HoldoutCustomers(
        customer_ids=relevant.index.to_numpy(np.int64),
        relevant=list(relevant),
        cold=len(buyers) - len(known),
        catalogue=len(catalogue),
        as_of=as_of,
    )


def evaluate_recommender(
    model: Recommender, history: pd.DataFrame, customers: HoldoutCustomers, k: int
) -> RankingResult:
    """Recall@k and nDCG@k of `model` recommending from `history` to the holdout customers.

    Returns:
        metrics: recall_at_k, ndcg_at_k, users (customers judged), scored_users (those the
        model could recommend to), cold_users, coverage (share of the catalogue recommended to
        someone); and the per-customer ndcg and recall arrays.
    """
    k = check_k(k)
    recs = model.recommend(history, customers.customer_ids, k, as_of=customers.as_of)
    ndcg, recall = ranking_values(recs, customers, k)
    metrics = {
        "recall_at_k": float(recall.mean()),
        "ndcg_at_k": float(ndcg.mean()),
        "users": len(customers),
        "scored_users": int(recs["customer_id"].nunique()),
        "cold_users": customers.cold,
        "coverage": recs["product_id"].nunique() / max(customers.catalogue, 1),
    }
    return RankingResult(metrics=metrics, ndcg=ndcg, recall=recall)


def ranking_values(recs: pd.DataFrame, customers: HoldoutCustomers, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per holdout customer, nDCG@k and Recall@k of `recs` (customer_id, rank, product_id);
    the same figures as `include.metrics.ndcg_values` / `recall_values`, computed over a
    customers x k matrix instead of a Python loop per customer."""
    n = len(customers)
    ids = customers.customer_ids
    recs = recs[(recs["rank"] >= 1) & (recs["rank"] <= k)]
    row = np.searchsorted(ids, recs["customer_id"].to_numpy(np.int64))
    found = (row < n) & (ids[np.minimum(row, n - 1)] == recs["customer_id"].to_numpy(np.int64))
    ranked = np.full((n, k), -1, dtype=np.int64)
    ranked[row[found], recs["rank"].to_numpy(np.int64)[found] - 1] = recs["product_id"].to_numpy(np.int64)[
        found
    ]
    sizes = np.fromiter((len(r) for r in customers.relevant), dtype=np.int64, count=n)
    products = np.fromiter((p for r in customers.relevant for p in r), dtype=np.int64, count=int(sizes.sum()))
    span = int(max(products.max(initial=0), ranked.max(initial=0))) + 1
    if n * span >= 2**62:  # ids too large to pair into one int64 key
        recommended = [[p for p in r if p >= 0] for r in ranked]
        return ndcg_values(recommended, customers.relevant, k), recall_values(
            recommended, customers.relevant, k
        )
    relevant_keys = np.repeat(np.arange(n, dtype=np.int64), sizes) * span + products
    hit = (ranked >= 0) & np.isin(np.arange(n, dtype=np.int64)[:, None] * span + ranked, relevant_keys)
    # A product repeated in a list counts only at its first rank.
    for later in range(1, k):
        hit[:, later] &= (ranked[:, :later] != ranked[:, later : later + 1]).all(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(sizes, k) - 1]
    return (hit @ discounts) / ideal, hit.sum(axis=1) / sizes
