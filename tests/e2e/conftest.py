"""The shop every end-to-end test runs on: 90 days of the tiny shop in PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include import simulator, warehouse

DAYS = 90
LAST_DAY = simulator.DEFAULT_START + timedelta(days=DAYS - 1)
AS_OF = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, tzinfo=UTC) + timedelta(days=1)
# The tiny shop has few frauds: label a little earlier and hold out more days than the defaults.
RISK_CONF = {"as_of": AS_OF.date().isoformat(), "maturity_days": 35, "holdout_days": 21}
RECS_CONF = {"as_of": AS_OF.date().isoformat()}


@pytest.fixture
def tiny_shop(postgres_warehouse_url: str, airflow_db) -> str:
    simulator.build_shop(warehouse.get_engine(postgres_warehouse_url), "tiny", DAYS)
    return postgres_warehouse_url
