"""The references the model DAGs pass through XCom, typed, with `to_dict` / `from_dict`.

XCom carries these as plain dicts (readable in the UI, no pickling); each step turns them back
into these classes at its start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


def to_naive_utc(value: datetime | str) -> datetime:
    """A naive UTC datetime from an aware/naive datetime or an ISO string (date or datetime)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


@dataclass(frozen=True)
class RunWindow:
    """The data a run may see: everything strictly before `as_of`.

    `interval_start`/`as_of` form the data interval recorded with the run's outputs.
    """

    interval_start: datetime
    as_of: datetime

    def to_dict(self) -> dict[str, str]:
        """For XCom."""
        return {"interval_start": self.interval_start.isoformat(), "as_of": self.as_of.isoformat()}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> RunWindow:
        """From XCom."""
        return cls(to_naive_utc(data["interval_start"]), to_naive_utc(data["as_of"]))

    @property
    def interval(self) -> tuple[datetime, datetime]:
        """(start, end) of the data interval."""
        return self.interval_start, self.as_of


@dataclass(frozen=True)
class Staged:
    """Frames one step staged as Parquet for the next: their paths, row counts and the window.

    `holdout_start` is where the evaluation begins, once a step has decided it; `train_end`
    is where the candidates' training data ends, when that is earlier (risk leaves a gap, as
    serving does: see `include.pipeline.order_risk`).
    """

    window: RunWindow
    paths: dict[str, str]
    rows: dict[str, int]
    holdout_start: datetime | None = None
    train_end: datetime | None = None

    @property
    def trained_until(self) -> datetime | None:
        """The end of the data candidates learn from."""
        return self.train_end or self.holdout_start

    def path(self, name: str) -> str:
        """The staged path of frame `name`."""
        if name not in self.paths:
            raise KeyError(f"nothing staged as {name!r}; staged: {sorted(self.paths)}")
        return self.paths[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.to_dict(),
            "paths": dict(self.paths),
            "rows": dict(self.rows),
            "holdout_start": None if self.holdout_start is None else self.holdout_start.isoformat(),
            "train_end": None if self.train_end is None else self.train_end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Staged:
        start, train_end = data.get("holdout_start"), data.get("train_end")
        return cls(
            window=RunWindow.from_dict(data["window"]),
            paths=dict(data["paths"]),
            rows={k: int(v) for k, v in data["rows"].items()},
            holdout_start=None if start is None else to_naive_utc(start),
            train_end=None if train_end is None else to_naive_utc(train_end),
        )


@dataclass(frozen=True)
class TrainedCandidate:
    """A candidate trained on the data before the holdout and saved under `artifact`."""

    candidate: str
    model_version: str
    artifact: str
    train_rows: int
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainedCandidate:
        return cls(**data)


@dataclass(frozen=True)
class GateOutcome:
    """What the evaluation decided: refit `winner` (promote, refresh), keep the champion, or
    serve nothing (none). `reason` says why, in words."""

    outcome: str
    reason: str
    winner: TrainedCandidate | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "winner": None if self.winner is None else self.winner.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateOutcome:
        winner = data.get("winner")
        return cls(
            outcome=data["outcome"],
            reason=data["reason"],
            winner=None if winner is None else TrainedCandidate.from_dict(winner),
        )


@dataclass(frozen=True)
class ServingModel:
    """The model that scores this run; `settings` holds what the family derives for serving
    (the risk bands' score cut-offs)."""

    model_version: str
    artifact: str
    candidate: str
    reason: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServingModel:
        return cls(**data)
