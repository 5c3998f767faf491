"""MLflow mirrors the registry: one run per model version with its parameters, metrics, interval,
decision and files; the serving refit registered with the alias `champion`; a tracking failure
never fails the night."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from mlflow import MlflowClient

from include import registry, tracking
from include.models import catalogue
from tests.models.test_risk import synthetic_orders

INTERVAL = (datetime(2026, 8, 29), datetime(2026, 8, 30))


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPFLOW_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("SHOPFLOW_MLFLOW", raising=False)
    monkeypatch.delenv("SHOPFLOW_MODEL_DIR", raising=False)
    return tmp_path / "var"


def _record(version: str, artifact: str, **overrides) -> dict:
    return {
        "model_version": version,
        "model_name": "order_risk",
        "candidate": "logistic_regression",
        "run_id": "manual__2026-08-30",
        "data_interval": INTERVAL,
        "holdout_start_at": datetime(2026, 8, 16),
        "train_rows": 1500,
        "holdout_rows": 400,
        "params": {"l2": 1.0, "features": ["amount", "age"]},
        "metrics": {"pr_auc": 0.41, "roc_auc": 0.8, "calibration": {"ece": 0.02, "bins": 10}, "n@k": 5},
        "primary_metric": 0.41,
        "primary_interval": (0.35, 0.47),
        "decision": "promoted",
        "decision_reason": "beats the floor",
        "artifact": artifact,
        **overrides,
    }


def _saved_model() -> str:
    model = catalogue.model_class("order_risk", "logistic_regression")().fit(*synthetic_orders(800, seed=2))
    return catalogue.save_model(model, registry.artifact_dir("order_risk", "risk-lr-1"))


def test_a_version_is_logged_with_its_params_metrics_interval_decision_and_files(var_dir: Path) -> None:
    run_id = tracking.log_version(**_record("risk-lr-1", _saved_model()))

    assert tracking.tracking_uri() == f"sqlite:///{var_dir / 'mlflow' / 'mlflow.db'}", "embedded under var/"
    client = MlflowClient(tracking_uri=tracking.tracking_uri())
    run = client.get_run(run_id)
    assert run.info.run_name == "risk-lr-1" and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "shopflow-order_risk"
    assert run.data.params == {"l2": "1.0", "features": "['amount', 'age']"}
    assert run.data.metrics == {
        "pr_auc": 0.41,
        "roc_auc": 0.8,
        "calibration.ece": 0.02,
        "calibration.bins": 10.0,
        "n_k": 5.0,
        "train_rows": 1500.0,
        "holdout_rows": 400.0,
        "primary": 0.41,
        "primary_ci_low": 0.35,
        "primary_ci_high": 0.47,
    }
    assert run.data.tags["shopflow.decision"] == "promoted"
    assert run.data.tags["shopflow.candidate"] == "logistic_regression"
    files = {f.path for f in client.list_artifacts(run_id, "model")}
    assert "model/meta.json" in files and len(files) > 1
    assert (var_dir / "mlflow" / "artifacts").is_dir(), "artifacts beside the embedded store"


def test_the_serving_refit_gets_the_champion_alias(var_dir: Path) -> None:
    artifact = _saved_model()
    first = tracking.log_version(**_record("risk-lr-1-refit", artifact, role="refit", refit_of="risk-lr-1"))
    assert tracking.set_champion("order_risk", "risk-lr-1-refit", first) == "1"
    second = tracking.log_version(**_record("risk-lr-2-refit", artifact, role="refit"))
    assert tracking.set_champion("order_risk", "risk-lr-2-refit", second) == "2"

    client = MlflowClient(tracking_uri=tracking.tracking_uri(), registry_uri=tracking.tracking_uri())
    champion = client.get_model_version_by_alias("shopflow-order_risk", "champion")
    assert str(champion.version) == "2" and champion.run_id == second
    assert champion.tags["shopflow.model_version"] == "risk-lr-2-refit"


def test_tracking_failures_and_tracking_off_never_fail_the_night(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    artifact = _saved_model()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    assert tracking.log_version(**_record("risk-lr-1", artifact)) is None
    assert "Could not log risk-lr-1 to MLflow" in caplog.text

    monkeypatch.setenv("SHOPFLOW_MLFLOW", "off")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking.log_version(**_record("risk-lr-1", artifact)) is None
    assert not (var_dir / "mlflow").exists(), "nothing tracked when off"
