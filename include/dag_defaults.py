"""Settings every Shopflow DAG shares (cheap to import: no database, no heavy libraries)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

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
