"""The promotion gate: metrics with bootstrap intervals, and whether a candidate may serve.

Every model of one evaluation is judged on the same holdout units (customers or orders). A
bootstrap resample draws those units with replacement (orders by whole days, see `bootstrap`);
every model's primary metric is computed on the same resamples, so the difference between two
models has a *paired* interval that is much narrower than either model's own interval would
suggest.

A candidate is promoted only if

1. it shows skill: the lower end of the paired interval of (candidate - floor) is above zero,
   where the floor is the simplest baseline (popularity for recommendations, the holdout base
   rate, i.e. the PR-AUC of a random ranking, for risk); and
2. it beats the current champion: the lower end of the paired interval of
   (candidate - champion) is above `min_gain` -- or there is no comparable champion.

Among the candidates that pass, the best point estimate wins. Otherwise the champion keeps
serving, except that a candidate of the champion's own configuration (same model, same
parameters, newer data) replaces it when it shows skill and is not worse than the champion
beyond noise: that is a refresh, not a promotion. With no champion and no skilful candidate,
nothing serves.

Pure numpy (imported inside the functions that compute, so the DAG files can read the
defaults cheaply); no database, no model code.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# A statistic maps bootstrap counts (how often each holdout unit was drawn) to a metric value.
Statistic = Callable[["np.ndarray"], float]
Outcome = Literal["promote", "refresh", "keep", "none"]

DEFAULT_MIN_GAIN = 0.0
DEFAULT_CONFIDENCE = 0.95
DEFAULT_DRAWS = 1000
# Seed of the resampling, so a re-run of an evaluation gives the same intervals.
BOOTSTRAP_SEED = 20260601
CHAMPION = "champion"


@dataclass(frozen=True)
class GateSettings:
    """How demanding the gate is (the model DAGs' `min_gain`, `confidence`, `bootstrap_draws`)."""

    min_gain: float = DEFAULT_MIN_GAIN
    confidence: float = DEFAULT_CONFIDENCE
    draws: int = DEFAULT_DRAWS
    seed: int = BOOTSTRAP_SEED

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"confidence must be in [0.5, 1), got {self.confidence}")
        if self.draws < 100:
            raise ValueError(f"bootstrap draws must be at least 100, got {self.draws}")
        if not (math.isfinite(self.min_gain) and self.min_gain >= 0):
            raise ValueError(f"min_gain must be a finite number >= 0, got {self.min_gain}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def signed(self) -> str:
        """As a difference: `+0.0040, interval [+0.0010, +0.0070]`."""
        return f"{self.estimate:+.4f}, interval [{self.low:+.4f}, {self.high:+.4f}]"

    def to_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> Interval:
        return cls(float(data["estimate"]), float(data["low"]), float(data["high"]))


def bootstrap(
    statistics: Mapping[str, Statistic],
    n_units: int,
    *,
    draws: int,
    seed: int,
    blocks: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Replicates of every statistic on the same `draws` resamples of the `n_units` units.

    With `blocks` (one block label per unit, say the day an order was placed) a resample draws
    whole blocks with replacement, as many as there are, so units that move together (a fraud
    campaign's orders of one day) stay together and the interval shows their joint noise.
    A statistic that is undefined on a resample (say, no fraud drawn) gives NaN there.
    """
    import numpy as np

    if n_units < 1:
        raise ValueError("the bootstrap needs at least one holdout unit")
    if blocks is None:
        block_of_unit = np.arange(n_units)
    else:
        if len(blocks) != n_units:
            raise ValueError(f"{len(blocks)} block labels for {n_units} holdout units")
        block_of_unit = np.unique(np.asarray(blocks), return_inverse=True)[1].ravel()
    n_blocks = int(block_of_unit.max()) + 1
    replicates = {name: np.empty(draws) for name in statistics}
    rng = np.random.default_rng(seed)
    for b in range(draws):
        drawn = np.bincount(rng.integers(0, n_blocks, n_blocks), minlength=n_blocks)
        counts = drawn[block_of_unit].astype(np.float64)
        for name, statistic in statistics.items():
            try:
                replicates[name][b] = statistic(counts)
            except (ValueError, ZeroDivisionError, FloatingPointError):
                replicates[name][b] = np.nan
    return replicates


def percentile_interval(estimate: float, replicates: np.ndarray, confidence: float) -> Interval:
    """The percentile interval of the replicates around `estimate` (NaN replicates ignored)."""
    import numpy as np

    finite = replicates[np.isfinite(replicates)]
    if len(finite) == 0:
        return Interval(float(estimate), float("nan"), float("nan"))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return Interval(float(estimate), float(low), float(high))


def paired_interval(
    estimates: Mapping[str, float],
    replicates: Mapping[str, np.ndarray],
    a: str,
    b: str,
    confidence: float,
) -> Interval:
    """The interval of (a - b), from differences on the same resamples."""
    return percentile_interval(estimates[a] - estimates[b], replicates[a] - replicates[b], confidence)


def served_range(
    estimate: float, replicates: np.ndarray, confidence: float, *, holdout_units: int, served_units: int
) -> Interval:
    """Where the metric measured on the `served_units` the model will score should fall.

    The holdout interval says how well the holdout figure is known; the served figure is a
    second sample with noise of its own, roughly (holdout units / served units) times the
    holdout's variance. So the range is the normal interval with the holdout replicates'
    standard deviation widened by sqrt(1 + holdout units / served units). It cannot see drift
    between the holdout and the served orders (what campaigns are running): the backtest places
    the holdout at the served distance so that drift's *mean* is in the estimate. The metrics
    here are shares, so the range is clipped to [0, 1].
    """
    from statistics import NormalDist

    import numpy as np

    if served_units < 1:
        raise ValueError("a served range needs at least one served unit")
    finite = replicates[np.isfinite(replicates)]
    if len(finite) < 2:
        return Interval(float(estimate), float("nan"), float("nan"))
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    spread = float(np.std(finite, ddof=1)) * math.sqrt(1.0 + holdout_units / served_units)
    low, high = max(0.0, estimate - z * spread), min(1.0, estimate + z * spread)
    return Interval(float(estimate), float(low), float(high))


@dataclass(frozen=True)
class Verdict:
    """What the gate found for one candidate."""

    metric: Interval
    over_floor: Interval | None  # None for the floor itself
    over_champion: Interval | None  # None without a comparable champion
    skilful: bool
    beats_champion: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric.to_dict(),
            "over_floor": None if self.over_floor is None else self.over_floor.to_dict(),
            "over_champion": None if self.over_champion is None else self.over_champion.to_dict(),
            "skilful": self.skilful,
            "beats_champion": self.beats_champion,
            "note": self.note,
        }


@dataclass(frozen=True)
class Decision:
    """The gate's outcome for one evaluation."""

    outcome: Outcome
    winner: str | None  # the candidate that will serve (promote, refresh), else None
    reason: str
    verdicts: dict[str, Verdict]
    floor: Interval
    champion: Interval | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "winner": self.winner,
            "reason": self.reason,
            "floor": self.floor.to_dict(),
            "champion": None if self.champion is None else self.champion.to_dict(),
            "verdicts": {name: v.to_dict() for name, v in self.verdicts.items()},
        }


def decide(
    estimates: Mapping[str, float],
    replicates: Mapping[str, np.ndarray],
    *,
    candidates: list[str],
    floor: str,
    champion: str | None,
    refreshable: str | None,
    settings: GateSettings,
    champion_note: str = "",
) -> Decision:
    """Apply the gate (see the module docstring).

    Args:
        estimates, replicates: the primary metric and its bootstrap replicates, keyed by name:
            every candidate, the floor, and the champion when it was compared.
        candidates: the candidates that may be promoted (the floor is never promoted).
        floor: the key of the skill floor.
        champion: the key of the champion's figures, or None when there is no comparable one.
        refreshable: the candidate that is the champion's own configuration retrained, if any.
        champion_note: why there is no comparable champion, for the reason text.
    """
    confidence = settings.confidence
    floor_interval = percentile_interval(estimates[floor], replicates[floor], confidence)
    champion_interval = (
        None
        if champion is None
        else percentile_interval(estimates[champion], replicates[champion], confidence)
    )
    verdicts: dict[str, Verdict] = {}
    for name in candidates:
        metric = percentile_interval(estimates[name], replicates[name], confidence)
        if name == floor:
            verdicts[name] = Verdict(metric, None, None, False, False, f"{name} is the skill floor")
            continue
        over_floor = paired_interval(estimates, replicates, name, floor, confidence)
        skilful = bool(over_floor.low > 0)
        over_champion = None
        beats = True
        if champion is not None:
            over_champion = paired_interval(estimates, replicates, name, champion, confidence)
            beats = bool(over_champion.low > settings.min_gain)
        if not skilful:
            note = f"no skill over {floor}: {over_floor.signed()}"
        elif over_champion is not None and not beats:
            note = f"not above the champion by more than {settings.min_gain:g}: {over_champion.signed()}"
        else:
            note = f"beat {floor} by {over_floor.signed()}"
        verdicts[name] = Verdict(metric, over_floor, over_champion, skilful, beats, note)

    passing = [n for n, v in verdicts.items() if v.skilful and v.beats_champion]
    if passing:
        winner = max(sorted(passing), key=lambda n: estimates[n])
        for name in passing:
            if name != winner:
                verdicts[name] = replace(verdicts[name], note=f"{verdicts[name].note}; below {winner}")
        verdict = verdicts[winner]
        if verdict.over_champion is not None:
            reason = f"{winner} beat the champion by {verdict.over_champion.signed()}"
        elif champion_note:
            reason = f"{winner} beat {floor} by {verdict.over_floor.signed()}; {champion_note}"
        else:
            reason = f"{winner} is the first champion: beat {floor} by {verdict.over_floor.signed()}"
        return Decision("promote", winner, reason, verdicts, floor_interval, champion_interval)

    best = _best_other(verdicts, estimates)
    best_text = f"best {best}: {verdicts[best].note}" if best else "no candidate besides the floor"
    if champion is None:
        if champion_note:  # a champion exists but could not be judged on this holdout
            reason = f"champion kept ({champion_note}); no candidate beat {floor} beyond noise ({best_text})"
            return Decision("keep", None, reason, verdicts, floor_interval, None)
        reason = f"nothing to serve: no candidate beat {floor} beyond noise ({best_text})"
        return Decision("none", None, reason, verdicts, floor_interval, None)

    if refreshable is not None and refreshable in verdicts:
        verdict = verdicts[refreshable]
        if verdict.skilful and verdict.over_champion is not None and verdict.over_champion.high >= 0:
            reason = (
                f"{refreshable} refreshed on newer data: the champion's own configuration, "
                f"within noise of it ({verdict.over_champion.signed()})"
            )
            return Decision("refresh", refreshable, reason, verdicts, floor_interval, champion_interval)
    reason = f"champion kept: {best_text}"
    return Decision("keep", None, reason, verdicts, floor_interval, champion_interval)


def _best_other(verdicts: Mapping[str, Verdict], estimates: Mapping[str, float]) -> str | None:
    """The candidate with the best point estimate, the floor left out."""
    others = [n for n, v in verdicts.items() if v.over_floor is not None]
    return max(sorted(others), key=lambda n: estimates[n]) if others else None
