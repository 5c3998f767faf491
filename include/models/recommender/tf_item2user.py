"""The TensorFlow recommender: a customer tower over their history, softmax over the catalogue.

TensorFlow is imported inside the functions that need it, and only this module of the
recommender package refers to it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.models.recommender.base import History, Recommender, check_k, top_neighbours

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

# Strongest history items (by weight) that make up a customer's representation.
MAX_HISTORY = 50
# Size of the item and customer embeddings.
EMBEDDING_DIM = 32
# Units of the hidden layer of the customer tower.
HIDDEN_UNITS = 64
# Passes over the training customers; each pass samples a fresh target per example.
EPOCHS = 8
# Training examples drawn per customer in each pass.
SAMPLES_PER_CUSTOMER = 2
# Examples per gradient step.
BATCH_SIZE = 256
# Adam learning rate.
LEARNING_RATE = 0.005
# Seed of every random choice in training (initialisation, target sampling, shuffling).
SEED = 42


def _keras() -> Any:
    """Import Keras on the TensorFlow back end, quietly."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


def _padded_history(weights: sp.csr_matrix, max_history: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `max_history` strongest products as 1-based indices (0 pads) and weights."""
    weights = weights.tocsr()
    n_rows = weights.shape[0]
    rows = np.repeat(np.arange(n_rows), np.diff(weights.indptr))
    order = np.lexsort((weights.indices, -weights.data, rows))
    position = np.arange(len(order)) - weights.indptr[rows[order]]
    keep = position < max_history
    items = np.zeros((n_rows, max_history), dtype=np.int32)
    values = np.zeros((n_rows, max_history), dtype=np.float32)
    items[rows[order][keep], position[keep]] = weights.indices[order][keep] + 1
    values[rows[order][keep], position[keep]] = weights.data[order][keep]
    return items, values


def _bag_weights(items: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-item shares of the customer representation: log1p(weight), normalised per row.

    A row whose weights are all zero spreads evenly over its items; padding gets nothing.
    """
    bag = np.where(items > 0, np.log1p(weights), 0.0).astype(np.float32)
    total = bag.sum(axis=1, keepdims=True)
    even = (items > 0).astype(np.float32)
    bag = np.where(total > 0, bag, even)
    total = bag.sum(axis=1, keepdims=True)
    return np.divide(bag, total, out=np.zeros_like(bag), where=total > 0)


def build_item2user_model(
    n_products: int, max_history: int, embedding_dim: int, hidden_units: int
) -> keras.Model:
    """The customer tower and output layer: history bag -> logits over the known products.

    Inputs are a customer's history as 1-based product indices (0 pads) and the matching
    bag weights (summing to 1), so the dot product of weights and item embeddings is the
    weighted mean of the history's embeddings.
    """
    keras = _keras()
    items = keras.Input(shape=(max_history,), dtype="int32", name="history_items")
    weights = keras.Input(shape=(max_history,), dtype="float32", name="history_weights")
    embedded = keras.layers.Embedding(n_products + 1, embedding_dim, name="item_embedding")(items)
    bag = keras.layers.Dot(axes=(1, 1), name="weighted_mean")([weights, embedded])
    hidden = keras.layers.Dense(hidden_units, activation="relu", name="tower_hidden")(bag)
    customer = keras.layers.Add(name="customer_embedding")(
        [bag, keras.layers.Dense(embedding_dim, name="tower_output")(hidden)]
    )
    # The kernel of this layer holds the output item embeddings, its bias the item biases.
    logits = keras.layers.Dense(n_products, name="item_logits")(customer)
    return keras.Model([items, weights], logits, name="item2user")


class TFRecommender(Recommender):
    """A Keras model that predicts a customer's next product from the rest of their history.

    The customer is the weighted mean of the embeddings of their `max_history` strongest
    products, passed through a small dense tower; the logits over all known products are
    its dot products with output item embeddings plus an item bias. Training hides one
    product of a history (drawn with probability proportional to its weight, so purchased
    and carted products are preferred) and learns to predict it with a softmax over the
    catalogue. Scores are softmax probabilities over the products the customer may still buy.
    """

    name: ClassVar[str] = "tf_item2user"

    def __init__(
        self,
        embedding_dim: int = EMBEDDING_DIM,
        hidden_units: int = HIDDEN_UNITS,
        epochs: int = EPOCHS,
        samples_per_customer: int = SAMPLES_PER_CUSTOMER,
        batch_size: int = BATCH_SIZE,
        learning_rate: float = LEARNING_RATE,
        max_history: int = MAX_HISTORY,
        seed: int = SEED,
        half_life_days: float = 0.0,
    ) -> None:
        super().__init__(half_life_days)
        self.embedding_dim = int(embedding_dim)
        self.hidden_units = int(hidden_units)
        self.epochs = int(epochs)
        self.samples_per_customer = int(samples_per_customer)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.max_history = int(max_history)
        self.seed = int(seed)
        self._model: keras.Model | None = None

    @property
    def model(self) -> keras.Model:
        if self._model is None:
            raise RuntimeError(f"the {self.name} recommender is not fitted; call fit or load")
        return self._model

    def _fit(self, interactions: pd.DataFrame, history: History, as_of: pd.Timestamp) -> None:
        keras = _keras()
        started = time.perf_counter()
        items, weights = _padded_history(history.weights, self.max_history)
        present = items > 0
        trainable = present.sum(axis=1) >= 2  # one product to predict, at least one to keep
        if not trainable.any():
            raise ValueError("no customer has two products in their history; cannot train")
        items = np.repeat(items[trainable], self.samples_per_customer, axis=0)
        weights = np.repeat(weights[trainable], self.samples_per_customer, axis=0)
        present = items > 0
        # Target preference: the interaction weight (purchases and carts weigh most).
        preference = np.where(present, np.log(np.maximum(weights, 1e-6)), -np.inf)

        keras.utils.set_random_seed(self.seed)  # also seeds Python's and numpy's global state
        rng = np.random.default_rng(self.seed)
        self._model = build_item2user_model(
            len(self.products), self.max_history, self.embedding_dim, self.hidden_units
        )
        self._model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        rows = np.arange(len(items))
        for epoch in range(self.epochs):
            # Gumbel-max: one target per example, drawn proportionally to its weight.
            target_pos = np.argmax(preference + rng.gumbel(size=items.shape), axis=1)
            targets = items[rows, target_pos] - 1
            inputs = items.copy()
            inputs[rows, target_pos] = 0
            result = self._model.fit(
                [inputs, _bag_weights(inputs, weights)],
                targets,
                batch_size=self.batch_size,
                epochs=1,
                shuffle=True,
                verbose=0,
            )
            log.info("tf_item2user epoch %d/%d loss %.4f", epoch + 1, self.epochs, result.history["loss"][-1])
        self.fitted["training_examples_per_epoch"] = len(items)
        log.info(
            "tf_item2user fitted on %d interactions, %d products, %d examples/epoch in %.1fs",
            len(interactions),
            len(self.products),
            len(items),
            time.perf_counter() - started,
        )

    def _top_k(self, batch: History, k: int) -> tuple[np.ndarray, np.ndarray]:
        weights, purchased = batch.weights, batch.purchased
        import tensorflow as tf

        items, values = _padded_history(weights, self.max_history)
        logits = self.model([items, _bag_weights(items, values)], training=False)
        masked = tf.where(tf.constant(purchased.toarray()), -np.inf, logits)
        top = tf.math.top_k(masked, k=min(k, len(self.products)))
        normaliser = tf.reduce_logsumexp(masked, axis=1, keepdims=True)
        top_logits = top.values.numpy().astype(np.float64)
        probability = np.exp(top_logits - normaliser.numpy().astype(np.float64))
        return top.indices.numpy(), np.where(np.isfinite(top_logits), probability, -np.inf)

    def item_embeddings(self) -> np.ndarray:
        """The learned input embedding of each known product (rows in `products` order)."""
        return np.asarray(self.model.get_layer("item_embedding").embeddings)[1:]

    def similar_products(self, k: int) -> pd.DataFrame:
        """Most cosine-similar products by learned item embedding."""
        k = check_k(k)
        embeddings = self.item_embeddings().astype(np.float64)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        unit = np.divide(embeddings, norms, out=np.zeros_like(embeddings), where=norms > 0)
        indices, scores = top_neighbours(len(unit), k, lambda a, b: unit[a:b] @ unit.T)
        return self._similar_from(indices, scores, k)

    def _save_files(self, directory: Path) -> None:
        np.save(directory / "products.npy", self.products)
        self.model.save(directory / "model.keras")

    def _load_files(self, directory: Path) -> None:
        keras = _keras()
        self._products = np.load(directory / "products.npy", allow_pickle=False)
        self._model = keras.saving.load_model(directory / "model.keras", compile=False)
