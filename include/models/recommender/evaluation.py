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
    lists = recs.sort_values(["customer_id", "rank"]).groupby("customer_id")["product_id"].agg(list)
    recommended = [lists.get(customer, []) for customer in customers.customer_ids]
    ndcg = ndcg_values(recommended, customers.relevant, k)
    recall = recall_values(recommended, customers.relevant, k)
    metrics = {
        "recall_at_k": float(recall.mean()),
        "ndcg_at_k": float(ndcg.mean()),
        "users": len(customers),
        "scored_users": int(len(lists)),
        "cold_users": customers.cold,
        "coverage": recs["product_id"].nunique() / max(customers.catalogue, 1),
    }
    return RankingResult(metrics=metrics, ndcg=ndcg, recall=recall)
