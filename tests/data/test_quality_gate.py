"""The bad-data corpus: each case is injected into the tiny shop, on SQLite and on PostgreSQL,
and the real validation DAG must name the check and its severity, stop the night when it is
critical (the model DAGs' assets are not updated, published tables are untouched), and
quarantine and exclude rows when they are few."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from include import assets, publish, simulator, warehouse
from include.dag_runs import DagRunFailed, run_dag
from tests.helpers import read_sql as _read

DAYS = 30
DAY = datetime.combine(simulator.DEFAULT_START + timedelta(days=DAYS - 1), datetime.min.time())
NEXT = DAY + timedelta(days=1)
IN_DAY = {"s": DAY, "e": NEXT}


def _exec(conn: sa.Connection, sql: str, **params) -> None:
    conn.execute(sa.text(sql), warehouse.bind_params(params, warehouse.dialect_name(conn)))


def null_keys(conn: sa.Connection) -> None:
    _exec(
        conn,
        "UPDATE events SET event_id = NULL WHERE event_id IN "
        "(SELECT event_id FROM events WHERE event_at >= :s AND event_at < :e ORDER BY event_id LIMIT 3)",
        **IN_DAY,
    )


def duplicate_ids(conn: sa.Connection) -> None:
    _exec(
        conn, "INSERT INTO orders SELECT * FROM orders WHERE ordered_at >= :s AND ordered_at < :e", **IN_DAY
    )


def unknown_product_ids(conn: sa.Connection) -> None:
    _exec(
        conn,
        "UPDATE events SET product_id = 999999 WHERE event_at >= :s AND event_at < :e "
        "AND MOD(event_id, 5) = 0",
        **IN_DAY,
    )


def negative_price(conn: sa.Connection) -> None:
    _exec(
        conn,
        "INSERT INTO products (product_id, created_at, category, brand, price) "
        "VALUES (900001, :at, 'kitchen', 'Ela', -5.0)",
        at=DAY + timedelta(hours=9),
    )


def future_timestamps(conn: sa.Connection) -> None:
    _exec(
        conn,
        "INSERT INTO events SELECT event_id + 50000000000, session_id, customer_id, product_id, "
        "event_type, :future FROM events WHERE event_at >= :s AND event_at < :e AND MOD(event_id, 10) = 0",
        future=datetime(2099, 1, 1),
        **IN_DAY,
    )


def missing_column(conn: sa.Connection) -> None:
    _exec(conn, "ALTER TABLE orders DROP COLUMN payment_method")


def renamed_column(conn: sa.Connection) -> None:
    _exec(conn, "ALTER TABLE customers RENAME COLUMN country TO country_code")


def wrong_type(conn: sa.Connection) -> None:
    if warehouse.dialect_name(conn) == "postgresql":
        _exec(conn, "ALTER TABLE products ALTER COLUMN price TYPE TEXT")
        return
    _exec(conn, "ALTER TABLE products RENAME TO products_old")
    _exec(
        conn,
        "CREATE TABLE products (product_id BIGINT, created_at TIMESTAMP, category TEXT, "
        "brand TEXT, price TEXT)",
    )
    _exec(
        conn, "INSERT INTO products SELECT product_id, created_at, category, brand, price FROM products_old"
    )
    _exec(conn, "DROP TABLE products_old")


def empty_day(conn: sa.Connection) -> None:
    _exec(conn, "DELETE FROM events WHERE event_at >= :s AND event_at < :e", **IN_DAY)


def tenfold_spike(conn: sa.Connection) -> None:
    for copy in range(1, 10):
        _exec(
            conn,
            "INSERT INTO events SELECT event_id + :offset, session_id, customer_id, product_id, "
            "event_type, event_at FROM events WHERE event_at >= :s AND event_at < :e AND event_id < :limit",
            offset=copy * 10_000_000_000,
            limit=10_000_000_000,
            **IN_DAY,
        )


def shifted_event_type_mix(conn: sa.Connection) -> None:
    _exec(
        conn,
        "UPDATE events SET event_type = 'add_to_cart' WHERE event_at >= :s AND event_at < :e "
        "AND event_type = 'view' AND MOD(event_id, 5) < 3",
        **IN_DAY,
    )


def few_bad_rows(conn: sa.Connection) -> None:
    _exec(
        conn,
        "UPDATE events SET product_id = 999999 WHERE event_id = "
        "(SELECT MIN(event_id) FROM events WHERE event_at >= :s AND event_at < :e)",
        **IN_DAY,
    )


def undated_account(conn: sa.Connection) -> None:
    _exec(
        conn,
        "UPDATE customers SET created_at = NULL WHERE customer_id = "
        "(SELECT MIN(customer_id) FROM orders WHERE ordered_at >= :s AND ordered_at < :e)",
        **IN_DAY,
    )


def chargeback_reported_twice(conn: sa.Connection) -> None:
    # The shop's first order is charged back a day before the interval, and again within it.
    for at in (DAY - timedelta(hours=14), DAY + timedelta(hours=10)):
        _exec(
            conn,
            "INSERT INTO chargebacks (order_id, reported_at, amount, reason) "
            "SELECT order_id, :at, amount, 'fraudulent' FROM orders "
            "WHERE order_id = (SELECT MIN(order_id) FROM orders)",
            at=at,
        )


@dataclass(frozen=True)
class Case:
    inject: Callable[[sa.Connection], None]
    table: str
    check: str
    column: str
    severity: str  # the outcome recorded in data_quality_runs


CASES = {
    "null_keys": Case(null_keys, "events", "expect_column_values_to_not_be_null", "event_id", "critical"),
    "duplicate_ids": Case(duplicate_ids, "orders", "duplicate_ids", "", "critical"),
    "unknown_product_ids": Case(unknown_product_ids, "events", "unknown_references", "", "critical"),
    "negative_price": Case(negative_price, "products", "invalid_values", "", "critical"),
    "future_timestamps": Case(future_timestamps, "events", "future_timestamps", "", "critical"),
    "missing_column": Case(missing_column, "orders", "expect_column_to_exist", "payment_method", "critical"),
    "renamed_column": Case(renamed_column, "customers", "expect_column_to_exist", "country", "critical"),
    "wrong_type": Case(wrong_type, "products", "expect_column_type_family", "price", "critical"),
    "empty_day": Case(empty_day, "events", "expect_table_row_count_to_be_between", "", "critical"),
    "tenfold_spike": Case(tenfold_spike, "events", "expect_table_row_count_to_be_between", "", "critical"),
    "shifted_event_type_mix": Case(shifted_event_type_mix, "events", "drift_event_type_mix", "", "warning"),
    "few_bad_rows_below_tolerance": Case(few_bad_rows, "events", "unknown_references", "", "quarantine"),
    # The order stays in use, scored with its account age unknown.
    "undated_account": Case(undated_account, "orders", "unknown_account_age", "", "warning"),
    # The order keeps its fraud label: one of its reports is used.
    "chargeback_reported_twice": Case(
        chargeback_reported_twice, "chargebacks", "duplicate_reports", "", "warning"
    ),
}


PUBLISH_TASKS = {
    "publish_validated_interactions": assets.INTERACTION_TABLES,
    "publish_validated_orders": assets.ORDER_TABLES,
}


@pytest.fixture
def shop_with_published_tables(warehouse_url: str, airflow_db) -> str:
    """30 days of the tiny shop, and a published version of recommendations to protect."""
    simulator.build_shop(warehouse.get_engine(warehouse_url), "tiny", DAYS)
    rows = pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "rank": [1, 2, 1],
            "product_id": [10, 11, 10],
            "score": [0.9, 0.8, 0.7],
            "source": "model",
            "model_version": "previous",
            "as_of": pd.Timestamp(DAY),
        }
    )
    publish.publish("recommendations", [rows], run_id="previous-night")
    return warehouse_url


def test_a_clean_night_passes_without_warnings(shop_with_published_tables: str) -> None:
    run_dag("warehouse_validation", logical_date=NEXT)
    results = _read("SELECT table_name, expectation, severity, success FROM data_quality_runs")
    assert len(set(results["table_name"])) == 6
    assert results["success"].all(), results[results["success"] == 0].to_string()
    assert set(results["severity"]) == {"passed"}
    assert _read("SELECT COUNT(*) AS n FROM data_quality_quarantine")["n"].iloc[0] == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_data_is_named_and_handled(shop_with_published_tables: str, name: str) -> None:
    case = CASES[name]
    before = _read("SELECT * FROM recommendations ORDER BY customer_id, rank")
    with warehouse.transaction() as conn:
        case.inject(conn)

    if case.severity == "critical":
        with pytest.raises(DagRunFailed, match=f"validate_{case.table}") as failed:
            run_dag("warehouse_validation", logical_date=NEXT)
        # The Assets whose consumers read the table are not updated; the others are.
        for publish_task, tables in PUBLISH_TASKS.items():
            expected = "upstream_failed" if case.table in tables else "success"
            assert failed.value.states[publish_task] == expected, (publish_task, failed.value.states)
    else:
        run_dag("warehouse_validation", logical_date=NEXT)

    recorded = _read(
        "SELECT severity, success, observed_value, unexpected_count FROM data_quality_runs "
        "WHERE table_name = :t AND expectation = :x AND column_name = :c",
        t=case.table,
        x=case.check,
        c=case.column,
    )
    assert len(recorded) == 1, f"{case.table}.{case.check} was not recorded"
    assert recorded["success"].iloc[0] == 0
    assert recorded["severity"].iloc[0] == case.severity
    pd.testing.assert_frame_equal(_read("SELECT * FROM recommendations ORDER BY customer_id, rank"), before)

    quarantined = _read("SELECT table_name, record_id, rule FROM data_quality_quarantine")
    if case.severity == "quarantine":
        assert list(quarantined["rule"]) == [case.check]
        (bad_id,) = quarantined["record_id"]
        interactions = warehouse.read_frame(
            "recommendations/extract_interactions", {"start": DAY - timedelta(days=7), "end": NEXT}
        )
        assert not (interactions["product_id"] == 999999).any(), "the quarantined event is excluded"
        assert _read("SELECT COUNT(*) AS n FROM events WHERE event_id = :i", i=int(bad_id))["n"].iloc[0] == 1
    if name == "chargeback_reported_twice":
        labels = warehouse.read_frame("risk/extract_chargebacks", {"end": NEXT})
        assert labels["order_id"].is_unique
        (twice,) = _read("SELECT order_id FROM chargebacks GROUP BY order_id HAVING COUNT(*) > 1")["order_id"]
        assert twice in set(labels["order_id"]), "a duplicate report must not erase the label"
    elif case.severity == "critical":
        assert quarantined[quarantined["table_name"] == case.table].empty or case.check not in set(
            quarantined["rule"]
        ), "rows above the tolerance fail the run instead of being quarantined"


@pytest.mark.parametrize(
    "conf",
    [
        {"max_order_amount": "zzz"},  # an invented Param once switched off the order amount bound
        {"volume_min_ratio": 2.0, "volume_max_ratio": 1.5},
    ],
    ids=["undeclared", "conflicting"],
)
def test_undeclared_or_conflicting_params_fail_the_run_before_any_check(
    shop_with_published_tables: str, conf: dict
) -> None:
    # The messages: tests/dags/test_run_conf.py.
    with pytest.raises(DagRunFailed) as failed:
        run_dag("warehouse_validation", logical_date=NEXT, conf=conf)
    assert failed.value.states["resolve_interval"] == "failed"
    assert _read("SELECT COUNT(*) AS n FROM data_quality_runs")["n"].iloc[0] == 0, "no table was checked"
