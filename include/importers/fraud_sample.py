"""The public e-commerce fraud sample, loaded into the warehouse's source tables for order_risk.

    python -m include.importers fraud [--data-dir ../shared/data/fraud-ecommerce] [--chargeback-delay-days 30]

The data ("Fraud_Data", described in ../shared/data/README.md) holds one first purchase per
user, labelled fraud or not, and stays outside the repository: it is read from --data-dir and
written only to the warehouse of the `warehouse` connection.

What lands where:
- customers: one per user; created_at is the signup time, country the IP country of the user's
  purchase (the data has no customer country), channel the traffic source (SEO, Ads, Direct);
- orders: one per purchase, ids 1..n in purchase-time order, customer_id the user id; payment
  method, billing and shipping country are null, because the data has none of them;
- chargebacks: one per fraud, reported a fixed delay after the order, for its amount;
- products, events and order_items stay empty: the data has no basket, and the risk extract
  joins order_items with a LEFT JOIN, so every order counts as 0 items and 0 lines. Only the
  recommendations DAG would need products and events; nothing here invents them.

Every row lands at its own time (`loaded_at` is its business time), so a replay can validate
and score any past night. The project's data contract requires a payment method and a customer
country, which the sample lacks: validate it under its own contract,
`SHOPFLOW_CONTRACT=include/importers/fraud_sample_contract.toml` (bench/bench_fraud.py does).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from include import warehouse
from include.importers.replay import as_replay, replace_source_rows
from include.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "fraud-ecommerce"
SAMPLE_FILE = "Fraud_Data_sample.csv"
RANGES_FILE = "IpAddress_to_Country_partial.csv"
TIME_FORMAT = "%m/%d/%Y %H:%M"
# The simulator's reason for a fraud chargeback; labels count any reason.
FRAUD_REASON = "fraudulent"


def ip_countries(ip_address: pd.Series, ranges: pd.DataFrame) -> pd.Series:
    """The country of each IP (a number) from a table of inclusive ranges; NaN where none holds it.

    Each IP takes the range with the greatest lower bound at or below it, if the IP is not
    above that range's upper bound. Ranges whose lower bound exceeds their upper one hold no IP
    and are dropped.
    """
    lower_all = ranges["lower_bound_ip_address"].to_numpy(dtype="float64")
    upper_all = ranges["upper_bound_ip_address"].to_numpy(dtype="float64")
    valid = ranges.loc[lower_all <= upper_all]
    valid = valid.sort_values("lower_bound_ip_address", kind="stable")
    lower = valid["lower_bound_ip_address"].to_numpy(dtype="float64")
    upper = valid["upper_bound_ip_address"].to_numpy(dtype="float64")
    country = valid["country"].to_numpy(dtype=object)
    ip = ip_address.to_numpy(dtype="float64")
    position = np.searchsorted(lower, ip, side="right") - 1
    safe = position.clip(min=0)
    found = (position >= 0) & (ip <= upper[safe])
    return pd.Series(np.where(found, country[safe], None), index=ip_address.index, name="ip_country")


def read_fraud_sample(data_dir: Path) -> pd.DataFrame:
    """The fraud sample with naive datetimes and an `ip_country` column, in purchase-time order
    (ties by user id)."""
    sample = pd.read_csv(data_dir / SAMPLE_FILE)
    for column in ("signup_time", "purchase_time"):
        sample[column] = pd.to_datetime(sample[column], format=TIME_FORMAT)
    ranges = pd.read_csv(data_dir / RANGES_FILE)
    sample["ip_country"] = ip_countries(sample["ip_address"], ranges)
    return sample.sort_values(["purchase_time", "user_id"], kind="stable").reset_index(drop=True)


def warehouse_frames(sample: pd.DataFrame, *, chargeback_delay_days: int = 30) -> dict[str, pd.DataFrame]:
    """Customers, orders and chargebacks of the sample, with exactly the source tables' columns.

    No source column is NOT NULL (they are landing tables), so a field the data lacks is null,
    never a stand-in: a constant payment method or a billing country copied from the IP would
    look like evidence to the risk features (`pay_*`, `billing_ip_mismatch`).
    """
    if chargeback_delay_days < 0:
        raise ValueError(f"chargeback_delay_days must be >= 0, got {chargeback_delay_days}")
    purchases = sample.sort_values(["purchase_time", "user_id"], kind="stable").reset_index(drop=True)
    order_id = np.arange(1, len(purchases) + 1, dtype=np.int64)
    customers = pd.DataFrame(
        {
            "customer_id": purchases["user_id"].astype("int64"),
            "created_at": purchases["signup_time"],
            # The IP country of the user's purchase is all the data tells of where they are;
            # equal to the order's ip_country, it makes ip_not_customer_country 0, as unknown would.
            "country": purchases["ip_country"],
            # The traffic source that brought the user: the data's own acquisition channel.
            "channel": purchases["source"],
        }
    ).drop_duplicates("customer_id")
    orders = pd.DataFrame(
        {
            "order_id": order_id,
            "customer_id": purchases["user_id"].astype("int64"),
            "ordered_at": purchases["purchase_time"],
            "amount": purchases["purchase_value"].astype("float64"),
            "payment_method": None,
            "billing_country": None,
            "shipping_country": None,
            "ip_country": purchases["ip_country"],
            "device_id": purchases["device_id"],
        }
    )
    fraud = purchases["class"].to_numpy() == 1
    chargebacks = pd.DataFrame(
        {
            "order_id": order_id[fraud],
            "reported_at": purchases.loc[fraud, "purchase_time"].to_numpy()
            + np.timedelta64(chargeback_delay_days, "D"),
            "amount": orders.loc[fraud, "amount"].to_numpy(),
            "reason": FRAUD_REASON,
        }
    )
    return as_replay({"customers": customers, "orders": orders, "chargebacks": chargebacks})


def load_fraud_sample(
    engine: sa.Engine, data_dir: Path, *, chargeback_delay_days: int = 30
) -> dict[str, int]:
    """Replace the warehouse's source rows with the fraud sample (`replay.replace_source_rows`);
    returns rows written per table."""
    frames = warehouse_frames(read_fraud_sample(data_dir), chargeback_delay_days=chargeback_delay_days)
    counts = replace_source_rows(engine, frames)
    with engine.connect() as conn:
        models = conn.exec_driver_sql("SELECT COUNT(*) FROM model_versions").scalar_one()
    if models:
        log.warning("The warehouse holds %s model versions of earlier data: its champion stays", models)
    log.info("Loaded the fraud sample into %s: %s", warehouse.describe(engine), counts)
    return counts


def describe_load(engine: sa.Engine, counts: dict[str, int], seconds: float) -> str:
    """What was loaded: rows per table, the span of orders, the fraud share per month."""
    with engine.connect() as conn:
        bounds = conn.exec_driver_sql(
            "SELECT MIN(ordered_at), MAX(ordered_at), (SELECT MAX(reported_at) FROM chargebacks) FROM orders"
        ).one()
        first, last, reported = (pd.Timestamp(value) for value in bounds)
        end = last.normalize() + pd.Timedelta(days=1)
        # Every chargeback, the last ones reported after the last order included.
        known = max(end, reported.normalize() + pd.Timedelta(days=1))
        orders = warehouse.read_frame(
            "risk/extract_orders", {"start": first, "end": end, "loaded_until": known}, conn=conn
        )
        chargebacks = warehouse.read_frame(
            "risk/extract_chargebacks", {"end": known, "loaded_until": known}, conn=conn
        )

    lines = [f"Loaded into {warehouse.describe(engine)} in {seconds:.1f} s"]
    lines += [f"  {table:<12} {count:>7,}" for table, count in counts.items()]
    lines.append(f"Orders from {first} to {last}; the risk extract reads {len(orders):,} of them")
    fraud = orders["order_id"].isin(chargebacks["order_id"])
    monthly = fraud.groupby(orders["ordered_at"].dt.to_period("M")).agg(["size", "mean"])
    lines.append("Fraud share per month of order:")
    lines += [
        f"  {month}  {int(row['size']):>6,} orders  {row['mean']:6.1%}" for month, row in monthly.iterrows()
    ]
    lines.append(f"Orders with unknown ip_country: {orders['ip_country'].isna().mean():.1%}")
    return "\n".join(lines)
