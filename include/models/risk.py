"""Order risk models: two baselines and a TensorFlow MLP behind one interface.

Every candidate takes the features of `include.features` and returns a probability-like risk
score in [0, 1] (higher = riskier) and per-feature contributions that explain it. The scores
rank orders; they are not all calibrated probabilities (class weighting inflates them), so
decision thresholds are chosen per model on the holdout.

A saved model is a folder with `meta.json` (the candidate name, feature columns and
parameters) next to the model's own files; `load_risk_model` reads any of them back.
"""

from __future__ import annotations

import abc
import json
import logging
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from include.features import describe_reason

log = logging.getLogger(__name__)

META_FILE = "meta.json"
# Bumped when the saved layout changes incompatibly.
FORMAT_VERSION = 1
NO_SIGNAL_REASON = "no strong risk signal"

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

# TFRiskModel
# Units of the hidden layers.
TF_HIDDEN_UNITS: tuple[int, ...] = (32, 16)
TF_DROPOUT: float = 0.1
TF_L2: float = 1e-4
TF_LEARNING_RATE: float = 3e-3
TF_BATCH_SIZE: int = 512
TF_MAX_EPOCHS: int = 30
# Epochs without validation improvement before training stops (best weights are kept).
TF_PATIENCE: int = 5
# Share of the training rows, taken from the end of the period, used for early stopping.
TF_VALIDATION_FRACTION: float = 0.2
TF_SEED: int = 42
# Rows per batch when scoring and when computing gradients.
TF_PREDICT_BATCH_SIZE: int = 8192


