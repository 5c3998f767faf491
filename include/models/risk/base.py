"""The order-risk interface: fit on point-in-time features, score, explain.

Every candidate takes the features of `include.features` and returns the probability of a
chargeback (calibrated, see below) and per-feature contributions that explain it.

What the base class does for every model:
- unknown values (NaN) are filled with the feature's typical value, its median over the
  training rows, so a missing fact reads as an ordinary one and only its `*_unknown`
  indicator can carry risk;
- a feature that never varied in training is left out of the model: it carries no
  information, and a value it first shows at scoring time must not move the score;
- contributions are measured against the typical order, so a feature at its typical value
  never explains a score;
- the score is a calibrated probability: the model is first fitted without the newest
  `CALIBRATION_FRACTION` of its (time-ordered) rows, a Platt scaling of its scores is fitted
  on those rows it did not see, and the model is then fitted again on every row. Class
  weighting inflates raw scores many times over; bands priced in money need probabilities.
  Contributions stay on the model's own (uncalibrated) scale.
"""

from __future__ import annotations

import abc
import logging
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from include.features import describe_reason
from include.models.base import Model, limited_threads

log = logging.getLogger(__name__)

NO_SIGNAL_REASON = "no strong risk signal"
# The newest share of a model's training rows its calibration is fitted on.
CALIBRATION_FRACTION = 0.2
# Raw scores are clipped this far from 0 and 1 before taking their log-odds (near 1e-16 a
# float64 probability can no longer tell them apart).
_EPSILON = 1e-12


