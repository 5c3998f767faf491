"""Shared fixtures: a clean warehouse on SQLite and on a real PostgreSQL, and Airflow's home.

PostgreSQL is required: tests that need it fail when it cannot be reached. Set
SHOPFLOW_TEST_POSTGRES_URL to point them at another server (default: the local one).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Airflow reads its settings at import: point them at a throw-away home before any test runs.
_AIRFLOW_HOME = Path(os.environ.get("SHOPFLOW_TEST_AIRFLOW_HOME", ROOT / "var" / "test-airflow"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SHOPFLOW_TASK_RETRIES", "0")  # a failing task fails the test at once
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# Tests bring their own warehouses (the fixtures below); never the one a developer works on.
os.environ.pop("AIRFLOW_CONN_WAREHOUSE", None)

POSTGRES_ADMIN_URL = os.environ.get(
    "SHOPFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of its own on the PostgreSQL server for this test session."""
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"PostgreSQL is required for this test and is not reachable at "
            f"{admin.url.render_as_string(hide_password=True)}: {exc}"
        )
    name = f"shopflow_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    yield url
    from include import warehouse

    warehouse._engine_for(url).dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def _reset_postgres(url: str) -> None:
    from include import warehouse

    with warehouse.get_engine(url).begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty warehouse with the schema created, on each back end; also the default one."""
    from include import warehouse

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
        _reset_postgres(url)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", url)
    monkeypatch.setenv("SHOPFLOW_VAR_DIR", str(tmp_path / "var"))
    warehouse.create_schema(warehouse.get_engine(url))
    return url


@pytest.fixture
def postgres_warehouse_url(postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty PostgreSQL warehouse with the schema, set as the default one."""
    from include import warehouse

    _reset_postgres(postgres_database)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", postgres_database)
    monkeypatch.setenv("SHOPFLOW_VAR_DIR", str(tmp_path / "var"))
    warehouse.create_schema(warehouse.get_engine(postgres_database))
    return postgres_database


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database, migrated once per test session (for dag.test())."""
    import subprocess
    import sys

    _AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=600)
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API on a free local port for this test session (moto's server mode): the
    object store of the tests that stage and keep models remotely."""
    import logging
    import socket

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


S3_CONN_ID = "shopflow_store"


def s3_store_env(endpoint: str, prefix: str) -> dict[str, str]:
    """The settings that put staging and the model store on the S3 API at `endpoint`, under
    `s3://shopflow/<prefix>`, through the Airflow connection `shopflow_store`."""
    import json

    connection = {
        "conn_type": "aws",
        "login": "shopflow-test-key",
        "password": "shopflow-test-secret",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    return {
        f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(connection),
        "SHOPFLOW_STORE_CONN_ID": S3_CONN_ID,
        "SHOPFLOW_STAGING_DIR": f"s3://shopflow/{prefix}/staging",
        "SHOPFLOW_MODEL_DIR": f"s3://shopflow/{prefix}/models",
    }


@pytest.fixture
def s3_store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Staging and the model store on the session's S3 API, under a prefix of this test's own;
    returns the settings (for processes the test starts)."""
    from include import store

    settings = s3_store_env(s3_endpoint, uuid.uuid4().hex[:12])
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    store.prepare()  # the bucket, on first use
    return settings
