"""The model registry in the warehouse (`model_versions`) and the artifact store beside it.

Every trained model is a row: each candidate of each run, with what it was trained on, with
what, how it scored next to the other candidates, the skill floor and the champion on the same
holdout, and the gate's decision; and each refit that serves, linked to the candidate it came
from. One row per model name carries `is_champion = 1`; promotion flips it in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from include import settings, store, warehouse

if TYPE_CHECKING:
    from pathlib import Path

    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

MODEL_NAMES = ("recommender", "order_risk")
CANDIDATE_ROLE = "candidate"
REFIT_ROLE = "refit"


@dataclass(frozen=True)
class Champion:
    """The model serving one model name, and the evaluated candidate it stands on.

    A refit is trained on everything up to its run's as_of, so it cannot be judged on a later
    holdout that overlaps its training data. Its evaluated candidate can: it stopped learning
    at `evaluated_until`, and it is what tonight's candidates are compared with.
    """

    model_version: str
    candidate: str
    artifact_dir: ObjectStoragePath
    params: dict[str, Any]
    evaluated_version: str
    evaluated_artifact_dir: ObjectStoragePath
    evaluated_until: datetime


def new_version(model_name: str, candidate: str, run_id: str, role: str = CANDIDATE_ROLE) -> str:
    """A unique, readable model version: name, candidate, time and a hash of the run."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    digest = hashlib.sha1(f"{run_id}/{candidate}/{role}/{stamp}".encode()).hexdigest()[:6]
    suffix = "-refit" if role == REFIT_ROLE else ""
    return f"{model_name}-{candidate}-{stamp[:15]}-{digest}{suffix}"


def artifact_dir(model_name: str, model_version: str) -> ObjectStoragePath:
    """Where a model version's files live (in the model store, include/store.py)."""
    if model_name not in MODEL_NAMES:
        raise ValueError(f"Unknown model name {model_name!r}")
    return store.model_root() / model_name / model_version


def current_champion(model_name: str) -> Champion | None:
    """The serving model of `model_name`, or None before the first promotion."""
    frame = warehouse.read_frame("registry/select_champion", {"model_name": model_name})
    if frame.empty:
        return None
    row = frame.iloc[0]
    return Champion(
        model_version=row["model_version"],
        candidate=row["candidate"],
        artifact_dir=store.location(row["artifact_uri"]),
        params=json.loads(row["params"]),
        evaluated_version=row["evaluated_version"],
        evaluated_artifact_dir=store.location(row["evaluated_artifact_uri"]),
        evaluated_until=row["evaluated_holdout_start_at"].to_pydatetime(),
    )


def comparable(champion: Champion | None, holdout_start: datetime) -> bool:
    """Whether the champion may be judged on a holdout starting at `holdout_start`: only if
    the candidate it stands on stopped learning before it (otherwise it has seen the holdout)."""
    if champion is None:
        return False
    if champion.evaluated_until > holdout_start:
        log.warning(
            "Champion %s was evaluated as %s, trained up to %s, past this holdout's start %s: not compared",
            champion.model_version,
            champion.evaluated_version,
            champion.evaluated_until,
            holdout_start,
        )
        return False
    return True


def latest_evaluated(
    model_name: str, candidate: str, holdout_start: datetime
) -> tuple[str, ObjectStoragePath] | None:
    """The version and folder of `candidate`'s latest evaluated model that stopped learning
    at or before `holdout_start` (so it has not seen a holdout starting then), or None."""
    frame = warehouse.read_frame(
        "registry/select_latest_evaluated",
        {"model_name": model_name, "candidate": candidate, "holdout_start": holdout_start},
    )
    if frame.empty:
        return None
    return frame["model_version"].iloc[0], store.location(frame["artifact_uri"].iloc[0])


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
    primary_metric: float | None,
    decision: str,
    artifact: str | Path | ObjectStoragePath,
    role: str = CANDIDATE_ROLE,
    refit_of: str | None = None,
    primary_interval: tuple[float, float] | None = None,
    decision_reason: str | None = None,
) -> None:
    """Insert one trained model into model_versions."""
    if role not in (CANDIDATE_ROLE, REFIT_ROLE):
        raise ValueError(f"Unknown role {role!r}")
    low, high = primary_interval if primary_interval is not None else (None, None)
    warehouse.run_sql(
        "registry/insert_model_version",
        {
            "model_version": model_version,
            "model_name": model_name,
            "candidate": candidate,
            "role": role,
            "refit_of": refit_of,
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
            "primary_metric": None if primary_metric is None else float(primary_metric),
            "primary_ci_low": _finite_or_none(low),
            "primary_ci_high": _finite_or_none(high),
            "decision": decision,
            "decision_reason": decision_reason,
            "artifact_uri": store.uri(store.location(artifact)),
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


def _finite_or_none(value: float | None) -> float | None:
    if value is None or value != value:  # NaN: an interval that could not be computed
        return None
    return float(value)
