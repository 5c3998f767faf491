"""What the model DAGs share: the run's window (in order of precedence) and the shard split."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from include import warehouse
from include.pipeline.common import RunWindow, as_list, resolve_window, shard_of

PLUS_TWO = timezone(timedelta(hours=2))


class AssetEvent:
    """Stands in for an Airflow asset event: only `extra` is read."""

    def __init__(self, extra: dict | None) -> None:
        self.extra = extra


def _events(*ends: str, start_days: int = 1) -> dict[str, list[AssetEvent]]:
    events = []
    for end in ends:
        start = (datetime.fromisoformat(end) - timedelta(days=start_days)).isoformat()
        events.append(AssetEvent({"data_interval_start": start, "data_interval_end": end}))
    return {"validated_interactions": events}


SCHEDULED = {
    "data_interval_start": datetime(2026, 8, 20, 2, 0, tzinfo=PLUS_TWO),
    "data_interval_end": datetime(2026, 8, 21, 2, 0, tzinfo=PLUS_TWO),
}


def test_the_as_of_param_wins_over_everything() -> None:
    context = {"triggering_asset_events": _events("2026-08-29T00:00:00+00:00"), **SCHEDULED}
    window = resolve_window({"as_of": "2026-09-01"}, context)
    assert window == RunWindow(datetime(2026, 8, 31), datetime(2026, 9, 1))


def test_the_latest_triggering_asset_event_wins_over_the_data_interval() -> None:
    events = _events("2026-08-30T00:00:00+00:00", "2026-08-28T00:00:00+00:00", start_days=2)
    events["validated_orders"] = [AssetEvent(None), AssetEvent({"other": "value"})]
    events["validated_more"] = [AssetEvent({"data_interval_end": "2026-08-29T22:00:00+00:00"})]
    window = resolve_window({"as_of": None}, {"triggering_asset_events": events, **SCHEDULED})
    assert window == RunWindow(datetime(2026, 8, 28), datetime(2026, 8, 30))
    assert window.as_of.tzinfo is None and window.interval_start.tzinfo is None


def test_asset_event_times_are_made_naive_utc() -> None:
    events = {
        "validated_orders": [
            AssetEvent(
                {
                    "data_interval_start": "2026-08-29T02:00:00+02:00",
                    "data_interval_end": "2026-08-30T02:00:00+02:00",
                }
            )
        ]
    }
    window = resolve_window({}, {"triggering_asset_events": events})
    assert window == RunWindow(datetime(2026, 8, 29), datetime(2026, 8, 30))


def test_a_real_data_interval_is_used_in_naive_utc() -> None:
    window = resolve_window({}, {"triggering_asset_events": {}, **SCHEDULED})
    assert window == RunWindow(datetime(2026, 8, 20), datetime(2026, 8, 21))
    assert window.as_of.tzinfo is None


def _write_events(times: list[datetime]) -> None:
    warehouse.write_frame(
        pd.DataFrame(
            {
                "event_id": range(1, len(times) + 1),
                "session_id": 1,
                "customer_id": 1,
                "product_id": 1,
                "event_type": "view",
                "event_at": times,
            }
        ),
        "events",
    )


def test_without_a_usable_interval_the_newest_day_in_the_warehouse_is_used(warehouse_url: str) -> None:
    _write_events([datetime(2026, 8, 27, 9), datetime(2026, 8, 29, 23, 59, 59), datetime(2026, 8, 28, 12)])
    expected = RunWindow(datetime(2026, 8, 29), datetime(2026, 8, 30))
    assert resolve_window({}, {}) == expected
    manual = {
        "data_interval_start": SCHEDULED["data_interval_end"],
        "data_interval_end": SCHEDULED["data_interval_end"],
    }
    assert resolve_window({"as_of": ""}, {"triggering_asset_events": {}, **manual}) == expected


def test_an_empty_warehouse_is_a_clear_error(warehouse_url: str) -> None:
    with pytest.raises(ValueError, match="no events"):
        resolve_window({}, {})


def test_the_window_survives_xcom() -> None:
    window = RunWindow(datetime(2026, 8, 29), datetime(2026, 8, 30))
    assert RunWindow.from_dict(window.to_dict()) == window
    assert window.interval == (datetime(2026, 8, 29), datetime(2026, 8, 30))


# --------------------------------------------------------------------------- helpers


class LazyOutputs:
    """Like Airflow's lazy mapped outputs: a length and indexing, iteration unsupported."""

    def __init__(self, values: list) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, i: int):
        if i >= len(self._values):
            raise AssertionError("probed past the end")
        return self._values[i]

    def __iter__(self):
        raise AssertionError("iterated")


def test_as_list_copies_outputs_and_treats_none_as_empty() -> None:
    values = ["a", {"b": 1}, None]
    out = as_list(values)
    assert out == values and out is not values
    assert as_list(None) == []
    assert as_list([]) == []
    assert as_list(LazyOutputs(["x", "y"])) == ["x", "y"]


@pytest.mark.parametrize("n_shards", [1, 3, 8])
def test_shards_are_disjoint_cover_every_id_and_are_stable(n_shards: int) -> None:
    ids = pd.Series(np.r_[np.arange(1, 200), [100_000_017, 2**40 + 3]])
    shards = shard_of(ids, n_shards)
    assert set(shards) == set(range(n_shards)), "every shard gets work"
    parts = [ids[shards == k] for k in range(n_shards)]
    assert sorted(pd.concat(parts)) == sorted(ids), "together the shards hold every id exactly once"
    reshuffled = ids.sample(frac=1.0, random_state=0)
    assert (shard_of(reshuffled, n_shards) == shards.loc[reshuffled.index]).all(), (
        "a re-run splits the same way"
    )
