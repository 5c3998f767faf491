"""Settings every Shopflow DAG shares (cheap to import: no database, no heavy libraries)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import Param

# The first day the pipeline may run for; runs are never back-filled (catchup=False).
START_DATE = datetime(2026, 6, 1, tzinfo=UTC)

DEFAULT_ARGS = {
    "owner": "shopflow",
    # Transient failures (a dropped connection, a busy worker) get retried; 0 in the tests.
    "retries": int(os.environ.get("SHOPFLOW_TASK_RETRIES", "2")),
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
}

TAGS = ["shopflow"]


def model_dag_params(scored: str) -> dict[str, Param]:
    """The Params both model DAGs take: whether to retrain, the day to run as of, the shards.

    Args:
        scored: what a scoring shard scores, for the description ("customers", "orders").
    """
    return {
        "retrain": Param(
            True,
            type="boolean",
            description="Train and evaluate new candidates. Off: score with the current champion.",
        ),
        "as_of": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Use the data before this day (YYYY-MM-DD). Empty: the validated interval, else the newest data.",
        ),
        "n_shards": Param(
            4,
            type="integer",
            minimum=1,
            maximum=256,
            description=f"Scoring shards: parallel tasks that score {scored}.",
        ),
    }
