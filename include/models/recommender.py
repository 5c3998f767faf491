"""Recommender candidates behind one interface: popularity, item-kNN and a TensorFlow model.

Every candidate is fitted on aggregated interactions (one row per customer and product) and
recommends from a customer's history as given at scoring time, so newer history is used
without retraining. A customer is scored when at least one of their history rows names a
product known to the model; everyone else is left out, to be filled by the caller (usually
with `PopularityRecommender.top_products`). Products the customer already purchased are never
recommended.

Input frames:
    interactions: customer_id, product_id, weight (views + 3 * add_to_cart + 5 * purchases),
        purchases (count), last_at (time of the last interaction; needed by popularity's fit).
    holdout: customer_id, product_id of purchases made after the training window.

TensorFlow is imported only by `TFRecommender`, so the popularity and item-kNN paths stay
cheap to import.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.metrics import ndcg_at_k, recall_at_k

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

# Customers (or products) scored per batch, at most.
SCORING_BATCH_SIZE = 4096
# Cells (rows x products) of one dense scoring batch, at most; bounds memory on big catalogues.
SCORING_MAX_CELLS = 8_000_000
# Neighbours kept per product by item-kNN (and co-purchases kept by popularity).
KNN_NEIGHBOURS = 100
# Purchases whose interaction is at most this many days older than the newest one count as recent.
POPULARITY_RECENT_DAYS = 28

# TensorFlow model settings.
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

META_FILE = "meta.json"
FORMAT_VERSION = 1
RECOMMENDATION_COLUMNS = ["customer_id", "rank", "product_id", "score"]
SIMILAR_COLUMNS = ["product_id", "rank", "similar_product_id", "score"]
HISTORY_COLUMNS = ("customer_id", "product_id", "weight", "purchases")


# ---------------------------------------------------------------------------- input checks


def _check_interactions(frame: pd.DataFrame, columns: Iterable[str] = HISTORY_COLUMNS) -> None:
    """Raise ValueError on a missing column, nulls, negative weights or duplicate pairs."""
    columns = list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"interactions lack column(s) {missing}; got {list(frame.columns)}")
    nulls = {c: int(n) for c, n in frame[columns].isna().sum().items() if n}
    if nulls:
        raise ValueError(f"interactions have nulls (column: count): {nulls}")
    weight = frame["weight"].to_numpy(np.float64)
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError("interactions have a negative or non-finite weight")
    if np.any(frame["purchases"].to_numpy(np.float64) < 0):
        raise ValueError("interactions have a negative purchase count")
    duplicated = int(frame.duplicated(["customer_id", "product_id"]).sum())
    if duplicated:
        raise ValueError(f"interactions must have one row per (customer_id, product_id); {duplicated} repeat")


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _index_of(products: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each id in the sorted `products`, or -1 for an unknown id."""
    if len(products) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(products, ids), len(products) - 1)
    return np.where(products[pos] == ids, pos, -1)


# ------------------------------------------------------------------------------- histories


@dataclass(frozen=True)
class _History:
    """Customers' histories restricted to known products, as sparse customer x product rows."""

    customer_ids: np.ndarray  # sorted, one per row
    weights: sp.csr_matrix  # interaction weights
    purchased: sp.csr_matrix  # True where the customer purchased the product

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)


def _build_history(
    interactions: pd.DataFrame,
    products: np.ndarray,
    customer_ids: np.ndarray | None = None,
    *,
    checked: bool = False,
) -> _History:
    """The histories of `customer_ids` (all customers when None) over the known `products`.

    `checked` skips validating the frame again when the caller has just done so.
    """
    missing = [c for c in HISTORY_COLUMNS if c not in interactions.columns]
    if missing:
        raise ValueError(f"interactions lack column(s) {missing}; got {list(interactions.columns)}")
    frame = interactions
    if customer_ids is not None:
        wanted = np.unique(np.asarray(customer_ids, dtype=np.int64))
        frame = frame[frame["customer_id"].isin(wanted)]
    if not checked:
        _check_interactions(frame)
    customers = frame["customer_id"].to_numpy(np.int64)
    column = _index_of(products, frame["product_id"].to_numpy(np.int64))
    known = column >= 0
    ids, row = np.unique(customers[known], return_inverse=True)
    column = column[known]
    shape = (len(ids), len(products))
    weights = sp.csr_matrix((frame["weight"].to_numpy(np.float64)[known], (row, column)), shape=shape)
    bought = frame["purchases"].to_numpy(np.float64)[known] > 0
    purchased = sp.csr_matrix(
        (np.ones(int(bought.sum()), dtype=bool), (row[bought], column[bought])), shape=shape
    )
    return _History(ids, weights, purchased)


