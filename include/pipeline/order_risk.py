"""The steps of the order-risk DAG that are its own: extract, features, fit, judge, bands, score.

The candidate lifecycle (train, evaluate with the gate, refit, serve) is shared with the
recommendations DAG in `include.pipeline.lifecycle`; `LIFECYCLE` fills in what risk does
differently.

Labels come from chargebacks, which arrive weeks after an order, so an order is labelled only
once `maturity_days` old. The backtest mimics serving (M = maturity_days, H = holdout_days,
R = recent_days, S = as_of):

    serving, tonight S:  trained on orders <= S - M, labels known at S;
                         scores the orders of [S - R, S), M - R to M days after its data.
    backtest, night T = S - M, as if it were tonight:
                         candidates train on orders <= T - M with the labels known at T;
                         the holdout is the orders of [T - H, T), M - H to M days after the
                         candidates' data, labelled with what is known at S (all matured).

So a candidate is judged at the distance from its data at which it will serve, without the
chargebacks that arrived after T; the orders between T - M and T - H, and the holdout, teach
only the serving refit, which learns every label matured by S.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from include import staging, validation, warehouse
from include.assets import ORDER_TABLES
from include.pipeline.common import publish_version, read_shards, shard_of, stage_frames
from include.pipeline.lifecycle import HoldoutResult, Lifecycle
from include.pipeline.refs import RunWindow, ServingModel, Staged

if TYPE_CHECKING:
    import pandas as pd

    from include.models.risk.base import RiskModel

log = logging.getLogger(__name__)

DAG_ID = "order_risk"
BANDS = ("approve", "review", "decline")
# Fewest days of orders the candidates must have to learn from.
MIN_TRAIN_DAYS = 14


# The source tables the extracts read (the validated Asset that triggers this DAG covers them).
SOURCE_TABLES = ORDER_TABLES


class RiskSettingsError(ValueError):
    """The run's parameters contradict each other; nothing was read or trained."""


def check_settings(params: Mapping[str, Any]) -> None:
    """Check the risk parameters together, before any work.

    Raises:
        RiskSettingsError: naming every conflict found.
    """
    budget, decline = float(params["review_budget"]), float(params["decline_share"])
    maturity, holdout = int(params["maturity_days"]), int(params["holdout_days"])
    recent, history = int(params["recent_days"]), int(params["history_days"])
    conflicts = []
    if not 0 < decline < budget <= 1:
        conflicts.append(
            f"decline_share ({decline}) must be above 0 and below review_budget ({budget}), "
            "which is at most 1: declined orders are the riskiest of those flagged"
        )
    if recent > maturity:
        conflicts.append(
            f"recent_days ({recent}) must not exceed maturity_days ({maturity}): "
            "orders old enough to be labelled would be scored as if new"
        )
    if holdout > maturity:
        conflicts.append(
            f"holdout_days ({holdout}) must not exceed maturity_days ({maturity}): "
            "the holdout would overlap the candidates' training orders"
        )
    if history < 2 * maturity + MIN_TRAIN_DAYS:
        conflicts.append(
            f"history_days ({history}) must be at least 2 x maturity_days + {MIN_TRAIN_DAYS} "
            f"= {2 * maturity + MIN_TRAIN_DAYS}: candidates learn from orders matured "
            f"{maturity} days before a holdout that itself ends {maturity} days before as_of"
        )
    if conflicts:
        raise RiskSettingsError("order_risk parameters conflict: " + "; ".join(conflicts))


