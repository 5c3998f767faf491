"""The TensorFlow recommender: the next product from the customer's recent products, in order.

Why this shape. On next-purchase protocols the strongest simple models are item-to-item (EASE,
item-kNN), and what they miss is order: that a product is usually bought *after* another
(accessories after a device, a refill after a consumable), and that the latest products say most.
This model keeps the item-to-item strength and learns what they miss:

    logit(j) = bias(j) + scale · Σ_p α_p s_p · ( T[h_p, j]  +  e(h_p) · f(j) )

over the customer's last `max_history` products h_1 (newest) … h_L, with s_p = log1p(the
interaction's weight) and α_p a learned weight per position. T is a learned *directed*
product -> product table, sparse: each product has `neighbours` slots, seeded from co-occurrence
(cosine) and then trained, so T[a, b] and T[b, a] part ways when one is bought after the other;
e(·), f(·) are low-rank embeddings for what co-occurrence alone cannot reach. It is trained with
a full softmax over the catalogue to predict each purchase from the products before it (the
task it is judged on), and stops early on a validation split inside the training window: each
sampled customer's latest purchase, predicted from the rest.

The catalogue enters only as a vector of logits per example, so training costs grow with the
number of examples, not with products²; examples are capped per customer. TensorFlow is
imported inside the methods that need it; the weights are saved as plain arrays (.npz).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.metrics import ndcg_values
from include.models.recommender.base import (
    PURCHASE_WEIGHT,
    History,
    Recommender,
    build_history,
    check_k,
    cosine_neighbours,
    top_k_dense,
    top_neighbours,
)

log = logging.getLogger(__name__)

# The latest products that describe a customer (positions p = 1 … L).
MAX_HISTORY = 20
# Learned directed weights kept per product: the product itself and its most co-occurring
# products (the seed of the weights).
NEIGHBOURS = 200
# Size of the low-rank product embeddings.
EMBEDDING_DIM = 64
# Passes over the training examples at most; training stops earlier when the validation
# NDCG@10 has not improved for `patience` checks in a row (the best weights are kept).
MAX_EPOCHS = 8
PATIENCE = 2
# Validation checks per pass.
CHECKS_PER_EPOCH = 4
BATCH_SIZE = 256
LEARNING_RATE = 0.003
# L2 penalty on the embeddings.
L2 = 1e-6
# Purchases per customer used as training targets at most (the latest ones).
MAX_EXAMPLES_PER_CUSTOMER = 20
# Customers whose latest purchase is held out to stop training, at most, and the cut-off of
# the validation NDCG.
VALIDATION_CUSTOMERS = 5000
VALIDATION_K = 10
SEED = 42
# Rows scored per TensorFlow call.
SCORING_BATCH = 1024

_ARRAYS = ("products", "neighbour_idx", "table", "position", "bias", "item_in", "item_out", "scale")


def _tf() -> Any:
    """TensorFlow, quietly, with at most the threads this task may use."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    threads = int(os.environ.get("SHOPFLOW_THREADS", "0") or 0) or (os.cpu_count() or 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this process
        pass
    return tf


def aligned_days(weights: sp.csr_matrix, days: sp.csr_matrix | None) -> np.ndarray:
    """The day of each stored entry of `weights` (zeros when unknown)."""
    if days is None:
        return np.zeros(weights.nnz)
    days = days.tocsr()
    if (
        days.nnz == weights.nnz
        and np.array_equal(days.indptr, weights.indptr)
        and np.array_equal(days.indices, weights.indices)
    ):
        return days.data
    rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
    return np.asarray(days[rows, weights.indices]).ravel()