def _batch_rows(n_products: int) -> int:
    """Rows per dense scoring batch for a catalogue of `n_products`."""
    return max(1, min(SCORING_BATCH_SIZE, SCORING_MAX_CELLS // max(n_products, 1)))


# --------------------------------------------------------------------------- top-k helpers


def _top_k_dense(keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest keys per row, best first."""
    k = min(k, keys.shape[1])
    if k == 0:
        return np.zeros((keys.shape[0], 0), np.int64), np.zeros((keys.shape[0], 0))
    part = np.argpartition(keys, keys.shape[1] - k, axis=1)[:, -k:]
    part_keys = np.take_along_axis(keys, part, axis=1)
    order = np.argsort(-part_keys, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_keys, order, axis=1)


def _top_neighbours(
    n_products: int, n: int, block_scores: Callable[[int, int], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n other products per product, computed block by block.

    Args:
        n_products: catalogue size.
        n: neighbours to keep per product.
        block_scores: (start, stop) -> dense (stop - start) x n_products scores; -inf excludes.

    Returns:
        (indices, scores), each n_products x min(n, n_products - 1); -inf marks an empty slot.
    """
    n = min(n, max(n_products - 1, 0))
    indices = np.zeros((n_products, n), dtype=np.int32)
    scores = np.full((n_products, n), -np.inf)
    step = _batch_rows(n_products)
    for start in range(0, n_products, step):
        stop = min(start + step, n_products)
        block = np.asarray(block_scores(start, stop), dtype=np.float64)
        block[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # never itself
        indices[start:stop], scores[start:stop] = _top_k_dense(block, n)
    return indices, scores


def _ranked_frame(
    ids: np.ndarray,
    products: np.ndarray,
    indices: np.ndarray,
    scores: np.ndarray,
    columns: list[str],
) -> pd.DataFrame:
    """A long frame (id, rank, product, score) from per-row top lists; -inf slots are dropped."""
    width = indices.shape[1]
    valid = np.isfinite(scores)
    return pd.DataFrame(
        {
            columns[0]: np.repeat(ids.astype(np.int64), width)[valid.ravel()],
            columns[1]: np.tile(np.arange(1, width + 1, dtype=np.int64), len(ids))[valid.ravel()],
            columns[2]: products[indices[valid]].astype(np.int64),
            columns[3]: scores[valid].astype(np.float64),
        },
        columns=columns,
    )


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=np.float64 if c == "score" else np.int64) for c in columns})


# ------------------------------------------------------------------------ saving & loading


def _write_meta(directory: Path, name: str, params: dict[str, Any], fitted: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"name": name, "format_version": FORMAT_VERSION, "params": params, "fitted": fitted}
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))


