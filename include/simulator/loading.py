"""The public face of the simulator: days as frames, and writing them into a warehouse (build,
append a day, catch up to a day)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from include import warehouse
from include.simulator.day import _run
from include.simulator.knobs import DEFAULT_SEED, DEFAULT_START, SOURCE_TABLES
from include.simulator.population import _catalogue, _population
from include.simulator.presets import ShopPreset, resolve_preset
from include.simulator.randomness import _day_seconds

log = logging.getLogger(__name__)


def simulate(
    preset: str | ShopPreset, days: int, *, start: date = DEFAULT_START, seed: int = DEFAULT_SEED
) -> Iterator[tuple[date, dict[str, pd.DataFrame]]]:
    """Yield each simulated day with the rows the shop writes that day, for all six tables.

    The chargebacks of a day are those reported that day (for orders of earlier days).
    """
    for result, chargebacks in _run(resolve_preset(preset), seed, start, range(days)):
        yield result.day, {**result.frames, "chargebacks": chargebacks}


def simulate_day(
    preset: str | ShopPreset,
    day_index: int,
    *,
    start: date = DEFAULT_START,
    seed: int = DEFAULT_SEED,
) -> dict[str, pd.DataFrame]:
    """The rows of one day (0 = `start`), identical to that day of `simulate`."""
    for result, chargebacks in _run(resolve_preset(preset), seed, start, range(day_index, day_index + 1)):
        return {**result.frames, "chargebacks": chargebacks}
    raise ValueError(f"Not a simulated day: {day_index}")


def simulate_truth(
    preset: str | ShopPreset, days: int, *, start: date = DEFAULT_START, seed: int = DEFAULT_SEED
) -> pd.DataFrame:
    """Ground truth of every simulated order: `order_id`, `is_fraud`, `fraud_kind`.

    `fraud_kind` is '' for legit orders, 'new_account' or 'takeover' for fraud. The warehouse
    never holds this; it shows only through chargebacks.
    """
    parts = [result.truth for result, _ in _run(resolve_preset(preset), seed, start, range(days))]
    return pd.concat(parts, ignore_index=True)


def with_load_times(frames: dict[str, pd.DataFrame], day: date) -> dict[str, pd.DataFrame]:
    """The day's rows with their `loaded_at`: the simulated shop streams each row as it happens,
    so a row lands at its own time (an order line with its order), kept inside the day it was
    written on (a customer dated after the day, or undated, lands at the day's edge)."""
    first = pd.Timestamp(day)
    last = first + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    order_times = frames["orders"].set_index("order_id")["ordered_at"]
    stamped = {}
    for table, frame in frames.items():
        column = warehouse.BUSINESS_TIME[table]
        times = frame["order_id"].map(order_times) if column is None else frame[column]
        times = pd.to_datetime(times).fillna(first).clip(first, last)
        stamped[table] = frame.assign(**{warehouse.LOADED_AT: times.to_numpy()})
    return stamped


def _write_day(
    conn: sa.Connection,
    preset: ShopPreset,
    seed: int,
    start: date,
    day: date,
    frames: dict[str, pd.DataFrame],
) -> dict[str, int]:
    frames = with_load_times(frames, day)
    counts = {table: warehouse.write_frame(frames[table], table, conn=conn) for table in SOURCE_TABLES}
    warehouse.run_sql(
        "simulator/insert_shop_simulation_day",
        {
            "day_index": (day - start).days,
            "day_start_at": day,
            "preset": preset.name,
            "preset_settings": json.dumps(asdict(preset), sort_keys=True),
            "seed": seed,
            "start_at": start,
            "row_counts": json.dumps(counts, sort_keys=True),
        },
        conn=conn,
    )
    return counts


def build_shop(
    engine: sa.Engine,
    preset: str | ShopPreset = "small",
    days: int = 90,
    *,
    start: date = DEFAULT_START,
    seed: int = DEFAULT_SEED,
    replace: bool = False,
) -> dict[str, int]:
    """Create the schema and write `days` simulated days, one transaction per day.

    Refuses a warehouse that already holds source rows, unless `replace`, which first deletes
    the rows of the six source tables. Returns the rows written per table.
    """
    shop = resolve_preset(preset)
    if days < 1:
        raise ValueError("Simulate at least one day")
    warehouse.create_schema(engine)
    with warehouse.transaction(engine) as conn:
        warehouse.run_sql("simulator/create_shop_simulation", conn=conn)
        existing = int(warehouse.read_frame("simulator/count_source_rows", conn=conn).iat[0, 0])
        if existing and not replace:
            raise ValueError(
                f"The warehouse already holds {existing} source rows; "
                "pass replace=True (--replace) to delete them and build a new shop"
            )
        # Also forgets the record of an earlier shop whose rows were deleted by hand.
        warehouse.run_sql("simulator/delete_source_rows", conn=conn)
        if existing:
            log.info("Deleted %s rows of the previous simulated shop", existing)
    totals = dict.fromkeys(SOURCE_TABLES, 0)
    for day, frames in simulate(shop, days, start=start, seed=seed):
        with warehouse.transaction(engine) as conn:
            counts = _write_day(conn, shop, seed, start, day, frames)
        for table, count in counts.items():
            totals[table] += count
        written = (day - start).days + 1
        if written % 10 == 0 or written == days:
            log.info("Wrote day %s of %s (%s): %s events so far", written, days, day, totals["events"])
    # A bulk load leaves the planner without statistics until something analyzes the tables.
    with warehouse.transaction(engine) as conn:
        warehouse.analyze(*SOURCE_TABLES, conn=conn)
    log.info(
        "Built the %s shop, %s to %s (seed %s) in %s: %s",
        shop.name,
        start,
        start + timedelta(days=days - 1),
        seed,
        warehouse.describe(engine),
        totals,
    )
    return totals


def _last_simulated(engine: sa.Engine) -> pd.Series | None:
    with engine.connect() as conn:
        if not warehouse.table_exists("shop_simulation", conn):
            return None
        last = warehouse.read_frame("simulator/select_last_shop_simulation_day", conn=conn)
    return None if last.empty else last.iloc[0]


def last_simulated_day(engine: sa.Engine) -> date | None:
    """The last day written by the simulator, or None if it has not built this warehouse."""
    last = _last_simulated(engine)
    return None if last is None else pd.Timestamp(last["day_start_at"]).date()


def append_day(engine: sa.Engine, *, preset: str | ShopPreset | None = None, seed: int | None = None) -> date:
    """Write the day after the last simulated one, as a build of one more day would have.

    `preset` and `seed` default to those of the build; other values are refused, since they
    would not continue the same shop. Returns the day written.
    """
    last = _last_simulated(engine)
    if last is None:
        raise ValueError("The warehouse holds no simulated shop: build one first")
    shop = ShopPreset(**json.loads(last["preset_settings"]))
    if preset is not None and resolve_preset(preset) != shop:
        raise ValueError(f"The warehouse was built with the {shop.name!r} preset, not {preset!r}")
    stored_seed = int(last["seed"])
    if seed is not None and seed != stored_seed:
        raise ValueError(f"The warehouse was built with seed {stored_seed}, not {seed}")
    start = pd.Timestamp(last["start_at"]).date()
    day_index = int(last["day_index"]) + 1
    frames = simulate_day(shop, day_index, start=start, seed=stored_seed)
    day = start + timedelta(days=day_index)
    with warehouse.transaction(engine) as conn:
        counts = _write_day(conn, shop, stored_seed, start, day, frames)
    log.info("Appended %s to the %s shop in %s: %s", day, shop.name, warehouse.describe(engine), counts)
    return day


def catch_up(engine: sa.Engine, until: date) -> list[date]:
    """Append days until the shop's last day is `until` (the live shop's nightly load).

    Returns the days written, none when the shop already reaches `until`.
    """
    written = []
    last = last_simulated_day(engine)
    if last is None:
        raise ValueError("The warehouse holds no simulated shop: build one first (make shop)")
    while last < until:
        last = append_day(engine)
        written.append(last)
    return written


def simulate_links(
    preset: str | ShopPreset, days: int, *, start: date = DEFAULT_START, seed: int = DEFAULT_SEED
) -> pd.DataFrame:
    """The planted bought-after pairs of the products listed in the first `days` days:
    `product_id`, `follow_up_id` and `kind` ('accessory' of a device, 'refill' of a
    consumable). Like `simulate_truth`, for tests and benchmarks: the warehouse never holds it."""
    shop = resolve_preset(preset)
    products = _population(shop, seed, _catalogue(seed), _day_seconds(start), days - 1).products
    lead, slot = np.nonzero(products["links"] >= 0)
    kind = np.array(["", "accessory", "refill"], dtype=object)[products["follow_up"][lead]]
    return pd.DataFrame(
        {"product_id": lead + 1, "follow_up_id": products["links"][lead, slot] + 1, "kind": kind}
    )
