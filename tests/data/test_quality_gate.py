"""The bad-data corpus: each case is injected into the tiny shop, on SQLite and on PostgreSQL,
and the real validation DAG must name the check and its severity, stop the night when it is
critical (the model DAGs' assets are not updated, published tables are untouched), and
quarantine and exclude rows when they are few.

Rows are injected as a shop's loader would write them: loaded within the interval (`loaded_at`),
whatever time they describe. Rows loaded after the interval are the next night's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from include import assets, contract, publish, simulator, validation, warehouse
from include.dag_runs import DagRunFailed, run_dag
from tests.helpers import pass_earlier_nights
from tests.helpers import read_sql as _read

DAYS = 30
DAY = datetime.combine(simulator.DEFAULT_START + timedelta(days=DAYS - 1), datetime.min.time())
NEXT = DAY + timedelta(days=1)
IN_DAY = {"s": DAY, "e": NEXT}
# When the injected rows land: inside the interval under validation.
LOADED = DAY + timedelta(hours=20)


@pytest.fixture(autouse=True)
def no_data_docs(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests judge verdicts, quarantine and what the night does next; rendering Data Docs
    (two thirds of a table's validation time) is tested in test_validation_checks.py."""
    monkeypatch.setenv("SHOPFLOW_DATA_DOCS", "off")


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
        "INSERT INTO products (product_id, created_at, category, brand, price, loaded_at) "
        "VALUES (900001, :at, 'kitchen', 'Ela', -5.0, :at)",
        at=DAY + timedelta(hours=9),
    )


def future_timestamps(conn: sa.Connection) -> None:
    _exec(
        conn,
        "INSERT INTO events SELECT event_id + 50000000000, session_id, customer_id, product_id, "
        "event_type, :future, loaded_at FROM events "
        "WHERE event_at >= :s AND event_at < :e AND MOD(event_id, 10) = 0",
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
        "brand TEXT, price TEXT, loaded_at TIMESTAMP)",
    )
    _exec(conn, "INSERT INTO products SELECT * FROM products_old")
    _exec(conn, "DROP TABLE products_old")


def empty_day(conn: sa.Connection) -> None:
    _exec(conn, "DELETE FROM events WHERE event_at >= :s AND event_at < :e", **IN_DAY)


def tenfold_spike(conn: sa.Connection) -> None:
    for copy in range(1, 10):
        _exec(
            conn,
            "INSERT INTO events SELECT event_id + :offset, session_id, customer_id, product_id, "
            "event_type, event_at, loaded_at FROM events "
            "WHERE event_at >= :s AND event_at < :e AND event_id < :limit",
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
            "INSERT INTO chargebacks (order_id, reported_at, amount, reason, loaded_at) "
            "SELECT order_id, :at, amount, 'fraudulent', :at FROM orders "
            "WHERE order_id = (SELECT MIN(order_id) FROM orders)",
            at=at,
        )


# The holes of a gate that validated rows by the time they describe: rows dated before the
# interval but loaded in it.
def back_dated_unknown_product(conn: sa.Connection) -> None:
    # A day of purchases dated the day before the interval, of a product that does not exist.
    _exec(
        conn,
        "INSERT INTO events (event_id, session_id, customer_id, product_id, event_type, event_at, "
        "loaded_at) SELECT event_id + 60000000000, session_id, customer_id, 999999, 'purchase', "
        "event_at, :loaded FROM events WHERE event_at >= :b AND event_at < :s",
        loaded=LOADED,
        b=DAY - timedelta(days=1),
        **IN_DAY,
    )


def product_corrected_badly(conn: sa.Connection) -> None:
    # An old product reloaded with a null category and a negative price.
    _exec(
        conn,
        "UPDATE products SET category = NULL, price = -1, loaded_at = :loaded "
        "WHERE product_id = (SELECT MIN(product_id) FROM products)",
        loaded=LOADED,
    )


def back_dated_duplicate_customer(conn: sa.Connection) -> None:
    _exec(
        conn,
        "INSERT INTO customers (customer_id, created_at, country, channel, loaded_at) "
        "SELECT customer_id, created_at, country, channel, :loaded FROM customers "
        "WHERE customer_id = (SELECT MIN(customer_id) FROM customers)",
        loaded=LOADED,
    )


def chargeback_before_its_order(conn: sa.Connection) -> None:
    _exec(
        conn,
        "INSERT INTO chargebacks (order_id, reported_at, amount, reason, loaded_at) "
        "SELECT order_id, :before, amount, 'fraudulent', :loaded FROM orders "
        "WHERE order_id = (SELECT MIN(order_id) FROM orders WHERE ordered_at >= :s AND ordered_at < :e)",
        before=DAY - timedelta(days=2),
        loaded=LOADED,
        **IN_DAY,
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
    "back_dated_unknown_product": Case(
        back_dated_unknown_product, "events", "unknown_references", "", "critical"
    ),
    "product_corrected_badly": Case(product_corrected_badly, "products", "invalid_values", "", "critical"),
    "back_dated_duplicate_customer": Case(
        back_dated_duplicate_customer, "customers", "duplicate_ids", "", "critical"
    ),
    "chargeback_before_its_order": Case(
        chargeback_before_its_order, "chargebacks", "order_mismatch", "", "critical"
    ),
}


PUBLISH_TASKS = {
    "publish_validated_interactions": assets.INTERACTION_TABLES,
    "publish_validated_orders": assets.ORDER_TABLES,
}


