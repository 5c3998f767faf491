"""Order features and fraud labels for the order risk model.

Every feature is point-in-time: the features of an order use only that order and the orders
strictly before it. Orders are put in time order by `ordered_at`, ties broken by `order_id`,
so two orders placed in the same second still have a well-defined "earlier" one. The history
available is whatever the extract puts in the frame (every order of a lookback window before
the orders to featurise), so history-based features count within that window.

Missing values get a documented neutral default rather than NaN, so every model can read
every row:
- unknown account creation time: age 0 days (an unknown account is treated as brand new);
- a country comparison with an unknown side: no mismatch;
- unknown payment method: all payment flags 0;
- unknown device: seen on 1 account (no evidence of sharing);
- unknown amount, item count or line count: 0.
Rows without an order id, customer id or order time, and duplicated order ids, are rejected.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# Columns the extract must provide, one row per order.
ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "ordered_at",
    "amount",
    "payment_method",
    "billing_country",
    "shipping_country",
    "ip_country",
    "device_id",
    "customer_created_at",
    "customer_country",
    "n_items",
    "n_lines",
)
PAYMENT_METHODS = ("card", "paypal", "bank_transfer", "gift_card", "crypto")
# Window of the order-burst feature.
BURST_WINDOW = pd.Timedelta(hours=24)
# Orders placed at these UTC hours count as night orders.
NIGHT_HOURS = range(0, 6)

FEATURE_COLUMNS: list[str] = [
    "account_age_days",
    "log_amount",
    "amount_vs_customer_median",
    "prior_orders",
    "orders_last_24h",
    "billing_ip_mismatch",
    "shipping_billing_mismatch",
    "ip_not_customer_country",
    "device_accounts",
    *(f"pay_{method}" for method in PAYMENT_METHODS),
    "night_order",
    "log_n_items",
    "n_lines",
]

# Reason shown when a feature pushes a score up. `{value}` is the feature in readable units
# (log features are turned back into amounts and counts), `{s}` pluralises counts.
REASON_TEXT: dict[str, str] = {
    "account_age_days": "account {value:.0f} day{s} old",
    "log_amount": "order amount {value:,.2f}",
    "amount_vs_customer_median": "amount {value:.1f}x the customer's usual",
    "prior_orders": "{value:.0f} earlier order{s} by this customer",
    "orders_last_24h": "{value:.0f} order{s} in the last 24h",
    "billing_ip_mismatch": "billing country differs from IP country",
    "shipping_billing_mismatch": "shipping country differs from billing country",
    "ip_not_customer_country": "IP country differs from the account's country",
    "device_accounts": "device used by {value:.0f} account{s}",
    **{f"pay_{method}": f"paid with {method.replace('_', ' ')}" for method in PAYMENT_METHODS},
    "night_order": "ordered at night (00:00-06:00 UTC)",
    "log_n_items": "{value:.0f} item{s} in the order",
    "n_lines": "{value:.0f} different product{s} in the order",
}
# Reason shown when a 0/1 feature pushes a score up by being 0.
ABSENT_REASON_TEXT: dict[str, str] = {
    "billing_ip_mismatch": "billing country matches IP country",
    "shipping_billing_mismatch": "shipping country matches billing country",
    "ip_not_customer_country": "IP country matches the account's country",
    **{f"pay_{method}": f"not paid with {method.replace('_', ' ')}" for method in PAYMENT_METHODS},
    "night_order": "ordered during the day",
}
# Features stored as log1p of a readable quantity.
_LOG1P_FEATURES = frozenset({"log_amount", "log_n_items"})


def describe_reason(feature: str, value: float) -> str:
    """A short readable reason for a feature with this value that raised a risk score."""
    if feature in ABSENT_REASON_TEXT and value == 0:
        return ABSENT_REASON_TEXT[feature]
    template = REASON_TEXT.get(feature)
    if template is None:
        return f"{feature} = {value:g}"
    shown = math.expm1(value) if feature in _LOG1P_FEATURES else float(value)
    plural = "" if round(shown) == 1 else "s"
    return template.format(value=shown, s=plural)


def build_order_features(orders: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time risk features of every order in `orders`.

    Args:
        orders: one row per order with the columns of `ORDER_COLUMNS`, including the
            lookback history before the orders to score.

    Returns:
        Float features in `FEATURE_COLUMNS` order, indexed by `order_id`, rows in the input
        order.
    """
    frame = _checked_orders(orders)
    if frame.empty:
        empty = pd.DataFrame(columns=FEATURE_COLUMNS, dtype="float64")
        empty.index = pd.Index([], name="order_id", dtype=orders["order_id"].dtype)
        return empty

    # Chronological order; ties on time are broken by order id.
    frame = frame.sort_values(["ordered_at", "order_id"], kind="stable").reset_index(drop=True)
    customer = frame.groupby("customer_id", sort=False)
    prior_orders = customer.cumcount().to_numpy()
    amount = frame["amount"].fillna(0.0).astype("float64")

    out = pd.DataFrame(index=frame.index)
    age = (frame["ordered_at"] - frame["customer_created_at"]) / pd.Timedelta(days=1)
    out["account_age_days"] = age.fillna(0.0).clip(lower=0.0)
    out["log_amount"] = np.log1p(amount.clip(lower=0.0))
    out["amount_vs_customer_median"] = _amount_vs_previous_median(frame, amount)
    out["prior_orders"] = prior_orders
    out["orders_last_24h"] = _orders_in_window(frame, prior_orders, BURST_WINDOW)
    out["billing_ip_mismatch"] = _differs(frame["billing_country"], frame["ip_country"])
    out["shipping_billing_mismatch"] = _differs(frame["shipping_country"], frame["billing_country"])
    out["ip_not_customer_country"] = _differs(frame["ip_country"], frame["customer_country"])
    out["device_accounts"] = _device_accounts(frame)
    method = frame["payment_method"]
    for name in PAYMENT_METHODS:
        out[f"pay_{name}"] = (method == name).fillna(False)
    out["night_order"] = frame["ordered_at"].dt.hour.isin(NIGHT_HOURS)
    out["log_n_items"] = np.log1p(frame["n_items"].fillna(0).astype("float64").clip(lower=0.0))
    out["n_lines"] = frame["n_lines"].fillna(0).astype("float64").clip(lower=0.0)

    out = out[FEATURE_COLUMNS].astype("float64")
    out.index = pd.Index(frame["order_id"], name="order_id")
    return out.loc[orders["order_id"].to_numpy()]


