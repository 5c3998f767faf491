"""The promotion gate on real DAG runs: a refit serves and is linked; no skill never serves."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from include import publish, registry
from include.dag_runs import run_dag
from tests.e2e.conftest import AS_OF, RISK_CONF
from tests.helpers import read_sql as _read

pytestmark = pytest.mark.e2e

RECS_CONF = {"as_of": AS_OF.date().isoformat(), "candidates": ["popularity", "item_knn"]}


def test_a_random_recommender_never_serves_and_the_refit_champion_keeps_serving(tiny_shop: str) -> None:
    run_dag("recommendations", logical_date=AS_OF, conf=RECS_CONF)
    champion = registry.current_champion("recommender")
    models = registry.history("recommender").set_index("model_version")
    promoted = models[models["decision"] == "promoted"]
    assert promoted["candidate"].tolist() == ["item_knn"]
    # The serving model is a refit on the whole window, linked to the candidate it came from.
    assert champion.model_version.endswith("-refit")
    assert models.loc[champion.model_version, "role"] == "refit"
    assert models.loc[champion.model_version, "refit_of"] == promoted.index[0] == champion.evaluated_version
    assert models.loc[champion.model_version, "train_rows"] > promoted["train_rows"].iloc[0]
    assert set(_read("SELECT DISTINCT model_version FROM recommendations")["model_version"]) == {
        champion.model_version
    }
    first = _read("SELECT * FROM recommendations")

    # A later night trains only the random ranking (and popularity, the floor).
    run_dag("recommendations", logical_date=AS_OF, conf={**RECS_CONF, "candidates": ["random"]})
    assert registry.current_champion("recommender") == champion, "the champion keeps serving"
    runs = registry.history("recommender")
    random = runs[runs["candidate"] == "random"].iloc[0]
    assert random["decision"] == "rejected"
    assert random["decision_reason"].startswith("no skill over popularity")
    decision = json.loads(random["comparison"])["decision"]
    assert decision["outcome"] == "keep"
    assert decision["champion"] is not None, "the champion was judged on the same holdout"
    assert decision["verdicts"]["random"]["over_floor"]["low"] <= 0
    assert publish.list_versions("recommendations")["version"].tolist() == [2, 1]
    pd.testing.assert_frame_equal(
        _read("SELECT * FROM recommendations").sort_values(["customer_id", "rank"], ignore_index=True),
        first.sort_values(["customer_id", "rank"], ignore_index=True),
    )

    # The next night retrains the champion's own configuration on one more day of data: within
    # noise of the champion, it refreshes it, and a new refit serves.
    next_night = (AS_OF + timedelta(days=1)).date().isoformat()
    run_dag(
        "recommendations", logical_date=AS_OF + timedelta(days=1), conf={**RECS_CONF, "as_of": next_night}
    )
    refreshed = registry.current_champion("recommender")
    runs = registry.history("recommender").set_index("model_version")
    assert runs.loc[refreshed.evaluated_version, "decision"] == "refreshed"
    assert runs.loc[refreshed.evaluated_version, "decision_reason"].startswith(
        "item_knn refreshed on newer data"
    )
    assert refreshed.model_version != champion.model_version and refreshed.candidate == "item_knn"


def test_with_no_champion_and_no_skill_nothing_is_published(tiny_shop: str) -> None:
    dag_run = run_dag("order_risk", logical_date=AS_OF, conf={**RISK_CONF, "candidates": ["random"]})
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
    assert states["evaluate_candidates"] == "success"
    assert states["serve_model"] == "skipped"
    assert states["publish_order_risk_scores"] == "skipped"
    assert registry.current_champion("order_risk") is None
    assert publish.list_versions("order_risk_scores").empty
    runs = registry.history("order_risk")
    assert runs["candidate"].tolist() == ["random"]
    assert runs["decision"].tolist() == ["rejected"]
    assert runs["decision_reason"].iloc[0].startswith("no skill over base_rate")
    assert json.loads(runs["comparison"].iloc[0])["decision"]["reason"].startswith("nothing to serve")


def test_the_next_night_starts_the_tensorflow_champion_from_its_weights(tiny_shop: str) -> None:
    """Night one trains tf_next_item from scratch and promotes it. Night two's candidate starts
    from the champion's evaluated candidate (which stopped learning before tonight's holdout),
    and its refit from the serving refit."""
    conf = {**RECS_CONF, "candidates": ["tf_next_item"]}
    run_dag("recommendations", logical_date=AS_OF, conf=conf)
    first = registry.current_champion("recommender")
    assert first is not None and first.candidate == "tf_next_item"
    assert _fitted(first.evaluated_artifact_dir)["warm_generation"] == 0

    next_night = (AS_OF + timedelta(days=1)).date().isoformat()
    run_dag("recommendations", logical_date=AS_OF + timedelta(days=1), conf={**conf, "as_of": next_night})
    runs = registry.history("recommender")
    tonight = runs[(runs["candidate"] == "tf_next_item") & (runs["role"] == "candidate")].iloc[0]
    candidate = _fitted(registry.artifact_dir("recommender", tonight["model_version"]))
    assert candidate["warm_generation"] == 1
    assert candidate["warm_from_as_of"] == _fitted(first.evaluated_artifact_dir)["as_of"]
    second = registry.current_champion("recommender")
    if second.model_version != first.model_version:  # refreshed: the refit started warm too
        assert _fitted(second.artifact_dir)["warm_from_as_of"] == _fitted(first.artifact_dir)["as_of"]


def _fitted(directory) -> dict:
    from pathlib import Path

    return json.loads((Path(directory) / "meta.json").read_text())["fitted"]
