"""The medium shop in PostgreSQL that the medium-size benchmarks run on (database `shopflow_bench`)."""

from __future__ import annotations

import os
import time
from datetime import date

import sqlalchemy as sa

DATABASE = "shopflow_bench"


def medium_shop(admin_url: str, *, days: int, keep: bool) -> tuple[sa.Engine, date, float | None]:
    """Point the warehouse connection at `shopflow_bench` and build `days` of the medium shop
    there, or reuse the shop it holds when `keep`. Returns the engine, the last simulated day
    and the build time (None when reused)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    url = admin.url.set(database=DATABASE).render_as_string(hide_password=False)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = url
    from include import simulator, warehouse

    with admin.connect() as conn:
        exists = conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'").first()
        if exists and not keep:
            conn.exec_driver_sql(f"DROP DATABASE {DATABASE} WITH (FORCE)")
        if not exists or not keep:
            conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    engine = warehouse.get_engine(url)
    last = simulator.last_simulated_day(engine) if keep else None
    if last is not None:
        return engine, last, None
    started = time.perf_counter()
    simulator.build_shop(engine, "medium", days, replace=True)
    return engine, simulator.last_simulated_day(engine), time.perf_counter() - started
