"""The steps of the order-risk DAG that are its own: extract, features, fit, judge, bands, score.

The candidate lifecycle (train, evaluate with the gate, refit, serve) is shared with the
recommendations DAG in `include.pipeline.lifecycle`; `LIFECYCLE` fills in what risk does
differently. Time is the only split. Labels come from chargebacks, which arrive up to eight weeks after an
order, so only orders older than `maturity_days` are labelled; the newest labelled days are the
holdout, older ones train the models, and the most recent (unlabelled) orders are scored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from include import staging, warehouse
from include.pipeline.common import publish_version, read_shards, shard_of, stage_frames
from include.pipeline.lifecycle import HoldoutResult, Lifecycle
from include.pipeline.refs import RunWindow, ServingModel, Staged

if TYPE_CHECKING:
    import pandas as pd

    from include.models.risk.base import RiskModel

log = logging.getLogger(__name__)

DAG_ID = "order_risk"
BANDS = ("approve", "review", "decline")


def extract(window: RunWindow, *, history_days: int, run_id: str) -> dict[str, Any]:
    """Stage the orders of the last `history_days` and the chargebacks known at `as_of`."""
    start = window.as_of - timedelta(days=history_days)
    orders = warehouse.read_frame("risk/extract_orders", {"start": start, "end": window.as_of})
    chargebacks = warehouse.read_frame("risk/extract_chargebacks", {"end": window.as_of})
    if orders.empty:
        raise ValueError(f"No orders in [{start}, {window.as_of})")
    frames = {"orders": orders, "chargebacks": chargebacks}
    return stage_frames(frames, window, dag_id=DAG_ID, run_id=run_id).to_dict()


def build_features(
    extract_ref: Mapping[str, Any],
    *,
    maturity_days: int,
    holdout_days: int,
    recent_days: int,
    run_id: str,
) -> dict[str, Any]:
    """Point-in-time features for every order, its label if matured, and its split:
    `train`, `holdout` (the newest matured days) or `score` (the recent orders)."""
    from include.features import build_order_features, label_orders

    extracted = Staged.from_dict(extract_ref)
    window = extracted.window
    orders = staging.read_parquet(extracted.path("orders"))
    chargebacks = staging.read_parquet(extracted.path("chargebacks"))
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
    rows = {split: int(n) for split, n in counts.items()}
    rows.update({f"{split}_frauds": int(n) for split, n in frauds.items()})
    return Staged(
        window=window,
        paths={"features": staging.write_parquet(features.reset_index(), DAG_ID, run_id, "features")},
        rows=rows,
        holdout_start=holdout_start,
    ).to_dict()


def _split(staged: Staged, *splits: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """(features, labels, whole rows) of the given splits, in time order."""
    from include.features import FEATURE_COLUMNS

    frame = staging.read_parquet(staged.path("features"))
    frame = frame[frame["split"].isin(splits)].sort_values(["ordered_at", "order_id"])
    return frame[FEATURE_COLUMNS], frame["label"].to_numpy(dtype=float), frame


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


@dataclass(frozen=True)
class RiskHoldout:
    """The matured orders risk models are judged on, and the review budget of the metrics."""

    X: pd.DataFrame
    y: np.ndarray
    review_budget: float

    def __len__(self) -> int:
        return len(self.y)


class RiskLifecycle(Lifecycle):
    """Order risk: fitted on matured orders, judged by PR-AUC over holdout orders."""

    family: ClassVar[str] = "order_risk"
    primary_metric: ClassVar[str] = "pr_auc"

    def run_settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "review_budget": float(params["review_budget"]),
            "decline_share": float(params["decline_share"]),
        }

    def fit(self, model: RiskModel, staged: Staged, *, full: bool) -> int:
        X, y, _ = _split(staged, *(("train", "holdout") if full else ("train",)))
        model.fit(X, y.astype(int))
        return len(y)

    def holdout(self, staged: Staged, settings: Mapping[str, Any]) -> RiskHoldout:
        X, y, _ = _split(staged, "holdout")
        return RiskHoldout(X, y, float(settings["review_budget"]))

    def evaluate(self, model: RiskModel, holdout: RiskHoldout) -> HoldoutResult:
        from include.metrics import RankedLabels

        scores = model.predict(holdout.X)
        ranked = RankedLabels(holdout.y, scores)
        return HoldoutResult(risk_metrics(holdout.y, scores, holdout.review_budget), ranked.average_precision)

    def floor(self, holdout: RiskHoldout, results: Mapping[str, HoldoutResult]) -> HoldoutResult:
        # The PR-AUC of a random ranking is the share of frauds: its expected value is the base rate.
        labels = holdout.y.astype(np.float64)
        base_rate = float(labels.mean())
        return HoldoutResult(
            {"pr_auc": base_rate, "base_rate": base_rate},
            lambda counts: float(counts @ labels / counts.sum()),
        )

    def serving_settings(
        self, model: RiskModel, staged: Staged, settings: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The band cut-offs, from the serving model's own scores on the holdout orders."""
        X, _, _ = _split(staged, "holdout")
        thresholds = band_thresholds(
            model.predict(X), review_budget=settings["review_budget"], decline_share=settings["decline_share"]
        )
        log.info("Band thresholds %s", thresholds)
        return {"thresholds": thresholds}


LIFECYCLE = RiskLifecycle()


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
    serving: Mapping[str, Any],
    features_ref: Mapping[str, Any],
    *,
    run_id: str,
) -> str:
    """Score, band and explain the recent orders of one shard."""
    import pandas as pd

    from include.models.catalogue import load_model
    from include.models.risk.base import top_reasons

    staged = Staged.from_dict(features_ref)
    model_ref = ServingModel.from_dict(serving)
    X, _, frame = _split(staged, "score")
    mask = (shard_of(frame["order_id"], n_shards) == shard).to_numpy()
    X, frame = X[mask], frame[mask]
    model = load_model(Path(model_ref.artifact), family="order_risk")
    scores = model.predict(X)
    out = pd.DataFrame(
        {
            "order_id": frame["order_id"].to_numpy(),
            "customer_id": frame["customer_id"].to_numpy(),
            "ordered_at": frame["ordered_at"].to_numpy(),
            "amount": frame["amount"].to_numpy(),
            "score": scores,
            "band": assign_bands(scores, model_ref.settings["thresholds"]),
            "reasons": top_reasons(model, X),
            "model_version": model_ref.model_version,
            "as_of": pd.Timestamp(staged.window.as_of),
        }
    )
    log.info(
        "Shard %s/%s: %s orders, bands %s", shard, n_shards, len(out), out["band"].value_counts().to_dict()
    )
    return staging.write_parquet(out, DAG_ID, run_id, f"risk_shard_{shard:03d}")


def publish_scores(
    paths: list[str], serving: Mapping[str, Any], features_ref: Mapping[str, Any], *, run_id: str
) -> dict[str, Any]:
    """Publish the scored shards as one new version of `order_risk_scores`."""
    return publish_version("order_risk_scores", read_shards(paths), serving, features_ref, run_id=run_id)
