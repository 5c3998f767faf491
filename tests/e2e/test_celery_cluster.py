"""The night on a Celery cluster: Airflow's scheduler, API server and DAG processor and two
Celery workers as processes of their own, Redis as the broker, PostgreSQL for Airflow's
metadata and the warehouse, staging and models on an S3 API, every component with the compose
file's environment (tests/e2e/cluster.py).

The workers share no folder: each has its own var folder and log folder, so a shard scored on
one and published from the other, or a model trained on one and served by the other, can only
have gone through the object store. The cascade is triggered through the REST API; both
workers must have run tasks, and the published tables must equal those of an in-process
dag.test() run of the same night on a local store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import boto3
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient

from include import compose_env, publish, registry, simulator, warehouse
from include.dag_runs import run_dag
from tests.conftest import POSTGRES_ADMIN_URL, ROOT, _reset_postgres
from tests.e2e.cluster import cluster_environment
from tests.e2e.servers import ApiClient, free_port, running
from tests.helpers import read_sql as _read

pytestmark = pytest.mark.e2e

USER, PASSWORD = "admin", "celery-cluster-test"
# Long enough for the model DAGs' default windows (labels mature 56 days, holdout 14 days).
DAYS = 180
LAST_DAY = simulator.DEFAULT_START + timedelta(days=DAYS - 1)
# A risk night whose holdout holds enough frauds to judge skill on the tiny shop.
RISK_CONF = {"as_of": (LAST_DAY + timedelta(days=1)).isoformat(), "maturity_days": 35, "holdout_days": 21}
WORKERS = ("worker1", "worker2")
# Redis database of the test's broker (the server's others are left alone).
BROKER_DB = 13
# Published tables are compared by content: the model versions' names carry their training time.
RUN_COLUMNS = {"model_version"}


@dataclass
class Cluster:
    api: ApiClient
    folder: Path
    s3_endpoint: str


def _shop(url: str) -> None:
    simulator.build_shop(warehouse.get_engine(url), "tiny", DAYS)


@pytest.fixture
def metadata_database() -> Iterator[str]:
    """A PostgreSQL database of its own for Airflow's metadata (and Celery's results)."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"shopflow_airflow_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield f"postgresql+psycopg2://{admin.url.username}@{admin.url.host}:{admin.url.port or 5432}/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def broker() -> str:
    """An empty Redis database on the local server."""
    import redis

    url = f"redis://127.0.0.1:6379/{BROKER_DB}"
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError as error:
        pytest.fail(f"Redis is required for the Celery cluster test and is not reachable at {url}: {error}")
    return url


