"""Settings every Shopflow DAG shares (cheap to import: no database, no heavy libraries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# The first day the pipeline may run for; runs are never back-filled (catchup=False).
START_DATE = datetime(2026, 6, 1, tzinfo=UTC)

DEFAULT_ARGS = {
    "owner": "shopflow",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
}

TAGS = ["shopflow"]
