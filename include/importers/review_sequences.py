"""Review sequences (Amazon-style, as in ../shared/data/amazon-beauty) loaded as purchases, so
the recommendations DAG runs on them.

    python -m include.importers sequences [--file ../shared/data/amazon-beauty/Beauty.txt] [--end 2026-08-29]

The format is the one of the sequential-recommendation literature: one line per customer,
`<customer id> <product id> <product id> ...`, products in the order the customer reviewed them,
with no timestamps, prices or catalogue. The sequences are placed on days so that the DAG's
own time holdout is that literature's leave-one-out protocol: every customer's last product
falls on the `--end` day, the one before on the day before, and so on back, one a day. Run the
DAG with `holdout_days` 1 and it judges each customer's last product, ranking the whole
catalogue with the customer's earlier products excluded; an inner validation split of one day
is each customer's second-to-last product.

What lands where:
- customers: one per line, created the day before their first product;
- products: one per product id, created the day before its first review; category, brand and
  price are null because the data has none (similar products of a product no one reviewed
  yet therefore cannot come from the catalogue);
- events: one `purchase` per (customer, product), one session each, ids in time order;
- orders, order_items and chargebacks stay empty.

Every row lands at its own time (`loaded_at` is its business time), so the gate's first night
checks the whole history and later nights can be replayed. The project's contract requires a
category, a price and a customer country, which the data lacks: validate it under its own,
`SHOPFLOW_CONTRACT=include/importers/review_sequences_contract.toml`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from include import warehouse
from include.importers.replay import as_replay, replace_source_rows
from include.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

DEFAULT_FILE = PROJECT_ROOT.parent / "shared" / "data" / "amazon-beauty" / "Beauty.txt"
CONTRACT = PROJECT_ROOT / "include" / "importers" / "review_sequences_contract.toml"
# Where in its day a purchase is placed: noon, clear of any day boundary.
TIME_OF_DAY = timedelta(hours=12)


class BadSequences(ValueError):
    """The file is not in the `<customer> <product> <product> ...` format; names the line."""


def read_sequences(path: Path) -> dict[int, list[int]]:
    """Each customer's products in order. A product reviewed twice counts once, at its first time."""
    sequences: dict[int, list[int]] = {}
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                ids = [int(field) for field in fields]
            except ValueError:
                raise BadSequences(
                    f"{path}:{number}: ids must be whole numbers, got {line.strip()[:80]!r}"
                ) from None
            if len(ids) < 2:
                raise BadSequences(f"{path}:{number}: customer {ids[0]} has no products")
            if ids[0] in sequences:
                raise BadSequences(f"{path}:{number}: customer {ids[0]} appears on two lines")
            sequences[ids[0]] = list(dict.fromkeys(ids[1:]))
    if not sequences:
        raise BadSequences(f"{path}: no sequences")
    return sequences


def warehouse_frames(sequences: dict[int, list[int]], end: date) -> dict[str, pd.DataFrame]:
    """Customers, products and purchase events with exactly the source tables' columns: the
    k-th last product of each customer on the day `end - (k - 1)` at noon."""
    customers = np.repeat(np.fromiter(sequences, dtype=np.int64), [len(s) for s in sequences.values()])
    products = np.fromiter((p for s in sequences.values() for p in s), dtype=np.int64)
    days_before_end = np.concatenate([np.arange(len(s) - 1, -1, -1) for s in sequences.values()])
    noon = pd.Timestamp(datetime.combine(end, datetime.min.time()) + TIME_OF_DAY)
    event_at = noon - pd.to_timedelta(days_before_end, unit="D")
    events = pd.DataFrame({"customer_id": customers, "product_id": products, "event_at": event_at})
    events = events.sort_values(["event_at", "customer_id"], kind="stable").reset_index(drop=True)
    events["event_id"] = np.arange(1, len(events) + 1, dtype=np.int64)
    events["session_id"] = events["event_id"]
    events["event_type"] = "purchase"
    first_day = events["event_at"].dt.normalize() - pd.Timedelta(days=1)
    customer_rows = (
        pd.DataFrame({"customer_id": events["customer_id"], "created_at": first_day})
        .groupby("customer_id", as_index=False)["created_at"]
        .min()
        .assign(country=None, channel=None)
    )
    product_rows = (
        pd.DataFrame({"product_id": events["product_id"], "created_at": first_day})
        .groupby("product_id", as_index=False)["created_at"]
        .min()
        .assign(category=None, brand=None, price=np.nan)
    )
    return as_replay({"customers": customer_rows, "products": product_rows, "events": events})


def load_review_sequences(engine: sa.Engine, path: Path, *, end: date) -> dict[str, int]:
    """Replace the warehouse's source rows with the sequences (`replay.replace_source_rows`);
    returns rows written per table."""
    frames = warehouse_frames(read_sequences(path), end)
    counts = replace_source_rows(engine, frames)
    first = frames["events"]["event_at"].min()
    log.info(
        "Loaded %s into %s: %s; purchases from %s to %s",
        path.name,
        warehouse.describe(engine),
        counts,
        first,
        end,
    )
    return counts
