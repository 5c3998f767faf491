"""The extracts' PostgreSQL plans do not depend on luck, and bulk loads leave statistics behind.

A table loaded in bulk has no statistics until something runs ANALYZE (autovacuum may be off or
behind), and the planner then takes it for a few hundred rows. The order extract once joined a
per-order aggregate of the basket; without statistics PostgreSQL put that aggregate inside a
nested loop, recomputing it for every order, and the extract of a medium shop never finished.
Here every heavy extract is planned on a shop of 300,000 orders, both straight after the load and
after ANALYZE, and no plan may repeat an aggregate or a scan of a source table per outer row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from include import publish, simulator, validation, warehouse

EXTRACTS = {
    "risk/extract_orders": {
        "start": datetime(2026, 1, 1),
        "end": datetime(2026, 7, 1),
        "loaded_until": datetime(2026, 7, 1),
    },
    "risk/extract_chargebacks": {"end": datetime(2026, 7, 1), "loaded_until": datetime(2026, 7, 1)},
    "recommendations/extract_interactions": {
        "start": datetime(2026, 1, 1),
        "end": datetime(2026, 7, 1),
        "loaded_until": datetime(2026, 7, 1),
    },
    "recommendations/extract_purchases": {
        "start": datetime(2026, 6, 1),
        "end": datetime(2026, 7, 1),
        "loaded_until": datetime(2026, 7, 1),
    },
    "recommendations/extract_interaction_parts": {
        "start": datetime(2026, 1, 1),
        "end": datetime(2026, 7, 1),
        "split": datetime(2026, 6, 24),
        "loaded_until": datetime(2026, 7, 1),
    },
    "recommendations/extract_active_customers": {
        "start": datetime(2026, 6, 1),
        "end": datetime(2026, 7, 1),
        "loaded_until": datetime(2026, 7, 1),
    },
    "recommendations/extract_products": {"end": datetime(2026, 7, 1), "loaded_until": datetime(2026, 7, 1)},
}
SOURCE_TABLES = set(simulator.SOURCE_TABLES)

# 300k orders over half a year, 2 lines each, 100k customers, 1.2M events, 20k products.
BULK_LOAD = """
INSERT INTO customers
SELECT i, timestamp '2025-12-01' + (i % 200) * interval '1 day', 'DE', 'web',
       timestamp '2025-12-01' + (i % 200) * interval '1 day'
FROM generate_series(1, 100000) i;
INSERT INTO products
SELECT i, timestamp '2025-12-01' + (i % 200) * interval '1 day', 'c' || (i % 40), 'b' || (i % 300), 10,
       timestamp '2025-12-01' + (i % 200) * interval '1 day'
FROM generate_series(1, 20000) i;
INSERT INTO orders
SELECT i, 1 + (i::bigint * 7919) % 100000, timestamp '2026-01-01' + (i / 300000.0 * 181) * interval '1 day',
       50, 'card', 'DE', 'DE', 'DE', 'd' || (i % 50000),
       timestamp '2026-01-01' + (i / 300000.0 * 181) * interval '1 day'
FROM generate_series(1, 300000) i;
INSERT INTO order_items
SELECT i / 2 + 1, i % 2, i % 20000, 1, 10, timestamp '2026-01-01' + (i / 600000.0 * 181) * interval '1 day'
FROM generate_series(0, 599999) i;
INSERT INTO chargebacks
SELECT i * 100, timestamp '2026-01-20' + (i / 3000.0 * 181) * interval '1 day', 30, 'fraudulent',
       timestamp '2026-01-20' + (i / 3000.0 * 181) * interval '1 day'
FROM generate_series(1, 3000) i;
INSERT INTO events
SELECT i, i / 5, 1 + (i::bigint * 104729) % 100000, 1 + (i::bigint * 7907) % 20000,
       (ARRAY['view', 'view', 'view', 'add_to_cart', 'purchase'])[1 + i % 5],
       timestamp '2026-01-01' + (i / 1200000.0 * 181) * interval '1 day',
       timestamp '2026-01-01' + (i / 1200000.0 * 181) * interval '1 day'
FROM generate_series(1, 1200000) i;
INSERT INTO data_quality_quarantine
SELECT t, i, 'planted', 'plan_test', timestamp '2026-06-30', timestamp '2026-07-01', timestamp '2026-07-01'
FROM generate_series(1, 50) i,
       unnest(ARRAY['orders', 'events', 'customers', 'chargebacks', 'products']) t;
