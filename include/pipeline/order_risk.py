"""The steps of the order-risk DAG: extract, build features, train, evaluate, score, publish.

Time is the only split. Labels come from chargebacks, which arrive up to eight weeks after an
order, so only orders older than `maturity_days` are labelled; the newest labelled days are the
holdout, older ones train the models, and the most recent (unlabelled) orders are scored.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from include import registry, staging, warehouse
from include.pipeline.common import RunWindow, publish_version, read_shards, shard_of

log = logging.getLogger(__name__)

MODEL_NAME = "order_risk"
DAG_ID = "order_risk"
# The metric that decides which model serves (higher is better).
PRIMARY_METRIC = "pr_auc"
BANDS = ("approve", "review", "decline")


def extract(window: RunWindow, *, history_days: int, run_id: str) -> dict[str, Any]:
    """Stage the orders of the last `history_days` and the chargebacks known at `as_of`."""
    start = window.as_of - timedelta(days=history_days)
    orders = warehouse.read_frame("risk/extract_orders", {"start": start, "end": window.as_of})
    chargebacks = warehouse.read_frame("risk/extract_chargebacks", {"end": window.as_of})
    if orders.empty:
        raise ValueError(f"No orders in [{start}, {window.as_of})")
    return {
        "orders": staging.write_parquet(orders, DAG_ID, run_id, "orders"),
        "chargebacks": staging.write_parquet(chargebacks, DAG_ID, run_id, "chargebacks"),
        "rows": {"orders": len(orders), "chargebacks": len(chargebacks)},
        "window": window.to_dict(),
    }


def build_features(
    extract_ref: dict[str, Any],
    *,
    maturity_days: int,
    holdout_days: int,
    recent_days: int,
    run_id: str,
) -> dict[str, Any]:
    """Point-in-time features for every order, its label if matured, and its split:
    `train`, `holdout` (the newest matured days) or `score` (the recent orders)."""
    from include.features import build_order_features, label_orders

    window = RunWindow.from_dict(extract_ref["window"])
    orders = staging.read_parquet(extract_ref["orders"])
    chargebacks = staging.read_parquet(extract_ref["chargebacks"])
    features = build_order_features(orders)
    meta = orders.set_index("order_id")[["customer_id", "ordered_at", "amount"]]
    features = features.join(meta)
    features["label"] = label_orders(orders, chargebacks, window.as_of, maturity_days).reindex(features.index)
    matured_end = window.as_of - timedelta(days=maturity_days)
    holdout_start = matured_end - timedelta(days=holdout_days)
    recent_start = window.as_of - timedelta(days=recent_days)
    at = features["ordered_at"]
    features["split"] = None
    features.loc[(at < holdout_start) & features["label"].notna(), "split"] = "train"
    features.loc[(at >= holdout_start) & (at < matured_end) & features["label"].notna(), "split"] = "holdout"
    features.loc[at >= recent_start, "split"] = "score"
    counts = features["split"].value_counts().to_dict()
    frauds = features.groupby("split")["label"].sum().to_dict()
    log.info("Orders per split %s, chargebacks per split %s", counts, frauds)
    for split in ("train", "holdout"):
        if counts.get(split, 0) == 0 or frauds.get(split, 0) == 0:
            raise ValueError(
                f"The {split} split has {counts.get(split, 0)} orders and {frauds.get(split, 0)} "
                f"labelled frauds: not enough matured history before {matured_end}"
            )
    path = staging.write_parquet(features.reset_index(), DAG_ID, run_id, "features")
    return {
        "features": path,
        "rows": {k: int(v) for k, v in counts.items()},
        "frauds": {k: int(v) for k, v in frauds.items()},
        "holdout_start": holdout_start.isoformat(),
        "window": extract_ref["window"],
    }


def _split(features_ref: dict[str, Any], split: str):  # noqa: ANN202 - (X, y, frame)
    from include.features import FEATURE_COLUMNS

    frame = staging.read_parquet(features_ref["features"])
    frame = frame[frame["split"] == split].sort_values(["ordered_at", "order_id"])
    return frame[FEATURE_COLUMNS], frame["label"].to_numpy(dtype=float), frame


def train_candidate(candidate: str, features_ref: dict[str, Any], *, run_id: str) -> dict[str, Any]:
    """Fit one candidate on the training split (in time order) and save it."""
    from include.models.risk import CANDIDATES

    if candidate not in CANDIDATES:
        raise ValueError(f"Unknown risk candidate {candidate!r}; known: {sorted(CANDIDATES)}")
    X, y, _ = _split(features_ref, "train")
    model = CANDIDATES[candidate]().fit(X, y.astype(int))
    version = registry.new_version(MODEL_NAME, candidate, run_id)
    directory = registry.artifact_dir(MODEL_NAME, version)
    model.save(directory)
    log.info("Trained %s on %s orders (%s frauds)", candidate, len(y), int(y.sum()))
    return {
        "candidate": candidate,
        "model_version": version,
        "artifact": str(directory),
        "train_rows": len(y),
        "params": model.params(),
    }


def risk_metrics(y: np.ndarray, scores: np.ndarray, review_budget: float) -> dict[str, float]:
    """PR-AUC, ROC-AUC and recall/precision when the top `review_budget` share is reviewed."""
    from include.metrics import average_precision, precision_at_budget, recall_at_budget, roc_auc

    return {
        "pr_auc": average_precision(y, scores),
        "roc_auc": roc_auc(y, scores),
        "recall_at_budget": recall_at_budget(y, scores, review_budget),
        "precision_at_budget": precision_at_budget(y, scores, review_budget),
        "base_rate": float(np.mean(y)),
    }


def band_thresholds(
    holdout_scores: np.ndarray, *, review_budget: float, decline_share: float
) -> dict[str, float]:
    """Score cut-offs so that about `review_budget` of orders go to review or decline and
    `decline_share` of them are declined outright."""
    if not 0 < decline_share < review_budget <= 1:
        raise ValueError("Need 0 < decline_share < review_budget <= 1")
    return {
        "review": float(np.quantile(holdout_scores, 1 - review_budget)),
        "decline": float(np.quantile(holdout_scores, 1 - decline_share)),
    }


def evaluate_and_select(
    trained: list[dict[str, Any]],
    features_ref: dict[str, Any],
    *,
    review_budget: float,
    decline_share: float,
    run_id: str,
) -> dict[str, Any]:
    """Evaluate candidates and the champion on the same holdout, record, promote the best if it
    beats the champion, and set the band thresholds of the serving model."""
    from include.models.risk import load_risk_model

    window = RunWindow.from_dict(features_ref["window"])
    holdout_start = datetime.fromisoformat(features_ref["holdout_start"])
    X, y, _ = _split(features_ref, "holdout")
    trained = [t for t in trained if t]
    # Holdout scores by model version: for the metrics, then for the serving model's bands.
    scores = {t["model_version"]: load_risk_model(Path(t["artifact"])).predict(X) for t in trained}
    metrics = {t["candidate"]: risk_metrics(y, scores[t["model_version"]], review_budget) for t in trained}
    champion = registry.current_champion(MODEL_NAME)
    champion_metrics = None
    if registry.comparable(champion, holdout_start):
        scores[champion.model_version] = load_risk_model(champion.artifact_dir).predict(X)
        champion_metrics = risk_metrics(y, scores[champion.model_version], review_budget)
    serving = registry.record_and_promote(
        model_name=MODEL_NAME,
        trained=trained,
        metrics=metrics,
        primary_metric=PRIMARY_METRIC,
        champion=champion,
        champion_metrics=champion_metrics,
        run_id=run_id,
        data_interval=window.interval,
        holdout_start_at=holdout_start,
        holdout_rows=len(y),
        extra_params={"review_budget": review_budget},
    )
    # The bands follow the serving model's own score distribution on the holdout.
    serving_scores = scores.get(serving["model_version"])
    if serving_scores is None:  # retraining off and the champion was not compared
        serving_scores = load_risk_model(Path(serving["artifact"])).predict(X)
    serving["thresholds"] = band_thresholds(
        serving_scores, review_budget=review_budget, decline_share=decline_share
    )
    log.info("Serving %s with thresholds %s", serving["model_version"], serving["thresholds"])
    return serving


def plan_shards(features_ref: dict[str, Any], *, n_shards: int) -> list[int]:
    """The shard numbers to score (fewer than asked when there are few orders)."""
    orders = features_ref["rows"].get("score", 0)
    if orders == 0:
        raise ValueError("No recent orders to score")
    return list(range(max(1, min(n_shards, orders // 100 or 1))))


def assign_bands(scores: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """approve / review / decline from the serving model's cut-offs."""
    return np.where(
        scores >= thresholds["decline"],
        "decline",
        np.where(scores >= thresholds["review"], "review", "approve"),
    )