@pytest.fixture
def shop_with_published_tables(warehouse_url: str, airflow_db) -> str:
    """30 days of the tiny shop whose earlier nights passed the gate, and a published version of
    recommendations to protect."""
    engine = warehouse.get_engine(warehouse_url)
    simulator.build_shop(engine, "tiny", DAYS)
    # Earlier nights passed: the night under test validates its own load (the first night's
    # whole-history validation is tested on its own below).
    pass_earlier_nights(engine, DAY)
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
            "recommendations/extract_interactions",
            {"start": DAY - timedelta(days=7), "end": NEXT, "loaded_until": NEXT},
        )
        assert not (interactions["product_id"] == 999999).any(), "the quarantined event is excluded"
        assert _read("SELECT COUNT(*) AS n FROM events WHERE event_id = :i", i=int(bad_id))["n"].iloc[0] == 1
    if name == "chargeback_reported_twice":
        labels = warehouse.read_frame("risk/extract_chargebacks", {"end": NEXT, "loaded_until": NEXT})
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


def _staged_interactions(as_of: datetime) -> pd.DataFrame:
    """The whole history the recommendations DAG's extract stages as of `as_of`."""
    from include.pipeline import recommendations
    from include.pipeline.refs import RunWindow, Staged
    from include.staging import read_parquet

    ref = recommendations.extract(
        RunWindow(as_of - timedelta(days=1), as_of),
        history_days=28,
        holdout_days=7,
        active_days=7,
        run_id="t",
    )
    return read_parquet(Staged.from_dict(ref).path("history"))


def test_rows_loaded_after_the_interval_are_read_only_once_a_night_passes_them(
    shop_with_published_tables: str,
) -> None:
    # Tomorrow's load brings purchases dated today, of a product that does not exist.
    with warehouse.transaction() as conn:
        _exec(
            conn,
            "INSERT INTO events (event_id, session_id, customer_id, product_id, event_type, event_at, "
            "loaded_at) SELECT event_id + 60000000000, session_id, customer_id, 999999, 'purchase', "
            "event_at, :loaded FROM events WHERE event_at >= :s AND event_at < :e",
            loaded=NEXT + timedelta(hours=2),
            **IN_DAY,
        )
    run_dag("warehouse_validation", logical_date=NEXT)  # tonight's load is clean
    assert validation.loaded_until(list(assets.INTERACTION_TABLES), NEXT) == NEXT
    assert not (_staged_interactions(NEXT)["product_id"] == 999999).any(), "read before validation"

    # The next night validates them with its own load, and stops.
    simulator.append_day(warehouse.get_engine())
    with pytest.raises(DagRunFailed, match="validate_events"):
        run_dag("warehouse_validation", logical_date=NEXT + timedelta(days=1))
    recorded = _read(
        "SELECT severity FROM data_quality_runs WHERE table_name = 'events' "
        "AND expectation = 'unknown_references' AND data_interval_start_at = :s",
        s=NEXT,
    )
    assert list(recorded["severity"]) == ["critical"]
    # The watermark stays where the last passing night left it: a model run as of the failed
    # night reads nothing it loaded.
    assert validation.loaded_until(["events"], NEXT + timedelta(days=1)) == NEXT
    assert not (_staged_interactions(NEXT + timedelta(days=1))["product_id"] == 999999).any()


def test_the_first_night_validates_every_row_loaded_before_it(warehouse_url: str, airflow_db) -> None:
    engine = warehouse.get_engine(warehouse_url)
    simulator.build_shop(engine, "tiny", DAYS)
    with pytest.raises(validation.NotValidated, match="never passed the data-quality gate"):
        _staged_interactions(NEXT)
    # One event of the first week points at a product that does not exist.
    first_week = {"s": DAY - timedelta(days=DAYS - 1), "e": DAY - timedelta(days=DAYS - 8)}
    with warehouse.transaction() as conn:
        _exec(
            conn,
            "UPDATE events SET product_id = 999999 WHERE event_id = "
            "(SELECT MIN(event_id) FROM events WHERE event_at >= :s AND event_at < :e)",
            **first_week,
        )
    run_dag("warehouse_validation", logical_date=NEXT)

    quarantined = _read("SELECT table_name, rule FROM data_quality_quarantine")
    assert quarantined.values.tolist() == [["events", "unknown_references"]]
    loads = _read(
        "SELECT table_name, loaded_from, loaded_until, row_count, passed FROM validated_loads ORDER BY table_name"
    )
    assert loads["passed"].all() and len(loads) == 6
    events = loads.set_index("table_name").loc["events"]
    assert pd.Timestamp(events["loaded_from"]) < first_week["s"] + timedelta(days=1)
    assert pd.Timestamp(events["loaded_until"]) == NEXT
    assert events["row_count"] == _read("SELECT COUNT(*) AS n FROM events")["n"].iloc[0]
    assert not (_staged_interactions(NEXT)["product_id"] == 999999).any()


def test_a_shop_without_clickstream_or_payment_methods_passes_under_its_own_contract(
    shop_with_published_tables: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with warehouse.transaction() as conn:
        _exec(conn, "DELETE FROM events")
        _exec(conn, "UPDATE orders SET payment_method = NULL")
    # The project's contract: events' volume is critical, and orders need a payment method.
    with pytest.raises(DagRunFailed, match="validate_events") as failed:
        run_dag("warehouse_validation", logical_date=NEXT)
    assert failed.value.states["validate_orders"] == "failed"

    # The shop's own contract says what it does not record (the fraud sample's, here).
    contract_file = Path(contract.__file__).parent / "importers" / "fraud_sample_contract.toml"
    monkeypatch.setenv("SHOPFLOW_CONTRACT", str(contract_file))
    dag_run = run_dag(
        "warehouse_validation", logical_date=NEXT + timedelta(hours=1), conf={"day": DAY.date().isoformat()}
    )
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
    assert states["publish_validated_orders"] == "success", "the risk scores are not held back"
    assert validation.loaded_until(list(assets.ORDER_TABLES), NEXT) == NEXT
