"""The scikit-learn risk candidates (logistic regression, gradient boosting) and a random score."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from include.models.risk.base import RiskModel

log = logging.getLogger(__name__)

# LogisticRiskModel
# Inverse L2 regularisation strength.
LOGISTIC_C: float = 1.0
# Solver iteration cap; the problem is small and well scaled, so it converges far earlier.
LOGISTIC_MAX_ITER: int = 1000

# GradientBoostingRiskModel
# Boosting rounds (fixed: no random early-stopping split, which would mix time periods).
GB_MAX_ITER: int = 200
GB_LEARNING_RATE: float = 0.05
# Leaves per tree; small trees for a few thousand fraud cases.
GB_MAX_LEAF_NODES: int = 15
# Minimum orders per leaf, so leaves do not chase single fraud cases.
GB_MIN_SAMPLES_LEAF: int = 40
GB_L2_REGULARIZATION: float = 1.0
GB_SEED: int = 42

# RandomRiskModel
RANDOM_SEED: int = 7

_JOBLIB_FILE = "model.joblib"


class LogisticRiskModel(RiskModel):
    """Standardised features into a class-balanced logistic regression.

    Contributions are in log-odds: coefficient times the standardised difference from the
    typical order.
    """

    name: ClassVar[str] = "logistic_regression"

    def __init__(self, C: float = LOGISTIC_C, max_iter: int = LOGISTIC_MAX_ITER) -> None:  # noqa: N803
        super().__init__()
        self.C = float(C)
        self.max_iter = int(max_iter)
        self.pipeline: Any = None

    def _fit(self, values: np.ndarray, labels: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        self.pipeline = Pipeline(
            [
                ("scale", StandardScaler()),
                ("classify", LogisticRegression(C=self.C, class_weight="balanced", max_iter=self.max_iter)),
            ]
        ).fit(values, labels)

    def _predict(self, values: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(values)[:, 1]

    def _contributions(self, values: np.ndarray) -> np.ndarray:
        scale = self.pipeline.named_steps["scale"]
        difference = scale.transform(values) - scale.transform(self.typical_values()[None, :])
        return difference * self.pipeline.named_steps["classify"].coef_[0]

    def _save_files(self, directory: Path) -> None:
        import joblib

        joblib.dump(self.pipeline, directory / _JOBLIB_FILE)

    def _load_files(self, directory: Path) -> None:
        import joblib

        self.pipeline = joblib.load(directory / _JOBLIB_FILE)


class GradientBoostingRiskModel(RiskModel):
    """Histogram gradient boosting on the raw features.

    Contributions are in score units: how much the score drops when the feature is replaced
    by its typical value, all else equal (one extra prediction per feature).
    """

    name: ClassVar[str] = "gradient_boosting"

    def __init__(
        self,
        max_iter: int = GB_MAX_ITER,
        learning_rate: float = GB_LEARNING_RATE,
        max_leaf_nodes: int = GB_MAX_LEAF_NODES,
        min_samples_leaf: int = GB_MIN_SAMPLES_LEAF,
        l2_regularization: float = GB_L2_REGULARIZATION,
        seed: int = GB_SEED,
    ) -> None:
        super().__init__()
        self.max_iter = int(max_iter)
        self.learning_rate = float(learning_rate)
        self.max_leaf_nodes = int(max_leaf_nodes)
        self.min_samples_leaf = int(min_samples_leaf)
        self.l2_regularization = float(l2_regularization)
        self.seed = int(seed)
        self.classifier: Any = None

    def _fit(self, values: np.ndarray, labels: np.ndarray) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.classifier = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.seed,
        ).fit(values, labels)

    def _predict(self, values: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(values)[:, 1]

    def _contributions(self, values: np.ndarray) -> np.ndarray:
        score = self.classifier.predict_proba(values)[:, 1]
        pushes = np.zeros_like(values)
        for j, value in enumerate(self.typical_values()):
            typical = values.copy()
            typical[:, j] = value
            pushes[:, j] = score - self.classifier.predict_proba(typical)[:, 1]
        return pushes

    def _save_files(self, directory: Path) -> None:
        import joblib

        joblib.dump(self.classifier, directory / _JOBLIB_FILE)

    def _load_files(self, directory: Path) -> None:
        import joblib

        self.classifier = joblib.load(directory / _JOBLIB_FILE)


class RandomRiskModel(RiskModel):
    """A pseudo-random score in [0, 1) per order, the same for the same features, whatever the labels.

    It learns nothing, so it has no skill by construction: the promotion gate must never let it
    serve. Each row's score is a hash of its feature values (a fixed random projection, then
    the fractional part of a large multiple of its sine), so a re-run scores alike.
    """

    name: ClassVar[str] = "random"
    calibrates: ClassVar[bool] = False

    def __init__(self, seed: int = RANDOM_SEED) -> None:
        super().__init__()
        self.seed = int(seed)

    def _fit(self, values: np.ndarray, labels: np.ndarray) -> None:
        return None

    def _predict(self, values: np.ndarray) -> np.ndarray:
        projection = np.random.default_rng(self.seed).normal(size=values.shape[1])
        # Row by row (not a matrix product, whose rounding depends on the batch), so a row
        # scores alike whatever else is scored with it.
        projected = (values * projection).sum(axis=1)
        return np.mod(np.sin(projected + self.seed) * 43758.5453, 1.0)

    def _contributions(self, values: np.ndarray) -> np.ndarray:
        return np.zeros_like(values)

    def _save_files(self, directory: Path) -> None:
        return None  # everything it needs is in meta.json

    def _load_files(self, directory: Path) -> None:
        return None