def _read_meta(directory: Path, expected_name: str | None = None) -> dict[str, Any]:
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no saved recommender at {directory}: {META_FILE} is missing")
    meta = json.loads(path.read_text())
    if expected_name is not None and meta.get("name") != expected_name:
        raise ValueError(f"{directory} holds a {meta.get('name')!r} recommender, not {expected_name!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{directory} has format version {meta.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    return meta


# ------------------------------------------------------------------------------- interface


class Recommender(abc.ABC):
    """A recommender candidate: fit on interactions, recommend from any customer history."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self._products: np.ndarray | None = None
        self._fitted: dict[str, Any] = {}

    # ---- what subclasses provide

    @abc.abstractmethod
    def fit(self, interactions: pd.DataFrame) -> Self:
        """Learn from aggregated interactions; returns self."""

    @abc.abstractmethod
    def _top_k(
        self, weights: sp.csr_matrix, purchased: sp.csr_matrix, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Product indices and scores (rows x <= k), best first, for a batch of histories.

        Purchased products must be excluded; -inf marks an empty slot (always trailing).
        """

    @abc.abstractmethod
    def similar_products(self, k: int) -> pd.DataFrame:
        """Per known product, up to k other products: product_id, rank, similar_product_id, score."""

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """JSON-serialisable hyper-parameters (the constructor's keyword arguments)."""

    @abc.abstractmethod
    def save(self, directory: Path) -> None:
        """Write meta.json (with "name") and the model's own files into `directory`."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: Path) -> Self:
        """Read a model written by `save`."""

    # ---- shared behaviour

    @property
    def products(self) -> np.ndarray:
        """The product ids known to the model, sorted."""
        if self._products is None:
            raise RuntimeError(f"the {self.name} recommender is not fitted; call fit or load")
        return self._products

    def _start_fit(self, interactions: pd.DataFrame, columns: Iterable[str]) -> _History:
        """Validate training interactions, set the vocabulary, return the full history."""
        _check_interactions(interactions, columns)
        if interactions.empty:
            raise ValueError("interactions are empty; nothing to fit on")
        self._products = np.unique(interactions["product_id"].to_numpy(np.int64))
        history = _build_history(interactions, self._products, checked=True)
        self._fitted = {
            "interactions": len(interactions),
            "customers": history.n_customers,
            "products": len(self._products),
        }
        return history

    def customers_with_history(self, interactions: pd.DataFrame, customer_ids: np.ndarray) -> np.ndarray:
        """The given customers (sorted, unique) with a history row on a known product."""
        wanted = np.unique(np.asarray(customer_ids, dtype=np.int64))
        frame = interactions[interactions["customer_id"].isin(wanted)]
        known = _index_of(self.products, frame["product_id"].to_numpy(np.int64)) >= 0
        return np.unique(frame["customer_id"].to_numpy(np.int64)[known])

    def recommend(self, interactions: pd.DataFrame, customer_ids: np.ndarray, k: int) -> pd.DataFrame:
        """Top-k products for each given customer with usable history.

        Args:
            interactions: histories to recommend from (may be newer than the training data).
            customer_ids: customers to score; those without a history row on a known product
                are absent from the result.
            k: products per customer.

        Returns:
            customer_id, rank (1..k), product_id, score; sorted by customer and rank, scores
            non-increasing within a customer; never a product the customer purchased.
        """
        k = _check_k(k)
        history = _build_history(interactions, self.products, customer_ids)
        frames = []
        step = _batch_rows(len(self.products))
        for start in range(0, history.n_customers, step):
            stop = min(start + step, history.n_customers)
            indices, scores = self._top_k(history.weights[start:stop], history.purchased[start:stop], k)
            frames.append(
                _ranked_frame(
                    history.customer_ids[start:stop],
                    self.products,
                    indices,
                    scores,
                    RECOMMENDATION_COLUMNS,
                )
            )
        if not frames:
            return _empty(RECOMMENDATION_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def _similar_from(self, indices: np.ndarray, scores: np.ndarray, k: int) -> pd.DataFrame:
        k = _check_k(k)
        products = self.products
        return _ranked_frame(products, products, indices[:, :k], scores[:, :k], SIMILAR_COLUMNS)


# ------------------------------------------------------------------------------ popularity


class _ArrayRecommender(Recommender):
    """A recommender whose state is a few numpy arrays, saved together as `<name>.npz`."""

    # The attributes saved, without their leading underscore (`products` -> `self._products`).
    _ARRAYS: ClassVar[tuple[str, ...]]

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        self.products  # noqa: B018 - refuses an unfitted model
        _write_meta(directory, self.name, self.params(), self._fitted)
        np.savez(directory / f"{self.name}.npz", **{key: getattr(self, f"_{key}") for key in self._ARRAYS})

    @classmethod
    def load(cls, directory: Path) -> Self:
        meta = _read_meta(Path(directory), cls.name)
        model = cls(**meta["params"])
        with np.load(Path(directory) / f"{cls.name}.npz", allow_pickle=False) as arrays:
            for key in cls._ARRAYS:
                setattr(model, f"_{key}", arrays[key])
        model._fitted = meta["fitted"]
        return model


class PopularityRecommender(_ArrayRecommender):
    """Most purchased products of late, the same list for everyone minus what they bought.

    Products are ranked by purchases on interactions at most `recent_days` older than the
    newest interaction, then by total interaction weight, then by product id. The score is
    that purchase count plus the weight tie-breaker scaled into [0, 1).

    Similar products are "customers who interacted with this product also bought": the number
    of such customers who purchased the other product, with overall popularity breaking ties
    (and filling the list for products with few co-purchases).
    """

    name: ClassVar[str] = "popularity"
    _ARRAYS: ClassVar[tuple[str, ...]] = ("products", "score", "order", "neighbour_idx", "neighbour_score")

    def __init__(self, recent_days: int = POPULARITY_RECENT_DAYS, neighbours: int = KNN_NEIGHBOURS) -> None:
        super().__init__()
        self.recent_days = int(recent_days)
        self.neighbours = int(neighbours)
        self._score: np.ndarray = np.zeros(0)  # per product index
        self._order: np.ndarray = np.zeros(0, np.int64)  # product indices, most popular first
        self._neighbour_idx: np.ndarray = np.zeros((0, 0), np.int32)
        self._neighbour_score: np.ndarray = np.zeros((0, 0))

    def params(self) -> dict[str, Any]:
        return {"recent_days": self.recent_days, "neighbours": self.neighbours}

    def fit(self, interactions: pd.DataFrame) -> Self:
        started = time.perf_counter()
        history = self._start_fit(interactions, (*HISTORY_COLUMNS, "last_at"))
        products = self.products
        column = _index_of(products, interactions["product_id"].to_numpy(np.int64))
        last_at = pd.to_datetime(interactions["last_at"])
        recent = (last_at >= last_at.max() - pd.Timedelta(days=self.recent_days)).to_numpy()
        purchases = interactions["purchases"].to_numpy(np.float64)
        recent_purchases = np.bincount(
            column, weights=np.where(recent, purchases, 0.0), minlength=len(products)
        )
        weight = np.bincount(
            column, weights=interactions["weight"].to_numpy(np.float64), minlength=len(products)
        )
        self._score = recent_purchases + weight / (weight.max() + 1.0)
        self._order = np.lexsort((products, -weight, -recent_purchases))

        # Co-purchases: customers who interacted with product i and purchased product j.
        interacted = history.weights.copy()
        interacted.data = np.ones_like(interacted.data)
        by_product = interacted.T.tocsr()
        bought = history.purchased.astype(np.float64).tocsr()
        prior = np.empty(len(products))
        prior[self._order] = 1.0 - np.arange(1, len(products) + 1) / (len(products) + 1)
        self._neighbour_idx, self._neighbour_score = _top_neighbours(
            len(products),
            self.neighbours,
            lambda a, b: (by_product[a:b] @ bought).toarray() + prior,
        )
        log.info(
            "popularity fitted on %d interactions, %d products in %.1fs",
            len(interactions),
            len(products),
            time.perf_counter() - started,
        )
        return self

    def top_products(self, k: int) -> pd.DataFrame:
        """The k most popular products: rank, product_id, score (for customers without history)."""
        top = self._order[: _check_k(k)]
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(top) + 1, dtype=np.int64),
                "product_id": self.products[top],
                "score": self._score[top],
            }
        )

    def _top_k(
        self, weights: sp.csr_matrix, purchased: sp.csr_matrix, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        # Only the first k + (most purchases of anyone in the batch) popular products can make it.
        most_bought = int(np.diff(purchased.indptr).max(initial=0))
        candidates = self._order[: k + most_bought]
        free = ~purchased[:, candidates].toarray()
        position = np.cumsum(free, axis=1)
        rows, cols = np.nonzero(free & (position <= k))
        width = min(k, len(candidates))
        indices = np.zeros((purchased.shape[0], width), dtype=np.int64)
        scores = np.full((purchased.shape[0], width), -np.inf)
        slot = position[rows, cols] - 1
        indices[rows, slot] = candidates[cols]
        scores[rows, slot] = self._score[candidates[cols]]
        return indices, scores

    def similar_products(self, k: int) -> pd.DataFrame:
        """Top co-purchased products per product (at most `neighbours` of them)."""
        return self._similar_from(self._neighbour_idx, self._neighbour_score, k)


# -------------------------------------------------------------------------------- item-kNN


class ItemKNNRecommender(_ArrayRecommender):
    """Item-item cosine similarity on the customer x product weight matrix.

    Each product keeps its `neighbours` most similar products. A customer's score for a
    product is the sum over their history of weight * similarity. Products no history item
    points to are ranked after all others by popularity (total weight), with score 0.
    """

    name: ClassVar[str] = "item_knn"
    _ARRAYS: ClassVar[tuple[str, ...]] = ("products", "neighbour_idx", "neighbour_score", "prior")

    def __init__(self, neighbours: int = KNN_NEIGHBOURS) -> None:
        super().__init__()
        self.neighbours = int(neighbours)
        self._neighbour_idx: np.ndarray = np.zeros((0, 0), np.int32)
        self._neighbour_score: np.ndarray = np.zeros((0, 0))
        self._prior: np.ndarray = np.zeros(0)  # popularity tie-break in (-1, 0)
        self._similarity: sp.csr_matrix | None = None

    def params(self) -> dict[str, Any]:
        return {"neighbours": self.neighbours}

    def fit(self, interactions: pd.DataFrame) -> Self:
        started = time.perf_counter()
        history = self._start_fit(interactions, HISTORY_COLUMNS)
        n_products = len(self.products)
        matrix = history.weights
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
        normalised = (
            matrix @ sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))
        ).tocsr()
        by_product = normalised.T.tocsr()

        def cosine(start: int, stop: int) -> np.ndarray:
            block = (by_product[start:stop] @ normalised).toarray()
            block[block <= 0] = -np.inf  # unrelated products are not neighbours
            return block

        self._neighbour_idx, self._neighbour_score = _top_neighbours(n_products, self.neighbours, cosine)
        weight = np.asarray(matrix.sum(axis=0)).ravel()
        order = np.lexsort((self.products, -weight))
        self._prior = np.empty(n_products)
        self._prior[order] = -np.arange(1, n_products + 1) / (n_products + 1)
        self._similarity = None
        log.info(
            "item_knn fitted on %d interactions, %d products in %.1fs",
            len(interactions),
            n_products,
            time.perf_counter() - started,
        )
        return self

    @property
    def similarity(self) -> sp.csr_matrix:
        """The sparse product x product matrix of kept neighbour similarities."""
        if self._similarity is None:
            n_products = len(self.products)
            valid = np.isfinite(self._neighbour_score)
            rows = np.broadcast_to(np.arange(n_products)[:, None], valid.shape)[valid]
            self._similarity = sp.csr_matrix(
                (self._neighbour_score[valid], (rows, self._neighbour_idx[valid])),
                shape=(n_products, n_products),
            )
        return self._similarity

    def _top_k(
        self, weights: sp.csr_matrix, purchased: sp.csr_matrix, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = (weights @ self.similarity).toarray()
        keys = np.where(scores > 0, scores, self._prior)
        keys[purchased.toarray()] = -np.inf
        indices, top = _top_k_dense(keys, k)
        return indices, np.where(np.isfinite(top), np.maximum(top, 0.0), -np.inf)

    def similar_products(self, k: int) -> pd.DataFrame:
        """Most cosine-similar products (at most `neighbours`, only positive similarity)."""
        return self._similar_from(self._neighbour_idx, self._neighbour_score, k)


# ------------------------------------------------------------------------------ TensorFlow


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
    ) -> None:
        super().__init__()
        self.embedding_dim = int(embedding_dim)
        self.hidden_units = int(hidden_units)
        self.epochs = int(epochs)
        self.samples_per_customer = int(samples_per_customer)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.max_history = int(max_history)
        self.seed = int(seed)
        self._model: keras.Model | None = None

    def params(self) -> dict[str, Any]:
        return {
            "embedding_dim": self.embedding_dim,
            "hidden_units": self.hidden_units,
            "epochs": self.epochs,
            "samples_per_customer": self.samples_per_customer,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "max_history": self.max_history,
            "seed": self.seed,
        }

    @property
    def model(self) -> keras.Model:
        if self._model is None:
            raise RuntimeError(f"the {self.name} recommender is not fitted; call fit or load")
        return self._model

    def fit(self, interactions: pd.DataFrame) -> Self:
        keras = _keras()
        started = time.perf_counter()
        history = self._start_fit(interactions, HISTORY_COLUMNS)
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
        self._fitted["training_examples_per_epoch"] = len(items)
        log.info(
            "tf_item2user fitted on %d interactions, %d products, %d examples/epoch in %.1fs",
            len(interactions),
            len(self.products),
            len(items),
            time.perf_counter() - started,
        )
        return self

    def _top_k(
        self, weights: sp.csr_matrix, purchased: sp.csr_matrix, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
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
        k = _check_k(k)
        embeddings = self.item_embeddings().astype(np.float64)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        unit = np.divide(embeddings, norms, out=np.zeros_like(embeddings), where=norms > 0)
        indices, scores = _top_neighbours(len(unit), k, lambda a, b: unit[a:b] @ unit.T)
        return self._similar_from(indices, scores, k)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        _write_meta(directory, self.name, self.params(), self._fitted)
        np.save(directory / "products.npy", self.products)
        self.model.save(directory / "model.keras")

    @classmethod
    def load(cls, directory: Path) -> Self:
        keras = _keras()
        directory = Path(directory)
        meta = _read_meta(directory, cls.name)
        model = cls(**meta["params"])
        model._products = np.load(directory / "products.npy", allow_pickle=False)
        model._model = keras.saving.load_model(directory / "model.keras", compile=False)
        model._fitted = meta["fitted"]
        return model


# ------------------------------------------------------------------------- registry & eval

CANDIDATES: dict[str, type[Recommender]] = {
    PopularityRecommender.name: PopularityRecommender,
    ItemKNNRecommender.name: ItemKNNRecommender,
    TFRecommender.name: TFRecommender,
}


def load_recommender(directory: Path) -> Recommender:
    """Load any saved candidate, choosing the class by the "name" in its meta.json."""
    name = _read_meta(Path(directory)).get("name")
    if name not in CANDIDATES:
        raise ValueError(f"{directory} holds an unknown recommender {name!r}; known: {sorted(CANDIDATES)}")
    return CANDIDATES[name].load(Path(directory))


def evaluate_recommender(
    model: Recommender, history: pd.DataFrame, holdout: pd.DataFrame, k: int
) -> dict[str, float]:
    """Recall@k and nDCG@k of `model` on the holdout purchases.

    Holdout customers with usable history are scored from `history`; their relevant products
    are their holdout purchases minus products they had already purchased in `history` (those
    can never be recommended); customers left with nothing relevant are skipped. Holdout
    customers without usable history are not scored and are counted as cold users.

    Returns:
        recall_at_k, ndcg_at_k, users (customers evaluated), cold_users, and coverage (share
        of the catalogue, every product in history or holdout, recommended to someone).

    Raises:
        ValueError: on malformed frames or when no holdout customer can be evaluated.
    """
    k = _check_k(k)
    missing = [c for c in ("customer_id", "product_id") if c not in holdout.columns]
    if missing:
        raise ValueError(f"holdout lacks column(s) {missing}; got {list(holdout.columns)}")
    if holdout[["customer_id", "product_id"]].isna().any().any():
        raise ValueError("holdout has null customer_id or product_id")
    customers = np.unique(holdout["customer_id"].to_numpy(np.int64))
    scored = model.customers_with_history(history, customers)

    bought_before = history.loc[history["purchases"] > 0, ["customer_id", "product_id"]]
    pairs = (
        holdout.loc[holdout["customer_id"].isin(scored), ["customer_id", "product_id"]]
        .astype(np.int64)
        .drop_duplicates()
        .merge(bought_before.astype(np.int64), how="left", indicator=True)
    )
    pairs = pairs[pairs["_merge"] == "left_only"]
    relevant = pairs.groupby("customer_id")["product_id"].agg(set)
    if relevant.empty:
        raise ValueError(
            f"no holdout customer can be evaluated: {len(customers)} in holdout, "
            f"{len(scored)} with usable history, none with a new purchase"
        )
    users = relevant.index.to_numpy(np.int64)
    recs = model.recommend(history, users, k)
    lists = recs.sort_values(["customer_id", "rank"]).groupby("customer_id")["product_id"].agg(list)
    recommended = [lists.get(user, []) for user in users]
    catalogue = np.union1d(history["product_id"].to_numpy(np.int64), holdout["product_id"].to_numpy(np.int64))
    return {
        "recall_at_k": recall_at_k(recommended, list(relevant), k),
        "ndcg_at_k": ndcg_at_k(recommended, list(relevant), k),
        "users": len(users),
        "cold_users": len(customers) - len(scored),
        "coverage": recs["product_id"].nunique() / len(catalogue),
    }
