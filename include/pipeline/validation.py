"""The steps of the validation DAG."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from include import validation
from include.pipeline.common import INTERVAL_END_KEY, INTERVAL_START_KEY, to_naive_utc

log = logging.getLogger(__name__)


# Volume and drift compare a day with at most this many days before it.
MAX_TRAILING_DAYS = 90


def check_settings(params: Mapping[str, Any]) -> None:
    """Check the validation Params together, before any work.

    Raises:
        ValueError: naming every conflict found.
    """
    low, high = float(params["volume_min_ratio"]), float(params["volume_max_ratio"])
    trailing = int(params["trailing_days"])
    conflicts = []
    if not low < 1 < high:
        conflicts.append(
            f"volume_min_ratio ({low}) must be below 1 and volume_max_ratio ({high}) above 1: "
            "a typical day must pass the volume check"
        )
    if not 3 <= trailing <= MAX_TRAILING_DAYS:
        conflicts.append(f"trailing_days ({trailing}) must be between 3 and {MAX_TRAILING_DAYS}")
    if conflicts:
        raise ValueError("warehouse_validation parameters conflict: " + "; ".join(conflicts))


def whole_days(interval_start: datetime, interval_end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days a run's data interval stands for: those that ended by its end.

    The nightly run fires at 00:30 (a grace period for the shop's loads), so its interval is
    [yesterday 00:30, today 00:30); it validates yesterday, [yesterday 00:00, today 00:00).
    An interval that already falls on midnights is kept as it is.
    """
    start, end = to_naive_utc(interval_start), to_naive_utc(interval_end)
    days = max(1, round((end - start).total_seconds() / 86400))
    end = datetime(end.year, end.month, end.day)
    return end - timedelta(days=days), end


def resolve_interval(
    day: str | None,
    interval_start: datetime | None,
    interval_end: datetime | None,
    run_after: datetime | None = None,
) -> dict[str, str]:
    """The interval to validate: one whole `day` if given, else the whole days of the run's data
    interval (`whole_days`), else (a manual run triggered without a logical date) the last whole
    day before the run was triggered."""
    if day:
        start = to_naive_utc(day)
        end = start + timedelta(days=1)
    elif interval_start is not None and interval_end is not None and interval_end > interval_start:
        start, end = whole_days(interval_start, interval_end)
    elif run_after is not None:
        start, end = whole_days(run_after - timedelta(days=1), run_after)
    else:
        raise ValueError("This run has no data interval: trigger it with the `day` parameter")
    log.info("Validating [%s, %s)", start, end)
    return {INTERVAL_START_KEY: start.isoformat(), INTERVAL_END_KEY: end.isoformat()}


def validate(
    table: str, interval: dict[str, str], *, run_id: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Validate one table on the interval with the thresholds of `params`.

    Raises:
        DataQualityError: on a critical failure.
    """
    results = validation.validate_table(
        table,
        to_naive_utc(interval[INTERVAL_START_KEY]),
        to_naive_utc(interval[INTERVAL_END_KEY]),
        run_id=run_id,
        quality=validation.QualitySettings.from_params(params),
    )
    return {
        "table": table,
        "checks": len(results),
        "warnings": [r.describe() for r in results if r.outcome == validation.WARNING],
        "quarantined": [r.describe() for r in results if r.outcome == validation.QUARANTINE],
    }
