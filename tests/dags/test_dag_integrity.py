"""Every DAG imports cleanly, cheaply, and follows the house settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_IDS = {"live_shop", "warehouse_validation", "recommendations", "order_risk"}
HEAVY_MODULES = ("pandas", "numpy", "tensorflow", "keras", "sklearn", "great_expectations", "pyarrow")
TASK_ID = re.compile(r"^[a-z]+(_[a-z0-9]+)+$")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(ROOT / "dags"))


def test_dags_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS


def test_each_dag_file_is_named_after_its_dag(dagbag) -> None:
    for dag_id in DAG_IDS:
        assert Path(dagbag.dags[dag_id].fileloc).name == f"{dag_id}.py"


def test_dag_files_import_no_heavy_library_and_touch_nothing() -> None:
    """Parsing the DAG folder must stay cheap: heavy libraries load inside tasks only."""
    code = (
        "import sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "before = set(sys.modules)\n"
        f"bag = DagBag({str(ROOT / 'dags')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in set(sys.modules) - before))\n"
    )
    env = {
        "PYTHONPATH": str(ROOT),
        "AIRFLOW_CONN_WAREHOUSE": "postgresql://nobody@127.0.0.1:1/none",
        **{k: v for k, v in __import__("os").environ.items() if k.startswith(("AIRFLOW", "PATH", "HOME"))},
    }
    env["AIRFLOW_CONN_WAREHOUSE"] = "postgresql://nobody@127.0.0.1:1/none"  # unreachable on purpose
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_dag_settings_follow_the_house_style(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.schedule is not None, "every DAG is scheduled (by time or by asset)"
    assert dag.start_date.utcoffset() == timedelta(0)
    assert dag.start_date.tzinfo is not None
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.tags and "shopflow" in dag.tags
    assert dag.doc_md and dag.doc_md.strip().startswith("###")
    assert dag.default_args["retries"] == int(os.environ["SHOPFLOW_TASK_RETRIES"])
    assert dag.default_args["retry_delay"] >= timedelta(minutes=1)
    for task in dag.tasks:
        assert TASK_ID.match(task.task_id), f"{task.task_id} is not verb_object"
    for name, param in dag.params.items():
        assert param.description, f"{dag_id} param {name} has no description"


def test_model_dags_are_triggered_by_the_validation_assets(dagbag) -> None:
    validation = dagbag.dags["warehouse_validation"]
    outlets = {a.name for t in validation.tasks for a in t.outlets}
    assert outlets == {"validated_interactions", "validated_orders"}
    for dag_id, asset in (("recommendations", "validated_interactions"), ("order_risk", "validated_orders")):
        assert asset in str(dagbag.dags[dag_id].timetable.asset_condition)


def test_manual_trigger_params(dagbag) -> None:
    recs = dagbag.dags["recommendations"].params
    assert recs["retrain"] is True and recs["k"] == 10
    risk = dagbag.dags["order_risk"].params
    assert 0 < risk["decline_share"] < risk["review_budget"] < 1


def test_validation_fires_after_midnight_and_validates_the_day_before(dagbag) -> None:
    from airflow.serialization.encoders import coerce_to_core_timetable

    from include.pipeline.validation import resolve_interval

    timetable = coerce_to_core_timetable(dagbag.dags["warehouse_validation"].timetable)
    assert type(timetable).__name__ == "CronTriggerTimetable"
    assert str(getattr(timetable, "_timezone", UTC)) in {"UTC", "Timezone('UTC')"}
    # The nightly run of 2026-09-02 fires at 00:30 and validates 2026-09-01.
    import pendulum

    fired = pendulum.datetime(2026, 9, 2, 0, 30, tz="UTC")
    interval = timetable.infer_manual_data_interval(run_after=fired)
    assert (interval.start, interval.end) == (fired - timedelta(days=1), fired)
    assert resolve_interval(None, interval.start, interval.end) == {
        "data_interval_start": "2026-09-01T00:00:00",
        "data_interval_end": "2026-09-02T00:00:00",
    }
    # A run whose interval already falls on midnights (dag.test, a backfill of one day) keeps it.
    midnight = datetime(2026, 9, 2, tzinfo=UTC)
    assert (
        resolve_interval(None, midnight - timedelta(days=1), midnight)["data_interval_start"]
        == "2026-09-01T00:00:00"
    )


MODEL_DAGS = {"recommendations": "recommender", "order_risk": "order_risk"}


@pytest.mark.parametrize(("dag_id", "family"), sorted(MODEL_DAGS.items()))
def test_a_model_dag_trains_the_candidates_of_its_catalogue_family(dagbag, dag_id: str, family: str) -> None:
    import importlib

    from include.models import catalogue

    dag = dagbag.dags[dag_id]
    param = dag.params.get_param("candidates")
    assert param.value == list(catalogue.DEFAULT_CANDIDATES[family])
    assert param.schema["items"]["enum"] == catalogue.candidate_names(family)
    assert importlib.import_module(f"include.pipeline.{dag_id}").LIFECYCLE.family == family
    for name in catalogue.candidate_names(family):
        catalogue.model_class(family, name)  # every catalogued class imports under its name
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError):
        param.resolve(["oracle"])
    assert {"plan_candidates", "train_candidate", "evaluate_candidates", "serve_model"} <= set(dag.task_ids)


@pytest.mark.parametrize("dag_id", sorted(MODEL_DAGS))
def test_the_promotion_gate_is_set_by_params(dagbag, dag_id: str) -> None:
    from include import promotion

    params = dagbag.dags[dag_id].params
    assert params["min_gain"] == promotion.DEFAULT_MIN_GAIN
    assert params["confidence"] == promotion.DEFAULT_CONFIDENCE
    assert params["bootstrap_draws"] == promotion.DEFAULT_DRAWS


HEAVY_TASKS = {
    "warehouse_validation": {
        f"validate_{t}" for t in ("customers", "products", "events", "orders", "order_items", "chargebacks")
    },
    "recommendations": {"train_candidate", "evaluate_candidates", "serve_model", "score_customers"},
    "order_risk": {"train_candidate", "evaluate_candidates", "serve_model", "score_orders"},
}


def test_heavy_tasks_share_the_pool_sized_to_the_machine(dagbag, airflow_db, monkeypatch) -> None:
    from airflow.models.pool import Pool

    from include import pools

    for dag_id, heavy in HEAVY_TASKS.items():
        in_pool = {t.task_id for t in dagbag.dags[dag_id].tasks if t.pool == pools.HEAVY}
        assert in_pool == heavy, dag_id

    # The pool is as wide as the tasks the thread budget divides the cores among.
    monkeypatch.setenv("SHOPFLOW_TASKS_AT_ONCE", "3")
    assert pools.main() == 0
    assert Pool.get_pool(pools.HEAVY).slots == 3
    monkeypatch.setenv("SHOPFLOW_TASKS_AT_ONCE", "2")
    pools.main()
    assert Pool.get_pool(pools.HEAVY).slots == 2


def test_the_shopflow_plugin_loads_its_page_and_navigation_entry() -> None:
    from airflow import plugins_manager

    assert not plugins_manager.get_import_errors()
    (info,) = [p for p in plugins_manager.get_plugin_info() if p["name"] == "shopflow"]
    assert [app["url_prefix"] for app in info["fastapi_apps"]] == ["/shopflow"]
    assert [(v["name"], v["url_route"], v["href"]) for v in info["external_views"]] == [
        ("Shopflow", "shopflow", "/shopflow/")
    ]
