"""Shops whose fraud comes in short campaigns, and the figures that check the backtest on them.

For 20 days a campaign places orders at one price point with one payment method, and a new
campaign starts every day. A model recognises the campaigns it has seen, so its skill decays with
the distance between its training data and the orders it scores: the served model scores orders
10-20 days after its newest matured label. Used by tests/include/test_risk_drift.py (5 shops) and
bench/bench_risk_drift.py (30 shops).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from include import staging
from include.features import FEATURE_COLUMNS, ORDER_COLUMNS, PAYMENT_METHODS
from include.metrics import RankedLabels, average_precision
from include.models.risk.baselines import GradientBoostingRiskModel
from include.pipeline import order_risk as steps
from include.pipeline.common import stage_frames
from include.pipeline.refs import RunWindow, Staged
from include.promotion import bootstrap, percentile_interval, served_range

AS_OF = datetime(2025, 3, 1)
MATURITY, HOLDOUT, RECENT, HISTORY = 20, 10, 10, 90
ORDERS_PER_DAY, FRAUD_SHARE = 300, 0.08
CAMPAIGN_DAYS = 20


def campaign_shop(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(orders, chargebacks reported by as_of, the true fraud flag of every order)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(AS_OF - timedelta(days=HISTORY))
    n = HISTORY * ORDERS_PER_DAY
    seconds = np.sort(rng.uniform(0, HISTORY * 86400, n))
    ordered_at = start + pd.to_timedelta(seconds, unit="s")
    day = seconds // 86400
    # Shoppers' amounts are spread evenly in log space, so every price point is as hard to spot.
    amount = np.exp(rng.uniform(2.0, 7.0, n))
    method = rng.choice(len(PAYMENT_METHODS), n, p=[0.55, 0.25, 0.1, 0.05, 0.05])
    campaign_start = np.arange(-CAMPAIGN_DAYS, HISTORY)
    price = np.exp(rng.uniform(2.5, 6.5, len(campaign_start)))
    campaign_method = rng.integers(0, len(PAYMENT_METHODS), len(campaign_start))
    fraud = rng.random(n) < FRAUD_SHARE
    for i in np.flatnonzero(fraud):
        active = np.flatnonzero((campaign_start <= day[i]) & (day[i] < campaign_start + CAMPAIGN_DAYS))
        campaign = rng.choice(active)
        amount[i] = price[campaign] * rng.uniform(0.995, 1.005)
        method[i] = campaign_method[campaign]
    orders = pd.DataFrame(
        {
            "order_id": np.arange(n),
            "customer_id": np.arange(n),
            "ordered_at": ordered_at.astype("datetime64[us]"),
            "amount": amount.round(2),
            "payment_method": np.asarray(PAYMENT_METHODS)[method],
            "billing_country": "DE",
            "shipping_country": "DE",
            "ip_country": "DE",
            "device_id": [f"d{i}" for i in range(n)],
            "customer_created_at": (ordered_at - pd.to_timedelta(rng.uniform(1, 500, n), unit="D")).astype(
                "datetime64[us]"
            ),
            "customer_country": "DE",
            "n_items": 1,
            "n_lines": 1,
        }
    )[list(ORDER_COLUMNS)]
    frauds = orders[fraud]
    chargebacks = pd.DataFrame(
        {
            "order_id": frauds["order_id"],
            "reported_at": (
                frauds["ordered_at"] + pd.to_timedelta(rng.uniform(1, MATURITY - 1, len(frauds)), unit="D")
            ).astype("datetime64[us]"),
            "reason": "fraudulent",
        }
    )
    truth = pd.Series(fraud.astype(float), index=orders["order_id"])
    return orders, chargebacks[chargebacks["reported_at"] < AS_OF], truth


def figures(seed: int) -> dict[str, float]:
    """PR-AUC of the backtest holdout (with the gate's interval and the served range), of a
    holdout right after all known labels, and served; and whether served is in each range."""
    orders, chargebacks, truth = campaign_shop(seed)
    window = RunWindow(AS_OF - timedelta(days=1), AS_OF)
    run_id = f"drift-{seed}"
    extract = stage_frames(
        {"orders": orders, "chargebacks": chargebacks}, window, dag_id="order_risk", run_id=run_id
    )
    staged = Staged.from_dict(
        steps.build_features(
            extract.to_dict(), maturity_days=MATURITY, holdout_days=HOLDOUT, recent_days=RECENT, run_id=run_id
        )
    )
    lifecycle = steps.LIFECYCLE

    candidate = GradientBoostingRiskModel()
    lifecycle.fit(candidate, staged, full=False)
    holdout = lifecycle.holdout(staged, {"review_budget": 0.02})
    holdout_scores = candidate.predict(holdout.X)
    backtest = average_precision(holdout.y, holdout_scores)
    # The gate's resampling: whole days of holdout orders.
    replicates = bootstrap(
        {"pr_auc": RankedLabels(holdout.y, holdout_scores).average_precision},
        len(holdout),
        draws=1000,
        seed=1,
        blocks=lifecycle.resample_blocks(holdout),
    )["pr_auc"]
    interval = percentile_interval(backtest, replicates, 0.95)
    expected = served_range(
        backtest, replicates, 0.95, holdout_units=len(holdout), served_units=lifecycle.served_units(staged)
    )

    refit = GradientBoostingRiskModel()
    lifecycle.fit(refit, staged, full=True)
    scored_X, _, scored = steps._split(staged, "score")
    served = average_precision(truth.reindex(scored["order_id"]).to_numpy(), refit.predict(scored_X))

    # The replaced protocol: every label known tonight, judged on the orders right after them.
    frame = staging.read_parquet(staged.path("features"))
    matured = frame[frame["label"].notna()]
    before = matured[matured["ordered_at"] < staged.holdout_start]
    after = matured[matured["ordered_at"] >= staged.holdout_start]
    adjacent_model = GradientBoostingRiskModel()
    adjacent_model.fit(before[FEATURE_COLUMNS], before["label"].to_numpy(dtype=int))
    adjacent = average_precision(after["label"].to_numpy(), adjacent_model.predict(after[FEATURE_COLUMNS]))
    return {
        "backtest": backtest,
        "adjacent": adjacent,
        "served": served,
        "base_rate": truth.mean(),
        "holdout_low": interval.low,
        "holdout_high": interval.high,
        "range_low": expected.low,
        "range_high": expected.high,
        "in_holdout_interval": interval.low <= served <= interval.high,
        "in_served_range": expected.low <= served <= expected.high,
    }
