"""The SQL files: extracts give what pandas computes from the same source rows, on SQLite and on
PostgreSQL; every file loads for both dialects; report and publish statements run after a publish."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd
import pytest

from include import publish, registry, simulator, warehouse

DAYS = 20
START = datetime(2026, 6, 8)
END = datetime(2026, 6, 15)
# Rows loaded from END on have not passed the gate yet: the extracts leave them out.
WINDOW = {"start": START, "end": END, "loaded_until": END}
LATE = END + timedelta(hours=1)
EVENT_WEIGHTS = {"view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}


def _select_all(url: str, table: str) -> pd.DataFrame:
    with warehouse.get_engine(url).connect() as conn:
        return warehouse.read_frame(sql=f"SELECT * FROM {warehouse.check_identifier(table)}", conn=conn)


def _quarantine(rows: list[tuple[str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table_name": [table for table, _ in rows],
            "record_id": [record for _, record in rows],
            "rule": "test_rule",
            "run_id": "test_run",
            "data_interval_start_at": START,
            "data_interval_end_at": END,
            "quarantined_at": END,
        }
    )


NEW_ID = 50 * simulator.ID_BLOCK  # planted ids: past the 20 simulated days (day d counts from d * ID_BLOCK)


def _planted_rows(customer: int, product: int) -> dict[str, pd.DataFrame]:
    """Rows exactly on the window's edges, a sign-up without events (quarantined below), and an
    event, an order with its line and a sign-up inside the window but loaded after it."""
    second = timedelta(seconds=1)
    edges = [START - second, START, END - second, END, START + timedelta(hours=2)]
    events = pd.DataFrame(
        {
            "event_id": [NEW_ID + i for i in range(5)],
            "session_id": NEW_ID,
            "customer_id": customer,
            # a pair bought only at the end, and one bought in the window but loaded late
            "product_id": [product, product, product, NEW_ID, NEW_ID + 1],
            "event_type": ["add_to_cart", "purchase", "view", "purchase", "purchase"],
            "event_at": edges,
            "loaded_at": [*edges[:4], LATE],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": [NEW_ID + i for i in range(4)],
            "created_at": [START, START + timedelta(hours=1), END, START + timedelta(hours=3)],
            "country": "DE",
            "channel": "organic",
            "loaded_at": [START, START + timedelta(hours=1), END, LATE],
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [NEW_ID + i for i in range(5)],
            "customer_id": customer,
            "ordered_at": edges,
            "loaded_at": [*edges[:4], LATE],
            "amount": 42.0,
            "payment_method": "card",
            "billing_country": "DE",
            "shipping_country": "DE",
            "ip_country": "FR",
            "device_id": "planted",
        }
    )
    items = pd.DataFrame(
        {
            "order_id": [NEW_ID + i for i in (0, 1, 1, 2, 3, 4)],
            "line_no": [1, 1, 2, 1, 1, 1],
            "product_id": product,
            "quantity": [1, 2, 3, 1, 4, 2],
            "unit_price": 10.5,
            "loaded_at": [edges[0], edges[1], edges[1], edges[2], edges[3], LATE],
        }
    )
    return {"events": events, "customers": customers, "orders": orders, "order_items": items}


@pytest.fixture
def shop(warehouse_url: str) -> dict[str, pd.DataFrame]:
    """The tiny shop with rows on the window's edges, chargebacks around its end, and
    quarantined rows of each table inside it; returns the source tables as read back."""
    simulator.build_shop(warehouse.get_engine(warehouse_url), "tiny", DAYS)
    orders = _select_all(warehouse_url, "orders")
    events = _select_all(warehouse_url, "events")
    customers = _select_all(warehouse_url, "customers")

    in_window = orders[(orders["ordered_at"] >= START) & (orders["ordered_at"] < END)]
    assert len(in_window) > 50, "the window must hold enough orders to compare"
    picked = in_window["order_id"].head(8).tolist()
    chargebacks = pd.DataFrame(
        {
            "order_id": picked[:7],
            "reported_at": [
                START - timedelta(days=1),
                START + timedelta(hours=5),
                END - timedelta(seconds=1),
                END,  # not known yet at the end of the window
                END + timedelta(days=2),
                START + timedelta(days=2),  # quarantined below
                START + timedelta(days=3),  # loaded late
            ],
            "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0],
            "reason": ["fraud", "fraud", "not_received", "fraud", "fraud", "fraud", "fraud"],
        }
    )
    chargebacks["loaded_at"] = chargebacks["reported_at"].where(chargebacks.index < 6, LATE)
    window_events = events[(events["event_at"] >= START) & (events["event_at"] < END)]
    purchases = window_events[window_events["event_type"] == "purchase"]
    new_customers = customers[(customers["created_at"] >= START) & (customers["created_at"] < END)]
    quarantined = (
        [("events", int(e)) for e in window_events["event_id"].iloc[::97]]
        + [("events", int(purchases["event_id"].iloc[0]))]
        + [("orders", picked[6]), ("order_items", picked[7])]
        + [("customers", int(new_customers["customer_id"].iloc[0])), ("customers", NEW_ID + 1)]
        + [("chargebacks", picked[5])]
    )
    planted = _planted_rows(int(customers["customer_id"].iloc[0]), int(events["product_id"].iloc[0]))
    with warehouse.transaction(warehouse.get_engine(warehouse_url)) as conn:
        for table, frame in planted.items():
            warehouse.write_frame(frame, table, conn=conn)
        warehouse.write_frame(chargebacks, "chargebacks", conn=conn)
        warehouse.write_frame(_quarantine(quarantined), "data_quality_quarantine", conn=conn)

    tables = {t: _select_all(warehouse_url, t) for t in ("events", "orders", "order_items", "customers")}
    tables["chargebacks"] = _select_all(warehouse_url, "chargebacks")
    tables["quarantine"] = _select_all(warehouse_url, "data_quality_quarantine")
    return tables


def _quarantined(shop: dict[str, pd.DataFrame], *tables: str) -> set[int]:
    q = shop["quarantine"]
    return set(q.loc[q["table_name"].isin(tables), "record_id"])


def _window_events(shop: dict[str, pd.DataFrame]) -> pd.DataFrame:
    events = shop["events"]
    kept = (
        (events["event_at"] >= START)
        & (events["event_at"] < END)
        & (events["loaded_at"] < END)
        & ~events["event_id"].isin(_quarantined(shop, "events"))
    )
    return events[kept]


def _extract(name: str, params: dict | None = None) -> pd.DataFrame:
    return warehouse.read_frame(name, WINDOW if params is None else params)


def _same(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    assert len(expected) > 0, "the reference must not be empty"
    assert list(actual.columns) == list(expected.columns)
    actual = actual.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)


def test_extract_interactions_weights_counts_and_dates_each_pair(shop) -> None:
    events = _window_events(shop).assign(
        weight=lambda e: e["event_type"].map(EVENT_WEIGHTS).fillna(0.0),
        purchases=lambda e: (e["event_type"] == "purchase").astype(int),
    )
    expected = (
        events.groupby(["customer_id", "product_id"], as_index=False)
        .agg(weight=("weight", "sum"), purchases=("purchases", "sum"), last_at=("event_at", "max"))
        .astype({"weight": float})
    )
    actual = _extract("recommendations/extract_interactions")
    assert pd.api.types.is_float_dtype(actual["weight"])
    assert pd.api.types.is_integer_dtype(actual["purchases"])
    assert pd.api.types.is_datetime64_any_dtype(actual["last_at"])
    _same(actual, expected, ["customer_id", "product_id"])


def test_extract_purchases_lists_each_bought_pair_once(shop) -> None:
    events = _window_events(shop)
    expected = events.loc[events["event_type"] == "purchase", ["customer_id", "product_id"]].drop_duplicates()
    actual = _extract("recommendations/extract_purchases")
    assert not actual.duplicated().any()
    _same(actual, expected, ["customer_id", "product_id"])


def test_one_read_of_the_window_gives_the_training_holdout_and_history_reads(shop) -> None:
    """The recommendations extract reads the events once and splits in memory: what it stages
    equals three separate reads of the training window, the holdout and the whole window."""
    from include.pipeline.recommendations import split_interactions

    split = START + timedelta(days=4, hours=7)  # pairs on both sides, and on the edge below
    parts = _extract("recommendations/extract_interaction_parts", {**WINDOW, "split": split})
    assert set(parts["part"]) == {0, 1}
    train, holdout, history = split_interactions(parts)
    pairs = ["customer_id", "product_id"]
    expected_train = _extract("recommendations/extract_interactions", {**WINDOW, "end": split})
    expected_holdout = _extract("recommendations/extract_purchases", {**WINDOW, "start": split})
    expected_history = _extract("recommendations/extract_interactions", WINDOW)
    assert history.duplicated(pairs).sum() == 0
    assert len(history) < len(parts), "some pairs must lie on both sides of the split"
    _same(train, expected_train, pairs)
    _same(holdout, expected_holdout, pairs)
    _same(history, expected_history, pairs)


def test_extract_active_customers_are_new_sign_ups_and_customers_with_events(shop) -> None:
    customers = shop["customers"]
    signed_up = customers[
        (customers["created_at"] >= START)
        & (customers["created_at"] < END)
        & (customers["loaded_at"] < END)
        & customers["customer_id"].notna()
        & ~customers["customer_id"].isin(_quarantined(shop, "customers"))
    ]["customer_id"]
    expected = sorted(set(signed_up) | set(_window_events(shop)["customer_id"]))
    actual = _extract("recommendations/extract_active_customers")["customer_id"].tolist()
    assert actual == expected, "sorted, without duplicates"


def test_extract_orders_joins_customers_and_counts_basket_items(shop) -> None:
    orders, items, customers = (
        shop[t].query("loaded_at < @END") for t in ("orders", "order_items", "customers")
    )
    orders = orders[
        (orders["ordered_at"] >= START)
        & (orders["ordered_at"] < END)
        & ~orders["order_id"].isin(_quarantined(shop, "orders", "order_items"))
    ]
    basket = items.groupby("order_id", as_index=False).agg(
        n_items=("quantity", "sum"), n_lines=("line_no", "size")
    )
    customer = customers[["customer_id", "created_at", "country"]].rename(
        columns={"created_at": "customer_created_at", "country": "customer_country"}
    )
    expected = (
        orders.drop(columns="loaded_at")
        .merge(customer, on="customer_id", how="left")
        .merge(basket, on="order_id", how="left")
    )
    expected[["n_items", "n_lines"]] = expected[["n_items", "n_lines"]].fillna(0).astype(int)
    expected = expected.sort_values(["ordered_at", "order_id"]).reset_index(drop=True)

    actual = _extract("risk/extract_orders")
    assert actual["order_id"].tolist() == expected["order_id"].tolist(), "ordered by time, then id"
    assert (actual["n_items"] >= actual["n_lines"]).all() and (actual["n_items"] > actual["n_lines"]).any()
    _same(actual, expected, ["order_id"])


def test_extract_chargebacks_are_those_reported_before_the_end(shop) -> None:
    chargebacks = shop["chargebacks"]
    expected = chargebacks.loc[
        (chargebacks["reported_at"] < END)
        & (chargebacks["loaded_at"] < END)
        & ~chargebacks["order_id"].isin(_quarantined(shop, "chargebacks")),
        ["order_id", "reported_at", "reason"],
    ]
    actual = _extract("risk/extract_chargebacks", {"end": END, "loaded_until": END})
    assert len(actual) == 3
    _same(actual, expected, ["order_id"])


# --------------------------------------------------------------------------- every file

SQL_FILES = sorted(
    {
        re.sub(r"\.(postgresql|sqlite)$", "", str(path.relative_to(warehouse.SQL_DIR).with_suffix("")))
        for path in warehouse.SQL_DIR.rglob("*.sql")
    }
)
DUMMY_IDENTIFIERS = {"table": "recommendations__v1", "view": "recommendations"}
DUMMY_FRAGMENTS = {"rule_query": "quality/find_duplicate_events", "utc_now": "schema/utc_now"}
DUMMY_STATEMENTS = {"key": "customer_id"}


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("name", SQL_FILES)
def test_every_sql_file_loads_for_both_dialects(name: str, dialect: str) -> None:
    raw = (warehouse.SQL_DIR / f"{name}.sql").read_text()
    wanted = set(re.findall(r"\{([a-z_]+)\}", raw))
    identifiers = {k: v for k, v in DUMMY_IDENTIFIERS.items() if k in wanted}
    fragments = {k: v for k, v in DUMMY_FRAGMENTS.items() if k in wanted}
    statements = {k: v for k, v in DUMMY_STATEMENTS.items() if k in wanted}
    sql = warehouse.load_sql(name, dialect, identifiers, fragments, statements)
    assert not re.search(r"\{[a-z_]+\}", sql), "every placeholder is filled"
    assert warehouse.split_statements(sql), "the file holds at least one statement"


def test_the_sql_file_list_is_not_empty() -> None:
    assert {"recommendations/extract_interactions", "publish/point_view", "report/select_band_counts"} <= set(
        SQL_FILES
    )


# --------------------------------------------------------------------------- reports and publish steps

AS_OF = datetime(2026, 6, 6)


def _published_shop(url: str) -> dict[str, int]:
    """A 5-day shop with all three tables published and one model version recorded."""
    simulator.build_shop(warehouse.get_engine(url), "tiny", 5)
    events = _select_all(url, "events")
    orders = _select_all(url, "orders").head(10)
    buyers = sorted(set(events.loc[events["event_type"] == "purchase", "customer_id"]))[:6]
    products = sorted(set(events["product_id"]))[:4]
    recommendations = pd.DataFrame(
        [(c, r, products[r - 1], 1.0 / r, "model", "rec-v1", AS_OF) for c in buyers for r in (1, 2, 3)],
        columns=["customer_id", "rank", "product_id", "score", "source", "model_version", "as_of"],
    )
    similar = pd.DataFrame(
        [(p, r, products[-r], 1.0 / r, "model", "rec-v1", AS_OF) for p in products for r in (1, 2)],
        columns=["product_id", "rank", "similar_product_id", "score", "source", "model_version", "as_of"],
    )
    risk = orders[["order_id", "customer_id", "ordered_at", "amount"]].assign(
        score=[i / 10 for i in range(10)],
        band=["high" if i >= 8 else "low" for i in range(10)],
        reasons="new account",
        model_version="risk-v1",
        as_of=AS_OF,
    )
    publish.publish("recommendations", [recommendations], run_id="r1", model_version="rec-v1")
    publish.publish("similar_products", [similar], run_id="r1", model_version="rec-v1")
    publish.publish("order_risk_scores", [risk], run_id="r1", model_version="risk-v1")
    registry.record_version(
        model_version="rec-v1",
        model_name="recommender",
        candidate="popularity",
        run_id="r1",
        data_interval=(AS_OF - timedelta(days=1), AS_OF),
        holdout_start_at=AS_OF - timedelta(days=2),
        train_rows=100,
        holdout_rows=10,
        params={},
        metrics={"ndcg@10": 0.1},
        comparison={},
        primary_metric=0.1,
        decision="promoted",
        artifact=registry.artifact_dir("recommender", "rec-v1"),
    )
    purchases = events[(events["event_type"] == "purchase") & events["customer_id"].isin(buyers)]
    counts = purchases.groupby("customer_id").size()
    busiest = int(counts[counts == counts.max()].index.min())
    return {"busiest": busiest, "purchases_of_busiest": int(counts.max())}


def test_report_queries_run_on_both_back_ends_after_a_publish(warehouse_url: str) -> None:
    facts = _published_shop(warehouse_url)
    from include import validation

    night = [
        validation.CheckResult("events", "duplicate_ids", "", "quarantine", True),
        validation.CheckResult("events", "drift_event_type_mix", "", "warning", False, {"psi": 0.3}),
    ]
    validation.record_results(night, run_id="night-1", start=AS_OF - timedelta(days=1), end=AS_OF)
    params = {"customer_id": facts["busiest"], "limit": 3, "model_name": "recommender"}
    results = {}
    for path in sorted((warehouse.SQL_DIR / "report").glob("*.sql")):
        name = f"report/{path.stem}"
        needed = set(re.findall(r"(?<!:):([a-z_]+)", path.read_text()))
        results[path.stem] = warehouse.read_frame(name, {k: params[k] for k in needed})

    assert len(results) == 8
    quality = results["select_quality_summary"]
    assert dict(zip(quality["severity"], quality["checks"], strict=True)) == {"passed": 1, "warning": 1}
    assert results["select_busiest_recommended_customer"]["customer_id"].tolist() == [facts["busiest"]]
    assert results["select_customer_purchases"]["purchases"].sum() == facts["purchases_of_busiest"]
    assert results["select_customer_recommendations"]["rank"].tolist() == [1, 2, 3]
    bands = results["select_band_counts"]
    assert dict(zip(bands["band"], bands["orders"], strict=True)) == {"high": 2, "low": 8}
    assert results["select_riskiest_orders"]["score"].tolist() == [0.9, 0.8, 0.7]
    assert sorted(results["select_current_versions"]["table_name"]) == sorted(publish.PUBLISHED_TABLES)
    assert results["select_run_models"]["model_version"].tolist() == ["rec-v1"]


# Every publish step, in an order that makes sense inside one (rolled back) transaction.
PUBLISH_STEPS: list[tuple[str, dict[str, str]]] = [
    ("publish/next_version", {}),
    ("publish/create_recommendations", {"table": "recommendations__v7"}),
    ("publish/create_similar_products", {"table": "similar_products__v7"}),
    ("publish/create_order_risk_scores", {"table": "order_risk_scores__v7"}),
    ("publish/index_order_risk_scores", {"table": "order_risk_scores__v7"}),
    ("publish/count_rows", {"table": "recommendations__v7"}),
    ("publish/record_version", {}),
    ("publish/mark_current", {}),
    ("publish/mark_rolled_back", {}),
    ("publish/list_versions", {}),
    ("publish/point_view", {"view": "recommendations", "table": "recommendations__v7"}),
    ("publish/forget_version", {}),
    ("publish/drop_table", {"table": "similar_products__v7"}),
]


def test_publish_statements_run_on_both_back_ends_after_a_publish(warehouse_url: str) -> None:
    _published_shop(warehouse_url)
    params = {
        "table_name": "recommendations",
        "version": 7,
        "physical_table": "recommendations__v7",
        "run_id": "r7",
        "model_version": "rec-v7",
        "data_interval_start_at": AS_OF - timedelta(days=1),
        "data_interval_end_at": AS_OF,
        "row_count": 0,
        "published_at": AS_OF,
        "summary": '{"band_shares": {"approve": 1.0}}',
        "rolled_back_at": AS_OF,
    }
    on_disk = {f"publish/{p.stem}" for p in (warehouse.SQL_DIR / "publish").glob("*.sql")}
    assert {name for name, _ in PUBLISH_STEPS} == on_disk, "every publish file is exercised"

    engine = warehouse.get_engine(warehouse_url)
    with engine.connect() as conn:
        outer = conn.begin()
        for name, identifiers in PUBLISH_STEPS:
            warehouse.run_sql(name, params, conn=conn, identifiers=identifiers)
        versions = warehouse.read_frame("publish/list_versions", {"table_name": "recommendations"}, conn=conn)
        view = warehouse.read_frame(sql="SELECT COUNT(*) AS n FROM recommendations", conn=conn)
        assert versions["version"].tolist() == [1], "version 7 was recorded, then forgotten"
        assert view["n"].tolist() == [0], "the view points at the new, empty version"
        assert not warehouse.table_exists("similar_products__v7", conn)
        outer.rollback()
    assert publish.current_version("recommendations") == 1
    assert len(_select_all(warehouse_url, "recommendations")) == 18