def recent_products(batch: History, max_history: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `max_history` latest products (newest first, -1 pads) and their strengths
    log1p(weight), ordered by when they happened (then by weight, then by product)."""
    weights = batch.weights.tocsr()
    n_rows = weights.shape[0]
    rows = np.repeat(np.arange(n_rows), np.diff(weights.indptr))
    when = aligned_days(weights, batch.last_days)
    order = np.lexsort((weights.indices, -weights.data, -when, rows))
    position = np.arange(len(order)) - weights.indptr[rows[order]]
    keep = position < max_history
    items = np.full((n_rows, max_history), -1, dtype=np.int32)
    strength = np.zeros((n_rows, max_history), dtype=np.float32)
    items[rows[order][keep], position[keep]] = weights.indices[order][keep]
    strength[rows[order][keep], position[keep]] = np.log1p(weights.data[order][keep])
    return items, strength


class TFNextItemRecommender(Recommender):
    """Next product from the customer's latest products (see the module docstring)."""

    name: ClassVar[str] = "tf_next_item"

    def __init__(
        self,
        max_history: int = MAX_HISTORY,
        neighbours: int = NEIGHBOURS,
        embedding_dim: int = EMBEDDING_DIM,
        max_epochs: int = MAX_EPOCHS,
        patience: int = PATIENCE,
        batch_size: int = BATCH_SIZE,
        learning_rate: float = LEARNING_RATE,
        l2: float = L2,
        max_examples_per_customer: int = MAX_EXAMPLES_PER_CUSTOMER,
        seed: int = SEED,
        half_life_days: float = 0.0,
    ) -> None:
        super().__init__(half_life_days)
        self.max_history = int(max_history)
        self.neighbours = int(neighbours)
        self.embedding_dim = int(embedding_dim)
        self.max_epochs = int(max_epochs)
        self.patience = int(patience)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.l2 = float(l2)
        self.max_examples_per_customer = int(max_examples_per_customer)
        self.seed = int(seed)
        self._weights: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------------- training

    def _fit(self, interactions: pd.DataFrame, history: History, as_of: pd.Timestamp) -> None:
        tf = _tf()
        started = time.perf_counter()
        n_products = len(self.products)
        if self.half_life_days:  # the history as it will be seen when scoring: faded
            history = build_history(
                interactions, self.products, checked=True, half_life_days=self.half_life_days, as_of=as_of
            )
        examples, targets, validation, held_out = self._examples(history)
        if len(targets) == 0:
            raise ValueError("no customer has a purchase after another product; cannot train")
        # Co-occurrence without the held-out purchases, or validation would see its answers.
        neighbour_idx, cosine = self._cooccurrence(history.weights, held_out)
        tf.keras.utils.set_random_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        variables = {
            "table": tf.Variable(cosine.astype(np.float32)),
            "position": tf.Variable(
                np.log(np.expm1(0.5 ** (np.arange(self.max_history) / 2.0) + 1e-3)).astype(np.float32)
            ),
            "bias": tf.Variable(np.zeros(n_products, np.float32)),
            "item_in": tf.Variable(rng.normal(0, 0.01, (n_products, self.embedding_dim)).astype(np.float32)),
            "item_out": tf.Variable(rng.normal(0, 0.01, (n_products, self.embedding_dim)).astype(np.float32)),
            "scale": tf.Variable(np.float32(5.0)),
        }
        self._weights = {"neighbour_idx": neighbour_idx}
        optimizer = tf.keras.optimizers.Adam(self.learning_rate)
        trainable = list(variables.values())
        l2 = self.l2

        @tf.function(reduce_retracing=True)
        def step(items: Any, strength: Any, target: Any) -> Any:
            with tf.GradientTape() as tape:
                logits = self._logits(tf, variables, items, strength)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(target, logits))
                loss += l2 * (
                    tf.reduce_sum(variables["item_in"] ** 2) + tf.reduce_sum(variables["item_out"] ** 2)
                )
            optimizer.apply_gradients(zip(tape.gradient(loss, trainable), trainable, strict=True))
            return loss

        # Validation runs CHECKS_PER_EPOCH times a pass: the best point often falls mid-pass.
        best, best_score, waited, checks = None, -1.0, 0, 0
        items, strength = examples
        per_check = max(1, -(-len(targets) // (self.batch_size * CHECKS_PER_EPOCH)))
        stop = False
        for epoch in range(self.max_epochs):
            order = rng.permutation(len(targets))
            batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
            for first in range(0, len(batches), per_check):
                losses = [
                    float(step(tf.constant(items[b]), tf.constant(strength[b]), tf.constant(targets[b])))
                    for b in batches[first : first + per_check]
                ]
                checks += 1
                score = self._validation_ndcg(tf, variables, validation)
                log.info(
                    "tf_next_item pass %.2f: loss %.4f, validation NDCG@10 %.4f",
                    epoch + (first + len(losses)) / len(batches),
                    np.mean(losses),
                    score,
                )
                if score > best_score:
                    best, best_score, waited = {k: v.numpy().copy() for k, v in variables.items()}, score, 0
                else:
                    waited += 1
                    stop = waited > self.patience
                if stop:
                    break
            if stop:
                break
        epochs = round(checks / CHECKS_PER_EPOCH, 2)
        self._weights.update(best)
        self.fitted.update(
            {
                "training_examples": int(len(targets)),
                "validation_customers": int(len(validation[2])),
                "epochs": epochs,
                "validation_ndcg": round(float(best_score), 6),
            }
        )
        log.info(
            "tf_next_item fitted on %d examples, %d products, %d epochs in %.1fs",
            len(targets),
            n_products,
            epochs,
            time.perf_counter() - started,
        )

    def _cooccurrence(
        self, weights: sp.csr_matrix, held_out: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each product's `neighbours` most co-occurring products (cosine on who interacted),
        leaving out the (row, product) entries `held_out`."""
        seen = weights.tocsr().copy()
        seen.data = np.ones_like(seen.data)
        seen[held_out[0], held_out[1]] = 0
        seen.eliminate_zeros()
        # Slot 0 of every product is the product itself: interest now, purchase later.
        idx, values = cosine_neighbours(seen, max(self.neighbours - 1, 1))
        own = np.arange(len(self.products), dtype=np.int32)[:, None]
        values = np.where(np.isfinite(values), values, 0.0)
        return np.hstack([own, idx.astype(np.int32)]), np.hstack([np.ones((len(own), 1)), values])

    def _examples(self, history: History) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, tuple, tuple]:
        """Training examples (latest products before a purchase, the purchase), the validation
        split (a sample of customers' latest purchase, predicted from the rest) and the
        (row, product) entries of those held-out purchases."""
        weights = history.weights.tocsr()
        days = aligned_days(weights, history.last_days)
        purchased = history.purchased.tocsr()
        any_purchase = purchased.nnz > 0
        rng = np.random.default_rng(self.seed + 1)
        items_out, strength_out, targets_out, owner = [], [], [], []
        for row in range(weights.shape[0]):
            lo, hi = weights.indptr[row], weights.indptr[row + 1]
            if hi - lo < 2:
                continue
            cols = weights.indices[lo:hi]
            when = days[lo:hi]
            order = np.lexsort((cols, -weights.data[lo:hi], when))  # oldest first
            cols, raw = cols[order], weights.data[lo:hi][order]
            strength = np.log1p(raw)
            bought = (
                set(purchased.indices[purchased.indptr[row] : purchased.indptr[row + 1]])
                if any_purchase
                else None
            )
            # Interest in the purchased product before it was bought (views, carts): it is the
            # newest thing the customer did before buying, so it leads the example's history.
            before = raw - PURCHASE_WEIGHT if any_purchase else np.zeros_like(raw)
            positions = [
                t
                for t in range(len(cols))
                if (bought is None or cols[t] in bought) and (t > 0 or before[t] > 0)
            ]
            for t in positions[-self.max_examples_per_customer :]:
                start = max(0, t - self.max_history)
                history_items = cols[start:t][::-1]
                history_strength = strength[start:t][::-1]
                if before[t] > 0:
                    history_items = np.r_[cols[t], history_items][: self.max_history]
                    history_strength = np.r_[np.log1p(before[t]), history_strength][: self.max_history]
                padded = np.full(self.max_history, -1, np.int32)
                padded_strength = np.zeros(self.max_history, np.float32)
                padded[: len(history_items)] = history_items
                padded_strength[: len(history_items)] = history_strength
                items_out.append(padded)
                strength_out.append(padded_strength)
                targets_out.append(cols[t])
                owner.append(row)
        if not targets_out:
            empty = np.zeros((0, self.max_history), np.int32)
            none = np.zeros(0, np.int64)
            return (
                (empty, empty.astype(np.float32)),
                np.zeros(0, np.int32),
                (empty, empty, none, []),
                (none, none),
            )
        items = np.stack(items_out)
        strength = np.stack(strength_out)
        targets = np.asarray(targets_out, np.int32)
        owner = np.asarray(owner)
        # The last example of each sampled customer is their latest purchase: hold it out.
        last = np.r_[owner[1:] != owner[:-1], True]
        candidates = np.flatnonzero(last)
        chosen = np.sort(
            rng.choice(candidates, min(VALIDATION_CUSTOMERS, len(candidates) // 5 or 1), replace=False)
        )
        train = np.ones(len(targets), bool)
        train[chosen] = False
        exclude = [
            set(purchased.indices[purchased.indptr[r] : purchased.indptr[r + 1]]) - {t}
            for r, t in zip(owner[chosen], targets[chosen], strict=True)
        ]
        validation = (items[chosen], strength[chosen], targets[chosen], exclude)
        return (items[train], strength[train]), targets[train], validation, (owner[chosen], targets[chosen])

    def _validation_ndcg(self, tf: Any, variables: dict[str, Any], validation: tuple) -> float:
        items, strength, targets, exclude = validation
        if len(targets) == 0:
            return 0.0
        gains = []
        for start in range(0, len(targets), SCORING_BATCH):
            stop = start + SCORING_BATCH
            logits = self._logits(
                tf, variables, tf.constant(items[start:stop]), tf.constant(strength[start:stop])
            ).numpy()
            for r, bought in enumerate(exclude[start:stop]):
                logits[r, list(bought)] = -np.inf
            top, _ = top_k_dense(logits, VALIDATION_K)
            gains.append(ndcg_values(list(top), [{t} for t in targets[start:stop]], VALIDATION_K))
        return float(np.concatenate(gains).mean())

    # -------------------------------------------------------------------------- the model

    def _logits(self, tf: Any, variables: Mapping, items: Any, strength: Any) -> Any:
        """Logits over the catalogue for histories `items` (B x L, -1 pads) of `strength`."""
        n_products = len(self.products)
        present = tf.cast(items >= 0, tf.float32)
        safe = tf.maximum(items, 0)
        alpha = tf.nn.softplus(variables["position"])[None, :] * strength * present  # B x L
        neighbour_idx = tf.constant(self._weights["neighbour_idx"])
        table = tf.gather(variables["table"], safe) * alpha[:, :, None]  # B x L x N
        columns = tf.gather(neighbour_idx, safe)  # B x L x N
        batch = tf.shape(items)[0]
        segments = tf.range(batch)[:, None, None] * n_products + columns
        direct = tf.math.unsorted_segment_sum(
            tf.reshape(table, [-1]), tf.reshape(segments, [-1]), batch * n_products
        )
        customer = tf.reduce_sum(tf.gather(variables["item_in"], safe) * alpha[:, :, None], axis=1)
        low_rank = tf.matmul(customer, variables["item_out"], transpose_b=True)
        return (
            variables["scale"] * (tf.reshape(direct, [batch, n_products]) + low_rank)
            + variables["bias"][None, :]
        )

    def _variables(self, tf: Any) -> dict[str, Any]:
        return {
            k: tf.constant(self._weights[k])
            for k in ("table", "position", "bias", "item_in", "item_out", "scale")
        }

    # --------------------------------------------------------------------------- serving

    def _check_fitted(self) -> None:
        super()._check_fitted()
        if "table" not in self._weights:
            raise RuntimeError(f"the {self.name} recommender is not fitted; call fit or load")

    def _top_k(self, batch: History, k: int) -> tuple[np.ndarray, np.ndarray]:
        tf = _tf()
        self._check_fitted()
        items, strength = recent_products(batch, self.max_history)
        logits = (
            self._logits(tf, self._variables(tf), tf.constant(items), tf.constant(strength))
            .numpy()
            .astype(np.float64)
        )
        logits[batch.purchased.toarray()] = -np.inf
        top, top_logits = top_k_dense(logits, min(k, len(self.products)))
        finite = np.isfinite(logits)
        peak = np.max(np.where(finite, logits, -np.inf), axis=1, keepdims=True)
        normaliser = peak + np.log(
            np.sum(np.where(finite, np.exp(logits - peak), 0.0), axis=1, keepdims=True)
        )
        return top, np.where(np.isfinite(top_logits), np.exp(top_logits - normaliser), -np.inf)

    def similar_products(self, k: int) -> pd.DataFrame:
        """The products most likely bought after each product (learned transitions plus the
        embedding term, without popularity)."""
        k = check_k(k)
        n_products = len(self.products)
        table = self._weights["table"].astype(np.float64)
        rows = np.repeat(np.arange(n_products), table.shape[1])
        direct = sp.csr_matrix(
            (table.ravel(), (rows, self._weights["neighbour_idx"].ravel())), shape=(n_products, n_products)
        )
        item_in, item_out = (
            self._weights["item_in"].astype(np.float64),
            self._weights["item_out"].astype(np.float64),
        )
        indices, scores = top_neighbours(
            n_products, k, lambda a, b: direct[a:b].toarray() + item_in[a:b] @ item_out.T
        )
        return self._similar_from(indices, scores, k)

    def _save_files(self, directory: Path) -> None:
        np.savez(directory / f"{self.name}.npz", products=self.products, **self._weights)

    def _load_files(self, directory: Path) -> None:
        with np.load(directory / f"{self.name}.npz", allow_pickle=False) as arrays:
            self._products = arrays["products"]
            self._weights = {key: arrays[key] for key in _ARRAYS if key != "products"}