"""


@pytest.fixture(scope="module")
def bulk_loaded(postgres_database: str) -> Iterator[sa.Engine]:
    """A PostgreSQL warehouse bulk-loaded by SQL alone: no statistics yet."""
    import tests.conftest as shared

    shared._reset_postgres(postgres_database)
    engine = warehouse.get_engine(postgres_database)
    warehouse.create_schema(engine)
    with engine.begin() as conn:
        for statement in warehouse.split_statements(BULK_LOAD):
            conn.execute(sa.text(statement))
    yield engine
    shared._reset_postgres(postgres_database)


def plan(engine: sa.Engine, name: str) -> dict[str, Any]:
    sql = warehouse.load_sql(name, "postgresql").strip().rstrip(";")
    params = warehouse.bind_params(EXTRACTS[name], "postgresql")
    with engine.connect() as conn:
        return conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {sql}"), params).scalar_one()[0]["Plan"]


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def repeated_work(node: dict[str, Any]) -> list[str]:
    """What a nested loop repeats for each outer row: aggregates and scans of source tables
    that are not index lookups (an index lookup per outer row is what a nested loop is for)."""
    found = []
    for loop in nodes(node):
        if loop["Node Type"] != "Nested Loop":
            continue
        inner = loop["Plans"][1]
        for below in nodes(inner):
            if below["Node Type"] == "Aggregate":
                found.append(f"{loop['Join Type']} nested loop over an aggregate")
            if (
                below["Node Type"] in {"Seq Scan", "Bitmap Heap Scan"}
                and below["Relation Name"] in SOURCE_TABLES
            ):
                found.append(f"{loop['Join Type']} nested loop over a scan of {below['Relation Name']}")
    return found


def last_analyzed(engine: sa.Engine, table: str) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).scalar_one()


def test_the_rule_catches_the_order_extract_it_replaced(bulk_loaded: sa.Engine) -> None:
    assert last_analyzed(bulk_loaded, "orders") is None
    # The replaced extract, down to what shapes its plan: the customer join, the per-order
    # aggregate of the basket joined back, and the quarantine anti-join.
    joined_aggregate = """
        SELECT o.order_id, c.created_at, COALESCE(i.n_items, 0) AS n_items, COALESCE(i.n_lines, 0) AS n_lines
        FROM orders o
        LEFT JOIN customers c ON c.customer_id = o.customer_id
        LEFT JOIN (
            SELECT oi.order_id, SUM(oi.quantity) AS n_items, COUNT(*) AS n_lines
            FROM order_items oi
            JOIN orders io ON io.order_id = oi.order_id
            WHERE io.ordered_at >= :start AND io.ordered_at < :end
            GROUP BY oi.order_id
        ) i ON i.order_id = o.order_id
        WHERE o.ordered_at >= :start AND o.ordered_at < :end
          AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                          WHERE q.table_name IN ('orders', 'order_items') AND q.record_id = o.order_id)
        ORDER BY o.ordered_at, o.order_id
    """
    params = warehouse.bind_params(EXTRACTS["risk/extract_orders"], "postgresql")
    with bulk_loaded.connect() as conn:
        planned = conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {joined_aggregate}"), params).scalar_one()
    assert "Left nested loop over an aggregate" in repeated_work(planned[0]["Plan"])


def test_no_plan_repeats_work_per_row_with_or_without_statistics(bulk_loaded: sa.Engine) -> None:
    assert last_analyzed(bulk_loaded, "orders") is None
    without = {extract: repeated_work(plan(bulk_loaded, extract)) for extract in EXTRACTS}
    with warehouse.transaction(bulk_loaded) as conn:
        warehouse.analyze(*SOURCE_TABLES, "data_quality_quarantine", conn=conn)
    analyzed = {extract: repeated_work(plan(bulk_loaded, extract)) for extract in EXTRACTS}
    nothing = dict.fromkeys(EXTRACTS, [])
    assert (without, analyzed) == (nothing, nothing)


def test_the_simulator_and_publishing_leave_statistics(postgres_warehouse_url: str) -> None:
    engine = warehouse.get_engine(postgres_warehouse_url)
    simulator.build_shop(engine, "tiny", days=2)
    for table in simulator.SOURCE_TABLES:
        assert last_analyzed(engine, table) is not None, table
    # A shop's own loader may not analyze: the gate does, before it checks a table.
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_reset()")
    assert last_analyzed(engine, "orders") is None
    day = datetime.combine(simulator.last_simulated_day(engine), datetime.min.time())
    validation.validate_table("orders", day, day + timedelta(days=1), run_id="stats", engine=engine)
    assert last_analyzed(engine, "orders") is not None
    rows = pd.DataFrame(
        {
            "customer_id": [1, 1],
            "rank": [1, 2],
            "product_id": [5, 6],
            "score": [0.9, 0.8],
            "source": "model",
            "model_version": "stats",
            "as_of": datetime(2026, 7, 1),
        }
    )
    published = publish.publish("recommendations", [rows], run_id="stats", engine=engine)
    assert last_analyzed(engine, published.physical_table) is not None
