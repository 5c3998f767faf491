"""The live shop under Airflow's real scheduler: `airflow standalone` (scheduler, DAG processor,
triggerer and API server, LocalExecutor), as `make airflow` runs it, on this project's DAGs and a
tiny shop in PostgreSQL (180 days) that ended two days ago. Unpaused as the README says, the live shop's
scheduled run appends the missing day, the nightly validation's scheduled run passes it, and its
Assets trigger both model DAGs, which publish."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include import publish, simulator, warehouse
from tests.e2e.servers import ApiClient, free_port, running, standalone_env
from tests.helpers import read_sql as _read

pytestmark = [pytest.mark.e2e, pytest.mark.data_docs]

USER, PASSWORD = "admin", "live-shop-test"
DAYS = 180


@pytest.fixture
def live_airflow(postgres_warehouse_url: str, tmp_path: Path) -> Iterator[ApiClient]:
    today = datetime.now(UTC).date()
    # Long enough for the risk DAG's default windows (labels mature 56 days, holdout 14 days).
    simulator.build_shop(
        warehouse.get_engine(postgres_warehouse_url), "tiny", DAYS, start=today - timedelta(days=DAYS + 1)
    )
    home = tmp_path / "airflow"
    home.mkdir()
    port = free_port()
    env = standalone_env(home, port, USER, PASSWORD)
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600
    )
    subprocess.run(
        [sys.executable, "-m", "include.pools"], env=env, check=True, capture_output=True, timeout=120
    )
    base = f"http://127.0.0.1:{port}"
    command = [str(bin_dir / "airflow"), "standalone"]
    log = tmp_path / "standalone.log"
    with running(command, env=env, log=log, health_url=f"{base}/api/v2/monitor/health"):
        yield ApiClient(base, log, home, USER, PASSWORD)


def test_the_scheduler_runs_the_live_shop_then_the_whole_night(live_airflow: ApiClient) -> None:
    engine = warehouse.get_engine()
    before = simulator.last_simulated_day(engine)

    # The live shop's newest scheduled run (00:05 UTC) appends the days the shop is missing.
    live_airflow.unpause("live_shop")
    shop_run = live_airflow.finished_run("live_shop")
    assert shop_run["run_type"] == "scheduled"
    shop_end = datetime.fromisoformat(shop_run["data_interval_end"]).date()
    assert simulator.last_simulated_day(engine) == shop_end - timedelta(days=1) > before

    # Then the nightly validation's scheduled run, and the model DAGs its Assets trigger.
    for dag_id in ("recommendations", "order_risk", "warehouse_validation"):
        live_airflow.unpause(dag_id)
    validation_run = live_airflow.finished_run("warehouse_validation")
    assert validation_run["run_type"] == "scheduled"
    validated_until = datetime.fromisoformat(validation_run["data_interval_end"]).date()
    checks = _read("SELECT table_name, success, data_interval_end_at FROM data_quality_runs")
    assert checks["success"].all() and checks["table_name"].nunique() == 6
    assert {d.date() for d in checks["data_interval_end_at"]} == {validated_until}

    # A validation task's log opens with its summary; Great Expectations says nothing below WARNING.
    (task_log,) = (live_airflow.home / "logs").glob(
        f"dag_id=warehouse_validation/run_id={validation_run['dag_run_id']}/task_id=validate_events/attempt=1.log"
    )
    lines = [json.loads(line) for line in task_log.read_text().splitlines() if line.startswith("{")]
    assert not [line for line in lines if line.get("logger", "").startswith("great_expectations")]
    ours = [line["event"] for line in lines if line.get("logger") == "include.validation"]
    assert ours[0].startswith("events [") and "checks" in ours[0] and "Data Docs:" in ours[0]

    for dag_id in ("recommendations", "order_risk"):
        run = live_airflow.finished_run(dag_id)
        assert run["run_type"] == "asset_triggered", dag_id
    for table in publish.PUBLISHED_TABLES:
        versions = publish.list_versions(table)
        assert versions["is_current"].sum() == 1 and versions["row_count"].iloc[0] > 0, table

    # Triggered from the API without a day or a logical date, validation checks yesterday.
    for dag_id in ("recommendations", "order_risk"):
        live_airflow.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": True})
    manual = live_airflow.call("POST", "/api/v2/dags/warehouse_validation/dagRuns", {"logical_date": None})
    run = live_airflow.finished_run("warehouse_validation", manual["dag_run_id"])
    yesterday = datetime.fromisoformat(run["run_after"]).date() - timedelta(days=1)
    checked = _read(
        "SELECT DISTINCT data_interval_start_at FROM data_quality_runs WHERE run_id = :r", r=run["dag_run_id"]
    )
    assert [d.date() for d in checked["data_interval_start_at"]] == [yesterday]
