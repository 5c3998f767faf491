"""The simulated shop: deterministic, consistent, and carrying the patterns the models learn."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include import simulator, warehouse
from include.simulator import SOURCE_TABLES, append_day, build_shop, simulate, simulate_truth

DAYS = 90
DEFAULT = simulator.DEFAULT_START
# Sort keys that make two loads of a table comparable row by row.
TABLE_KEYS = {
    "customers": ["customer_id"],
    "products": ["product_id"],
    "events": ["event_id"],
    "orders": ["order_id"],
    "order_items": ["order_id", "line_no"],
    "chargebacks": ["order_id"],
}


def _collect(days: list[tuple[date, dict[str, pd.DataFrame]]]) -> dict[str, pd.DataFrame]:
    return {
        table: pd.concat([frames[table] for _, frames in days], ignore_index=True) for table in SOURCE_TABLES
    }


@pytest.fixture(scope="module")
def tiny_days() -> list[tuple[date, dict[str, pd.DataFrame]]]:
    return list(simulate("tiny", DAYS))


@pytest.fixture(scope="module")
def tiny(tiny_days) -> dict[str, pd.DataFrame]:
    return _collect(tiny_days)


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    """The small shop: enough fraud and chargebacks to measure rates."""
    return _collect(list(simulate("small", DAYS)))


@pytest.fixture(scope="module")
def small_orders(small) -> pd.DataFrame:
    """Orders of the small shop with their truth and the fraud signals."""
    shop = small
    orders = shop["orders"].merge(simulate_truth("small", DAYS), on="order_id")
    orders = orders.merge(shop["customers"][["customer_id", "created_at"]], on="customer_id")
    orders["mismatch"] = orders["ip_country"] != orders["billing_country"]
    orders["new_account"] = (orders["ordered_at"] - orders["created_at"]) < pd.Timedelta(days=7)
    orders["risky_payment"] = orders["payment_method"].isin(["gift_card", "crypto"])
    accounts = orders.groupby("device_id")["customer_id"].nunique()
    orders["shared_device"] = orders["device_id"].map(accounts) >= 3
    orders = orders.sort_values(["customer_id", "ordered_at"])
    gap = orders.groupby("customer_id")["ordered_at"].diff()
    next_gap = -orders.groupby("customer_id")["ordered_at"].diff(-1)
    window = pd.Timedelta(hours=6)
    orders["burst"] = (gap < window) | (next_gap < window)
    items = shop["order_items"].groupby("order_id").size().rename("n_items")
    return orders.join(items, on="order_id")


def _read_tables(url: str) -> dict[str, pd.DataFrame]:
    engine = warehouse.get_engine(url)
    with engine.connect() as conn:
        return {
            table: warehouse.read_frame(sql=f"SELECT * FROM {table}", conn=conn).sort_values(
                TABLE_KEYS[table], ignore_index=True
            )
            for table in SOURCE_TABLES
        }


def _assert_same_rows(left: pd.DataFrame, right: pd.DataFrame, table: str) -> None:
    keys = TABLE_KEYS[table]
    left = left.sort_values(keys, ignore_index=True)
    right = right[left.columns].sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=table)


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_days() -> None:
    first = list(simulate("tiny", 12, seed=11))
    again = list(simulate("tiny", 12, seed=11))
    assert [day for day, _ in first] == [DEFAULT + timedelta(days=i) for i in range(12)]
    for (day, frames), (_, other) in zip(first, again, strict=True):
        for table in SOURCE_TABLES:
            pd.testing.assert_frame_equal(frames[table], other[table], obj=f"{day} {table}")


def test_another_seed_gives_another_shop() -> None:
    first = _collect(list(simulate("tiny", 5, seed=11)))
    other = _collect(list(simulate("tiny", 5, seed=12)))
    assert not first["events"].equals(other["events"])
    assert not first["customers"]["created_at"].equals(other["customers"]["created_at"])


def test_one_day_is_generated_as_in_a_full_run(tiny_days) -> None:
    index = 40
    day, frames = tiny_days[index]
    alone = simulator.simulate_day("tiny", index)
    assert len(frames["chargebacks"]) == len(alone["chargebacks"])
    for table in SOURCE_TABLES:
        pd.testing.assert_frame_equal(frames[table], alone[table], obj=f"{day} {table}")


def test_a_day_far_from_the_start_is_generated_as_in_a_full_run() -> None:
    """Past the reach of chargebacks (56 days) and of follow-ups planned before them (42 more),
    a day generated alone still sees every follow-up its purchases and chargebacks depend on."""
    days = list(simulate("tiny", 140))
    index = next(i for i in range(110, 140) if len(days[i][1]["chargebacks"]))
    alone = simulator.simulate_day("tiny", index)
    for table in SOURCE_TABLES:
        pd.testing.assert_frame_equal(days[index][1][table], alone[table], obj=table)


# --------------------------------------------------------------------------- warehouse


def _first_day_with_chargebacks(tiny_days) -> int:
    return next(i for i, (_, frames) in enumerate(tiny_days) if len(frames["chargebacks"]))


def test_append_day_matches_a_longer_build(tiny_days, tmp_path: Path) -> None:
    """Building N days then appending one writes the rows of building N+1 days at once."""
    n = _first_day_with_chargebacks(tiny_days)  # so the appended day also reports chargebacks
    appended_url = f"sqlite:///{tmp_path}/appended.db"
    longer_url = f"sqlite:///{tmp_path}/longer.db"
    build_shop(warehouse.get_engine(appended_url), "tiny", n)
    assert append_day(warehouse.get_engine(appended_url)) == DEFAULT + timedelta(days=n)
    counts = build_shop(warehouse.get_engine(longer_url), "tiny", n + 1)

    appended, longer = _read_tables(appended_url), _read_tables(longer_url)
    assert counts["chargebacks"] > 0
    for table in SOURCE_TABLES:
        assert len(longer[table]) == counts[table]
        _assert_same_rows(appended[table], longer[table], table)


def test_build_and_append_write_the_simulated_rows(warehouse_url: str, tiny_days) -> None:
    """On each back end, what the warehouse holds is exactly what the simulation yields."""
    n = _first_day_with_chargebacks(tiny_days)
    engine = warehouse.get_engine(warehouse_url)
    build_shop(engine, "tiny", n)
    append_day(engine, preset="tiny", seed=simulator.DEFAULT_SEED)
    assert simulator.last_simulated_day(engine) == DEFAULT + timedelta(days=n)

    # Each row lands at its own time, inside the day it was written on (order lines with their order).
    expected = _collect([(day, simulator.with_load_times(frames, day)) for day, frames in tiny_days[: n + 1]])
    stored = _read_tables(warehouse_url)
    for table in SOURCE_TABLES:
        _assert_same_rows(stored[table], expected[table], table)
    events, items, orders = stored["events"], stored["order_items"], stored["orders"]
    assert (events["loaded_at"] == events["event_at"]).all()
    ordered = items.merge(orders[["order_id", "ordered_at"]], on="order_id")
    assert len(ordered) == len(items) and (ordered["loaded_at"] == ordered["ordered_at"]).all()


def test_build_refuses_a_warehouse_with_data_unless_replacing(tmp_path: Path) -> None:
    engine = warehouse.get_engine(f"sqlite:///{tmp_path}/w.db")
    first = build_shop(engine, "tiny", 2)
    with pytest.raises(ValueError, match="already holds"):
        build_shop(engine, "tiny", 2)
    again = build_shop(engine, "tiny", 2, replace=True)
    assert again == first
    assert sum(len(frame) for frame in _read_tables(str(engine.url)).values()) == sum(first.values())


def test_append_day_refuses_another_preset_or_seed_or_no_shop(tmp_path: Path) -> None:
    engine = warehouse.get_engine(f"sqlite:///{tmp_path}/w.db")
    with pytest.raises(warehouse.WarehouseNotConfigured, match="no SQLite warehouse at"):
        append_day(engine)
    warehouse.create_schema(engine)
    with pytest.raises(ValueError, match="no simulated shop"):
        append_day(engine)
    build_shop(engine, "tiny", 1, seed=3)
    with pytest.raises(ValueError, match="preset"):
        append_day(engine, preset="small")
    with pytest.raises(ValueError, match="seed"):
        append_day(engine, seed=4)
    assert append_day(engine, seed=3) == DEFAULT + timedelta(days=1)


def test_command_line_builds_then_appends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert (
        simulator.main(["--url", url, "build", "--preset", "tiny", "--days", "2", "--start", "2026-03-01"])
        == 0
    )
    assert simulator.main(["append-day", "--url", url]) == 0
    assert simulator.last_simulated_day(warehouse.get_engine(url)) == date(2026, 3, 3)
    assert simulator.main(["--url", url, "build", "--preset", "tiny", "--days", "2"]) == 2


def test_a_live_shop_ends_yesterday_and_catches_up_to_a_day(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/live.db"
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert (
        simulator.main(["--url", url, "build", "--preset", "tiny", "--days", "3", "--end", "yesterday"]) == 0
    )
    engine = warehouse.get_engine(url)
    assert simulator.last_simulated_day(engine) == yesterday
    with engine.connect() as conn:
        first = warehouse.read_frame(sql="SELECT MIN(event_at) AS first FROM events", conn=conn)["first"].iat[
            0
        ]
    assert pd.Timestamp(first).date() == yesterday - timedelta(days=2)
    # The nightly load appends the days since, as a longer build would have written them.
    until = yesterday + timedelta(days=2)
    assert simulator.catch_up(engine, until) == [yesterday + timedelta(days=1), until]
    assert simulator.catch_up(engine, until) == []
    assert simulator.main(["--url", url, "catch-up", "--until", "yesterday"]) == 0
    assert simulator.last_simulated_day(engine) == until
    both = [
        "--url",
        url,
        "build",
        "--preset",
        "tiny",
        "--days",
        "2",
        "--start",
        "2026-03-01",
        "--end",
        "today",
    ]
    assert simulator.main([*both, "--replace"]) == 2
    empty = warehouse.get_engine(f"sqlite:///{tmp_path}/empty.db")
    warehouse.create_schema(empty)
    with pytest.raises(ValueError, match="no simulated shop"):
        simulator.catch_up(empty, until)


# --------------------------------------------------------------------------- sizes and shape


def test_tiny_preset_has_the_documented_size(tiny) -> None:
    assert 400 <= len(tiny["customers"]) <= 600
    assert 150 <= len(tiny["products"]) <= 250
    assert 15_000 <= len(tiny["events"]) <= 25_000
    assert 1_600 <= len(tiny["orders"]) <= 2_600


def test_rows_are_complete_with_unique_ids_increasing_with_time(tiny) -> None:
    for table, frame in tiny.items():
        assert not frame.isna().any().any(), table
    for table, key, time in [
        ("customers", "customer_id", "created_at"),
        ("products", "product_id", "created_at"),
        ("events", "event_id", "event_at"),
        ("orders", "order_id", "ordered_at"),
    ]:
        frame = tiny[table].sort_values(key)
        assert frame[key].is_unique, table
        assert frame[time].is_monotonic_increasing, table
        assert (frame[time] == frame[time].dt.floor("s")).all(), table
    sessions = (
        tiny["events"]
        .groupby("session_id")
        .agg(start=("event_at", "min"), customers=("customer_id", "nunique"))
    )
    assert (sessions["customers"] == 1).all()
    assert sessions.sort_index()["start"].is_monotonic_increasing
    assert not tiny["order_items"].duplicated(["order_id", "line_no"]).any()


def test_values_are_in_their_domains(tiny) -> None:
    assert set(tiny["events"]["event_type"]) == {"view", "add_to_cart", "purchase"}
    assert set(tiny["orders"]["payment_method"]) == {"card", "paypal", "bank_transfer", "gift_card", "crypto"}
    for column in ("billing_country", "shipping_country", "ip_country"):
        assert tiny["orders"][column].str.fullmatch(r"[A-Z]{2}").all()
        assert set(tiny["orders"][column]) <= set(simulator.COUNTRIES)
    assert (tiny["products"]["price"] > 0).all()
    assert (tiny["order_items"]["quantity"] >= 1).all()
    assert (tiny["chargebacks"]["amount"] > 0).all()


def test_each_day_writes_rows_of_that_day_only(tiny_days) -> None:
    for day, frames in tiny_days:
        begin, end = pd.Timestamp(day), pd.Timestamp(day + timedelta(days=1))
        for table, column in [
            ("events", "event_at"),
            ("orders", "ordered_at"),
            ("chargebacks", "reported_at"),
        ]:
            times = frames[table][column]
            assert ((times >= begin) & (times < end)).all(), (day, table)
        if day > DEFAULT:  # the initial population was created before the first day
            for table in ("customers", "products"):
                times = frames[table]["created_at"]
                assert ((times >= begin) & (times < end)).all(), (day, table)


def test_population_grows_and_new_products_sell(tiny) -> None:
    start = pd.Timestamp(DEFAULT)
    new_customers = tiny["customers"].loc[tiny["customers"]["created_at"] >= start, "customer_id"]
    new_products = tiny["products"].loc[tiny["products"]["created_at"] >= start, "product_id"]
    assert len(new_customers) > 100 and len(new_products) > 20
    events = tiny["events"]
    assert events["customer_id"].isin(new_customers).any()
    assert events.loc[events["event_type"] == "purchase", "product_id"].isin(new_products).any()
    # Nobody acts before their account exists, and nothing sells before it is listed.
    created = tiny["customers"].set_index("customer_id")["created_at"]
    listed = tiny["products"].set_index("product_id")["created_at"]
    assert (events["event_at"] > events["customer_id"].map(created)).all()
    assert (events["event_at"] > events["product_id"].map(listed)).all()


# --------------------------------------------------------------------------- funnel and orders


def test_every_purchase_follows_an_add_to_cart_in_its_session(tiny) -> None:
    events = tiny["events"]
    keys = ["session_id", "product_id"]
    carts = events[events["event_type"] == "add_to_cart"].groupby(keys)["event_at"].min()
    views = events[events["event_type"] == "view"].groupby(keys)["event_at"].min()
    purchases = events[events["event_type"] == "purchase"].join(carts.rename("cart_at"), on=keys)
    assert len(purchases) > 1_000
    assert (purchases["cart_at"] < purchases["event_at"]).all()  # NaN (no cart) fails too
    cart_rows = events[events["event_type"] == "add_to_cart"].join(views.rename("view_at"), on=keys)
    assert (cart_rows["view_at"] < cart_rows["event_at"]).all()


def test_orders_match_purchase_events_and_their_items(tiny) -> None:
    purchases = tiny["events"][tiny["events"]["event_type"] == "purchase"]
    bought = (
        purchases.groupby(["customer_id", "event_at"])["product_id"]
        .apply(lambda s: tuple(sorted(s)))
        .rename("bought")
    )
    items = tiny["order_items"]
    ordered = items.groupby("order_id")["product_id"].apply(lambda s: tuple(sorted(s)))
    orders = tiny["orders"].join(ordered.rename("ordered"), on="order_id")
    orders = orders.join(bought, on=["customer_id", "ordered_at"])
    assert (orders["bought"] == orders["ordered"]).all()
    assert len(bought) == len(orders)  # and no purchase without an order
    assert purchases["session_id"].nunique() == len(orders)  # one order per buying session

    total = (items["quantity"] * items["unit_price"]).groupby(items["order_id"]).sum()
    assert np.allclose(orders["amount"], orders["order_id"].map(total), atol=0.005)
    price = tiny["products"].set_index("product_id")["price"]
    assert np.allclose(items["unit_price"], items["product_id"].map(price))
    lines = items.groupby("order_id")["line_no"].agg(["min", "max", "size"])
    assert (lines["min"] == 1).all() and (lines["max"] == lines["size"]).all()


def test_normal_customers_use_one_or_two_devices_of_their_own(tiny) -> None:
    truth = simulate_truth("tiny", DAYS)
    legit = tiny["orders"].merge(truth, on="order_id").query("not is_fraud")
    devices = legit.groupby("customer_id")["device_id"].nunique()
    assert devices.max() <= 2 and (devices == 2).any()


# --------------------------------------------------------------------------- fraud and chargebacks


def test_about_one_percent_of_orders_are_fraud(small_orders) -> None:
    assert 0.005 <= small_orders["is_fraud"].mean() <= 0.02
    tiny_rate = simulate_truth("tiny", DAYS)["is_fraud"].mean()
    assert 0.005 <= tiny_rate <= 0.02
    assert set(small_orders["fraud_kind"]) == {"", "new_account", "takeover"}


@pytest.mark.parametrize("signal", ["mismatch", "new_account", "risky_payment", "shared_device", "burst"])
def test_fraud_signals_are_planted_but_none_separates_alone(small_orders, signal: str) -> None:
    rate = small_orders.groupby("is_fraud")[signal].mean()
    assert rate[True] >= 3 * rate[False], rate.to_dict()
    assert rate[True] <= 0.9, "some fraud lacks the signal"
    assert small_orders.loc[~small_orders["is_fraud"], signal].sum() >= 20, "legit orders have it too"


def test_fraud_orders_are_larger_but_overlap_legit_ones(small_orders) -> None:
    fraud, legit = small_orders[small_orders["is_fraud"]], small_orders[~small_orders["is_fraud"]]
    assert fraud["amount"].median() > 2 * legit["amount"].median()
    assert fraud["n_items"].mean() > legit["n_items"].mean()
    assert (fraud["amount"] < legit["amount"].quantile(0.75)).mean() > 0.1
    assert (legit["amount"] > fraud["amount"].median()).sum() > 100


def test_chargebacks_come_7_to_56_days_after_existing_orders(small) -> None:
    chargebacks = small["chargebacks"].merge(
        small["orders"][["order_id", "ordered_at", "amount"]],
        on="order_id",
        suffixes=("", "_order"),
        how="left",
        validate="one_to_one",
    )
    assert len(chargebacks) > 100
    assert chargebacks["ordered_at"].notna().all()
    delay = chargebacks["reported_at"] - chargebacks["ordered_at"]
    assert (delay >= pd.Timedelta(days=7)).all() and (delay <= pd.Timedelta(days=56)).all()
    assert np.allclose(chargebacks["amount"], chargebacks["amount_order"])
    assert set(chargebacks["reason"]) <= {"fraudulent", "product_not_received"}


def test_chargebacks_label_most_matured_fraud_and_few_legit_orders(small_orders) -> None:
    shop = _collect(list(simulate("small", DAYS + 56)))
    orders = shop["orders"].merge(simulate_truth("small", DAYS + 56), on="order_id")
    matured = orders[orders["order_id"].isin(small_orders["order_id"])]
    reasons = shop["chargebacks"].set_index("order_id")["reason"]
    reason = matured["order_id"].map(reasons)
    fraud_share = reason[matured["is_fraud"]].eq("fraudulent").mean()
    assert 0.75 <= fraud_share <= 0.95
    assert reason[matured["is_fraud"]].ne("product_not_received").all()
    friendly = reason[~matured["is_fraud"]].notna()
    assert 0 < friendly.sum() and friendly.mean() < 0.002
    assert reason[~matured["is_fraud"]].dropna().eq("product_not_received").all()


# --------------------------------------------------------------------------- tastes and cycles


def _category_purchases(tiny) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(earlier events, later purchases) with categories, split at day 60; overall shares."""
    category = tiny["products"].set_index("product_id")["category"]
    events = tiny["events"].assign(category=tiny["events"]["product_id"].map(category))
    split = pd.Timestamp(DEFAULT + timedelta(days=60))
    earlier, later = events[events["event_at"] < split], events[events["event_at"] >= split]
    later = later[later["event_type"] == "purchase"]
    share = earlier.loc[earlier["event_type"] == "purchase", "category"].value_counts(normalize=True)
    return earlier, later, share


