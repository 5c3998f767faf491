"""The shop every end-to-end test runs on: 90 days of the tiny shop in PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include import simulator, warehouse
from tests.helpers import pass_earlier_nights

DAYS = 90
LAST_DAY = simulator.DEFAULT_START + timedelta(days=DAYS - 1)
AS_OF = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, tzinfo=UTC) + timedelta(days=1)
# Candidates learn orders matured maturity_days before a holdout that ends maturity_days before
# as_of: in 90 days, label at 35 days (about 80% of chargebacks have arrived) and hold out more.
RISK_CONF = {"as_of": AS_OF.date().isoformat(), "maturity_days": 35, "holdout_days": 21}
RECS_CONF = {"as_of": AS_OF.date().isoformat()}


@pytest.fixture(autouse=True)
def no_data_docs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """End-to-end tests judge what the night publishes; rendering Data Docs costs a third of a
    validation run, so only the tests that show them (marked `data_docs`) render them."""
    if request.node.get_closest_marker("data_docs") is None:
        monkeypatch.setenv("SHOPFLOW_DATA_DOCS", "off")


@pytest.fixture
def tiny_shop(postgres_warehouse_url: str, airflow_db) -> str:
    simulator.build_shop(warehouse.get_engine(postgres_warehouse_url), "tiny", DAYS)
    return postgres_warehouse_url


@pytest.fixture
def passed_tiny_shop(tiny_shop: str) -> str:
    """The tiny shop with every night up to AS_OF passed by the gate: for the model DAGs alone."""
    pass_earlier_nights(warehouse.get_engine(tiny_shop), AS_OF.replace(tzinfo=None))
    return tiny_shop


@pytest.fixture
def small_shop(postgres_warehouse_url: str, airflow_db) -> str:
    """The small shop: enough frauds (about 1.3 a day) for risk models to show skill."""
    simulator.build_shop(warehouse.get_engine(postgres_warehouse_url), "small", DAYS)
    return postgres_warehouse_url


@pytest.fixture
def passed_small_shop(small_shop: str) -> str:
    """The small shop with every night up to AS_OF passed by the gate: for the model DAGs alone."""
    pass_earlier_nights(warehouse.get_engine(small_shop), AS_OF.replace(tzinfo=None))
    return small_shop