class RiskModel(Model):
    """A fraud risk model over the feature columns it was fitted on."""

    family: ClassVar[str] = "order_risk"
    # False for a model whose scores mean nothing (the random floor): left uncalibrated.
    calibrates: ClassVar[bool] = True

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
        values = X.to_numpy(dtype="float64")
        if np.isinf(values).any():
            named = [c for c, bad in zip(X.columns, np.isinf(values).any(axis=0), strict=True) if bad]
            raise ValueError(f"X has infinite values in: {', '.join(named)}")
        known = ~np.isnan(values)
        typical = [
            float(np.median(column[ok])) if ok.any() else 0.0
            for column, ok in zip(values.T, known.T, strict=True)
        ]
        filled = np.where(known, values, np.asarray(typical))
        varies = filled.min(axis=0) < filled.max(axis=0)
        self.fitted = {
            "feature_columns": [str(column) for column in X.columns],
            "typical": typical,
            "model_columns": [str(c) for c, v in zip(X.columns, varies, strict=True) if v],
            "train_rows": len(labels),
            "train_positives": positives,
        }
        log.info(
            "Training %s on %d orders (%d positive, %d features, %d constant left out)",
            self.name,
            len(labels),
            positives,
            len(self.model_columns),
            len(self.feature_columns) - len(self.model_columns),
        )
        values, labels = self._matrix(X), labels.astype("int64")
        with limited_threads():
            if self.calibrates:
                self.fitted["calibration"] = self._calibration(values, labels)
            self._fit(values, labels)
        return self

    def _calibration(self, values: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        """Platt scaling fitted on the newest rows, scored by the model fitted without them."""
        n_calibration = int(len(labels) * CALIBRATION_FRACTION)
        first, last = labels[: len(labels) - n_calibration], labels[len(labels) - n_calibration :]
        out_of_sample = 0 < first.sum() < len(first) and 0 < last.sum() < len(last)
        if out_of_sample:
            self._fit(values[: len(first)], first)
            raw, outcome = self._predict(values[len(first) :]), last
        else:
            log.warning(
                "%s: the newest %d training orders hold %d frauds: calibrating in sample",
                self.name,
                n_calibration,
                int(last.sum()),
            )
            self._fit(values, labels)
            raw, outcome = self._predict(values), labels
        slope, intercept = platt_scaling(raw, outcome)
        return {
            "method": "platt",
            "slope": slope,
            "intercept": intercept,
            "rows": len(outcome),
            "positives": int(outcome.sum()),
            "out_of_sample": bool(out_of_sample),
        }

    @property
    def model_columns(self) -> list[str]:
        """The feature columns the model reads: those that varied in training."""
        return list(self.fitted.get("model_columns", []))

    @property
    def typical(self) -> pd.Series:
        """The typical order: the median of each feature over the training rows."""
        return pd.Series(self.fitted["typical"], index=self.feature_columns, dtype="float64")

    def typical_values(self) -> np.ndarray:
        """The typical values of the model columns, in their order."""
        return self.typical[self.model_columns].to_numpy()

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score per row of `X`: the calibrated probability of a chargeback."""
        self._check_fitted()
        values = self._matrix(X)
        if len(values) == 0:
            return np.empty(0)
        with limited_threads():
            raw = self._predict(values)
        calibration = self.fitted.get("calibration")
        if calibration is None:
            return raw
        return _sigmoid(calibration["slope"] * _logit(raw) + calibration["intercept"])

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per row of `X` and feature: its push on the score relative to the typical order
        (positive = riskier); zero for the features the model leaves out."""
        self._check_fitted()
        values = self._matrix(X)
        pushes = pd.DataFrame(0.0, index=X.index, columns=self.feature_columns)
        if len(values):
            with limited_threads():
                pushes[self.model_columns] = self._contributions(values)
        return pushes

    @abc.abstractmethod
    def _fit(self, values: np.ndarray, labels: np.ndarray) -> None:
        """Train on a validated float matrix and 0/1 integer labels."""

    @abc.abstractmethod
    def _predict(self, values: np.ndarray) -> np.ndarray:
        """Scores of a non-empty validated float matrix."""

    @abc.abstractmethod
    def _contributions(self, values: np.ndarray) -> np.ndarray:
        """Contributions of a non-empty validated float matrix, same shape, relative to
        `typical_values()`."""

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The model columns of `X`, in training order, unknowns filled with the typical value."""
        missing = [column for column in self.feature_columns if column not in X.columns]
        if missing:
            raise ValueError(f"X is missing feature column(s): {', '.join(missing)}")
        columns = self.model_columns
        values = X[columns].to_numpy(dtype="float64")
        bad = np.isinf(values).any(axis=0)
        if bad.any():
            named = [c for c, b in zip(columns, bad, strict=True) if b]
            raise ValueError(f"X has infinite values in: {', '.join(named)}")
        return np.where(np.isnan(values), self.typical_values(), values)

    def _check_fitted(self) -> None:
        if not self.feature_columns:
            raise RuntimeError(f"{self.name} model is not trained")
        if "typical" not in self.fitted:
            raise RuntimeError(
                f"{self.name} model was saved before unknown values had indicators; retrain it"
            )


def top_reasons(model: RiskModel, X: pd.DataFrame, n: int = 3) -> list[str]:
    """Per row, the readable reasons of the (at most `n`) features that raised its score most
    relative to the typical order.

    Only features with a positive contribution and a value other than the typical one count;
    a row without any gets `NO_SIGNAL_REASON`.
    """
    if len(X) == 0:
        return []
    pushes = model.contributions(X)
    columns = list(pushes.columns)
    typical = model.typical[columns].to_numpy()
    feature_values = X[columns].to_numpy(dtype="float64")
    feature_values = np.where(np.isnan(feature_values), typical, feature_values)
    push_values = np.where(feature_values != typical, pushes.to_numpy(), 0.0)
    k = min(n, len(columns))
    top = np.argsort(-push_values, axis=1, kind="stable")[:, :k]
    reasons: list[str] = []
    for row, order in enumerate(top):
        texts = [
            describe_reason(columns[j], feature_values[row, j], typical[j])
            for j in order
            if push_values[row, j] > 0
        ]
        reasons.append("; ".join(texts) if texts else NO_SIGNAL_REASON)
    return reasons


def platt_scaling(raw: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of P(fraud) = sigmoid(slope * logit(raw) + intercept), fitted by
    maximum likelihood. The slope is kept positive, so calibration never reorders orders."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=1e4, max_iter=1000).fit(_logit(raw)[:, None], labels)
    slope = float(fitted.coef_[0, 0])
    if slope <= 0:
        log.warning("Calibration slope %.3g: scores carry no signal on the calibration rows", slope)
        slope = 1e-6
    return slope, float(fitted.intercept_[0])


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPSILON, 1 - _EPSILON)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))


def balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    """Weights that give both classes the same total weight (as sklearn's "balanced")."""
    counts = np.bincount(labels, minlength=2)
    return {cls: len(labels) / (2.0 * counts[cls]) for cls in (0, 1)}
