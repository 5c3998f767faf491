"""A run's conf, Params and warehouse are checked before any work: what no retry can heal fails
at once and the message names it; an outage is left to Airflow's retries."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.sdk.exceptions import AirflowFailException

from include import contract, warehouse
from include.dag_defaults import check_run
from include.pipeline import order_risk, validation

VALIDATION_DEFAULTS = {"volume_min_ratio": 0.3, "volume_max_ratio": 3.0, "trailing_days": 14}


@pytest.fixture(autouse=True)
def sqlite_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", url)
    warehouse.create_schema(warehouse.get_engine(url))
    return url


def _context(declared: dict[str, Any], conf: dict[str, Any]) -> dict[str, Any]:
    return {
        "dag": SimpleNamespace(dag_id="warehouse_validation", params=declared),
        "dag_run": SimpleNamespace(conf=conf),
        "params": {**declared, **conf},
    }


def test_declared_params_pass() -> None:
    check_run(validation.check_settings, context=_context(VALIDATION_DEFAULTS, {"trailing_days": 28}))


def test_an_undeclared_key_fails_at_once_and_names_it() -> None:
    with pytest.raises(AirflowFailException) as raised:
        check_run(context=_context(VALIDATION_DEFAULTS, {"max_order_amount": "zzz"}))
    assert str(raised.value) == (
        "warehouse_validation does not take the Params ['max_order_amount'] (it takes "
        "['trailing_days', 'volume_max_ratio', 'volume_min_ratio']). Nothing was run."
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"volume_min_ratio": 2.0, "volume_max_ratio": 1.5}, "volume_min_ratio (2.0) must be below 1"),
        ({"volume_max_ratio": 0.9}, "volume_max_ratio (0.9) above 1"),
        ({"trailing_days": 400}, "trailing_days (400) must be between 3 and 90"),
    ],
)
def test_conflicting_validation_params_fail_at_once(change: dict[str, Any], message: str) -> None:
    with pytest.raises(AirflowFailException, match="Nothing was run") as raised:
        check_run(validation.check_settings, context=_context(VALIDATION_DEFAULTS, change))
    assert message in str(raised.value)


def test_conflicting_risk_params_fail_at_once() -> None:
    from tests.include.test_risk_steps import DEFAULTS

    with pytest.raises(AirflowFailException, match=r"recent_days \(90\) must not exceed maturity_days"):
        check_run(order_risk.check_settings, context=_context(DEFAULTS, {"recent_days": 90}))


def test_a_missing_source_table_fails_at_once_and_names_it(sqlite_warehouse: str) -> None:
    with warehouse.transaction() as conn:
        conn.exec_driver_sql("DROP TABLE chargebacks")
    check_run(context=_context({}, {}), tables=("orders", "customers"))
    with pytest.raises(AirflowFailException, match="has no table chargebacks.*Nothing was run"):
        check_run(context=_context({}, {}), tables=order_risk.SOURCE_TABLES)


@pytest.mark.parametrize("raw", ["mysql://shop@db/warehouse", '{"conn_type": "postgres", "host": '])
def test_a_malformed_connection_fails_at_once(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", raw)
    with pytest.raises(AirflowFailException, match="not a usable warehouse connection"):
        check_run(context=_context({}, {}), tables=order_risk.SOURCE_TABLES)


def test_an_unreachable_warehouse_is_left_to_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on port 9: a down server, which may be back at the next try.
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://shop@127.0.0.1:9/warehouse")
    with pytest.raises(sa.exc.OperationalError):
        check_run(context=_context({}, {}), tables=order_risk.SOURCE_TABLES)


def test_a_model_run_over_tables_the_gate_never_passed_fails_at_once(sqlite_warehouse: str) -> None:
    from include import validation as gate

    with pytest.raises(AirflowFailException, match="never passed the data-quality gate") as raised:
        check_run(tables=order_risk.SOURCE_TABLES, validated=True, context=_context({}, {}))
    assert "customers, orders, order_items, chargebacks" in str(raised.value)
    for table in order_risk.SOURCE_TABLES:
        gate.record_load(table, "earlier-nights", datetime(2026, 1, 1), datetime(2026, 2, 1), 0, passed=True)
    check_run(tables=order_risk.SOURCE_TABLES, validated=True, context=_context({}, {}))


def test_a_broken_data_contract_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "contract.toml"
    broken.write_text(contract.DEFAULT_PATH.read_text().replace('volume = "critical"', 'volume = "loud"'))
    monkeypatch.setenv("SHOPFLOW_CONTRACT", str(broken))
    with pytest.raises(AirflowFailException, match="tables.events.volume: 'loud' is not one of"):
        check_run(context=_context({}, {}))
