"""Order features are point-in-time and match hand-computed values; labels respect maturity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from include.features import (
    FEATURE_COLUMNS,
    ORDER_COLUMNS,
    PAYMENT_METHODS,
    build_order_features,
    describe_reason,
    label_orders,
)

T0 = pd.Timestamp("2024-03-01 12:00:00")


def make_orders(rows: list[dict]) -> pd.DataFrame:
    """Orders with neutral defaults; each row gives at least order_id, customer_id, hours."""
    defaults = {
        "amount": 50.0,
        "payment_method": "card",
        "billing_country": "DE",
        "shipping_country": "DE",
        "ip_country": "DE",
        "device_id": None,
        "customer_created_at": T0 - pd.Timedelta(days=100),
        "customer_country": "DE",
        "n_items": 1,
        "n_lines": 1,
    }
    records = []
    for row in rows:
        record = {**defaults, **row}
        record["ordered_at"] = T0 + pd.Timedelta(hours=record.pop("hours"))
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    frame["ordered_at"] = frame["ordered_at"].astype("datetime64[us]")
    frame["customer_created_at"] = frame["customer_created_at"].astype("datetime64[us]")
    return frame[list(ORDER_COLUMNS)]


def random_orders(n: int, seed: int) -> pd.DataFrame:
    """Orders of a few customers and devices, on a coarse clock so that ties are common."""
    rng = np.random.default_rng(seed)
    return make_orders(
        [
            {
                "order_id": int(order_id),
                "customer_id": int(rng.integers(0, 6)),
                "hours": float(rng.integers(0, 12) * 6),
                "amount": float(rng.integers(1, 200)),
                "device_id": f"d{rng.integers(0, 4)}" if rng.random() < 0.8 else None,
            }
            for order_id in rng.permutation(np.arange(100, 100 + n))
        ]
    )


def reference_features(orders: pd.DataFrame) -> pd.DataFrame:
    """The history features computed row by row, straight from their definitions."""
    rows = {}
    for order in orders.itertuples():
        earlier = orders[
            (orders["ordered_at"] < order.ordered_at)
            | ((orders["ordered_at"] == order.ordered_at) & (orders["order_id"] < order.order_id))
        ]
        mine = earlier[earlier["customer_id"] == order.customer_id]
        window = mine[mine["ordered_at"] >= order.ordered_at - pd.Timedelta(hours=24)]
        median = mine["amount"].median() if len(mine) else np.nan
        if pd.isna(order.device_id):
            accounts = np.nan
        else:
            on_device = earlier[earlier["device_id"] == order.device_id]
            accounts = len(set(on_device["customer_id"]) | {order.customer_id})
        rows[order.order_id] = {
            "prior_orders": len(mine),
            "orders_last_24h": len(window),
            "amount_vs_customer_median": order.amount / median if len(mine) else 1.0,
            "device_accounts": accounts,
        }
    return pd.DataFrame.from_dict(rows, orient="index").astype("float64")


def test_returns_float_features_indexed_by_order_id_in_input_order() -> None:
    orders = make_orders(
        [
            {"order_id": 3, "customer_id": 1, "hours": 5, "device_id": "d1"},
            {"order_id": 1, "customer_id": 1, "hours": 0, "device_id": "d1"},
            {"order_id": 2, "customer_id": 2, "hours": 1, "device_id": "d2"},
        ]
    )
    features = build_order_features(orders)
    assert list(features.columns) == FEATURE_COLUMNS
    assert features.index.name == "order_id"
    assert features.index.tolist() == [3, 1, 2]
    assert (features.dtypes == "float64").all()
    assert not features.isna().any().any()


def test_history_counts_by_hand() -> None:
    orders = make_orders(
        [
            {"order_id": 1, "customer_id": 1, "hours": 0},
            {"order_id": 2, "customer_id": 1, "hours": 1},
            {"order_id": 3, "customer_id": 1, "hours": 23},
            {"order_id": 4, "customer_id": 1, "hours": 30},
            # Exactly 24h after order 3: the window start is inclusive.
            {"order_id": 5, "customer_id": 1, "hours": 47},
            {"order_id": 6, "customer_id": 2, "hours": 2},
        ]
    )
    features = build_order_features(orders)
    assert features["prior_orders"].tolist() == [0, 1, 2, 3, 4, 0]
    assert features["orders_last_24h"].tolist() == [0, 1, 2, 1, 2, 0]


def test_amount_vs_customer_median_uses_only_earlier_orders() -> None:
    orders = make_orders(
        [
            {"order_id": 1, "customer_id": 1, "hours": 0, "amount": 10.0},
            {"order_id": 2, "customer_id": 1, "hours": 1, "amount": 30.0},
            {"order_id": 3, "customer_id": 1, "hours": 2, "amount": 20.0},
            {"order_id": 4, "customer_id": 1, "hours": 3, "amount": 100.0},
            {"order_id": 5, "customer_id": 2, "hours": 4, "amount": 999.0},
        ]
    )
    ratio = build_order_features(orders)["amount_vs_customer_median"]
    # No history -> 1.0; then 30/10, 20/median(10, 30), 100/median(10, 30, 20).
    assert ratio.tolist() == pytest.approx([1.0, 3.0, 1.0, 5.0, 1.0])


def test_device_accounts_counts_distinct_customers_so_far() -> None:
    orders = make_orders(
        [
            {"order_id": 1, "customer_id": 1, "hours": 0, "device_id": "D"},
            {"order_id": 2, "customer_id": 2, "hours": 1, "device_id": "D"},
            {"order_id": 3, "customer_id": 1, "hours": 2, "device_id": "D"},
            {"order_id": 4, "customer_id": 3, "hours": 3, "device_id": "D"},
            {"order_id": 5, "customer_id": 4, "hours": 4, "device_id": "E"},
            {"order_id": 6, "customer_id": 5, "hours": 5, "device_id": None},
            {"order_id": 7, "customer_id": 6, "hours": 6, "device_id": None},
        ]
    )
    accounts = build_order_features(orders)["device_accounts"]
    assert accounts.iloc[:5].tolist() == [1, 2, 2, 3, 1]
    assert accounts.iloc[5:].isna().all()  # unknown devices are unknown, not "one account"


def test_ties_on_time_are_broken_by_order_id() -> None:
    orders = make_orders(
        [
            {"order_id": 7, "customer_id": 1, "hours": 0, "amount": 80.0, "device_id": "D"},
            {"order_id": 5, "customer_id": 1, "hours": 0, "amount": 20.0, "device_id": "D"},
            {"order_id": 6, "customer_id": 2, "hours": 0, "amount": 20.0, "device_id": "D"},
        ]
    )
    features = build_order_features(orders)
    assert features.loc[5, "prior_orders"] == 0
    assert features.loc[7, "prior_orders"] == 1
    assert features.loc[7, "orders_last_24h"] == 1
    assert features.loc[7, "amount_vs_customer_median"] == pytest.approx(4.0)
    assert features.loc[[5, 6, 7], "device_accounts"].tolist() == [1, 2, 2]


def test_later_orders_never_change_earlier_features() -> None:
    orders = random_orders(80, seed=1)
    full = build_order_features(orders)
    timeline = orders.sort_values(["ordered_at", "order_id"])
    for cut in (1, 7, 30, 55, 79):
        known = timeline.iloc[:cut]
        partial = build_order_features(known.sample(frac=1.0, random_state=cut))
        pd.testing.assert_frame_equal(partial.sort_index(), full.loc[partial.index].sort_index())


def test_history_features_match_row_by_row_reference() -> None:
    orders = random_orders(120, seed=2)
    features = build_order_features(orders)
    expected = reference_features(orders)
    pd.testing.assert_frame_equal(features[expected.columns], expected.loc[features.index], check_names=False)


def test_order_level_features() -> None:
    orders = make_orders(
        [
            {
                "order_id": 1,
                "customer_id": 1,
                "hours": -9,  # 03:00
                "amount": np.e - 1,
                "payment_method": "crypto",
                "billing_country": "DE",
                "shipping_country": "FR",
                "ip_country": "NG",
                "customer_created_at": T0 - pd.Timedelta(days=2, hours=9),
                "n_items": 3,
                "n_lines": 2,
                "device_id": "d1",
            },
            {
                "order_id": 2,
                "customer_id": 2,
                "hours": 0,  # 12:00
                "payment_method": "gift_card",
                "billing_country": None,
                "ip_country": "NG",
                # Created after the order (clock skew): age is clipped at 0.
                "customer_created_at": T0 + pd.Timedelta(hours=1),
            },
            {
                "order_id": 3,
                "customer_id": 3,
                "hours": 1,
                "payment_method": None,
                "customer_created_at": pd.NaT,
                "amount": None,
            },
        ]
    )
    features = build_order_features(orders)
    first = features.loc[1]
    assert first["log_account_age_days"] == pytest.approx(np.log1p(2.0))
    assert first["log_amount"] == pytest.approx(1.0)
    assert first["billing_ip_mismatch"] == 1
    assert first["shipping_billing_mismatch"] == 1
    assert first["ip_not_customer_country"] == 1
    assert first["pay_crypto"] == 1
    assert first[["pay_card", "pay_paypal", "pay_bank_transfer", "pay_gift_card"]].sum() == 0
    assert first["night_order"] == 1
    assert first["log_n_items"] == pytest.approx(np.log(4))
    assert first["n_lines"] == 2
    assert first[[c for c in FEATURE_COLUMNS if c.endswith("_unknown")]].sum() == 0
    second = features.loc[2]
    # Created after the order (clock skew or a bad load): the age is unknown, not zero.
    assert np.isnan(second["log_account_age_days"])
    assert second["account_age_unknown"] == 1
    assert second["billing_ip_mismatch"] == 0  # unknown billing country is no mismatch
    assert second["billing_country_unknown"] == 1
    assert second["ip_not_customer_country"] == 1
    assert second["pay_gift_card"] == 1
    assert second["night_order"] == 0
    third = features.loc[3]
    assert np.isnan(third["log_account_age_days"])
    assert np.isnan(third["log_amount"])
    assert (
        third[["account_age_unknown", "amount_unknown", "payment_unknown", "device_unknown"]].tolist()
        == [1] * 4
    )
    assert third[[c for c in FEATURE_COLUMNS if c.startswith("pay_")]].isna().all()


@pytest.mark.parametrize(
    ("change", "unknown", "nan_features"),
    [
        ({"customer_created_at": pd.NaT}, "account_age_unknown", ["log_account_age_days"]),
        ({"customer_created_at": T0 + pd.Timedelta(days=3)}, "account_age_unknown", ["log_account_age_days"]),
        ({"amount": None}, "amount_unknown", ["log_amount"]),
        ({"device_id": None}, "device_unknown", ["device_accounts"]),
        ({"n_items": 0, "n_lines": 0}, "basket_unknown", ["log_n_items", "n_lines"]),
        ({"ip_country": None}, "ip_country_unknown", []),
        ({"billing_country": None}, "billing_country_unknown", []),
        ({"payment_method": None}, "payment_unknown", [f"pay_{m}" for m in PAYMENT_METHODS]),
        ({"payment_method": "voucher"}, "payment_unknown", [f"pay_{m}" for m in PAYMENT_METHODS]),
    ],
)
def test_every_kind_of_missing_value_has_its_indicator_and_no_default(
    change: dict, unknown: str, nan_features: list[str]
) -> None:
    known = {"order_id": 1, "customer_id": 1, "hours": 0, "device_id": "d1"}
    features = build_order_features(make_orders([{**known, **change}])).loc[1]
    indicators = [c for c in FEATURE_COLUMNS if c.endswith("_unknown")]
    assert features[indicators].to_dict() == {c: float(c == unknown) for c in indicators}
    assert features[features.isna()].index.tolist() == nan_features


def test_empty_frame_gives_empty_features() -> None:
    empty = make_orders([{"order_id": 1, "customer_id": 1, "hours": 0}]).iloc[:0]
    features = build_order_features(empty)
    assert features.empty
    assert list(features.columns) == FEATURE_COLUMNS


def test_rejects_missing_column_and_duplicate_orders() -> None:
    orders = make_orders([{"order_id": 1, "customer_id": 1, "hours": 0}])
    with pytest.raises(ValueError, match=r"missing column.*device_id"):
        build_order_features(orders.drop(columns=["device_id"]))
    with pytest.raises(ValueError, match="duplicated order_id"):
        build_order_features(pd.concat([orders, orders]))
    with pytest.raises(ValueError, match="without customer_id"):
        build_order_features(orders.assign(customer_id=None))


@pytest.mark.parametrize(
    ("feature", "value", "typical", "text"),
    [
        (
            "log_account_age_days",
            float(np.log1p(2 / 24)),
            float(np.log1p(300)),
            "account created 2 hours before the order",
        ),
        (
            "log_account_age_days",
            float(np.log1p(10 / 24 / 60)),
            float(np.log1p(300)),
            "account created 10 minutes before the order",
        ),
        (
            "log_account_age_days",
            float(np.log1p(5.2)),
            float(np.log1p(300)),
            "account created 5 days before the order",
        ),
        (
            "log_account_age_days",
            float(np.log1p(900.0)),
            float(np.log1p(300)),
            "account 900 days old, typically 300 days",
        ),
        (
            "log_amount",
            float(np.log1p(1234.5)),
            float(np.log1p(80)),
            "order amount 1,234.50, above the typical 80.00",
        ),
        ("log_amount", float(np.log1p(3)), float(np.log1p(80)), "order amount 3.00, below the typical 80.00"),
        ("amount_vs_customer_median", 6.14, 1.0, "amount 6.1x the customer's usual"),
        ("device_accounts", 8.0, 1.0, "8 accounts share this device"),
        ("prior_orders", 0.0, 4.0, "first order by this customer"),
        ("prior_orders", 1.0, 4.0, "1 earlier order by this customer, typically 4"),
        ("orders_last_24h", 3.0, 0.0, "3 other orders by this customer in the 24 hours before, typically 0"),
        ("log_n_items", float(np.log1p(12)), float(np.log1p(1)), "12 items in the order, typically 1"),
        ("n_lines", 5.0, 1.0, "5 different products in the order, typically 1"),
        ("billing_ip_mismatch", 1.0, 0.0, "billing country differs from IP country"),
        ("pay_crypto", 1.0, 0.0, "paid with crypto"),
        ("pay_card", 0.0, 1.0, "not paid with card, unlike most orders"),
        ("night_order", 1.0, 0.0, "ordered at night (00:00-06:00 UTC)"),
        ("ip_country_unknown", 1.0, 0.0, "IP country unknown"),
    ],
)
def test_reasons_say_how_the_order_differs_from_a_typical_one(
    feature: str, value: float, typical: float, text: str
) -> None:
    assert describe_reason(feature, value, typical) == text


def test_every_feature_has_a_reason_and_the_typical_value_is_none() -> None:
    for feature in FEATURE_COLUMNS:
        for value, typical in ((1.0, 0.0), (0.0, 1.0), (5.0, 2.0)):
            text = describe_reason(feature, value, typical)
            assert "{" not in text and "_" not in text and feature not in text, text
        with pytest.raises(ValueError, match="typical value"):
            describe_reason(feature, 1.0, 1.0)


class TestLabelOrders:
    AS_OF = datetime(2024, 6, 1)

    @pytest.fixture
    def orders(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "order_id": [1, 2, 3, 4, 5],
                "ordered_at": pd.to_datetime(
                    [
                        "2024-04-01 10:00",  # mature, chargeback before as_of
                        "2024-04-02 10:00",  # mature, chargeback reported after as_of
                        "2024-04-03 10:00",  # mature, no chargeback
                        "2024-05-25 10:00",  # immature, already charged back
                        "2024-05-04 00:00",  # exactly maturity_days old
                    ]
                ),
            }
        )

    @pytest.fixture
    def chargebacks(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "order_id": [1, 2, 4],
                "reported_at": pd.to_datetime(["2024-05-10 00:00", "2024-06-01 00:00", "2024-05-30 00:00"]),
                "amount": [10.0, 20.0, 30.0],
                "reason": ["product_not_received", "fraudulent", "fraudulent"],
            }
        )

    def test_labels_mature_orders_with_chargebacks_known_at_as_of(
        self, orders: pd.DataFrame, chargebacks: pd.DataFrame
    ) -> None:
        labels = label_orders(orders, chargebacks, self.AS_OF, maturity_days=28)
        assert labels.index.tolist() == [1, 2, 3, 4, 5]
        # Any reason counts; a chargeback reported at as_of itself is not yet known.
        assert labels.loc[[1, 2, 3, 5]].tolist() == [1.0, 0.0, 0.0, 0.0]
        assert np.isnan(labels.loc[4])

    def test_later_as_of_sees_the_late_chargeback(
        self, orders: pd.DataFrame, chargebacks: pd.DataFrame
    ) -> None:
        labels = label_orders(orders, chargebacks, self.AS_OF + timedelta(days=1), 28)
        assert labels.loc[2] == 1.0

    def test_aware_as_of_is_read_as_utc(self, orders: pd.DataFrame, chargebacks: pd.DataFrame) -> None:
        plus_two = timezone(timedelta(hours=2))
        aware = datetime(2024, 6, 1, 2, 0, tzinfo=plus_two)
        assert aware.astimezone(UTC).replace(tzinfo=None) == self.AS_OF
        pd.testing.assert_series_equal(
            label_orders(orders, chargebacks, aware, 28),
            label_orders(orders, chargebacks, self.AS_OF, 28),
        )

    def test_rejects_negative_maturity(self, orders: pd.DataFrame, chargebacks: pd.DataFrame) -> None:
        with pytest.raises(ValueError, match="maturity_days"):
            label_orders(orders, chargebacks, self.AS_OF, -1)
