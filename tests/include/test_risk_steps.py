"""The order-risk steps of their own: parameters checked together, and a backtest that mimics
serving (candidates learn only what was known maturity_days before the holdout ended)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include import staging
from include.features import ORDER_COLUMNS
from include.pipeline import order_risk as steps
from include.pipeline.common import stage_frames
from include.pipeline.refs import RunWindow, Staged

DEFAULTS = {
    "review_budget": 0.02,
    "decline_share": 0.002,
    "maturity_days": 56,
    "holdout_days": 14,
    "recent_days": 7,
    "history_days": 180,
}


@pytest.fixture(autouse=True)
def staging_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPFLOW_STAGING_DIR", str(tmp_path / "staging"))
    return tmp_path / "staging"


def test_the_dag_defaults_agree() -> None:
    steps.check_settings(DEFAULTS)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"decline_share": 0.05}, "decline_share (0.05) must be above 0 and below review_budget (0.02)"),
        ({"recent_days": 60}, "recent_days (60) must not exceed maturity_days (56)"),
        ({"holdout_days": 60}, "holdout_days (60) must not exceed maturity_days (56)"),
        ({"history_days": 100}, "history_days (100) must be at least 2 x maturity_days + 14 = 126"),
    ],
)
def test_each_conflict_is_named(change: dict, named: str) -> None:
    with pytest.raises(steps.RiskSettingsError) as raised:
        steps.check_settings({**DEFAULTS, **change})
    assert named in str(raised.value)


def test_every_conflict_is_named_at_once() -> None:
    with pytest.raises(steps.RiskSettingsError) as raised:
        steps.check_settings({**DEFAULTS, "decline_share": 0.5, "recent_days": 90})
    assert "decline_share" in str(raised.value) and "recent_days" in str(raised.value)


AS_OF = datetime(2024, 12, 1)
MATURITY, HOLDOUT, RECENT = 30, 10, 5
BACKTEST_NIGHT = AS_OF - timedelta(days=MATURITY)


def staged_extract() -> dict:
    """One order a day for 150 days, every fifth one fraud, charged back 20 days later."""
    days = pd.date_range(AS_OF - timedelta(days=150), AS_OF - timedelta(hours=12), freq="D") + timedelta(
        hours=11
    )
    n = len(days)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(n),
            "customer_id": np.arange(n),
            "ordered_at": days.astype("datetime64[us]"),
            "amount": 50.0,
            "payment_method": "card",
            "billing_country": "DE",
            "shipping_country": "DE",
            "ip_country": "DE",
            "device_id": [f"d{i}" for i in range(n)],
            "customer_created_at": (days - timedelta(days=100)).astype("datetime64[us]"),
            "customer_country": "DE",
            "n_items": 1,
            "n_lines": 1,
        }
    )[list(ORDER_COLUMNS)]
    fraud = orders[orders["order_id"] % 5 == 0]
    chargebacks = pd.DataFrame(
        {
            "order_id": fraud["order_id"],
            "reported_at": (fraud["ordered_at"] + timedelta(days=20)).astype("datetime64[us]"),
            "reason": "fraudulent",
        }
    )
    chargebacks = chargebacks[chargebacks["reported_at"] < AS_OF]
    window = RunWindow(AS_OF - timedelta(days=1), AS_OF)
    return stage_frames(
        {"orders": orders, "chargebacks": chargebacks}, window, dag_id="order_risk", run_id="r"
    ).to_dict()


def test_the_backtest_mimics_serving() -> None:
    staged = Staged.from_dict(
        steps.build_features(
            staged_extract(), maturity_days=MATURITY, holdout_days=HOLDOUT, recent_days=RECENT, run_id="r"
        )
    )
    frame = staging.read_parquet(staged.path("features"))
    by_split = {split: rows for split, rows in frame.groupby("split")}
    train_end = BACKTEST_NIGHT - timedelta(days=MATURITY)
    holdout_start = BACKTEST_NIGHT - timedelta(days=HOLDOUT)
    assert staged.train_end == train_end and staged.holdout_start == holdout_start

    # Candidates learn orders matured at the backtest night, with the chargebacks known then.
    train = by_split["train"]
    assert train["ordered_at"].max() <= train_end
    late = train[train["ordered_at"] > BACKTEST_NIGHT - timedelta(days=20)]
    assert late.empty  # matured at the backtest night means its chargeback had 30 days
    assert (train["train_label"] == (train["order_id"] % 5 == 0)).all()
    # The holdout ends where serving's training data ends, as far from the candidates' data as
    # tonight's orders are from the serving model's: maturity_days.
    holdout = by_split["holdout"]
    assert holdout["ordered_at"].min() >= holdout_start and holdout["ordered_at"].max() < BACKTEST_NIGHT
    assert (BACKTEST_NIGHT - train_end).days == MATURITY
    assert holdout["label"].notna().all()
    # What lies between only teaches the refit; the recent orders are scored.
    later = by_split["later"]
    assert later["ordered_at"].min() > train_end and later["ordered_at"].max() < holdout_start
    assert (by_split["score"]["ordered_at"] >= AS_OF - timedelta(days=RECENT)).all()
    refit = frame[frame["split"].isin(["train", "later", "holdout"])]
    assert refit["ordered_at"].max() <= AS_OF - timedelta(days=MATURITY)
    assert staged.rows["train"] == len(train) and staged.rows["holdout_frauds"] == 2


def test_a_chargeback_after_the_backtest_night_is_not_known_to_candidates() -> None:
    extract = Staged.from_dict(staged_extract())
    chargebacks = staging.read_parquet(extract.path("chargebacks"))
    orders = staging.read_parquet(extract.path("orders"))
    # A training order whose chargeback arrived only after the backtest night.
    order = orders[orders["ordered_at"] < BACKTEST_NIGHT - timedelta(days=MATURITY)].iloc[-2]
    assert order["order_id"] % 5 != 0
    late = pd.DataFrame(
        {
            "order_id": [order["order_id"]],
            "reported_at": [BACKTEST_NIGHT + timedelta(days=3)],
            "reason": ["late"],
        }
    )
    late["reported_at"] = late["reported_at"].astype("datetime64[us]")
    frames = {"orders": orders, "chargebacks": pd.concat([chargebacks, late], ignore_index=True)}
    ref = stage_frames(frames, extract.window, dag_id="order_risk", run_id="late").to_dict()
    staged = Staged.from_dict(
        steps.build_features(
            ref, maturity_days=MATURITY, holdout_days=HOLDOUT, recent_days=RECENT, run_id="late"
        )
    )
    frame = staging.read_parquet(staged.path("features")).set_index("order_id")
    row = frame.loc[order["order_id"]]
    assert (row["split"], row["train_label"], row["label"]) == ("train", 0.0, 1.0)


COSTS = {
    "review_budget": 0.1,
    "decline_share": 0.05,
    "review_cost": 5.0,
    "chargeback_fee": 15.0,
    "decline_cost_share": 0.3,
}


def test_each_order_gets_the_band_of_least_expected_cost() -> None:
    # 100 orders of 100.00: approve costs p x 115, review 5, decline (1 - p) x 30.
    scores = np.r_[np.full(97, 0.01), 0.1, 0.9, 0.5]
    bands = steps.decide_bands(scores, np.full(100, 100.0), np.arange(100), COSTS)
    assert list(bands[:97]) == ["approve"] * 97  # 1.15 < 5
    assert list(bands[97:]) == ["review", "decline", "review"]  # 11.5 > 5; 3 < 5; 15 = 5 < 57.5


def test_the_same_risk_is_reviewed_on_a_large_order_and_approved_on_a_small_one() -> None:
    # At 5%: a 10.00 order is expected to lose 1.25 (< a 5.00 review), a 500.00 order 25.75.
    bands = steps.decide_bands(
        np.r_[0.05, 0.05, np.zeros(18)], np.r_[10.0, 500.0, np.full(18, 10.0)], np.arange(20), COSTS
    )
    assert list(bands[:2]) == ["approve", "review"]


def test_tied_scores_never_push_a_band_over_its_budget() -> None:
    # Every order has the same high score: without the budget all would be reviewed.
    n = 1000
    bands = steps.decide_bands(np.full(n, 0.15), np.full(n, 100.0), np.arange(n), COSTS)
    shares = steps.check_band_budget(bands, COSTS)
    assert shares["review"] == pytest.approx(0.1) and shares["decline"] == 0
    # Ties are broken by order id: the same orders every time.
    assert (np.flatnonzero(bands == "review") == np.arange(100)).all()


def test_over_the_budget_the_larger_saving_wins() -> None:
    scores = np.r_[0.3, 0.3, np.zeros(8)]
    amounts = np.r_[50.0, 500.0, np.full(8, 50.0)]
    bands = steps.decide_bands(scores, amounts, np.arange(10), {**COSTS, "decline_share": 0.01})
    # One review allowed (10% of 10): the 500.00 order saves more than the 50.00 one.
    assert list(bands[:2]) == ["approve", "review"]


def test_unknown_amounts_count_as_the_median_amount() -> None:
    costs = steps.expected_costs(np.r_[0.5, 0.5, 0.5], np.r_[10.0, np.nan, 30.0], COSTS)
    assert costs[1, 0] == pytest.approx(0.5 * (20.0 + 15.0))


def test_bands_over_budget_are_refused_with_the_shares() -> None:
    bands = np.array(["review"] * 3 + ["approve"] * 7, dtype=object)
    with pytest.raises(
        steps.BandBudgetExceeded, match=r"review share 0\.3000 \(3 of 10 orders\) exceeds its budget 0\.1"
    ):
        steps.check_band_budget(bands, COSTS)