def score_shard(
    shard: int,
    n_shards: int,
    serving: dict[str, Any],
    features_ref: dict[str, Any],
    *,
    run_id: str,
) -> str:
    """Score, band and explain the recent orders of one shard."""
    import pandas as pd

    from include.models.risk import load_risk_model, top_reasons

    X, _, frame = _split(features_ref, "score")
    mask = (shard_of(frame["order_id"], n_shards) == shard).to_numpy()
    X, frame = X[mask], frame[mask]
    model = load_risk_model(Path(serving["artifact"]))
    scores = model.predict(X)
    out = pd.DataFrame(
        {
            "order_id": frame["order_id"].to_numpy(),
            "customer_id": frame["customer_id"].to_numpy(),
            "ordered_at": frame["ordered_at"].to_numpy(),
            "amount": frame["amount"].to_numpy(),
            "score": scores,
            "band": assign_bands(scores, serving["thresholds"]),
            "reasons": top_reasons(model, X),
            "model_version": serving["model_version"],
            "as_of": pd.Timestamp(RunWindow.from_dict(features_ref["window"]).as_of),
        }
    )
    log.info(
        "Shard %s/%s: %s orders, bands %s", shard, n_shards, len(out), out["band"].value_counts().to_dict()
    )
    return staging.write_parquet(out, DAG_ID, run_id, f"risk_shard_{shard:03d}")


def publish_scores(
    paths: list[str], serving: dict[str, Any], features_ref: dict[str, Any], *, run_id: str
) -> dict[str, Any]:
    """Publish the scored shards as one new version of `order_risk_scores`."""
    return publish_version("order_risk_scores", read_shards(paths), serving, features_ref, run_id=run_id)
