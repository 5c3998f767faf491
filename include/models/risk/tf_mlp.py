"""The TensorFlow risk candidate: a small Keras MLP on standardised features.

TensorFlow trains it; numpy scores it. Its layers are a few small matrices, saved beside the
Keras file, and a forward pass (and the gradient the reasons need) is a handful of numpy
products: scoring, judging and explaining orders never import TensorFlow, which costs a task
process seconds before it does any work. TensorFlow is imported inside the methods that train,
and only this module of the risk package refers to it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from include.models.base import tensorflow
from include.models.risk.base import RiskModel, balanced_class_weights

log = logging.getLogger(__name__)

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
# Keras' Normalization divides by max(sqrt(variance), this).
KERAS_EPSILON: float = 1e-7
# Epochs at most when starting from the previous night's weights, and the nights in a row
# that may start warm before one trains from scratch (1: never warm).
TF_WARM_EPOCHS: int = 8
TF_WARM_PATIENCE: int = 2
TF_COLD_EVERY: int = 7


class TFRiskModel(RiskModel):
    """A small Keras MLP on standardised features, trained with class weights.

    `fit` expects `X` sorted by order time: the last `validation_fraction` of the rows (the
    end of the training period) is held out for early stopping, so the stopping point is
    chosen on orders later than those the weights were fit on, as in production. The
    normalisation statistics are those of the fitting rows and live in the model itself, so
    the saved `.keras` file is self-contained.

    Contributions are in log-odds: gradient of the logit times the difference from the typical
    order.

    Warm start: given an earlier version of the same shape over the same model columns
    (`warm_start`), training starts from its layer weights (tonight's standardisation) and runs
    at most `warm_epochs` epochs; every `cold_every`-th night in a row trains from scratch.
    """

    name: ClassVar[str] = "tf_mlp"
    _FILE = "model.keras"
    _LAYERS_FILE = "layers.npz"
    _LOGIT_LAYER = "logit"

    def __init__(
        self,
        hidden_units: tuple[int, ...] | list[int] = TF_HIDDEN_UNITS,
        dropout: float = TF_DROPOUT,
        l2: float = TF_L2,
        learning_rate: float = TF_LEARNING_RATE,
        batch_size: int = TF_BATCH_SIZE,
        max_epochs: int = TF_MAX_EPOCHS,
        patience: int = TF_PATIENCE,
        validation_fraction: float = TF_VALIDATION_FRACTION,
        seed: int = TF_SEED,
        warm_epochs: int = TF_WARM_EPOCHS,
        cold_every: int = TF_COLD_EVERY,
    ) -> None:
        super().__init__()
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.dropout = float(dropout)
        self.l2 = float(l2)
        self.learning_rate = float(learning_rate)
        self.batch_size = int(batch_size)
        self.max_epochs = int(max_epochs)
        self.patience = int(patience)
        self.validation_fraction = float(validation_fraction)
        self.seed = int(seed)
        self.warm_epochs = int(warm_epochs)
        self.cold_every = int(cold_every)
        self.model: Any = None  # the Keras model while training
        # What scoring needs, as numpy arrays: "mean", "variance", then "kernel_<layer>" and
        # "bias_<layer>" of every hidden layer and of the logit layer.
        self.layers: dict[str, np.ndarray] | None = None
        self._previous: TFRiskModel | None = None
        self._warm_generation = 0  # nights in a row this fit reuses an earlier version

    def warm_start(self, previous: Any) -> bool:
        """Start the next fit from `previous`, a fitted tf_mlp of the same shape, unless it is
        the `cold_every`-th warm start in a row. Whether its model columns match tonight's is
        known only at fit time: if they do not, the fit starts from scratch."""
        if not isinstance(previous, TFRiskModel) or previous.layers is None:
            return False
        return self._start_from(previous, ("hidden_units",), self.cold_every)

    def _fit(self, values: np.ndarray, labels: np.ndarray) -> None:
        tensorflow()  # held to the thread budget before Keras starts it
        import keras

        keras.utils.set_random_seed(self.seed)
        n_validation = int(len(values) * self.validation_fraction)
        n_fit = len(values) - n_validation
        fit_x, fit_y = values[:n_fit], labels[:n_fit]
        if fit_y.min() == fit_y.max():
            raise ValueError("the training part before the validation split has only one class")
        weights = balanced_class_weights(fit_y)

        self.model = self._build(fit_x)
        epochs, patience = self._start_from_previous()
        validation: tuple[np.ndarray, ...] | None = None
        callbacks = []
        if n_validation > 0:
            val_x, val_y = values[n_fit:], labels[n_fit:]
            val_w = np.where(val_y == 1, weights[1], weights[0])
            validation = (val_x.astype("float32"), val_y.astype("float32"), val_w)
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=patience, restore_best_weights=True
                )
            )
        history = self.model.fit(
            fit_x.astype("float32"),
            fit_y.astype("float32"),
            batch_size=self.batch_size,
            epochs=epochs,
            class_weight=weights,
            validation_data=validation,
            callbacks=callbacks,
            shuffle=True,
            verbose=0,
        )
        self.fitted["epochs_trained"] = len(history.history["loss"])
        self.layers = self._layers_of(self.model)
        log.info(
            "%s trained %d epochs on %d orders (validation %d)",
            self.name,
            self.fitted["epochs_trained"],
            n_fit,
            n_validation,
        )

    def _start_from_previous(self) -> tuple[int, int]:
        """Copy the previous version's layer weights into the new model if it reads the same
        columns; returns the epochs and patience of this fit."""
        previous = self._previous
        if previous is None or previous.model_columns != self.model_columns:
            if previous is not None:
                log.info("tf_mlp: no warm start, the previous model reads other columns")
            self.fitted["warm_generation"] = 0
            return self.max_epochs, self.patience
        for layer in self.model.layers:
            if layer.name.startswith("hidden_") or layer.name == self._LOGIT_LAYER:
                layer.set_weights(
                    [previous.layers[f"kernel_{layer.name}"], previous.layers[f"bias_{layer.name}"]]
                )
        self.fitted["warm_generation"] = self._warm_generation
        return min(self.warm_epochs, self.max_epochs), min(TF_WARM_PATIENCE, self.patience)

    def _build(self, fit_x: np.ndarray) -> Any:
        import keras

        # Constant columns keep a unit scale, so unseen values at scoring time stay finite.
        variance = fit_x.var(axis=0)
        variance[variance <= 0] = 1.0
        inputs = keras.Input(shape=(fit_x.shape[1],), name="features")
        hidden = keras.layers.Normalization(mean=fit_x.mean(axis=0), variance=variance, name="standardise")(
            inputs
        )
        for i, units in enumerate(self.hidden_units):
            hidden = keras.layers.Dense(
                units,
                activation="relu",
                kernel_regularizer=keras.regularizers.L2(self.l2),
                name=f"hidden_{i}",
            )(hidden)
            hidden = keras.layers.Dropout(self.dropout, seed=self.seed + i)(hidden)
        logit = keras.layers.Dense(1, name=self._LOGIT_LAYER)(hidden)
        score = keras.layers.Activation("sigmoid", name="score")(logit)
        model = keras.Model(inputs, score, name=self.name)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate),
            loss=keras.losses.BinaryCrossentropy(),
        )
        return model

    # ------------------------------------------------------------------ scoring with numpy

    def _dense_layers(self) -> list[str]:
        return [*(f"hidden_{i}" for i in range(len(self.hidden_units))), self._LOGIT_LAYER]

    def _layers_of(self, model: Any) -> dict[str, np.ndarray]:
        """The arrays a forward pass needs, read off a Keras model."""
        standardise = model.get_layer("standardise")
        layers = {
            "mean": np.asarray(standardise.mean, np.float32).reshape(-1),
            "variance": np.asarray(standardise.variance, np.float32).reshape(-1),
        }
        for name in self._dense_layers():
            kernel, bias = model.get_layer(name).get_weights()
            layers[f"kernel_{name}"], layers[f"bias_{name}"] = kernel, bias
        return layers

    def _scale(self) -> np.ndarray:
        """What the standardisation divides by, as Keras' Normalization does."""
        return np.maximum(np.sqrt(self.layers["variance"]), KERAS_EPSILON)

    def _forward(self, values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (n) of `values`, and each hidden layer's ReLU mask (for the gradient), in
        float32 as Keras computes them; dropout is off when scoring."""
        if self.layers is None:
            raise RuntimeError("the tf_mlp model is not fitted; call fit or load")
        layers = self.layers
        hidden = (values.astype(np.float32) - layers["mean"]) / self._scale()
        active = []
        for name in self._dense_layers()[:-1]:
            hidden = hidden @ layers[f"kernel_{name}"] + layers[f"bias_{name}"]
            active.append(hidden > 0)
            hidden = np.maximum(hidden, 0.0)
        logit = hidden @ layers[f"kernel_{self._LOGIT_LAYER}"] + layers[f"bias_{self._LOGIT_LAYER}"]
        return logit[:, 0], active

    def _predict(self, values: np.ndarray) -> np.ndarray:
        scores = np.empty(len(values))
        for start in range(0, len(values), TF_PREDICT_BATCH_SIZE):
            logit, _ = self._forward(values[start : start + TF_PREDICT_BATCH_SIZE])
            scores[start : start + len(logit)] = 1.0 / (1.0 + np.exp(-logit.astype(np.float64)))
        return scores

    def _contributions(self, values: np.ndarray) -> np.ndarray:
        """Gradient of the logit times the difference from the typical order: the gradient of
        a ReLU network is its weights chained through the units active for that order."""
        layers = self.layers
        names = self._dense_layers()
        scale = self._scale()
        logit_kernel = layers[f"kernel_{names[-1]}"][:, 0]
        typical = self.typical_values().astype(np.float32)
        pushes = np.zeros(values.shape, np.float64)
        for start in range(0, len(values), TF_PREDICT_BATCH_SIZE):
            batch = values[start : start + TF_PREDICT_BATCH_SIZE].astype(np.float32)
            _, active = self._forward(batch)
            gradient = np.broadcast_to(logit_kernel, (len(batch), len(logit_kernel)))
            for depth in range(len(active) - 1, -1, -1):
                gradient = gradient * active[depth]
                gradient = gradient @ layers[f"kernel_{names[depth]}"].T
            pushes[start : start + len(batch)] = gradient / scale * (batch - typical)
        return pushes

    def _save_files(self, directory: Path) -> None:
        self.model.save(directory / self._FILE)  # the Keras model, for whoever wants it
        np.savez(directory / self._LAYERS_FILE, **self.layers)

    def _load_files(self, directory: Path) -> None:
        self.model = None
        if (directory / self._LAYERS_FILE).exists():
            with np.load(directory / self._LAYERS_FILE, allow_pickle=False) as arrays:
                self.layers = {key: arrays[key] for key in arrays.files}
            return
        # Saved before its layers were: read them off the Keras file.
        tensorflow()
        import keras

        self.layers = self._layers_of(keras.saving.load_model(directory / self._FILE))
