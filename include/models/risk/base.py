"""The order-risk interface: fit on point-in-time features, score, explain.

Every candidate takes the features of `include.features` and returns a probability-like risk
score in [0, 1] (higher = riskier) and per-feature contributions that explain it. The scores
rank orders; they are not all calibrated probabilities (class weighting inflates them), so
decision thresholds are chosen per model on the holdout.
"""

from __future__ import annotations

import abc
import logging
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from include.features import describe_reason
from include.models.base import Model

log = logging.getLogger(__name__)

NO_SIGNAL_REASON = "no strong risk signal"


class RiskModel(Model):
    """A fraud risk model over the feature columns it was fitted on."""

    family: ClassVar[str] = "order_risk"

    @property
    def feature_columns(self) -> list[str]:
        """The feature columns, in training order (empty before fit)."""
        return list(self.fitted.get("feature_columns", []))

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Self:
        """Train on features `X` and 0/1 labels `y` (one per row)."""
        labels = np.asarray(y, dtype="float64").ravel()
        if len(labels) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(labels)}")
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError("y must contain only 0 and 1 (drop unlabelled orders first)")
        positives = int(labels.sum())
        if positives == 0 or positives == len(labels):
            raise ValueError(f"training needs both classes, got {positives} positives in {len(labels)} rows")
        self.fitted = {
            "feature_columns": [str(column) for column in X.columns],
            "train_rows": len(labels),
            "train_positives": positives,
        }
        log.info(
            "Training %s on %d orders (%d positive, %d features)",
            self.name,
            len(labels),
            positives,
            len(self.feature_columns),
        )
        self._fit(self._matrix(X), labels.astype("int64"))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score in [0, 1] per row of `X` (higher = riskier)."""
        self._check_fitted()
        values = self._matrix(X)
        if len(values) == 0:
            return np.empty(0)
        return self._predict(values)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per row of `X` and model feature: its push on the score (positive = riskier)."""
        self._check_fitted()
        values = self._matrix(X)
        pushes = self._contributions(values) if len(values) else np.empty(values.shape)
        return pd.DataFrame(pushes, index=X.index, columns=self.feature_columns)

    @abc.abstractmethod
    def _fit(self, values: np.ndarray, labels: np.ndarray) -> None:
        """Train on a validated float matrix and 0/1 integer labels."""

    @abc.abstractmethod
    def _predict(self, values: np.ndarray) -> np.ndarray:
        """Scores of a non-empty validated float matrix."""

    @abc.abstractmethod
    def _contributions(self, values: np.ndarray) -> np.ndarray:
        """Contributions of a non-empty validated float matrix, same shape."""

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The feature columns of `X`, in training order, as a finite float matrix."""
        columns = self.feature_columns
        missing = [column for column in columns if column not in X.columns]
        if missing:
            raise ValueError(f"X is missing feature column(s): {', '.join(missing)}")
        values = X[columns].to_numpy(dtype="float64")
        bad = ~np.isfinite(values).all(axis=0)
        if bad.any():
            named = [c for c, b in zip(columns, bad, strict=True) if b]
            raise ValueError(f"X has missing or infinite values in: {', '.join(named)}")
        return values

    def _check_fitted(self) -> None:
        if not self.feature_columns:
            raise RuntimeError(f"{self.name} model is not trained")


def top_reasons(model: RiskModel, X: pd.DataFrame, n: int = 3) -> list[str]:
    """Per row, the readable reasons of the `n` features that raised its score most.

    Only features with a positive contribution count; a row without any gets
    `NO_SIGNAL_REASON`.
    """
    if len(X) == 0:
        return []
    pushes = model.contributions(X)
    columns = list(pushes.columns)
    push_values = pushes.to_numpy()
    feature_values = X[columns].to_numpy(dtype="float64")
    k = min(n, len(columns))
    top = np.argsort(-push_values, axis=1, kind="stable")[:, :k]
    reasons: list[str] = []
    for row, order in enumerate(top):
        texts = [
            describe_reason(columns[j], feature_values[row, j]) for j in order if push_values[row, j] > 0
        ]
        reasons.append("; ".join(texts) if texts else NO_SIGNAL_REASON)
    return reasons


def balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    """Weights that give both classes the same total weight (as sklearn's "balanced")."""
    counts = np.bincount(labels, minlength=2)
    return {cls: len(labels) / (2.0 * counts[cls]) for cls in (0, 1)}
