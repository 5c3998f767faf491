"""Staging and the model store on an object store: the same code as the local folder, against a
real S3 API served locally (moto's server mode). A model saved by one worker is loaded by
another that shares no folder with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest

from include import registry, staging, store
from include.models import catalogue
from tests.conftest import ROOT
from tests.models.test_risk import synthetic_orders

DAG_ID = "order_risk"


def _objects(settings: dict[str, str], endpoint: str) -> list[str]:
    """Every object key under the test's prefix, read straight from the S3 API."""
    prefix = settings["SHOPFLOW_MODEL_DIR"].removeprefix("s3://shopflow/").rsplit("/", 1)[0]
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="any",
        aws_secret_access_key="any",
        region_name="us-east-1",
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="shopflow", Prefix=prefix + "/")
    return sorted(
        item["Key"].removeprefix(prefix + "/") for page in pages for item in page.get("Contents", [])
    )


def test_a_staged_frame_goes_to_the_object_store_and_reads_back(
    s3_store: dict[str, str], s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLOW_VAR_DIR", str(tmp_path / "var"))
    frame = pd.DataFrame({"customer_id": [1, 2, 3], "score": [0.5, 0.25, None]})
    location = staging.write_parquet(frame, DAG_ID, "manual__2026-08-30T00:00:00+00:00", "risk_shard_000")

    assert location.startswith("s3://shopflow_store@shopflow/"), "the location names its connection"
    assert _objects(s3_store, s3_endpoint) == [
        "staging/order_risk/manual__2026-08-30T00_00_00_00_00/risk_shard_000.parquet"
    ]
    pd.testing.assert_frame_equal(staging.read_parquet(location), frame)
    assert staging.read_parquet(location, columns=["score"]).columns.tolist() == ["score"]
    assert not (tmp_path / "var").exists(), "nothing written to the local folder"


def test_prune_removes_old_run_folders_on_the_object_store(
    s3_store: dict[str, str], s3_endpoint: str
) -> None:
    frame = pd.DataFrame({"a": [1]})
    staging.write_parquet(frame, DAG_ID, "run_1", "features")
    staging.write_parquet(frame, "recommendations", "run_1", "train")

    assert staging.prune(DAG_ID, keep_days=7) == 0, "written just now: kept"
    assert staging.prune(DAG_ID, keep_days=-1) == 1, "a keep period that has passed: removed"
    assert _objects(s3_store, s3_endpoint) == ["staging/recommendations/run_1/train.parquet"]


_LOAD_IN_ANOTHER_WORKER = """
import json, sys
import pandas as pd
from include import registry
from include.models import catalogue
rows = pd.read_json(sys.stdin)
scores = {}
for version in sys.argv[1:]:
    model = catalogue.load_model(registry.artifact_dir("order_risk", version), family="order_risk")
    scores[version] = model.predict(rows).tolist()
print(json.dumps(scores))
"""


def test_a_model_saved_by_one_worker_is_loaded_by_another(
    s3_store: dict[str, str], s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLOW_VAR_DIR", str(tmp_path / "worker_a"))
    features, labels = synthetic_orders(1500, seed=3)
    # A pickled scikit-learn model and a Keras model with its numpy layers.
    models = {
        f"risk-{name}": catalogue.model_class("order_risk", name)().fit(features, labels)
        for name in ("logistic_regression", "tf_mlp")
    }
    for version, model in models.items():
        location = catalogue.save_model(model, registry.artifact_dir("order_risk", version))
        prefix = s3_store["SHOPFLOW_MODEL_DIR"].replace("s3://", "s3://shopflow_store@")
        assert location == f"{prefix}/order_risk/{version}"
    saved = _objects(s3_store, s3_endpoint)
    for version in models:
        assert f"models/order_risk/{version}/meta.json" in saved
    assert len(saved) > 2 * len(models)
    assert not (tmp_path / "worker_a").exists(), "worker A kept nothing on its own disk"

    # Worker B: another process, its own local folder, the same settings.
    rows = features.iloc[:50]
    env = {**os.environ, **s3_store, "PYTHONPATH": str(ROOT), "SHOPFLOW_VAR_DIR": str(tmp_path / "worker_b")}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_ANOTHER_WORKER, *models],
        input=rows.to_json(),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    for version, model in models.items():
        np.testing.assert_allclose(scores[version], model.predict(rows), rtol=1e-6, err_msg=version)
    cached = list((tmp_path / "worker_b" / "cache").glob("*/meta.json"))
    assert len(cached) == len(models), "worker B read each model from one local copy"

    # Copies not read for the keep period go; the store keeps every version.
    monkeypatch.setenv("SHOPFLOW_VAR_DIR", str(tmp_path / "worker_b"))
    (stale, fresh) = (path.parent for path in cached)
    month_ago = time.time() - 30 * 86400
    os.utime(stale / ".complete", (month_ago, month_ago))
    assert store.prune_cache() == 1
    assert not stale.exists() and fresh.exists()
    assert _objects(s3_store, s3_endpoint) == saved


def test_only_models_inside_the_store_are_loaded(s3_store: dict[str, str]) -> None:
    model = catalogue.model_class("order_risk", "logistic_regression")().fit(*synthetic_orders(500, seed=1))
    inside = catalogue.save_model(model, registry.artifact_dir("order_risk", "risk-v1"))
    elsewhere = store.root(s3_store["SHOPFLOW_STAGING_DIR"]) / "order_risk" / "risk-v1"
    catalogue.save_model(model, elsewhere)

    assert catalogue.load_model(inside, family="order_risk").params() == model.params()
    for location in (store.uri(elsewhere), inside + "/../../../staging/order_risk/risk-v1"):
        with pytest.raises(catalogue.ArtifactOutsideStore, match="outside the model store"):
            catalogue.load_model(location)
    with pytest.raises(FileNotFoundError):
        catalogue.load_model(store.uri(registry.artifact_dir("order_risk", "never-saved")))
