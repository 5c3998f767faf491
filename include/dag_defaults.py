"""Settings every Shopflow DAG shares (cheap to import: no database, no heavy libraries)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Param

from include import alerts, promotion, settings
from include.models import catalogue

# The first day the pipeline may run for; runs are never back-filled (catchup=False).
START_DATE = datetime(2026, 6, 1, tzinfo=UTC)

DEFAULT_ARGS = {
    "owner": "shopflow",
    # Transient failures (a dropped connection, a busy worker) get retried; 0 in the tests.
    "retries": int(os.environ.get("SHOPFLOW_TASK_RETRIES", "2")),
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
}
# A task that fails for good e-mails SHOPFLOW_ALERT_EMAIL (include/alerts.py), when it is set.
if (_notifier := alerts.failure_notifier()) is not None:
    DEFAULT_ARGS["on_failure_callback"] = [_notifier]
# Every run of every DAG carries the same deadline (None: alerts are off).
DEADLINE = alerts.run_deadline()

TAGS = ["shopflow"]


def check_run(
    *checks: Callable[[Mapping[str, Any]], None],
    tables: tuple[str, ...] = (),
    validated: bool = False,
    context: Mapping[str, Any] | None = None,
) -> None:
    """Fail the first task of a run at once, without retries, on what no retry can heal:

    - a conf key the DAG does not declare (a misspelt or invented Param would otherwise reach
      the code as if declared);
    - Params that `checks` reject together (each raises ValueError naming the conflict);
    - a missing or malformed `warehouse` connection, or a source table in `tables` missing;
    - a data contract that names what does not exist;
    - with `validated`, a table of `tables` the data-quality gate has never passed.

    An unreachable warehouse or secrets backend is not among them: that error propagates and
    Airflow retries the task. The message says what is wrong; nothing else of the run runs.
    `context` is the running task's unless given.
    """
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    from include import contract, validation, warehouse

    context = context if context is not None else get_current_context()

    dag = context["dag"]
    declared = set(dag.params)
    conf = context["dag_run"].conf or {}
    try:
        unknown = sorted(set(conf) - declared)
        if unknown:
            raise ValueError(f"{dag.dag_id} does not take the Params {unknown} (it takes {sorted(declared)})")
        for check in checks:
            check(context["params"])
        contract.load()
        warehouse.warehouse_url()
        if tables:
            warehouse.require_tables(tables)
        if validated:
            validation.require_passed(tables)
    except (ValueError, warehouse.WarehouseNotConfigured, warehouse.MissingSourceTables) as exc:
        raise AirflowFailException(f"{exc}. Nothing was run.") from exc


def model_dag_params(family: str, scored: str) -> dict[str, Param]:
    """The Params both model DAGs take: what to train, how demanding the promotion gate is, the
    day to run as of, the shards.

    Args:
        family: the model family in `include.models.catalogue` ("recommender", "order_risk").
        scored: what a scoring shard scores, for the description ("customers", "orders").
    """
    names = catalogue.candidate_names(family)
    floor = catalogue.FLOOR[family]
    return {
        "retrain": Param(
            True,
            type="boolean",
            description="Train and evaluate new candidates. Off: score with the current champion.",
        ),
        "candidates": Param(
            list(catalogue.DEFAULT_CANDIDATES[family]),
            type="array",
            items={"type": "string", "enum": names},
            uniqueItems=True,
            minItems=1,
            description=f"The candidates to train and judge (of: {', '.join(names)}). "
            + (f"{floor} is always trained: it is the skill floor." if floor in names else ""),
        ),
        "min_gain": Param(
            promotion.DEFAULT_MIN_GAIN,
            type="number",
            minimum=0,
            description="A candidate replaces the champion only if the lower end of the interval of "
            "its gain over the champion (primary metric, same holdout) is above this.",
        ),
        "confidence": Param(
            promotion.DEFAULT_CONFIDENCE,
            type="number",
            minimum=0.5,
            exclusiveMaximum=1,
            description="Confidence level of the bootstrap intervals of the promotion gate.",
        ),
        "bootstrap_draws": Param(
            promotion.DEFAULT_DRAWS,
            type="integer",
            minimum=100,
            maximum=20000,
            description="Bootstrap resamples of the holdout behind every interval (seeded).",
        ),
        "as_of": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Use the data before this day (YYYY-MM-DD). Empty: the validated interval, else the newest data.",
        ),
        # As many shards as heavy tasks run at once: more only queue, and each pays a task
        # process's start (imports, reading the staged frames) again.
        "n_shards": Param(
            settings.tasks_at_once(),
            type="integer",
            minimum=1,
            maximum=256,
            description=f"Scoring shards: parallel tasks that score {scored} "
            "(default: the heavy tasks a worker runs at once).",
        ),
    }