def label_orders(
    orders: pd.DataFrame,
    chargebacks: pd.DataFrame,
    as_of: datetime,
    maturity_days: int,
) -> pd.Series:
    """Fraud labels as they were known at `as_of`.

    The label is 1 when the order has any chargeback reported before `as_of`, whatever its
    reason: the risk score exists to prevent chargeback losses, and the reason a shop receives
    is often a generic one for what was in fact fraud. An order is labelled only once it is
    at least `maturity_days` old at `as_of`, so that most of its chargebacks had time to
    arrive; younger orders get NaN, even if a chargeback already arrived, so that recent
    orders never enter training with only their positives known.

    Args:
        orders: frame with `order_id` and `ordered_at`.
        chargebacks: frame with `order_id` and `reported_at`.
        as_of: the moment of knowledge; naive UTC, or aware (converted to UTC).
        maturity_days: minimum age of an order, in days, for its label to count.

    Returns:
        Float series of 1.0 / 0.0 / NaN indexed by `order_id`, in the order of `orders`.
    """
    if maturity_days < 0:
        raise ValueError(f"maturity_days must be >= 0, got {maturity_days}")
    _require_columns(orders, ("order_id", "ordered_at"), "orders")
    _require_columns(chargebacks, ("order_id", "reported_at"), "chargebacks")
    cutoff = pd.Timestamp(_naive_utc(as_of))
    known = chargebacks.loc[chargebacks["reported_at"] < cutoff, "order_id"]
    charged = orders["order_id"].isin(known).to_numpy()
    mature = (orders["ordered_at"] <= cutoff - pd.Timedelta(days=maturity_days)).to_numpy()
    labels = np.where(mature, charged.astype("float64"), np.nan)
    log.info(
        "Labelled %d of %d orders as of %s (%d positive, maturity %d days)",
        int(mature.sum()),
        len(orders),
        cutoff,
        int((mature & charged).sum()),
        maturity_days,
    )
    return pd.Series(labels, index=pd.Index(orders["order_id"], name="order_id"), name="label")


def _checked_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """The columns the features need, after rejecting rows no feature can be built for."""
    _require_columns(orders, ORDER_COLUMNS, "orders")
    for key in ("order_id", "customer_id", "ordered_at"):
        missing = int(orders[key].isna().sum())
        if missing:
            raise ValueError(f"orders has {missing} row(s) without {key}")
    duplicated = orders["order_id"].duplicated()
    if duplicated.any():
        sample = orders.loc[duplicated, "order_id"].head(5).tolist()
        raise ValueError(f"orders has duplicated order_id values, e.g. {sample}")
    return orders.loc[:, list(ORDER_COLUMNS)]


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s): {', '.join(missing)}")


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _differs(left: pd.Series, right: pd.Series) -> np.ndarray:
    """1 where both values are known and differ."""
    known = left.notna() & right.notna()
    return (known & (left != right)).to_numpy()


def _amount_vs_previous_median(frame: pd.DataFrame, amount: pd.Series) -> np.ndarray:
    """Amount over the median of the customer's earlier orders (1.0 without a usable median).

    `frame` is in chronological order with a RangeIndex.
    """
    running = (
        amount.groupby(frame["customer_id"], sort=False)
        .expanding()
        .median()
        .reset_index(level=0, drop=True)
        .sort_index()
        .to_numpy()
    )
    # The running median up to the previous order of the same customer.
    previous = (
        pd.Series(running, index=frame.index).groupby(frame["customer_id"], sort=False).shift(1).to_numpy()
    )
    usable = previous > 0
    ratio = np.ones(len(frame))
    np.divide(amount.to_numpy(), previous, out=ratio, where=usable)
    return ratio


def _orders_in_window(frame: pd.DataFrame, prior_orders: np.ndarray, window: pd.Timedelta) -> np.ndarray:
    """Count of the customer's earlier orders placed at most `window` before each order.

    `frame` is in chronological order; `prior_orders` numbers each customer's orders 0, 1, ...
    """
    history = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "ordered_at": frame["ordered_at"].to_numpy(),
            "position": prior_orders,
        }
    )
    starts = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "window_start": (frame["ordered_at"] - window).to_numpy(),
        }
    )
    # The customer's last order strictly before the window starts.
    before = pd.merge_asof(
        starts,
        history,
        left_on="window_start",
        right_on="ordered_at",
        by="customer_id",
        allow_exact_matches=False,
        direction="backward",
    )
    orders_before_window = before["position"].fillna(-1.0).to_numpy() + 1.0
    return prior_orders - orders_before_window


def _device_accounts(frame: pd.DataFrame) -> np.ndarray:
    """Distinct customers seen on the order's device up to and including the order.

    `frame` is in chronological order.
    """
    first_on_device = ~frame.duplicated(["device_id", "customer_id"])
    counts = first_on_device.groupby(frame["device_id"], sort=False).cumsum()
    return counts.where(frame["device_id"].notna(), 1).to_numpy(dtype="float64")