def extract(window: RunWindow, *, history_days: int, run_id: str) -> dict[str, Any]:
    """Stage the orders of the last `history_days` and the chargebacks known at `as_of`."""
    start = window.as_of - timedelta(days=history_days)
    # Only rows the gate has passed: loaded before the watermark of every table read.
    loaded_until = validation.loaded_until(list(SOURCE_TABLES), window.as_of)
    orders = warehouse.read_frame(
        "risk/extract_orders", {"start": start, "end": window.as_of, "loaded_until": loaded_until}
    )
    chargebacks = warehouse.read_frame(
        "risk/extract_chargebacks", {"end": window.as_of, "loaded_until": loaded_until}
    )
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
    """Point-in-time features for every order, its labels and its split (see the module
    docstring for the timeline):

    - `label`: the label known at as_of, for orders matured by then (the serving refit's);
    - `train_label`: the label known at the backtest night, for the candidates' orders;
    - `split`: `train`, `holdout`, `later` (matured, between the two: refit only) or `score`.
    """
    from include.features import build_order_features, label_orders

    extracted = Staged.from_dict(extract_ref)
    window = extracted.window
    orders = staging.read_parquet(extracted.path("orders"))
    chargebacks = staging.read_parquet(extracted.path("chargebacks"))
    features = build_order_features(orders)
    meta = orders.set_index("order_id")[["customer_id", "ordered_at", "amount"]]
    features = features.join(meta)
    backtest_night = window.as_of - timedelta(days=maturity_days)
    features["label"] = label_orders(orders, chargebacks, window.as_of, maturity_days).reindex(features.index)
    features["train_label"] = label_orders(orders, chargebacks, backtest_night, maturity_days).reindex(
        features.index
    )
    holdout_start = backtest_night - timedelta(days=holdout_days)
    recent_start = window.as_of - timedelta(days=recent_days)
    at = features["ordered_at"]
    features["split"] = None
    features.loc[features["label"].notna(), "split"] = "later"
    features.loc[features["train_label"].notna() & (at < holdout_start), "split"] = "train"
    features.loc[(at >= holdout_start) & (at < backtest_night), "split"] = "holdout"
    features.loc[at >= recent_start, "split"] = "score"
    counts = features["split"].value_counts().to_dict()
    known = features["label"].where(features["split"] != "train", features["train_label"])
    frauds = known.groupby(features["split"]).sum().to_dict()
    log.info(
        "Backtest night %s: orders per split %s, chargebacks per split %s", backtest_night, counts, frauds
    )
    for split in ("train", "holdout"):
        if counts.get(split, 0) == 0 or frauds.get(split, 0) == 0:
            raise ValueError(
                f"The {split} split has {counts.get(split, 0)} orders and {frauds.get(split, 0)} "
                f"labelled frauds: not enough matured history (candidates learn from orders before "
                f"{backtest_night - timedelta(days=maturity_days)} with the chargebacks known at "
                f"{backtest_night}; the holdout is [{holdout_start}, {backtest_night}))"
            )
    rows = {split: int(n) for split, n in counts.items()}
    rows.update({f"{split}_frauds": int(n) for split, n in frauds.items()})
    return Staged(
        window=window,
        paths={"features": staging.write_parquet(features.reset_index(), DAG_ID, run_id, "features")},
        rows=rows,
        holdout_start=holdout_start,
        train_end=backtest_night - timedelta(days=maturity_days),
    ).to_dict()


