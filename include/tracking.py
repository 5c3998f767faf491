"""Every judged candidate and every serving refit in MLflow, the champion as a registered-model alias.

The warehouse's `model_versions` (include/registry.py) decides what serves; MLflow mirrors it
where ML engineers look for experiments: one experiment per model (`shopflow-recommender`,
`shopflow-order_risk`), one MLflow run per model version, named by it, with its parameters, its
holdout metrics, the primary metric's interval, the gate's decision as tags and the saved model
folder as artifacts. The serving refit is also a version of the registered model
`shopflow-<model>`, and the alias `champion` points at the one that serves.

`MLFLOW_TRACKING_URI` chooses the store: by default an embedded SQLite file under
`<SHOPFLOW_VAR_DIR>/mlflow` (artifacts beside it); docker-compose.yaml points it at its tracking
server. `SHOPFLOW_MLFLOW=off` turns tracking off. Tracking never fails a night: an unreachable
server is a warning in the task log, and the registry in the warehouse holds everything anyway.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include import settings, store

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
# MLflow keys allow letters, digits and `_-. /:`; anything else becomes `_`.
_UNSAFE_KEY = re.compile(r"[^\w\-. /:]")
_MAX_PARAM_LENGTH = 6000


def enabled() -> bool:
    """Whether candidates are logged (`SHOPFLOW_MLFLOW`, default on)."""
    return settings.switched_on("SHOPFLOW_MLFLOW")


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, else the embedded store `<var>/mlflow/mlflow.db`."""
    explicit = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return explicit or f"sqlite:///{settings.var_dir() / 'mlflow' / 'mlflow.db'}"


def experiment_name(model_name: str) -> str:
    return f"shopflow-{model_name}"


registered_model_name = experiment_name


def _client() -> MlflowClient:
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    for noisy in ("alembic", "mlflow"):  # the embedded store's migrations, one line per table
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client: MlflowClient, model_name: str) -> str:
    """The model's experiment, made on first use (artifacts beside an embedded store)."""
    from mlflow.exceptions import MlflowException

    name = experiment_name(model_name)
    for _ in range(3):  # two tasks may create it at once
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        uri = tracking_uri()
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:
            time.sleep(1)
    raise RuntimeError(f"could not create or find the MLflow experiment {name}")


def _key(name: str) -> str:
    return _UNSAFE_KEY.sub("_", name)


def _numbers(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a (nested) metrics dict, with dotted keys."""
    out: dict[str, float] = {}
    for name, value in values.items():
        key = _key(f"{prefix}{name}")
        if isinstance(value, dict):
            out.update(_numbers(value, key + "."))
        elif isinstance(value, bool):
            out[key] = float(value)
        elif isinstance(value, int | float) and math.isfinite(float(value)):
            out[key] = float(value)
    return out


def log_version(
    *,
    model_version: str,
    model_name: str,
    candidate: str,
    run_id: str,
    data_interval: tuple[datetime | None, datetime | None],
    holdout_start_at: datetime,
    train_rows: int,
    holdout_rows: int,
    params: dict[str, Any],
    metrics: dict[str, Any],
    primary_metric: float | None,
    decision: str,
    artifact: Any,
    role: str = "candidate",
    refit_of: str | None = None,
    primary_interval: tuple[float, float] | None = None,
    decision_reason: str | None = None,
    comparison: dict[str, Any] | None = None,
) -> str | None:
    """Log one model version (the same record as `registry.record_version`) as an MLflow run;
    returns the MLflow run id, or None when tracking is off or failed."""
    if not enabled():
        return None
    try:
        return _log_version(
            model_version=model_version,
            model_name=model_name,
            tags={
                "shopflow.model_version": model_version,
                "shopflow.candidate": candidate,
                "shopflow.role": role,
                "shopflow.refit_of": refit_of or "",
                "shopflow.airflow_run_id": run_id,
                "shopflow.data_interval": f"{data_interval[0]} – {data_interval[1]}",
                "shopflow.holdout_start_at": str(holdout_start_at),
                "shopflow.decision": decision,
                "shopflow.decision_reason": decision_reason or "",
                "shopflow.artifact": store.uri(store.location(artifact)),
                "shopflow.code_version": settings.code_version(),
            },
            params={_key(k): str(v)[:_MAX_PARAM_LENGTH] for k, v in params.items()},
            metrics={
                **_numbers(metrics),
                "train_rows": float(train_rows),
                "holdout_rows": float(holdout_rows),
                **({"primary": float(primary_metric)} if primary_metric is not None else {}),
                **(
                    _numbers({"primary_ci_low": primary_interval[0], "primary_ci_high": primary_interval[1]})
                    if primary_interval is not None
                    else {}
                ),
            },
            artifact=artifact,
        )
    except Exception as error:  # noqa: BLE001 - tracking is a mirror: it never fails the night
        log.warning("Could not log %s to MLflow at %s: %s", model_version, tracking_uri(), error)
        return None


def _log_version(
    *,
    model_version: str,
    model_name: str,
    tags: dict[str, str],
    params: dict[str, str],
    metrics: dict[str, float],
    artifact: Any,
) -> str:
    from mlflow.entities import Metric, Param

    client = _client()
    run = client.create_run(_experiment_id(client, model_name), run_name=model_version, tags=tags)
    now = int(time.time() * 1000)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(key, value, now, 0) for key, value in metrics.items()],
        params=[Param(key, value) for key, value in params.items()],
    )
    client.log_artifacts(run.info.run_id, str(store.readable_folder(store.location(artifact))), "model")
    client.set_terminated(run.info.run_id)
    log.info("Logged %s to MLflow (run %s)", model_version, run.info.run_id)
    return run.info.run_id


def set_champion(model_name: str, model_version: str, mlflow_run_id: str | None) -> str | None:
    """Register the serving version's MLflow run as a version of `shopflow-<model>` and point
    the alias `champion` at it; returns the registered version, or None if tracking is off or
    failed (or the run was not logged)."""
    if not enabled() or mlflow_run_id is None:
        return None
    try:
        from mlflow.exceptions import MlflowException

        client = _client()
        name = registered_model_name(model_name)
        try:
            client.create_registered_model(name, description=f"Shopflow's {model_name} models")
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        run = client.get_run(mlflow_run_id)
        version = client.create_model_version(
            name,
            source=f"{run.info.artifact_uri}/model",
            run_id=mlflow_run_id,
            tags={"shopflow.model_version": model_version},
        )
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
        log.info("MLflow: %s version %s (%s) is now %r", name, version.version, model_version, CHAMPION_ALIAS)
        return str(version.version)
    except Exception as error:  # noqa: BLE001 - see log_version
        log.warning("Could not make %s the MLflow champion at %s: %s", model_version, tracking_uri(), error)
        return None
