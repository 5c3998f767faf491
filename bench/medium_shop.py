"""A simulated shop in its own PostgreSQL database, for the benchmarks that run at shop size.

`medium_shop` keeps the database `shopflow_bench` (the medium shop) that several benchmarks
share; `shop_database` builds any preset into any database.
"""

from __future__ import annotations

import os
import time
from datetime import date

import sqlalchemy as sa

DATABASE = "shopflow_bench"


def shop_database(
    admin_url: str, *, preset: str, database: str, days: int, keep: bool
) -> tuple[sa.Engine, date, float | None]:
    """Point the warehouse connection at `database` and build `days` of the `preset` shop
    there, or reuse the shop it holds when `keep`. Returns the engine, the last simulated day
    and the build time in seconds (None when reused)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    url = admin.url.set(database=database).render_as_string(hide_password=False)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = url
    from include import simulator, warehouse

    with admin.connect() as conn:
        exists = conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'").first()
        if exists and not keep:
            conn.exec_driver_sql(f"DROP DATABASE {database} WITH (FORCE)")
        if not exists or not keep:
            conn.exec_driver_sql(f"CREATE DATABASE {database}")
    engine = warehouse.get_engine(url)
    last = simulator.last_simulated_day(engine) if keep else None
    if last is not None:
        return engine, last, None
    started = time.perf_counter()
    simulator.build_shop(engine, preset, days, replace=True)
    return engine, simulator.last_simulated_day(engine), time.perf_counter() - started


def medium_shop(admin_url: str, *, days: int, keep: bool) -> tuple[sa.Engine, date, float | None]:
    """The medium shop in `shopflow_bench` (see `shop_database`)."""
    return shop_database(admin_url, preset="medium", database=DATABASE, days=days, keep=keep)


def reset_outputs(engine: sa.Engine) -> None:
    """Forget models, published versions and validation results of an earlier run of a kept
    shop; the source rows stay."""
    from include import warehouse

    with warehouse.transaction(engine) as conn:
        published = conn.execute(
            sa.text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND strpos(table_name, '__v') > 0"
            )
        ).scalars()
        for table in list(published):
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        for table in (
            "model_versions",
            "published_tables",
            "data_quality_runs",
            "data_quality_quarantine",
            "validated_loads",
        ):
            if warehouse.table_exists(table, conn):
                conn.exec_driver_sql(f"DELETE FROM {table}")
