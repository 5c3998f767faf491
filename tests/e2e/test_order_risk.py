"""The order-risk DAG on PostgreSQL with unknown account ages and tied scores planted: orders
are never flagged for a missing fact, the bands keep their budgets, the shares are recorded."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from include import publish, registry, warehouse
from include.dag_runs import run_dag
from tests.e2e.conftest import AS_OF, RISK_CONF
from tests.helpers import read_sql as _read

NOW = AS_OF.replace(tzinfo=None)
RECENT = NOW - timedelta(days=7)
TIED_ORDERS = 40
CONF = {**RISK_CONF, "candidates": ["logistic_regression", "gradient_boosting"]}


def plant_unknown_account_ages() -> list[int]:
    """Established customers with a recent order lose their creation time (or get one after
    the order); returns their recent orders."""
    customers = _read(
        "SELECT o.customer_id, MIN(o.order_id) AS order_id FROM orders o "
        "WHERE o.ordered_at >= :s AND o.ordered_at < :e "
        "AND (SELECT COUNT(*) FROM orders p WHERE p.customer_id = o.customer_id AND p.ordered_at < :s) >= 3 "
        "GROUP BY o.customer_id ORDER BY o.customer_id LIMIT 10",
        s=RECENT,
        e=NOW,
    )
    assert len(customers) == 10
    with warehouse.transaction() as conn:
        for i, row in enumerate(customers.itertuples()):
            created = None if i % 2 else NOW + timedelta(days=2)  # unknown, or after the order
            conn.execute(
                sa.text("UPDATE customers SET created_at = :c WHERE customer_id = :k"),
                warehouse.bind_params(
                    {"c": created, "k": int(row.customer_id)}, warehouse.dialect_name(conn)
                ),
            )
    return customers["order_id"].astype(int).tolist()


def plant_tied_orders() -> None:
    """Identical risky first orders of brand-new accounts: every one gets the same score."""
    start = int(_read("SELECT MAX(order_id) AS m FROM orders")["m"].iloc[0]) + 1
    first_customer = int(_read("SELECT MAX(customer_id) AS m FROM customers")["m"].iloc[0]) + 1
    at = [RECENT + timedelta(days=i % 6, hours=3, minutes=i) for i in range(TIED_ORDERS)]
    customers = pd.DataFrame(
        {
            "customer_id": range(first_customer, first_customer + TIED_ORDERS),
            "created_at": [t - timedelta(minutes=10) for t in at],
            "country": "DE",
            "channel": "ads",
        }
    )
    customers["loaded_at"] = customers["created_at"]  # loaded as they happened, before the watermark
    orders = pd.DataFrame(
        {
            "order_id": range(start, start + TIED_ORDERS),
            "customer_id": customers["customer_id"],
            "ordered_at": at,
            "amount": 480.0,
            "payment_method": "gift_card",
            "billing_country": "DE",
            "shipping_country": "NG",
            "ip_country": "RU",
            "device_id": None,
            "loaded_at": at,
        }
    )
    with warehouse.transaction() as conn:
        warehouse.write_frame(customers, "customers", conn=conn)
        warehouse.write_frame(orders, "orders", conn=conn)


def test_missing_facts_and_tied_scores(passed_small_shop: str) -> None:
    unknown_age_orders = plant_unknown_account_ages()
    plant_tied_orders()

    run_dag("order_risk", logical_date=AS_OF, conf=CONF)

    scores = _read("SELECT * FROM order_risk_scores").set_index("order_id")
    n = len(scores)
    tied = scores[scores["amount"] == 480.0]
    assert len(tied) == TIED_ORDERS and tied["score"].nunique() == 1
    # Tied scores cannot push the review band over the budget, nor the declines.
    counts = scores["band"].value_counts()
    assert counts.get("review", 0) <= math.floor(0.02 * n)
    assert counts.get("decline", 0) <= math.floor(0.002 * n)
    assert set(tied["band"]) <= {"review", "decline", "approve"} and (tied["band"] != "approve").any()
    # A missing account age is not a reason to flag an order.
    planted = scores.loc[unknown_age_orders]
    assert (planted["band"] == "approve").all(), planted[["score", "band", "reasons"]]
    assert not planted["reasons"].str.contains("account created").any()

    # The realised shares are recorded with the version.
    (summary,) = publish.list_versions("order_risk_scores")["summary"]
    shares = json.loads(summary)["band_shares"]
    assert shares == {band: counts.get(band, 0) / n for band in ("approve", "review", "decline")}

    # The holdout figures say what the probabilities claim against what happened.
    versions = registry.history("order_risk")
    (evaluated,) = versions[
        (versions["candidate"] == "gradient_boosting") & (versions["role"] == "candidate")
    ].itertuples()
    metrics = json.loads(evaluated.metrics)
    assert 0 <= metrics["brier"] < metrics["base_rate"]
    assert sum(row["rows"] for row in metrics["reliability"]) == evaluated.holdout_rows
    # What the candidate should reach on the orders it will score: its holdout interval widened
    # by the scored orders' own noise.
    comparison = json.loads(evaluated.comparison)
    expected = comparison["served_range"]["gradient_boosting"]
    assert expected["low"] <= evaluated.primary_ci_low <= evaluated.primary_ci_high <= expected["high"]
    assert expected["estimate"] == pytest.approx(evaluated.primary_metric)
