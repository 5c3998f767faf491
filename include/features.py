"""Order features and fraud labels for the order risk model.

Every feature is point-in-time: the features of an order use only that order and the orders
strictly before it. Orders are put in time order by `ordered_at`, ties broken by `order_id`,
so two orders placed in the same second still have a well-defined "earlier" one. The history
available is whatever the extract puts in the frame (every order of a lookback window before
the orders to featurise), so history-based features count within that window.

Missing is not a value. An unknown account creation time (no customer row, a null
`created_at`, or one after the order), amount, device or basket leaves its feature NaN, and an
explicit indicator column (`*_unknown`) says so; the models fill the NaN with the feature's
typical (training median) value, so an unknown never coincides with a fraud signal such as a
brand-new account, and learn from the indicator only what the labels teach. Countries and
payment methods are compared only when known (a comparison with an unknown side is no
mismatch), with indicators for an unknown IP country and billing country; an unknown or
unrecognised payment method leaves every `pay_*` flag NaN and sets `payment_unknown`.
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
    "log_account_age_days",
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
    # 1 where the fact behind a feature is unknown (the feature itself is then NaN or no mismatch).
    "account_age_unknown",
    "amount_unknown",
    "device_unknown",
    "basket_unknown",
    "ip_country_unknown",
    "billing_country_unknown",
    "payment_unknown",
]

# Reasons. A reason is given only for a feature that pushes an order's score up relative to a
# typical order (the training medians), and it says in which direction the order differs.
# 0/1 features: the text when the order has the flag (or lacks one most orders have).
FLAG_TEXT: dict[str, str] = {
    "billing_ip_mismatch": "billing country differs from IP country",
    "shipping_billing_mismatch": "shipping country differs from billing country",
    "ip_not_customer_country": "IP country differs from the account's country",
    **{f"pay_{method}": f"paid with {method.replace('_', ' ')}" for method in PAYMENT_METHODS},
    "night_order": "ordered at night (00:00-06:00 UTC)",
    "account_age_unknown": "account creation time unknown",
    "amount_unknown": "order amount unknown",
    "device_unknown": "device unknown",
    "basket_unknown": "no basket lines recorded",
    "ip_country_unknown": "IP country unknown",
    "billing_country_unknown": "billing country unknown",
    "payment_unknown": "payment method unknown",
}
ABSENT_FLAG_TEXT: dict[str, str] = {
    **{
        f"pay_{method}": f"not paid with {method.replace('_', ' ')}, unlike most orders"
        for method in PAYMENT_METHODS
    },
    "night_order": "ordered during the day, unlike most orders",
}
# Features stored as log1p of a readable quantity.
_LOG1P_FEATURES = frozenset({"log_account_age_days", "log_amount", "log_n_items"})


def describe_reason(feature: str, value: float, typical: float) -> str:
    """How an order's `value` of `feature` differs from the `typical` order, in words and units.

    Examples: "account created 2 hours before the order", "8 accounts share this device",
    "order amount 1,234.50, typically 80.00". Raises ValueError when the value is the typical
    one: that is no reason.
    """
    if value == typical:
        raise ValueError(f"{feature} = {value:g} is the typical value: no reason")
    if feature in FLAG_TEXT:
        if value >= 0.5:
            return FLAG_TEXT[feature]
        return ABSENT_FLAG_TEXT.get(feature, f"not {FLAG_TEXT[feature]}, unlike most orders")
    higher = value > typical
    shown, usual = (
        (math.expm1(value), math.expm1(typical)) if feature in _LOG1P_FEATURES else (value, typical)
    )
    if feature == "log_account_age_days":
        if higher:
            return f"account {_duration(shown)} old, typically {_duration(usual)}"
        return f"account created {_duration(shown)} before the order"
    if feature == "log_amount":
        return f"order amount {shown:,.2f}, {'above' if higher else 'below'} the typical {usual:,.2f}"
    if feature == "amount_vs_customer_median":
        return f"amount {shown:.1f}x the customer's usual"
    if feature == "device_accounts":
        return f"{_count(shown, 'account')} share this device" if shown >= 2 else "device seen on 1 account"
    if feature == "prior_orders":
        if shown < 0.5:
            return "first order by this customer"
        return f"{_count(shown, 'earlier order')} by this customer, typically {usual:.0f}"
    if feature == "orders_last_24h":
        return (
            f"{_count(shown, 'other order')} by this customer in the 24 hours before, typically {usual:.0f}"
        )
    if feature == "log_n_items":
        return f"{_count(shown, 'item')} in the order, typically {usual:.0f}"
    if feature == "n_lines":
        return f"{_count(shown, 'different product')} in the order, typically {usual:.0f}"
    return f"{feature} {value:g}, typically {typical:g}"


def _count(n: float, noun: str) -> str:
    whole = round(n)
    return f"{whole} {noun}{'' if whole == 1 else 's'}"


def _duration(days: float) -> str:
    """A readable length of time: minutes under an hour, hours under two days, else days."""
    minutes = days * 24 * 60
    if minutes < 60:
        return _count(minutes, "minute")
    if days < 2:
        return _count(minutes / 60, "hour")
    return _count(days, "day")


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
    amount = frame["amount"].astype("float64")

    out = pd.DataFrame(index=frame.index)
    age = (frame["ordered_at"] - frame["customer_created_at"]) / pd.Timedelta(days=1)
    age_known = age >= 0  # False for a null created_at (no customer row) and one after the order
    # log1p: the first hours after sign-up matter far more than a year's difference later.
    out["log_account_age_days"] = np.log1p(age.where(age_known))
    out["log_amount"] = np.log1p(amount.clip(lower=0.0))
    out["amount_vs_customer_median"] = _amount_vs_previous_median(frame, amount)
    out["prior_orders"] = prior_orders
    out["orders_last_24h"] = _orders_in_window(frame, prior_orders, BURST_WINDOW)
    out["billing_ip_mismatch"] = _differs(frame["billing_country"], frame["ip_country"])
    out["shipping_billing_mismatch"] = _differs(frame["shipping_country"], frame["billing_country"])
    out["ip_not_customer_country"] = _differs(frame["ip_country"], frame["customer_country"])
    out["device_accounts"] = _device_accounts(frame)
    method = frame["payment_method"]
    payment_known = method.isin(PAYMENT_METHODS)
    for name in PAYMENT_METHODS:
        out[f"pay_{name}"] = (method == name).where(payment_known)
    out["night_order"] = frame["ordered_at"].dt.hour.isin(NIGHT_HOURS)
    # An order without lines has an unknown basket, not an empty one.
    basket_known = frame["n_lines"].fillna(0) > 0
    out["log_n_items"] = np.log1p(frame["n_items"].astype("float64").clip(lower=0.0)).where(basket_known)
    out["n_lines"] = frame["n_lines"].astype("float64").where(basket_known)
    out["account_age_unknown"] = ~age_known
    out["amount_unknown"] = amount.isna()
    out["device_unknown"] = frame["device_id"].isna()
    out["basket_unknown"] = ~basket_known
    out["ip_country_unknown"] = frame["ip_country"].isna()
    out["billing_country_unknown"] = frame["billing_country"].isna()
    out["payment_unknown"] = ~payment_known

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
    """Amount over the median of the customer's earlier known amounts (1.0 without a usable
    median or amount).

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
    usable = (previous > 0) & amount.notna().to_numpy()
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
    """Distinct customers seen on the order's device up to and including the order (NaN for an
    unknown device).

    `frame` is in chronological order.
    """
    first_on_device = ~frame.duplicated(["device_id", "customer_id"])
    counts = first_on_device.groupby(frame["device_id"], sort=False).cumsum()
    return counts.where(frame["device_id"].notna()).to_numpy(dtype="float64")