def test_purchases_concentrate_in_a_customers_own_categories(tiny) -> None:
    earlier, later, share = _category_purchases(tiny)
    top3 = (
        earlier.groupby(["customer_id", "category"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["customer_id", "n", "category"], ascending=[True, False, True])
        .groupby("customer_id")
        .head(3)
    )
    own = later.merge(
        top3[["customer_id", "category"]], on=["customer_id", "category"], how="left", indicator=True
    )
    known = later["customer_id"].isin(top3["customer_id"])
    observed = (own.loc[known.to_numpy(), "_merge"] == "both").mean()
    # What popularity alone would give: the overall share of each customer's three categories.
    expected = top3["category"].map(share).fillna(0).groupby(top3["customer_id"]).sum()
    baseline = later.loc[known, "customer_id"].map(expected).mean()
    assert known.sum() > 200
    assert observed > baseline + 0.25 and observed > 1.8 * baseline, (observed, baseline)


def test_a_taste_aware_recommender_beats_popularity(tiny) -> None:
    """Top-10 of a customer's own categories (by popularity) beats the global top-10."""
    earlier, later, _ = _category_purchases(tiny)
    category = tiny["products"].set_index("product_id")["category"]
    bought = earlier[earlier["event_type"] == "purchase"]
    popularity = bought["product_id"].value_counts()
    global_top = set(popularity.index[:10])
    tastes = earlier.groupby(["customer_id", "category"]).size()
    ranked = popularity.rename("n").reset_index().assign(category=lambda f: f["product_id"].map(category))
    hits_personal, hits_popular, customers = 0, 0, later["customer_id"].unique()
    for customer in customers:
        if customer not in tastes.index.get_level_values(0):
            continue
        mine = tastes.loc[customer]
        scored = ranked.assign(score=ranked["n"] * ranked["category"].map(mine).fillna(0))
        top = set(scored.nlargest(10, "score")["product_id"])
        target = set(later.loc[later["customer_id"] == customer, "product_id"])
        hits_personal += bool(top & target)
        hits_popular += bool(global_top & target)
    assert hits_personal > 1.3 * hits_popular, (hits_personal, hits_popular)


def test_sessions_follow_daily_and_weekly_cycles(tiny) -> None:
    starts = tiny["events"].groupby("session_id")["event_at"].min()
    hours = starts.dt.hour.value_counts()
    evening = hours.reindex([19, 20, 21]).sum()
    night = hours.reindex([3, 4, 5]).sum()
    assert evening > 4 * night
    per_day = starts.dt.normalize().value_counts()
    weekend = per_day[per_day.index.day_of_week >= 5].mean()
    weekday = per_day[per_day.index.day_of_week < 5].mean()
    assert weekend > 1.1 * weekday


# --------------------------------------------------------------------------- planted signals


def _month_similarity(shop: dict[str, pd.DataFrame], gap: int) -> float:
    """Mean cosine between a customer's category mix of views in one 28-day block and in the
    block `gap` blocks later (customers with at least 5 views in both)."""
    category = shop["products"].set_index("product_id")["category"]
    views = shop["events"][shop["events"]["event_type"] == "view"]
    block = (views["event_at"] - pd.Timestamp(DEFAULT)).dt.days // 28
    mix = (
        views.groupby([views["customer_id"], block, views["product_id"].map(category)])
        .size()
        .unstack(fill_value=0)
    )
    similarities = []
    for first in range(int(block.max()) - gap + 1):
        if first + gap >= int(block.max()) + 1:
            break
        a, b = mix.xs(first, level=1), mix.xs(first + gap, level=1)
        both = a.index.intersection(b.index)
        a, b = a.loc[both].to_numpy(float), b.loc[both].to_numpy(float)
        enough = (a.sum(axis=1) >= 5) & (b.sum(axis=1) >= 5)
        a, b = a[enough], b[enough]
        similarities.append((a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))
    return float(np.concatenate(similarities).mean())


def test_tastes_drift_over_weeks(monkeypatch) -> None:
    """A month's mix of categories resembles the next month's more than the one three months on;
    without the drift, it resembles both alike."""
    days = 5 * 28
    drifting = _collect(list(simulate("small", days)))
    near, far = _month_similarity(drifting, 1), _month_similarity(drifting, 3)
    monkeypatch.setattr(simulator.day, "TASTE_DRIFT", 0.0)
    still = _collect(list(simulate("small", days)))
    still_near, still_far = _month_similarity(still, 1), _month_similarity(still, 3)
    assert near - far > 0.03, (near, far)
    assert abs(still_near - still_far) < 0.02, (still_near, still_far)


def _bought_within(small: dict[str, pd.DataFrame], pairs: pd.DataFrame, days: tuple[int, int]) -> float:
    """Share of purchases of a `product_id` of `pairs` followed by the same customer's purchase
    of its `follow_up_id` `days[0]` to `days[1]` days later (purchases early enough to see it)."""
    purchases = small["order_items"].merge(small["orders"], on="order_id")[
        ["customer_id", "product_id", "ordered_at"]
    ]
    end = purchases["ordered_at"].max() - pd.Timedelta(days=days[1])
    leads = purchases[purchases["ordered_at"] <= end].reset_index(names="lead").merge(pairs, on="product_id")
    later = purchases.rename(columns={"product_id": "follow_up_id", "ordered_at": "later_at"})
    joined = leads.merge(later, on=["customer_id", "follow_up_id"], how="left")
    gap = (joined["later_at"].dt.normalize() - joined["ordered_at"].dt.normalize()).dt.days
    assert leads["lead"].nunique() > 500
    return float(gap.between(*days).groupby(joined["lead"]).any().mean())


@pytest.mark.parametrize(
    ("kind", "days", "forward_share"), [("accessory", (1, 14), 0.35), ("refill", (14, 42), 0.3)]
)
def test_accessories_and_refills_are_bought_after_their_device_or_consumable(
    small, kind, days, forward_share
) -> None:
    """Devices bring accessories and consumables their refills, weeks later; the other way
    round hardly happens, so only a model of order sees it."""
    links = simulator.simulate_links("small", DAYS)
    pairs = links.loc[links["kind"] == kind, ["product_id", "follow_up_id"]]
    reverse = pairs.rename(columns={"product_id": "follow_up_id", "follow_up_id": "product_id"})
    forward, backward = _bought_within(small, pairs, days), _bought_within(small, reverse, days)
    assert forward > forward_share, forward
    assert backward < forward / 4, (forward, backward)


def test_follow_up_products_are_cheaper_accessories_and_refill_packs_of_the_brand() -> None:
    links = simulator.simulate_links("small", DAYS)
    products = _collect(list(simulate("small", DAYS)))["products"].set_index("product_id")
    lead, follow = products.loc[links["product_id"]], products.loc[links["follow_up_id"]]
    accessory = (links["kind"] == "accessory").to_numpy()
    assert set(lead["category"][accessory]) == {"phones", "computers"}
    assert set(follow["category"][accessory]) == {"electronics", "office"}
    assert (follow["price"].to_numpy()[accessory] < lead["price"].to_numpy()[accessory]).mean() > 0.95
    refill = ~accessory
    assert (follow["category"].to_numpy()[refill] == lead["category"].to_numpy()[refill]).all()
    assert (follow["brand"].to_numpy()[refill] == lead["brand"].to_numpy()[refill]).all()
    assert refill.sum() > 100
    # Accessories and packs bring nothing themselves: the links go one way.
    assert not set(links["follow_up_id"]) & set(links["product_id"])
