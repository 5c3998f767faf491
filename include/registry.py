"""The model registry in the warehouse (`model_versions`) and the artifact store beside it.

Every trained candidate is recorded with what it was trained on, with what, and how it scored
next to the other candidates and the current champion on the same holdout. One row per model
name carries `is_champion = 1`; promotion flips it in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include import settings, warehouse

log = logging.getLogger(__name__)

MODEL_NAMES = ("recommender", "order_risk")


@dataclass(frozen=True)
class Champion:
    """The model currently serving one model name."""

    model_version: str
    candidate: str
    artifact_dir: Path
    holdout_start_at: datetime
    params: dict[str, Any]
    metrics: dict[str, Any]


def new_version(model_name: str, candidate: str, run_id: str) -> str:
    """A unique, readable model version: name, candidate, time and a hash of the run."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    digest = hashlib.sha1(f"{run_id}/{candidate}/{stamp}".encode()).hexdigest()[:6]
    return f"{model_name}-{candidate}-{stamp[:15]}-{digest}"


def artifact_dir(model_name: str, model_version: str) -> Path:
    """Where a model version's files live."""
    if model_name not in MODEL_NAMES:
        raise ValueError(f"Unknown model name {model_name!r}")
    return settings.model_store_dir() / model_name / model_version


def current_champion(model_name: str) -> Champion | None:
    """The serving model of `model_name`, or None before the first promotion."""
    frame = warehouse.read_frame("registry/select_champion", {"model_name": model_name})
    if frame.empty:
        return None
    row = frame.iloc[0]
    return Champion(
        model_version=row["model_version"],
        candidate=row["candidate"],
        artifact_dir=Path(row["artifact_uri"]),
        holdout_start_at=row["holdout_start_at"].to_pydatetime(),
        params=json.loads(row["params"]),
        metrics=json.loads(row["metrics"]),
    )


def record_version(
    *,
    model_version: str,
    model_name: str,
    candidate: str,
    run_id: str,
    data_interval: tuple[datetime | None, datetime | None],
    holdout_start_at: datetime,
    train_rows: int,
    holdout_rows: int,
    params: dict[str, Any],
    metrics: dict[str, Any],
    comparison: dict[str, Any],
    primary_metric: float,
    decision: str,
    artifact: Path,
) -> None:
    """Insert one trained candidate into model_versions."""
    warehouse.run_sql(
        "registry/insert_model_version",
        {
            "model_version": model_version,
            "model_name": model_name,
            "candidate": candidate,
            "run_id": run_id,
            "data_interval_start_at": data_interval[0],
            "data_interval_end_at": data_interval[1],
            "holdout_start_at": holdout_start_at,
            "trained_at": datetime.now(UTC),
            "train_rows": int(train_rows),
            "holdout_rows": int(holdout_rows),
            "params": json.dumps(params, sort_keys=True, default=str),
            "metrics": json.dumps(metrics, sort_keys=True),
            "comparison": json.dumps(comparison, sort_keys=True),
            "primary_metric": float(primary_metric),
            "decision": decision,
            "artifact_uri": str(artifact),
            "code_version": settings.code_version(),
        },
    )


def promote(model_name: str, model_version: str) -> None:
    """Make `model_version` the champion of `model_name`."""
    changed = warehouse.run_sql(
        "registry/promote_champion", {"model_name": model_name, "model_version": model_version}
    )
    if changed == 0:
        raise ValueError(f"No recorded version {model_version!r} of {model_name!r} to promote")
    log.info("Promoted %s to champion of %s", model_version, model_name)


def history(model_name: str) -> Any:
    """Every recorded version of `model_name`, newest first (a DataFrame)."""
    return warehouse.read_frame("registry/select_run_versions", {"model_name": model_name})


@dataclass(frozen=True)
class Selection:
    """The outcome of comparing candidates with the champion on one holdout."""

    winner: str  # a candidate name, or "champion"
    promote: bool
    reason: str


def select_champion(
    scores: dict[str, float], champion_score: float | None, *, min_gain: float = 0.0
) -> Selection:
    """Pick the best candidate; promote it only if it beats the champion by more than min_gain.

    Args:
        scores: primary metric of each candidate trained this run (higher is better).
        champion_score: the current champion's primary metric on the same holdout, or None.
        min_gain: how much better than the champion a candidate must be.
    """
    if not scores:
        raise ValueError("No candidate to select from")
    best = max(sorted(scores), key=lambda name: scores[name])
    if champion_score is None:
        return Selection(best, True, f"first champion: {best} ({scores[best]:.4f})")
    if scores[best] > champion_score + min_gain:
        return Selection(best, True, f"{best} {scores[best]:.4f} beats champion {champion_score:.4f}")
    return Selection(
        "champion", False, f"champion {champion_score:.4f} kept; best candidate {best} {scores[best]:.4f}"
    )