@pytest.fixture
def cluster(
    postgres_warehouse_url: str,
    metadata_database: str,
    broker: str,
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cluster]:
    _shop(postgres_warehouse_url)
    api_port, health_port = free_port(), free_port()
    passwords = tmp_path / "passwords.json"
    passwords.write_text(f'{{"{USER}": "{PASSWORD}"}}')
    bin_dir = Path(sys.executable).parent
    secrets = compose_env.fresh_secrets()  # one .env for the cluster, as compose reads one

    def environment(name: str) -> dict[str, str]:
        """The compose file's environment for the component `name`, with its own folders."""
        folder = tmp_path / name
        return cluster_environment(
            secrets,
            addresses={
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_database,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_database,
                "AIRFLOW__CELERY__BROKER_URL": broker,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW_CONN_WAREHOUSE": postgres_warehouse_url,
                "AIRFLOW_CONN_SHOPFLOW_STORE": s3_endpoint,
                "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            },
            folders={
                "SHOPFLOW_VAR_DIR": str(folder / "var"),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            },
            local={
                "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
                "HOME": os.environ.get("HOME", str(tmp_path)),
                "PYTHONPATH": str(ROOT),
                "AIRFLOW_HOME": str(folder),
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(folder / "logs"),
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(health_port),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "SHOPFLOW_TASK_RETRIES": "0",
                # 29 February: no fire time since the DAGs' start date, so unpausing the
                # validation DAG schedules no night of its own beside the triggered one.
                "SHOPFLOW_VALIDATION_CRON": "0 0 29 2 *",
            },
        )

    setup = environment("setup")
    # This process reads the registry too (another host of the cluster): its model locations name
    # the store's connection, which Airflow resolves, and keeps, at their first use.
    for name in ("AIRFLOW_CONN_SHOPFLOW_STORE", "SHOPFLOW_STORE_CONN_ID"):
        monkeypatch.setenv(name, setup[name])
    for command in (["airflow", "db", "migrate"], ["python", "-m", "include.pools"]):
        subprocess.run(
            [str(bin_dir / command[0]), *command[1:]], env=setup, check=True, capture_output=True, timeout=600
        )
    subprocess.run(
        [str(bin_dir / "python"), "-m", "include.store", "prepare"],
        env=setup,
        check=True,
        capture_output=True,
        timeout=300,
    )
    base = f"http://127.0.0.1:{api_port}"
    components = {
        "api-server": (["api-server"], {"health_url": f"{base}/api/v2/monitor/health"}),
        "scheduler": (["scheduler"], {"health_url": f"http://127.0.0.1:{health_port}/health"}),
        "dag-processor": (["dag-processor"], {}),
        **{
            worker: (
                ["celery", "worker", "--celery-hostname", f"{worker}@%h", "--skip-serve-logs"],
                {"ready_text": f"{worker}@"},
            )
            for worker in WORKERS
        },
    }
    with ExitStack() as stack:
        for name, (arguments, ready) in components.items():
            stack.enter_context(
                running(
                    [str(bin_dir / "airflow"), *arguments],
                    env=environment(name),
                    log=tmp_path / f"{name}.log",
                    **ready,
                )
            )
        yield Cluster(
            ApiClient(base, tmp_path / "scheduler.log", tmp_path, USER, PASSWORD), tmp_path, s3_endpoint
        )


def _published() -> dict[str, pd.DataFrame]:
    """The current version of every published table, as content, in a stable order."""
    tables = {}
    with warehouse.get_engine().connect() as conn:
        for table, spec in publish.PUBLISHED_TABLES.items():
            frame = warehouse.read_frame(sql=f"SELECT * FROM {table}", conn=conn)
            frame = frame.drop(columns=[c for c in frame.columns if c in RUN_COLUMNS])
            tables[table] = frame.sort_values(list(spec.key)).reset_index(drop=True)
    return tables


def _tasks_run(log_folder: Path) -> set[str]:
    """The tasks whose logs are in a worker's log folder (`…/task_id=<id>/[map_index=<i>/]attempt=1.log`)."""
    return {
        part.removeprefix("task_id=")
        for log in log_folder.rglob("attempt=*.log")
        for part in log.relative_to(log_folder).parts
        if part.startswith("task_id=")
    }


def _keys(endpoint: str, prefix: str) -> list[str]:
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="shopflow", Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_a_celery_cluster_runs_the_night_on_two_workers_through_the_object_store(
    cluster: Cluster, postgres_warehouse_url: str
) -> None:
    api = cluster.api
    for dag_id in ("recommendations", "order_risk", "warehouse_validation"):
        api.unpause(dag_id)
    trigger = api.call(
        "POST",
        "/api/v2/dags/warehouse_validation/dagRuns",
        {"logical_date": None, "conf": {"day": LAST_DAY.isoformat()}},
    )
    api.finished_run("warehouse_validation", trigger["dag_run_id"])
    for dag_id in ("recommendations", "order_risk"):
        run = api.finished_run(dag_id)
        assert run["run_type"] == "asset_triggered", dag_id
    # The tiny shop's default risk holdout (7 days, one or two frauds) shows no candidate with
    # skill over a random ranking, so that night publishes no scores; a manual night with a
    # longer holdout does (both as the in-process night below).
    assert registry.current_champion("order_risk") is None
    trigger = api.call("POST", "/api/v2/dags/order_risk/dagRuns", {"logical_date": None, "conf": RISK_CONF})
    api.finished_run("order_risk", trigger["dag_run_id"])

    # Both workers ran tasks; each task log lies in the log folder of the worker that ran it.
    ran = {worker: _tasks_run(cluster.folder / worker / "logs") for worker in WORKERS}
    assert all(ran.values()), f"a worker ran nothing: {ran}"
    assert {"train_candidate", "score_customers", "publish_recommendations", "publish_order_risk_scores"} <= (
        ran["worker1"] | ran["worker2"]
    )
    assert api.call("GET", "/api/v2/dags/warehouse_validation/dagRuns")["total_entries"] == 1, "one night"

    # Staging and models went to the object store; no worker kept them on its own disk.
    staged = _keys(cluster.s3_endpoint, "staging/")
    assert any("/recommendations_shard_" in key for key in staged)
    assert any(key.startswith("staging/order_risk/") for key in staged)
    models = _keys(cluster.s3_endpoint, "models/")
    assert any(key.startswith("models/recommender/") and key.endswith("meta.json") for key in models)
    assert any(key.startswith("models/order_risk/") and key.endswith("meta.json") for key in models)
    for worker in WORKERS:
        local = cluster.folder / worker / "var"
        assert not list(local.rglob("*.parquet")), f"{worker} staged on its own disk"

    cluster_tables = _published()
    assert all(len(frame) > 0 for frame in cluster_tables.values())

    # MLflow holds every judged candidate, and its alias `champion` names the version that serves.
    tracking_uri = f"sqlite:///{cluster.folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    for model_name in registry.MODEL_NAMES:
        versions = _read("SELECT model_version FROM model_versions WHERE model_name = :m", m=model_name)
        experiment = client.get_experiment_by_name(f"shopflow-{model_name}")
        logged = {run.info.run_name for run in client.search_runs([experiment.experiment_id])}
        assert logged == set(versions["model_version"]), model_name
        alias = client.get_model_version_by_alias(f"shopflow-{model_name}", "champion")
        assert alias.tags["shopflow.model_version"] == registry.current_champion(model_name).model_version

    # The same night with dag.test() in this process, on a local store.
    _reset_postgres(postgres_warehouse_url)
    warehouse.create_schema(warehouse.get_engine(postgres_warehouse_url))
    _shop(postgres_warehouse_url)
    as_of = (LAST_DAY + timedelta(days=1)).isoformat()
    run_dag("warehouse_validation", conf={"day": LAST_DAY.isoformat()})
    run_dag("recommendations", conf={"as_of": as_of})
    run_dag("order_risk", conf={"as_of": as_of})
    run_dag("order_risk", conf=RISK_CONF)
    for table, frame in _published().items():
        pd.testing.assert_frame_equal(cluster_tables[table], frame, check_dtype=False, obj=table)
