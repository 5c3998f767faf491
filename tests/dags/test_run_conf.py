"""A run's conf and Params are checked before any work, and the message names the problem."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.dag_defaults import check_run_conf
from include.pipeline import order_risk, validation

VALIDATION_DEFAULTS = {"volume_min_ratio": 0.3, "volume_max_ratio": 3.0, "trailing_days": 14}


def _context(declared: dict[str, Any], conf: dict[str, Any]) -> dict[str, Any]:
    return {
        "dag": SimpleNamespace(dag_id="warehouse_validation", params=declared),
        "dag_run": SimpleNamespace(conf=conf),
        "params": {**declared, **conf},
    }


def test_declared_params_pass() -> None:
    check_run_conf(_context(VALIDATION_DEFAULTS, {"trailing_days": 28}), validation.check_settings)


def test_an_undeclared_key_fails_at_once_and_names_it() -> None:
    with pytest.raises(AirflowFailException) as raised:
        check_run_conf(_context(VALIDATION_DEFAULTS, {"max_order_amount": "zzz"}))
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
        check_run_conf(_context(VALIDATION_DEFAULTS, change), validation.check_settings)
    assert message in str(raised.value)


def test_conflicting_risk_params_fail_at_once() -> None:
    declared = {
        "review_budget": 0.02,
        "decline_share": 0.002,
        "maturity_days": 56,
        "holdout_days": 14,
        "recent_days": 7,
        "history_days": 180,
    }
    with pytest.raises(AirflowFailException, match=r"recent_days \(90\) must not exceed maturity_days"):
        check_run_conf(_context(declared, {"recent_days": 90}), order_risk.check_settings)