class RiskModel(abc.ABC):
    """A fraud risk model over a fixed list of feature columns."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.feature_columns: list[str] = []

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
        self.feature_columns = [str(column) for column in X.columns]
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

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """Hyper-parameters, JSON-serialisable, for the model's version record."""

    @abc.abstractmethod
    def _save_files(self, directory: Path) -> None:
        """Write the model's own files into `directory`."""

    @abc.abstractmethod
    def _load_files(self, directory: Path) -> None:
        """Read the model's own files from `directory`."""

    def save(self, directory: Path) -> None:
        """Write `meta.json` and the model's files into `directory` (created if needed)."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_files(directory)
        meta = {
            "name": self.name,
            "format_version": FORMAT_VERSION,
            "feature_columns": self.feature_columns,
            "params": self.params(),
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        log.info("Saved %s risk model to %s", self.name, directory)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read a model saved by `save`."""
        directory = Path(directory)
        meta = _read_meta(directory)
        if meta["name"] != cls.name:
            raise ValueError(f"{directory} holds a {meta['name']!r} model, not {cls.name!r}")
        model = cls()
        model.feature_columns = list(meta["feature_columns"])
        model._load_files(directory)
        return model

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The feature columns of `X`, in training order, as a finite float matrix."""
        missing = [column for column in self.feature_columns if column not in X.columns]
        if missing:
            raise ValueError(f"X is missing feature column(s): {', '.join(missing)}")
        values = X[self.feature_columns].to_numpy(dtype="float64")
        bad = ~np.isfinite(values).all(axis=0)
        if bad.any():
            columns = [c for c, b in zip(self.feature_columns, bad, strict=True) if b]
            raise ValueError(f"X has missing or infinite values in: {', '.join(columns)}")
        return values

    def _check_fitted(self) -> None:
        if not self.feature_columns:
            raise RuntimeError(f"{self.name} model is not trained")


class LogisticRiskModel(RiskModel):
    """Standardised features into a class-balanced logistic regression.

    Contributions are in log-odds: coefficient times standardised value.
    """

    name: ClassVar[str] = "logistic_regression"
    _FILE = "model.joblib"

    def __init__(self) -> None:
        super().__init__()
        self.pipeline: Any = None

    def _fit(self, values: np.ndarray, labels: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        self.pipeline = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "classify",
                    LogisticRegression(C=LOGISTIC_C, class_weight="balanced", max_iter=LOGISTIC_MAX_ITER),
                ),
            ]
        ).fit(values, labels)

    def _predict(self, values: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(values)[:, 1]

    def _contributions(self, values: np.ndarray) -> np.ndarray:
        scaled = self.pipeline.named_steps["scale"].transform(values)
        return scaled * self.pipeline.named_steps["classify"].coef_[0]

    def params(self) -> dict[str, Any]:
        return {"C": LOGISTIC_C, "class_weight": "balanced", "max_iter": LOGISTIC_MAX_ITER}

    def _save_files(self, directory: Path) -> None:
        import joblib

        joblib.dump(self.pipeline, directory / self._FILE)

    def _load_files(self, directory: Path) -> None:
        import joblib

        self.pipeline = joblib.load(directory / self._FILE)


class GradientBoostingRiskModel(RiskModel):
    """Histogram gradient boosting on the raw features.

    Contributions are in score units: how much the score drops when the feature is replaced
    by its training median, all else equal (one extra prediction per feature).
    """

    name: ClassVar[str] = "gradient_boosting"
    _FILE = "model.joblib"

    def __init__(self) -> None:
        super().__init__()
        self.classifier: Any = None
        self.medians: np.ndarray = np.empty(0)

    def _fit(self, values: np.ndarray, labels: np.ndarray) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.classifier = HistGradientBoostingClassifier(
            max_iter=GB_MAX_ITER,
            learning_rate=GB_LEARNING_RATE,
            max_leaf_nodes=GB_MAX_LEAF_NODES,
            min_samples_leaf=GB_MIN_SAMPLES_LEAF,
            l2_regularization=GB_L2_REGULARIZATION,
            early_stopping=False,
            random_state=GB_SEED,
        ).fit(values, labels)
        self.medians = np.median(values, axis=0)

    def _predict(self, values: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(values)[:, 1]

    def _contributions(self, values: np.ndarray) -> np.ndarray:
        score = self.classifier.predict_proba(values)[:, 1]
        pushes = np.zeros_like(values)
        for j, median in enumerate(self.medians):
            typical = values.copy()
            typical[:, j] = median
            pushes[:, j] = score - self.classifier.predict_proba(typical)[:, 1]
        return pushes

    def params(self) -> dict[str, Any]:
        return {
            "max_iter": GB_MAX_ITER,
            "learning_rate": GB_LEARNING_RATE,
            "max_leaf_nodes": GB_MAX_LEAF_NODES,
            "min_samples_leaf": GB_MIN_SAMPLES_LEAF,
            "l2_regularization": GB_L2_REGULARIZATION,
            "random_state": GB_SEED,
        }

    def _save_files(self, directory: Path) -> None:
        import joblib

        joblib.dump({"classifier": self.classifier, "medians": self.medians}, directory / self._FILE)

    def _load_files(self, directory: Path) -> None:
        import joblib

        saved = joblib.load(directory / self._FILE)
        self.classifier = saved["classifier"]
        self.medians = saved["medians"]


class TFRiskModel(RiskModel):
    """A small Keras MLP on standardised features, trained with class weights.

    `fit` expects `X` sorted by order time: the last `TF_VALIDATION_FRACTION` of the rows (the
    end of the training period) is held out for early stopping, so the stopping point is
    chosen on orders later than those the weights were fit on, as in production. The
    normalisation statistics are those of the fitting rows and live in the model itself, so
    the saved `.keras` file is self-contained.

    Contributions are in log-odds: gradient of the logit times (x - training mean), in
    standardised space.
    """

    name: ClassVar[str] = "tf_mlp"
    _FILE = "model.keras"
    _LOGIT_LAYER = "logit"

    def __init__(self) -> None:
        super().__init__()
        self.model: Any = None
        self.epochs_trained: int = 0
        self._logit_model: Any = None

    def _fit(self, values: np.ndarray, labels: np.ndarray) -> None:
        import keras

        keras.utils.set_random_seed(TF_SEED)
        n_validation = int(len(values) * TF_VALIDATION_FRACTION)
        n_fit = len(values) - n_validation
        fit_x, fit_y = values[:n_fit], labels[:n_fit]
        if fit_y.min() == fit_y.max():
            raise ValueError("the training part before the validation split has only one class")
        weights = _balanced_class_weights(fit_y)

        self.model = self._build(fit_x)
        self._logit_model = None
        validation: tuple[np.ndarray, ...] | None = None
        callbacks = []
        if n_validation > 0:
            val_x, val_y = values[n_fit:], labels[n_fit:]
            val_w = np.where(val_y == 1, weights[1], weights[0])
            validation = (val_x.astype("float32"), val_y.astype("float32"), val_w)
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=TF_PATIENCE, restore_best_weights=True
                )
            )
        history = self.model.fit(
            fit_x.astype("float32"),
            fit_y.astype("float32"),
            batch_size=TF_BATCH_SIZE,
            epochs=TF_MAX_EPOCHS,
            class_weight=weights,
            validation_data=validation,
            callbacks=callbacks,
            shuffle=True,
            verbose=0,
        )
        self.epochs_trained = len(history.history["loss"])
        log.info(
            "%s trained %d epochs on %d orders (validation %d)",
            self.name,
            self.epochs_trained,
            n_fit,
            n_validation,
        )

    def _build(self, fit_x: np.ndarray) -> Any:
        import keras

        # Constant columns keep a unit scale, so unseen values at scoring time stay finite.
        variance = fit_x.var(axis=0)
        variance[variance <= 0] = 1.0
        inputs = keras.Input(shape=(fit_x.shape[1],), name="features")
        hidden = keras.layers.Normalization(mean=fit_x.mean(axis=0), variance=variance, name="standardise")(
            inputs
        )
        for i, units in enumerate(TF_HIDDEN_UNITS):
            hidden = keras.layers.Dense(
                units,
                activation="relu",
                kernel_regularizer=keras.regularizers.L2(TF_L2),
                name=f"hidden_{i}",
            )(hidden)
            hidden = keras.layers.Dropout(TF_DROPOUT, seed=TF_SEED + i)(hidden)
        logit = keras.layers.Dense(1, name=self._LOGIT_LAYER)(hidden)
        score = keras.layers.Activation("sigmoid", name="score")(logit)
        model = keras.Model(inputs, score, name=self.name)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=TF_LEARNING_RATE),
            loss=keras.losses.BinaryCrossentropy(),
        )
        return model

    def _predict(self, values: np.ndarray) -> np.ndarray:
        scores = self.model.predict(values.astype("float32"), batch_size=TF_PREDICT_BATCH_SIZE, verbose=0)
        return scores[:, 0].astype("float64")

    def _contributions(self, values: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        values = values.astype("float32")
        logit_model = self._get_logit_model()
        mean = np.asarray(self.model.get_layer("standardise").mean, dtype="float32").ravel()
        pushes = np.zeros_like(values)
        for start in range(0, len(values), TF_PREDICT_BATCH_SIZE):
            batch = tf.convert_to_tensor(values[start : start + TF_PREDICT_BATCH_SIZE])
            with tf.GradientTape() as tape:
                tape.watch(batch)
                logits = logit_model(batch, training=False)
            gradient = tape.gradient(logits, batch).numpy()
            # d logit/dx * (x - mean) equals d logit/dz * z for z = (x - mean) / std.
            pushes[start : start + len(gradient)] = gradient * (batch.numpy() - mean)
        return pushes.astype("float64")

    def _get_logit_model(self) -> Any:
        import keras

        if self._logit_model is None:
            self._logit_model = keras.Model(self.model.inputs, self.model.get_layer(self._LOGIT_LAYER).output)
        return self._logit_model

    def params(self) -> dict[str, Any]:
        return {
            "hidden_units": list(TF_HIDDEN_UNITS),
            "dropout": TF_DROPOUT,
            "l2": TF_L2,
            "learning_rate": TF_LEARNING_RATE,
            "batch_size": TF_BATCH_SIZE,
            "max_epochs": TF_MAX_EPOCHS,
            "patience": TF_PATIENCE,
            "validation_fraction": TF_VALIDATION_FRACTION,
            "seed": TF_SEED,
            "epochs_trained": self.epochs_trained,
        }

    def _save_files(self, directory: Path) -> None:
        self.model.save(directory / self._FILE)

    def _load_files(self, directory: Path) -> None:
        import keras

        self.model = keras.saving.load_model(directory / self._FILE)
        self._logit_model = None
        self.epochs_trained = int(_read_meta(directory)["params"].get("epochs_trained", 0))


CANDIDATES: dict[str, type[RiskModel]] = {
    model.name: model for model in (LogisticRiskModel, GradientBoostingRiskModel, TFRiskModel)
}


def load_risk_model(directory: Path) -> RiskModel:
    """Load whichever candidate was saved in `directory`."""
    name = _read_meta(Path(directory))["name"]
    if name not in CANDIDATES:
        raise ValueError(f"{directory} holds an unknown risk model {name!r}")
    return CANDIDATES[name].load(directory)


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


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"no saved risk model in {directory} ({META_FILE} is missing)")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path} has format version {meta.get('format_version')}, expected {FORMAT_VERSION}")
    return meta


def _balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    """Weights that give both classes the same total weight (as sklearn's "balanced")."""
    counts = np.bincount(labels, minlength=2)
    return {cls: len(labels) / (2.0 * counts[cls]) for cls in (0, 1)}
