"""What the model DAGs share: which moment a run is "as of", publishing, and scoring shards."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from include import publish, staging, warehouse
from include.pipeline.refs import RunWindow, ServingModel, Staged, to_naive_utc
from include.promotion import GateSettings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# Name of the asset-event extra that carries the end of the validated data interval.
INTERVAL_END_KEY = "data_interval_end"
INTERVAL_START_KEY = "data_interval_start"


def _asset_event_interval(context: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    events = context.get("triggering_asset_events") or {}
    best: tuple[datetime, datetime] | None = None
    for asset_events in events.values():
        for event in asset_events:
            extra = getattr(event, "extra", None) or {}
            if INTERVAL_END_KEY in extra:
                end = to_naive_utc(extra[INTERVAL_END_KEY])
                start = to_naive_utc(extra.get(INTERVAL_START_KEY, extra[INTERVAL_END_KEY]))
                if best is None or end > best[1]:
                    best = (start, end)
    return best


def latest_data_day_end() -> datetime:
    """Midnight after the newest event in the warehouse: the end of the last full day of data."""
    import pandas as pd

    latest = warehouse.scalar("recommendations/select_latest_event")
    if latest is None or pd.isna(latest):
        raise ValueError("The warehouse has no events: build the shop first (make shop)")
    latest = to_naive_utc(latest.to_pydatetime() if hasattr(latest, "to_pydatetime") else latest)
    return datetime(latest.year, latest.month, latest.day) + timedelta(days=1)


def resolve_window(params: Mapping[str, Any], context: Mapping[str, Any]) -> RunWindow:
    """Decide the run's data window, in order of precedence.

    1. the `as_of` Param of a manual trigger (a date: the run sees data before it);
    2. the data interval that the validation run put on the triggering asset event;
    3. the run's own data interval, when it is a real interval (a scheduled run);
    4. the end of the newest day of data in the warehouse.
    """
    if params.get("as_of"):
        as_of = to_naive_utc(str(params["as_of"]))
        window = RunWindow(as_of - timedelta(days=1), as_of)
        source = "the as_of parameter"
    elif (from_event := _asset_event_interval(context)) is not None:
        window = RunWindow(*from_event)
        source = "the triggering asset event"
    elif (
        context.get("data_interval_start") is not None
        and context.get("data_interval_end") is not None
        and context["data_interval_end"] > context["data_interval_start"]
    ):
        window = RunWindow(
            to_naive_utc(context["data_interval_start"]), to_naive_utc(context["data_interval_end"])
        )
        source = "the run's data interval"
    else:
        as_of = latest_data_day_end()
        window = RunWindow(as_of - timedelta(days=1), as_of)
        source = "the newest data in the warehouse"
    log.info("Run window [%s, %s) from %s", window.interval_start, window.as_of, source)
    return window


def publish_version(
    table: str,
    frames: Iterable[pd.DataFrame],
    serving: Mapping[str, Any],
    staged: Mapping[str, Any],
    *,
    run_id: str,
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Publish `frames` as a new version of `table`, made by the serving model (a
    `ServingModel` dict) for the interval of the run's staged data, with an optional JSON
    `summary`; returns what was published (also the extra of the table's Asset event)."""
    model_version = ServingModel.from_dict(serving).model_version
    result = publish.publish(
        table,
        frames,
        run_id=run_id,
        model_version=model_version,
        data_interval=Staged.from_dict(staged).window.interval,
        summary=summary,
    )
    return {
        "table": result.table,
        "version": result.version,
        "rows": result.row_count,
        "model_version": model_version,
    }


def stage_frames(
    frames: Mapping[str, pd.DataFrame],
    window: RunWindow,
    *,
    dag_id: str,
    run_id: str,
    holdout_start: datetime | None = None,
) -> Staged:
    """Write each frame as the run's staged Parquet `<name>` and return the reference to them;
    older runs' staging past the keep period goes first."""
    staging.prune(dag_id)
    return Staged(
        window=window,
        paths={name: staging.write_parquet(frame, dag_id, run_id, name) for name, frame in frames.items()},
        rows={name: len(frame) for name, frame in frames.items()},
        holdout_start=holdout_start,
    )


def read_shards(paths: Iterable[str]) -> Iterator[pd.DataFrame]:
    """The staged shards, one frame at a time, in a stable order."""
    return (staging.read_parquet(p) for p in sorted(paths))


def shard_of(ids: Any, n_shards: int) -> Any:
    """The shard of each id: a stable modulo, so a re-run splits the same way."""
    return ids % n_shards


def as_list(values: Any) -> list[Any]:
    """A plain list from the outputs of a mapped task (indexing avoids probing past the end)."""
    if values is None:
        return []
    return [values[i] for i in range(len(values))]


def gate_settings(params: Mapping[str, Any]) -> GateSettings:
    """The promotion gate's settings from a model DAG's Params."""
    return GateSettings(
        min_gain=float(params["min_gain"]),
        confidence=float(params["confidence"]),
        draws=int(params["bootstrap_draws"]),
    )
