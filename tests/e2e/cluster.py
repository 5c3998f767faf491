"""The Airflow environment of docker-compose.yaml, for the Celery cluster test's local processes.

The cluster test starts every component with the compose file's `x-airflow-common` environment,
interpolated as compose does, with only three kinds of setting replaced: where the other
services are (`ADDRESSES`), folders that are image paths (`FOLDERS`), and what a process on
this machine needs in place of the image (`LOCAL`). So what the test proves (the executor,
broker, object store, auth and secrets settings) is what the compose file deploys, and
tests/test_deployment.py checks that nothing else is replaced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import yaml

from tests.conftest import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yaml"

# Where the other services are: compose service names in the file, local processes in the test.
ADDRESSES = frozenset(
    {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW_CONN_WAREHOUSE",
        "AIRFLOW_CONN_SHOPFLOW_STORE",  # only its endpoint_url: the rest is the file's
        "MLFLOW_TRACKING_URI",
    }
)
# Paths inside the image, where each local process has its own folder.
FOLDERS = frozenset({"SHOPFLOW_VAR_DIR", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"})
# Not in the compose file (the image or Airflow's defaults give them there), needed on this machine.
LOCAL = frozenset(
    {
        "PATH",
        "HOME",
        "PYTHONPATH",  # the image's ENV
        "AIRFLOW_HOME",
        "AIRFLOW__CORE__DAGS_FOLDER",  # /opt/airflow/dags in the image
        "AIRFLOW__CORE__PLUGINS_FOLDER",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER",  # one per worker, to see who ran what
        "AIRFLOW__API__PORT",  # 8080 inside its container
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC",  # a quicker scheduler loop
        "SHOPFLOW_TASK_RETRIES",  # a failing task fails the test at once
        "SHOPFLOW_VALIDATION_CRON",  # no scheduled night: the test triggers it through the API
        "SHOPFLOW_CODE_VERSION",  # the image's build argument
    }
)

_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """`value` with compose's `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`
    and `$$` resolved from `variables` (what `.env` gives compose)."""

    def resolve(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        value = variables.get(name)
        if operator in (":-", ":?") and not value:
            value = None
        if value is not None:
            return value
        if operator in (":?", "?"):
            raise KeyError(f"{name} is required by {COMPOSE_FILE.name}: {argument}")
        return argument if operator in (":-", "-") else ""

    return _VARIABLE.sub(resolve, value)


def compose_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """The environment every Airflow service of the compose file gets."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    environment = compose["x-airflow-common"]["environment"]
    return {name: interpolate(str(value), variables) for name, value in environment.items()}


def cluster_environment(
    variables: Mapping[str, str],
    *,
    addresses: Mapping[str, str],
    folders: Mapping[str, str],
    local: Mapping[str, str],
) -> dict[str, str]:
    """The compose file's Airflow environment for a process on this machine.

    Args:
        variables: what `.env` would hold (the secrets `make env` writes).
        addresses: a local address for every name of ADDRESSES; for the object store's
            connection, its endpoint URL alone.
        folders: a local path for every name of FOLDERS.
        local: settings of LOCAL only.
    """
    environment = compose_environment(variables)
    for given, allowed, kind in ((addresses, ADDRESSES, "address"), (folders, FOLDERS, "folder")):
        if set(given) != allowed:
            raise ValueError(f"give every {kind} setting and no other: {sorted(set(given) ^ allowed)}")
    if not set(local) <= LOCAL:
        raise ValueError(f"not local settings: {sorted(set(local) - LOCAL)}")
    if set(local) & set(environment):
        raise ValueError(f"the compose file sets these itself: {sorted(set(local) & set(environment))}")
    connection = json.loads(environment["AIRFLOW_CONN_SHOPFLOW_STORE"])
    connection["extra"]["endpoint_url"] = addresses["AIRFLOW_CONN_SHOPFLOW_STORE"]
    return {
        **environment,
        **addresses,
        "AIRFLOW_CONN_SHOPFLOW_STORE": json.dumps(connection),
        **folders,
        **local,
    }