def _split(
    staged: Staged, *splits: str, label: str = "label"
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """(features, labels from column `label`, whole rows) of the given splits, in time order."""
    from include.features import FEATURE_COLUMNS

    frame = staging.read_parquet(staged.path("features"))
    frame = frame[frame["split"].isin(splits)].sort_values(["ordered_at", "order_id"])
    return frame[FEATURE_COLUMNS], frame[label].to_numpy(dtype=float), frame


def risk_metrics(y: np.ndarray, scores: np.ndarray, review_budget: float) -> dict[str, Any]:
    """PR-AUC, ROC-AUC, recall/precision when the top `review_budget` share is reviewed, and
    what the probabilities claim against what happened: Brier score, mean predicted against
    realised, expected calibration error and the reliability table (10 bins of equal count)."""
    from include.metrics import (
        average_precision,
        brier_score,
        calibration_error,
        precision_at_budget,
        recall_at_budget,
        reliability_table,
        roc_auc,
    )

    table = reliability_table(y, scores)
    return {
        "pr_auc": average_precision(y, scores),
        "roc_auc": roc_auc(y, scores),
        "recall_at_budget": recall_at_budget(y, scores, review_budget),
        "precision_at_budget": precision_at_budget(y, scores, review_budget),
        "base_rate": float(np.mean(y)),
        "brier": brier_score(y, scores),
        "mean_predicted": float(np.mean(scores)),
        "calibration_error": calibration_error(table),
        "reliability": table,
    }


class BandBudgetExceeded(RuntimeError):
    """A set of bands sends more orders to review (or decline) than the budget allows."""


def band_settings(params: Mapping[str, Any]) -> dict[str, float]:
    """The Params that decide bands: the costs and the budgets."""
    return {
        name: float(params[name])
        for name in ("review_budget", "decline_share", "review_cost", "chargeback_fee", "decline_cost_share")
    }


def expected_costs(scores: np.ndarray, amounts: np.ndarray, settings: Mapping[str, float]) -> np.ndarray:
    """Expected cost of approving, reviewing and declining each order (columns in `BANDS` order).

    approve: the chargeback it may bring, probability x (amount + chargeback fee);
    review:  the cost of a review (a reviewer stops a fraud, and passes a good order);
    decline: the good order it may turn away, (1 - probability) x decline_cost_share x amount.
    An unknown amount counts as the median amount of the orders.
    """
    amounts = np.asarray(amounts, dtype="float64")
    known = np.isfinite(amounts)
    typical = float(np.median(amounts[known])) if known.any() else 0.0
    amounts = np.where(known, amounts, typical)
    p = np.asarray(scores, dtype="float64")
    return np.column_stack(
        [
            p * (amounts + settings["chargeback_fee"]),
            np.full(len(p), settings["review_cost"]),
            (1 - p) * settings["decline_cost_share"] * amounts,
        ]
    )


def decide_bands(
    scores: np.ndarray, amounts: np.ndarray, order_ids: np.ndarray, settings: Mapping[str, float]
) -> np.ndarray:
    """The band of least expected cost for each order, within the budgets.

    At most floor(decline_share x n) orders are declined and floor(review_budget x n)
    reviewed: those the band saves most on, ties broken by order id, so tied scores can never
    push a band over its budget. An order over a budget gets the cheaper of the bands left.
    """
    costs = expected_costs(scores, amounts, settings)
    n = len(costs)
    band = np.argmin(costs, axis=1)
    approve, review, decline = range(3)
    for chosen, share, fallback in (
        (decline, settings["decline_share"], (approve, review)),
        (review, settings["review_budget"], (approve,)),
    ):
        members = np.flatnonzero(band == chosen)
        allowed = int(np.floor(share * n + 1e-9))
        if len(members) <= allowed:
            continue
        best_other = costs[members][:, list(fallback)].min(axis=1)
        saving = best_other - costs[members, chosen]
        ranked = members[np.lexsort((np.asarray(order_ids)[members], -saving))]
        over = ranked[allowed:]
        band[over] = np.asarray(fallback)[np.argmin(costs[over][:, list(fallback)], axis=1)]
    return np.asarray(BANDS, dtype=object)[band]


def band_shares(bands: np.ndarray) -> dict[str, float]:
    """The share of orders in each band."""
    n = max(len(bands), 1)
    return {name: float(np.sum(bands == name) / n) for name in BANDS}


def check_band_budget(bands: np.ndarray, settings: Mapping[str, float]) -> dict[str, float]:
    """The realised shares of `bands`; raises BandBudgetExceeded when review or decline
    exceeds its budget."""
    shares = band_shares(bands)
    n = len(bands)
    for name, limit in (("review", settings["review_budget"]), ("decline", settings["decline_share"])):
        if np.sum(bands == name) > np.floor(limit * n + 1e-9):
            raise BandBudgetExceeded(
                f"{name} share {shares[name]:.4f} ({int(np.sum(bands == name))} of {n} orders) exceeds "
                f"its budget {limit}: not published; the last good scores stay in place"
            )
    return shares


@dataclass(frozen=True)
class RiskHoldout:
    """The matured orders risk models are judged on, and the review budget of the metrics."""

    X: pd.DataFrame
    y: np.ndarray
    review_budget: float
    days: np.ndarray  # the day each order was placed: frauds come in campaigns that span days

    def __len__(self) -> int:
        return len(self.y)


class RiskLifecycle(Lifecycle):
    """Order risk: fitted on matured orders, judged by PR-AUC over holdout orders."""

    family: ClassVar[str] = "order_risk"
    primary_metric: ClassVar[str] = "pr_auc"

    def run_settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return band_settings(params)

    def fit(self, model: RiskModel, staged: Staged, *, full: bool) -> int:
        """A candidate learns the backtest's training orders; the refit every matured order."""
        if full:
            X, y, _ = _split(staged, "train", "later", "holdout")
        else:
            X, y, _ = _split(staged, "train", label="train_label")
        model.fit(X, y.astype(int))
        return len(y)

    def holdout(self, staged: Staged, settings: Mapping[str, Any]) -> RiskHoldout:
        X, y, frame = _split(staged, "holdout")
        days = frame["ordered_at"].dt.floor("D").to_numpy()
        return RiskHoldout(X, y, float(settings["review_budget"]), days)

    def served_units(self, staged: Staged) -> int | None:
        return int(staged.rows.get("score", 0)) or None

    def resample_blocks(self, holdout: RiskHoldout) -> np.ndarray:
        """Orders are resampled by whole days: frauds of one campaign share days, so drawing
        orders one by one would treat them as independent and make the intervals too narrow."""
        return holdout.days

    def evaluate(self, model: RiskModel, holdout: RiskHoldout) -> HoldoutResult:
        from include.metrics import RankedLabels

        scores = model.predict(holdout.X)
        ranked = RankedLabels(holdout.y, scores)
        return HoldoutResult(risk_metrics(holdout.y, scores, holdout.review_budget), ranked.average_precision)

    def floor(self, holdout: RiskHoldout, results: Mapping[str, HoldoutResult]) -> HoldoutResult:
        # The PR-AUC (average precision) a ranking at random gets on average: above the share of
        # frauds when they are few (metrics.random_average_precision), so a model must beat
        # that, not the share, to show skill.
        from include.metrics import random_average_precision

        labels = holdout.y.astype(np.float64)
        base_rate = float(labels.mean())
        return HoldoutResult(
            {"pr_auc": random_average_precision(labels.sum(), len(labels)), "base_rate": base_rate},
            lambda counts: random_average_precision(float(counts @ labels), float(counts.sum())),
        )

    def serving_settings(
        self, model: RiskModel, staged: Staged, settings: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The bands the serving model would give the holdout orders, and the frauds in each
        (the refit has learnt these orders, so this is a check of the bands, not of skill)."""
        X, y, frame = _split(staged, "holdout")
        bands = decide_bands(
            model.predict(X), frame["amount"].to_numpy(), frame["order_id"].to_numpy(), settings
        )
        frauds = {name: int(y[bands == name].sum()) for name in BANDS}
        shares = band_shares(bands)
        log.info("Holdout bands %s, frauds per band %s", shares, frauds)
        return {"holdout_band_shares": shares, "holdout_frauds_per_band": frauds}


LIFECYCLE = RiskLifecycle()


def score_shard(
    shard: int,
    n_shards: int,
    serving: Mapping[str, Any],
    features_ref: Mapping[str, Any],
    *,
    run_id: str,
) -> str:
    """Score and explain the recent orders of one shard (bands are decided over all shards)."""
    import pandas as pd

    from include.models.catalogue import load_model
    from include.models.risk.base import top_reasons

    staged = Staged.from_dict(features_ref)
    model_ref = ServingModel.from_dict(serving)
    X, _, frame = _split(staged, "score")
    mask = (shard_of(frame["order_id"], n_shards) == shard).to_numpy()
    X, frame = X[mask], frame[mask]
    model = load_model(model_ref.artifact, family="order_risk")
    scores = model.predict(X)
    out = pd.DataFrame(
        {
            "order_id": frame["order_id"].to_numpy(),
            "customer_id": frame["customer_id"].to_numpy(),
            "ordered_at": frame["ordered_at"].to_numpy(),
            "amount": frame["amount"].to_numpy(),
            "score": scores,
            "reasons": top_reasons(model, X),
            "model_version": model_ref.model_version,
            "as_of": pd.Timestamp(staged.window.as_of),
        }
    )
    log.info("Shard %s/%s: %s orders scored", shard, n_shards, len(out))
    return staging.write_parquet(out, DAG_ID, run_id, f"risk_shard_{shard:03d}")


def publish_scores(
    paths: list[str],
    serving: Mapping[str, Any],
    features_ref: Mapping[str, Any],
    settings: Mapping[str, float],
    *,
    run_id: str,
) -> dict[str, Any]:
    """Decide the bands of every scored order at once, check their shares against the budgets,
    and publish one new version of `order_risk_scores`; returns the reference with the shares.

    Raises:
        BandBudgetExceeded: when the bands would exceed a budget (nothing is published).
    """
    import pandas as pd

    scored = pd.concat(list(read_shards(paths)), ignore_index=True)
    bands = decide_bands(
        scored["score"].to_numpy(), scored["amount"].to_numpy(), scored["order_id"].to_numpy(), settings
    )
    shares = check_band_budget(bands, settings)
    scored.insert(scored.columns.get_loc("score") + 1, "band", bands)
    log.info("Band shares of %d orders: %s", len(scored), shares)
    summary = {"band_shares": shares, "review_budget": settings["review_budget"], "orders": len(scored)}
    published = publish_version(
        "order_risk_scores", [scored], serving, features_ref, run_id=run_id, summary=summary
    )
    return {**published, "band_shares": shares}
