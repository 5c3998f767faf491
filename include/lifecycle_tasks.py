"""The model lifecycle as Airflow tasks, added the same way to both model DAGs.

    plan_candidates ─► train_candidate ×N (mapped) ─► evaluate_candidates ─► serve_model

Cheap to import (the DAG files call it at parse time); each task imports its family's step
module, `include.pipeline.<dag_id>`, when it runs and calls that module's `LIFECYCLE`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from include.pools import HEAVY


def _lifecycle(steps: str) -> Any:
    import importlib

    return importlib.import_module(steps).LIFECYCLE


def candidate_lifecycle(steps: str, staged: Any) -> Any:
    """Add the lifecycle tasks to the DAG being defined; returns the serving model's XComArg.

    Args:
        steps: the family's step module, e.g. "include.pipeline.recommendations".
        staged: the XComArg of the staged data the candidates train and are judged on.
    """

    @task
    def plan_candidates(params: dict[str, Any] | None = None) -> list[str]:
        """The candidates to train: the `candidates` Param plus the skill floor; none when
        `retrain` is off."""
        return _lifecycle(steps).candidates_to_train(params["candidates"]) if params["retrain"] else []

    @task(map_index_template="{{ candidate }}", pool=HEAVY)
    def train_candidate(
        candidate: str,
        staged: dict[str, Any],
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        from airflow.sdk import get_current_context

        get_current_context()["candidate"] = candidate
        lifecycle = _lifecycle(steps)
        return lifecycle.train(candidate, staged, run_id=run_id, params=lifecycle.candidate_params(params))

    @task(trigger_rule="none_failed", pool=HEAVY)
    def evaluate_candidates(
        trained: list[dict[str, Any]],
        staged: dict[str, Any],
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        from include.pipeline.common import as_list, gate_settings

        lifecycle = _lifecycle(steps)
        return lifecycle.evaluate_and_decide(
            as_list(trained),
            staged,
            gate=gate_settings(params),
            settings=lifecycle.run_settings(params),
            run_id=run_id,
        )

    @task(pool=HEAVY)
    def serve_model(
        outcome: dict[str, Any],
        staged: dict[str, Any],
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        lifecycle = _lifecycle(steps)
        return lifecycle.serve(outcome, staged, settings=lifecycle.run_settings(params), run_id=run_id)

    trained = train_candidate.partial(staged=staged).expand(candidate=plan_candidates())
    return serve_model(evaluate_candidates(trained, staged), staged)
