"""No order is declined for missing data alone, even where a brand-new account is the strongest
fraud signal (as in real fraud data: an unknown account age once read as age 0 declined every
order without a customer row)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.features import FEATURE_COLUMNS, ORDER_COLUMNS, build_order_features
from include.models.catalogue import DEFAULT_CANDIDATES, model_class
from include.models.risk.base import NO_SIGNAL_REASON, RiskModel, top_reasons
from include.pipeline.order_risk import decide_bands

CANDIDATES = sorted(DEFAULT_CANDIDATES["order_risk"])
START = pd.Timestamp("2024-01-01")
N_ORDERS = 6000
# New accounts place about 4% of the orders: a budget that reviews them all.
BANDS = {
    "review_budget": 0.05,
    "decline_share": 0.02,
    "review_cost": 5.0,
    "chargeback_fee": 15.0,
    "decline_cost_share": 0.3,
}


def band_among_the_shop(model: RiskModel, shop: dict, order: pd.DataFrame) -> str:
    """The band of `order` when it is scored with every order of the shop."""
    X = pd.concat([shop["features"], order])
    amounts = np.r_[shop["orders"]["amount"].to_numpy(), 55.0]
    return decide_bands(model.predict(X), amounts, np.arange(len(X)), BANDS)[-1]


def shop_orders(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Orders of 60 days where fraud comes almost only from accounts created minutes before."""
    rng = np.random.default_rng(seed)
    ordered_at = START + pd.to_timedelta(np.sort(rng.uniform(0, 60 * 86400, n)), unit="s")
    fraud = rng.random(n) < 0.03
    new_account = np.where(fraud, rng.random(n) < 0.9, rng.random(n) < 0.01)
    age_days = np.where(new_account, rng.uniform(0, 0.02, n), rng.uniform(5, 900, n))
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, n + 1),
            "customer_id": np.arange(1, n + 1) % 2500,
            "ordered_at": ordered_at.astype("datetime64[us]"),
            "amount": np.round(rng.lognormal(4, 0.6, n), 2),
            "payment_method": rng.choice(["card", "paypal"], n, p=[0.7, 0.3]),
            "billing_country": "DE",
            "shipping_country": "DE",
            "ip_country": "DE",
            "device_id": [f"d{i}" for i in rng.integers(0, 4000, n)],
            "customer_created_at": (ordered_at - pd.to_timedelta(age_days, unit="D")).astype(
                "datetime64[us]"
            ),
            "customer_country": "DE",
            "n_items": rng.integers(1, 4, n),
            "n_lines": 1,
        }
    )
    return orders[list(ORDER_COLUMNS)], fraud.astype(int)


# One ordinary order, then the same order with one fact missing.
MISSING = {
    "no customer row": {"customer_created_at": pd.NaT, "customer_country": None},
    "null created_at": {"customer_created_at": pd.NaT},
    "created after the order": {"customer_created_at": START + pd.Timedelta(days=90)},
    "null amount": {"amount": None},
    "null device": {"device_id": None},
    "no basket lines": {"n_items": 0, "n_lines": 0},
    "null IP country": {"ip_country": None},
    "null billing country": {"billing_country": None},
    "null payment method": {"payment_method": None},
}


@pytest.fixture(scope="module")
def shop() -> dict[str, object]:
    orders, labels = shop_orders(N_ORDERS, seed=3)
    return {"orders": orders, "features": build_order_features(orders), "labels": labels}


@pytest.fixture(scope="module", params=CANDIDATES)
def trained(request: pytest.FixtureRequest, shop: dict) -> RiskModel:
    return model_class("order_risk", request.param)().fit(shop["features"], shop["labels"])


def features_of(shop: dict, change: dict) -> pd.DataFrame:
    """Features of one ordinary new order (an old account, paid by card), after `change`."""
    history = shop["orders"]
    ordinary = {
        "order_id": N_ORDERS + 1,
        "customer_id": 99_999,
        "ordered_at": START + pd.Timedelta(days=61),
        "amount": 55.0,
        "payment_method": "card",
        "device_id": "fresh-device",
        "customer_created_at": START - pd.Timedelta(days=200),
        "n_items": 2,
    }
    order = history.iloc[[0]].assign(**{**ordinary, **change})
    for column in ("ordered_at", "customer_created_at"):
        order[column] = order[column].astype("datetime64[us]")
    return build_order_features(pd.concat([history, order], ignore_index=True)).loc[[N_ORDERS + 1]]


def test_the_planted_signal_is_a_new_account(trained: RiskModel, shop: dict) -> None:
    new_account = features_of(shop, {"customer_created_at": START + pd.Timedelta(days=61, minutes=-5)})
    assert band_among_the_shop(trained, shop, new_account) != "approve"
    assert "account created 5 minutes before the order" in top_reasons(trained, new_account)[0]


@pytest.mark.parametrize("missing", sorted(MISSING))
def test_no_order_is_flagged_for_missing_data_alone(trained: RiskModel, shop: dict, missing: str) -> None:
    ordinary = features_of(shop, {})
    with_missing = features_of(shop, MISSING[missing])
    assert list(with_missing.columns) == FEATURE_COLUMNS
    assert band_among_the_shop(trained, shop, ordinary) == "approve"
    assert band_among_the_shop(trained, shop, with_missing) == "approve", missing
    # A missing fact reads as the typical one: it can remove a reason, never add one.
    reasons = set(top_reasons(trained, ordinary)[0].split("; ")) | {NO_SIGNAL_REASON}
    assert set(top_reasons(trained, with_missing)[0].split("; ")) <= reasons
