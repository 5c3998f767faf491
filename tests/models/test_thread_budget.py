"""Every model holds its heavy libraries to the task's thread budget: with their defaults, two
tasks sharing two cores slowed gradient boosting from 3 s to minutes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import threadpoolctl

from include import settings
from include.models.catalogue import DEFAULT_CANDIDATES, model_class
from include.models.recommender.base import Recommender
from tests.models.test_risk import synthetic_orders


def test_the_budget_is_the_setting_else_the_task_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPFLOW_THREADS", "3")
    assert settings.thread_budget() == 3
    monkeypatch.delenv("SHOPFLOW_THREADS")
    monkeypatch.setenv("SHOPFLOW_TASKS_AT_ONCE", "1")
    assert settings.thread_budget() == os.cpu_count()
    monkeypatch.setenv("SHOPFLOW_TASKS_AT_ONCE", "1000")
    assert settings.thread_budget() == 1


def _spy_on_fit(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[list[dict]]:
    """Record the thread pools seen while `cls._fit` runs."""
    seen: list[list[dict]] = []
    original = cls._fit

    def fit(self, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(threadpoolctl.threadpool_info())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "_fit", fit)
    return seen


@pytest.mark.parametrize("name", sorted(set(DEFAULT_CANDIDATES["order_risk"]) - {"tf_mlp"}))
def test_risk_models_fit_within_the_budget(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPFLOW_THREADS", "1")
    cls = model_class("order_risk", name)
    seen = _spy_on_fit(monkeypatch, cls)
    X, y = synthetic_orders(2000, seed=1)
    cls().fit(X, y)
    pools = {(pool["user_api"], pool["num_threads"]) for pool in seen[0]}
    assert {"openmp", "blas"} <= {api for api, _ in pools}
    assert all(threads == 1 for _, threads in pools), pools


@pytest.mark.parametrize("name", ["ease", "linear_next", "item_knn"])
def test_recommenders_fit_within_the_budget(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPFLOW_THREADS", "1")
    cls = model_class("recommender", name)
    assert issubclass(cls, Recommender)
    seen = _spy_on_fit(monkeypatch, cls)
    rng = np.random.default_rng(0)
    interactions = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 300, 3000),
            "product_id": rng.integers(0, 80, 3000),
            "weight": 1.0,
            "purchases": rng.integers(0, 2, 3000),
            "last_at": pd.Timestamp("2024-05-01") + pd.to_timedelta(rng.integers(0, 30, 3000), unit="D"),
        }
    ).drop_duplicates(["customer_id", "product_id"])
    cls().fit(interactions)
    assert all(pool["num_threads"] == 1 for pool in seen[0])


def test_tensorflow_models_run_within_the_budget() -> None:
    """In a process of its own: TensorFlow fixes its thread pools once per process."""
    script = """
import json, numpy as np
from include.models.risk.tf_mlp import TFRiskModel
from tests.models.test_risk import synthetic_orders
import tensorflow as tf
X, y = synthetic_orders(1500, seed=1)
TFRiskModel(max_epochs=2).fit(X, y)
print(json.dumps([tf.config.threading.get_intra_op_parallelism_threads(),
                  tf.config.threading.get_inter_op_parallelism_threads()]))
"""
    env = {**os.environ, "SHOPFLOW_THREADS": "1", "PYTHONPATH": str(settings.PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [1, 1]
