"""The promotion gate on real DAG runs: a refit serves and is linked; no skill never serves."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from include import publish, registry
from include.dag_runs import run_dag
from include.models import catalogue
from tests.e2e.conftest import AS_OF, RISK_CONF
from tests.helpers import read_sql as _read

pytestmark = pytest.mark.e2e

RECS_CONF = {"as_of": AS_OF.date().isoformat(), "candidates": ["popularity", "ease"]}


def test_a_random_recommender_never_serves_and_the_refit_champion_keeps_serving(
    passed_tiny_shop: str,
) -> None:
    run_dag("recommendations", logical_date=AS_OF, conf=RECS_CONF)
    champion = registry.current_champion("recommender")
    models = registry.history("recommender").set_index("model_version")
    promoted = models[models["decision"] == "promoted"]
    assert promoted["candidate"].tolist() == ["ease"]
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
    assert runs.loc[refreshed.evaluated_version, "decision"] == "refreshed", runs[
        ["candidate", "decision", "decision_reason"]
    ].to_string()
    assert runs.loc[refreshed.evaluated_version, "decision_reason"].startswith("ease refreshed on newer data")
    assert refreshed.model_version != champion.model_version and refreshed.candidate == "ease"


def test_with_no_champion_and_no_skill_nothing_is_published(passed_tiny_shop: str) -> None:
    dag_run = run_dag("order_risk", logical_date=AS_OF, conf={**RISK_CONF, "candidates": ["random"]})
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
    assert states["evaluate_candidates"] == "success"
    assert states["serve_model"] == "skipped", registry.history("order_risk")[
        ["candidate", "decision_reason"]
    ].to_string()
    assert states["publish_order_risk_scores"] == "skipped"
    assert registry.current_champion("order_risk") is None
    assert publish.list_versions("order_risk_scores").empty
    runs = registry.history("order_risk")
    assert runs["candidate"].tolist() == ["random"]
    assert runs["decision"].tolist() == ["rejected"]
    assert runs["decision_reason"].iloc[0].startswith("no skill over base_rate")
    assert json.loads(runs["comparison"].iloc[0])["decision"]["reason"].startswith("nothing to serve")


def test_the_next_night_starts_every_candidate_from_its_own_last_evaluated_version(
    passed_tiny_shop: str,
) -> None:
    """Night two's candidates start from their own night-one candidates (which stopped
    learning before tonight's holdout), champion or not: the TensorFlow model from its
    weights, EASE from its λ. The serving refit starts warm too."""
    conf = {**RECS_CONF, "candidates": ["ease", "tf_next_item"]}
    run_dag("recommendations", logical_date=AS_OF, conf=conf)
    first = _candidates()
    assert _fitted(first["tf_next_item"])["warm_generation"] == 0
    assert _fitted(first["ease"])["l2_generation"] == 0
    champion = registry.current_champion("recommender")
    assert champion is not None and champion.candidate in ("ease", "tf_next_item")

    next_night = (AS_OF + timedelta(days=1)).date().isoformat()
    run_dag("recommendations", logical_date=AS_OF + timedelta(days=1), conf={**conf, "as_of": next_night})
    second = _candidates()
    tf = _fitted(second["tf_next_item"])
    assert tf["warm_generation"] == 1
    assert tf["warm_from_as_of"] == _fitted(first["tf_next_item"])["as_of"]
    ease = _fitted(second["ease"])
    assert (ease["l2_from"], ease["l2_generation"]) == ("previous version", 1)
    assert ease["l2_factor"] == pytest.approx(_fitted(first["ease"])["l2_factor"])

    serving = registry.current_champion("recommender")
    if serving.model_version != champion.model_version:  # a new refit serves: it started warm
        refit = _fitted(serving.artifact_dir)
        if serving.candidate == "tf_next_item":
            assert refit["warm_generation"] >= 1 and refit["warm_from_as_of"]
        else:
            assert refit["l2_from"] == "evaluated candidate"


def _candidates() -> dict:
    """The newest evaluated version of each recommender candidate: its folder."""
    runs = registry.history("recommender")
    runs = runs[runs["role"] == "candidate"].sort_values("trained_at")
    return {
        row.candidate: registry.artifact_dir("recommender", row.model_version) for row in runs.itertuples()
    }


def _fitted(location) -> dict:
    return catalogue.saved_meta(location)["fitted"]
