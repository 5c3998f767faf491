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


def comparable(champion: Champion | None, holdout_start: datetime) -> bool:
    """Whether the champion may be judged on a holdout starting at `holdout_start`: only if
    its own training data ended before it (otherwise it has seen the holdout)."""
    if champion is None:
        return False
    if champion.holdout_start_at > holdout_start:
        log.warning("Champion %s was trained on data past this holdout; not compared", champion.model_version)
        return False
    return True


def record_and_promote(
    *,
    model_name: str,
    trained: list[dict[str, Any]],
    metrics: dict[str, dict[str, float]],
    primary_metric: str,
    champion: Champion | None,
    champion_metrics: dict[str, float] | None,
    run_id: str,
    data_interval: tuple[datetime | None, datetime | None],
    holdout_start_at: datetime,
    holdout_rows: int,
    extra_params: dict[str, Any],
) -> dict[str, Any]:
    """Record every candidate with its metrics beside the others' and the champion's, promote
    the best if it beats the champion, and return the serving model's reference.

    Args:
        trained: the candidates' references (candidate, model_version, artifact, train_rows,
            params), as returned by the training tasks.
        metrics: candidate name -> its metrics on the holdout.
        champion_metrics: the current champion's metrics on the same holdout, if comparable.
    """
    comparison = dict(metrics)
    if champion is not None and champion_metrics is not None:
        comparison[f"champion:{champion.model_version}"] = champion_metrics
    for name, values in comparison.items():
        log.info("%-40s %s", name, {m: round(v, 4) for m, v in values.items()})

    if not trained:
        if champion is None:
            raise ValueError("Retraining was switched off and there is no champion to score with")
        return _serving(
            champion.model_version, champion.artifact_dir, champion.candidate, "retrain off: kept"
        )

    selection = select_champion(
        {name: values[primary_metric] for name, values in metrics.items()},
        None if champion_metrics is None else champion_metrics[primary_metric],
    )
    log.info("Selection: %s", selection.reason)
    for t in trained:
        won = selection.promote and t["candidate"] == selection.winner
        record_version(
            model_version=t["model_version"],
            model_name=model_name,
            candidate=t["candidate"],
            run_id=run_id,
            data_interval=data_interval,
            holdout_start_at=holdout_start_at,
            train_rows=t["train_rows"],
            holdout_rows=holdout_rows,
            params={**t["params"], **extra_params},
            metrics=metrics[t["candidate"]],
            comparison=comparison,
            primary_metric=metrics[t["candidate"]][primary_metric],
            decision="promoted" if won else "rejected",
            artifact=Path(t["artifact"]),
        )
        if won:
            promote(model_name, t["model_version"])
    if selection.promote:
        winner = next(t for t in trained if t["candidate"] == selection.winner)
        return _serving(
            winner["model_version"], Path(winner["artifact"]), winner["candidate"], selection.reason
        )
    if champion is None:  # select_champion promotes whenever there is no champion
        raise AssertionError("no champion and nothing promoted")
    return _serving(champion.model_version, champion.artifact_dir, champion.candidate, selection.reason)


def _serving(version: str, directory: Path, candidate: str, reason: str) -> dict[str, Any]:
    """The reference of the model that scores this run (for XCom)."""
    return {"model_version": version, "artifact": str(directory), "candidate": candidate, "reason": reason}
