"""The TensorFlow recommender: the next purchase from the customer's recent products, in order.

Why this shape. On next-purchase protocols the strongest simple models are linear
item-to-item ones; the strongest of them here is `linear_next`, which learns in closed form
what is bought after what, from the latest products with the newest weighing most. What a
closed form cannot do is learn under the ranking's own loss, nor go beyond the products it
models densely. This model starts as `linear_next` and is trained from there:

    logit(j) = bias(j) + scale · Σ_p α_p s_p · ( T[h_p, j]  +  e(h_p) · f(j) )

over the customer's last `max_history` products h_1 (newest) … h_L, with s_p = log1p(the
interaction's weight) and α_p a learned weight per position. T is a learned *directed*
product -> product table, sparse (each product has `neighbours` slots: itself, then its
strongest linear weights), so T[a, b] and T[b, a] part ways when one is bought after the other;
e(·), f(·) are low-rank embeddings for what the table cannot reach.

Training starts from the linear solution (fitted without the validation purchases; of the λ
tried, the one whose linear model ranks the validation purchases best, the grid's middle
unless beaten beyond noise), positions weighted as it weighs them (decay^p), the low-rank term
silent and the softmax temperature of least loss; so before the first step the model already
ranks as the linear model does, up to the neighbours it keeps. It is then trained with a full
softmax to predict each purchase from what the customer did before the day of it (as the
holdout asks: the same session's views are never known in advance), and keeps the weights with
the best validation NDCG@10 (each sampled customer's latest purchase, predicted from the rest)
— the seed itself when training does not beat it.

Warm start: given last night's model (`warm_start`), training starts from its weights on
tonight's catalogue and runs at most `warm_steps` steps (a cold start `max_steps`); every
`cold_every`-th night the seed is rebuilt from scratch, so new products enter the learned
table.

The catalogue enters only as a vector of logits per example, so training costs grow with the
number of examples, not with products²; examples are capped per customer. TensorFlow is
imported inside the methods that need it; the weights are saved as plain arrays (.npz).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.metrics import ndcg_values
from include.models.base import Model, tensorflow
from include.models.recommender.base import (
    History,
    Recommender,
    build_history,
    check_k,
    cosine_neighbours,
    index_of,
    stored_ones,
    stored_rows,
    top_k_dense,
    top_neighbours,
)
from include.models.recommender.ease import EASE_MAX_PRODUCTS, best_of, climb, most_interacted, strongest
from include.models.recommender.linear_next import ALPHA, DECAY, L2_GRID, next_system, solve, without
from include.models.recommender.sequences import (
    Split,
    decayed_inputs,
    hold_out_latest,
    purchase_examples,
    recent_products,
)

log = logging.getLogger(__name__)

# The latest products that describe a customer (positions p = 1 … L).
MAX_HISTORY = 50
# Learned directed weights kept per product: the product itself and its strongest linear
# weights (the seed of the table).
NEIGHBOURS = 200
# Training steps (batches) at most from the seed, and from the previous night's model (the
# "incremental update"); validation runs at least CHECKS_PER_BUDGET times within either, and
# every CHECK_STEPS steps at least (on a large shop a quarter of the budget is minutes of
# training, and when training does not beat the seed, PATIENCE + 1 checks are all it costs).
MAX_STEPS = 600
WARM_STEPS = 150
CHECKS_PER_BUDGET = 4
CHECK_STEPS = 75
# The seed is rebuilt from scratch on every this-many-th night in a row (1: never warm).
COLD_EVERY = 7
# Softmax temperatures tried for the seed (the one with the lowest training loss starts).
SEED_SCALES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
# Training examples the temperature is chosen on.
SEED_SCALE_EXAMPLES = 2000
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
# The cut-off of the validation NDCG (the latest purchase of a sample of customers, held out).
VALIDATION_K = 10
SEED = 42
# Rows scored per TensorFlow call.
SCORING_BATCH = 1024

_ARRAYS = ("products", "neighbour_idx", "table", "position", "bias", "item_in", "item_out", "scale")


def _tf() -> Any:
    """TensorFlow, held to the task's thread budget."""
    return tensorflow()


def _linear_validation(split: Split, kept: np.ndarray, n_products: int) -> Callable[[np.ndarray], np.ndarray]:
    """The validation NDCG@10 of a linear model over the `kept` products (weights kept x kept),
    per validation example, judged as training judges itself: each held-out purchase ranked
    from the customer's decayed latest products, their other purchases left out (a purchase of
    a product not modelled is a miss)."""
    column = np.full(n_products, -1, np.int64)
    column[kept] = np.arange(len(kept))
    validation = split.validation
    inputs = decayed_inputs(validation.items, validation.strength, DECAY, n_products)[:, kept]
    pairs = [(row, column[p]) for row, bought in enumerate(split.exclude) for p in bought if column[p] >= 0]
    rows, cols = (np.asarray(side, np.int64) for side in zip(*pairs, strict=True)) if pairs else ([], [])
    relevant = [{t} for t in column[validation.targets]]

    def ndcg(linear: np.ndarray) -> np.ndarray:
        if not relevant:
            return np.zeros(1)
        keys = np.asarray(inputs @ linear)
        keys[rows, cols] = -np.inf
        top, _ = top_k_dense(keys, VALIDATION_K)
        return np.asarray(ndcg_values(list(top), relevant, VALIDATION_K), np.float64)

    return ndcg


def beats_beyond_noise(gains: np.ndarray, baseline: np.ndarray) -> bool:
    """Whether per-example `gains` beat `baseline` on the same examples by more than one
    standard error of their paired difference."""
    difference = np.asarray(gains, np.float64) - np.asarray(baseline, np.float64)
    if len(difference) < 2:
        return bool(difference.sum() > 0)
    return bool(difference.mean() > difference.std(ddof=1) / np.sqrt(len(difference)))


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
        max_products: int = EASE_MAX_PRODUCTS,
        seed_l2: float = 0.0,
        max_steps: int = MAX_STEPS,
        warm_steps: int = WARM_STEPS,
        cold_every: int = COLD_EVERY,
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
        self.max_products = int(max_products)
        self.seed_l2 = float(seed_l2)  # 0: choose the seed's λ on the validation split
        if self.seed_l2 < 0 or self.max_products < 2:
            raise ValueError("tf_next_item needs seed_l2 >= 0 and max_products >= 2")
        self.max_steps = int(max_steps)
        self.warm_steps = int(warm_steps)
        self.cold_every = int(cold_every)
        self._previous: TFNextItemRecommender | None = None
        self._warm_generation = 0  # nights in a row this fit reuses an earlier version
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
        split = hold_out_latest(
            purchase_examples(history, self.max_history, self.max_examples_per_customer),
            history,
            self.seed + 1,
        )
        if len(split.train) == 0:
            raise ValueError("no customer has a purchase after another product; cannot train")
        examples, targets = (split.train.items, split.train.strength), split.train.targets
        validation = (
            split.validation.items,
            split.validation.strength,
            split.validation.targets,
            split.exclude,
        )
        tf.keras.utils.set_random_seed(self.seed)
        if self._previous is not None:
            start = self._warm_arrays(self._previous, history.weights)
            budget = self.warm_steps
        else:
            start = self._cold_arrays(tf, history, split)
            budget = self.max_steps
        variables = {key: tf.Variable(value) for key, value in start.items()}
        rng = np.random.default_rng(self.seed)
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

        # Validation runs before training (the seed alone) and CHECKS_PER_EPOCH times a pass:
        # the best point often falls mid-pass, and when training never beats the seed, the
        # seed is kept.
        best = {k: v.numpy().copy() for k, v in variables.items()}
        best_score = seed_score = self._validation_ndcg(tf, variables, validation)
        log.info(
            "tf_next_item %s: validation NDCG@10 %.4f",
            "warm start" if self._previous is not None else "seed",
            seed_score,
        )
        waited, checks, steps = 0, 0, 0
        items, strength = examples
        per_pass = -(-len(targets) // self.batch_size)
        per_check = max(
            1, min(-(-per_pass // CHECKS_PER_EPOCH), -(-budget // CHECKS_PER_BUDGET), CHECK_STEPS)
        )
        stop = budget <= 0
        for epoch in range(self.max_epochs if not stop else 0):
            order = rng.permutation(len(targets))
            batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
            for first in range(0, len(batches), per_check):
                losses = [
                    float(step(tf.constant(items[b]), tf.constant(strength[b]), tf.constant(targets[b])))
                    for b in batches[first : min(first + per_check, first + budget - steps)]
                ]
                steps += len(losses)
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
                stop = stop or steps >= budget
                if stop:
                    break
            if stop:
                break
        epochs = round(steps / max(per_pass, 1), 2)
        self._weights.update(best)
        self._previous = None  # not kept alive with this model
        self.fitted.update(
            {
                "training_examples": int(len(targets)),
                "validation_customers": int(len(validation[2])),
                "epochs": epochs,
                "steps": steps,
                "validation_ndcg": round(float(best_score), 6),
                "seed_validation_ndcg": round(float(seed_score), 6),
            }
        )
        log.info(
            "tf_next_item fitted on %d examples, %d products, %d epochs in %.1fs",
            len(targets),
            n_products,
            epochs,
            time.perf_counter() - started,
        )

    def _cold_arrays(self, tf: Any, history: History, split: Split) -> dict[str, np.ndarray]:
        """Starting weights from scratch: the linear seed, fitted without the held-out
        purchases (or validation would see its answers), each position weighted as the seed
        weighs it."""
        n_products = len(self.products)
        table = self._seed(history.weights, split)
        start = {
            "table": table,
            # softplus(position) = DECAY^p, the seed's weight of the p-th latest product.
            "position": np.log(np.expm1(DECAY ** np.arange(self.max_history, dtype=np.float64))).astype(
                np.float32
            ),
            "bias": np.zeros(n_products, np.float32),
            "item_in": np.random.default_rng(self.seed)
            .normal(0, 0.01, (n_products, self.embedding_dim))
            .astype(np.float32),
            # Zero: the low-rank term starts silent, so the first logits are the seed's own.
            "item_out": np.zeros((n_products, self.embedding_dim), np.float32),
            "scale": np.float32(1.0),
        }
        start["scale"] = self._seed_scale(
            tf,
            {k: tf.constant(v) for k, v in start.items()},
            (split.train.items, split.train.strength),
            split.train.targets,
        )
        self.fitted["warm_generation"] = 0
        return start

    def warm_start(self, previous: Model) -> bool:
        """Start the next fit from `previous`, a fitted tf_next_item of the same shape, unless
        it is the `cold_every`-th warm start in a row (then the seed is rebuilt from scratch, so
        new products enter the learned table)."""
        if not isinstance(previous, TFNextItemRecommender) or "table" not in previous._weights:
            return False
        return self._start_from(previous, ("max_history", "neighbours", "embedding_dim"), self.cold_every)

    def _warm_arrays(self, previous: TFNextItemRecommender, weights: sp.csr_matrix) -> dict[str, np.ndarray]:
        """The previous model's weights on tonight's catalogue: rows of products that vanished
        are dropped, as are neighbour slots pointing at them (they point at the product itself
        with weight 0); a new product gets its cosine neighbours at weight 0, the median bias
        and a small random input embedding."""
        products, old = self.products, previous.products
        arrays = previous._weights
        n_products, width = len(products), arrays["neighbour_idx"].shape[1]
        where = index_of(old, products)  # each product's row in the previous model, or -1
        known = np.flatnonzero(where >= 0)
        new = np.flatnonzero(where < 0)
        old_to_new = np.full(len(old), -1, np.int64)
        old_to_new[where[known]] = known
        neighbour_idx = np.repeat(np.arange(n_products, dtype=np.int32)[:, None], width, axis=1)
        table = np.zeros((n_products, width), np.float32)
        mapped = old_to_new[arrays["neighbour_idx"][where[known]]]
        neighbour_idx[known] = np.where(mapped >= 0, mapped, known[:, None])
        table[known] = np.where(mapped >= 0, arrays["table"][where[known]], 0.0)
        if len(new) and width > 1:
            idx, _ = cosine_neighbours(stored_ones(weights), width - 1, new)
            neighbour_idx[new, 1 : 1 + idx.shape[1]] = idx
        bias = np.full(n_products, np.median(arrays["bias"]), np.float32)
        bias[known] = arrays["bias"][where[known]]
        rng = np.random.default_rng(self.seed)
        item_in = rng.normal(0, 0.01, (n_products, self.embedding_dim)).astype(np.float32)
        item_in[known] = arrays["item_in"][where[known]]
        item_out = np.zeros((n_products, self.embedding_dim), np.float32)
        item_out[known] = arrays["item_out"][where[known]]
        self._weights = {"neighbour_idx": neighbour_idx}
        self.fitted.update(
            {
                "warm_generation": self._warm_generation,
                "warm_from_as_of": previous.fitted.get("as_of"),
                "warm_new_products": len(new),
                "warm_vanished_products": int(len(old) - len(known)),
            }
        )
        log.info(
            "tf_next_item warm start from the model of %s: %d products kept, %d new, %d vanished",
            previous.fitted.get("as_of"),
            len(known),
            len(new),
            len(old) - len(known),
        )
        return {
            "table": table,
            "position": arrays["position"].astype(np.float32),
            "bias": bias,
            "item_in": item_in,
            "item_out": item_out,
            "scale": np.float32(arrays["scale"]),
        }

    def _seed(self, weights: sp.csr_matrix, split: Split) -> np.ndarray:
        """The product -> product table training starts from: per product, itself and its
        strongest weights of the linear next-purchase model (`linear_next`, decay `DECAY`),
        fitted without the held-out purchases; products beyond the `max_products` most
        interacted-with get their cosine neighbours at weight 0. λ is `seed_l2` when given,
        else climbed (`climb`) on the validation split training judges itself by: the linear
        model of the best validation NDCG@10 is the seed (the grid's middle unless beaten
        beyond noise, see `_best_linear`), so choosing λ costs no solve beyond those tried.
        Returns the weights scaled so that the 99th percentile magnitude is 1."""
        seen = without(weights, split.validation.owner, split.validation.targets)
        n_products = len(self.products)
        width = min(max(self.neighbours - 1, 1), max(n_products - 1, 0))
        neighbour_idx = np.repeat(np.arange(n_products, dtype=np.int32)[:, None], 1 + width, axis=1)
        table = np.zeros((n_products, 1 + width), np.float32)
        kept = most_interacted(seen, self.products, self.max_products)
        kept = kept[np.diff(seen.tocsc().indptr)[kept] > 0]
        rest = np.setdiff1d(np.arange(n_products), kept)
        if len(rest) and width:
            idx, _ = cosine_neighbours(stored_ones(seen), width, rest)
            neighbour_idx[rest, 1 : 1 + idx.shape[1]] = idx
        self._weights = {"neighbour_idx": neighbour_idx}
        if len(kept) < 2:
            return table
        linear, l2, scores = self._best_linear(seen, split, kept)
        # The product itself keeps slot 0 (a view is often followed by its purchase).
        table[kept, 0] = np.diag(linear)
        np.fill_diagonal(linear, 0.0)
        n_kept = min(width, len(kept) - 1)
        idx, values = strongest(linear, n_kept)
        del linear
        neighbour_idx[kept, 1 : 1 + n_kept] = kept[idx]
        table[kept, 1 : 1 + n_kept] = values
        magnitude = np.quantile(np.abs(table[table != 0]), 0.99) if np.any(table) else 1.0
        self.fitted.update(
            {
                "seed_decay": DECAY,
                "seed_l2": l2,
                "seed_l2_ndcg": {f"{k:g}": round(v, 6) for k, v in scores.items()},
                "modelled_products": len(kept),
            }
        )
        log.info(
            "tf_next_item seed: the linear next-purchase model over %d products, decay %.2f, "
            "validation NDCG@%d by l2 %s",
            len(kept),
            DECAY,
            VALIDATION_K,
            self.fitted["seed_l2_ndcg"],
        )
        return (table / magnitude).astype(np.float32)

    def _best_linear(
        self, seen: sp.csr_matrix, split: Split, kept: np.ndarray
    ) -> tuple[np.ndarray, float, dict[float, float]]:
        """The linear model over `kept` of the λ tried with the best validation NDCG (ties:
        the smaller λ), that λ, and the NDCG of each λ tried. The grid's middle, tried first,
        keeps its place unless the best beats it beyond one standard error of their paired
        per-example difference: the split holds one purchase per sampled customer (a thousand
        on the small shop), and there the grid's NDCGs often differ by noise alone."""
        system, target = next_system(seen, split.train, kept, ALPHA, DECAY)
        judge = _linear_validation(split, kept, len(self.products))
        scores: dict[float, float] = {}
        # λ -> (linear model, NDCG per example), kept for the middle and the best so far only
        # (each model is products² floats).
        models: dict[float, tuple[np.ndarray, np.ndarray]] = {}

        def ndcg(l2: float) -> float:
            linear = solve(system, target, l2)
            models[l2] = linear, judge(linear)
            scores[l2] = float(models[l2][1].mean())
            for other in set(models) - {next(iter(scores)), best_of(scores)}:
                del models[other]
            return scores[l2]

        climb((self.seed_l2,) if self.seed_l2 else L2_GRID, ndcg)
        middle, best = next(iter(scores)), best_of(scores)  # climb tries the middle first
        chosen = best if beats_beyond_noise(models[best][1], models[middle][1]) else middle
        return models[chosen][0], chosen, scores

    def _seed_scale(self, tf: Any, variables: Mapping, examples: tuple, targets: np.ndarray) -> np.float32:
        """The softmax temperature of `SEED_SCALES` with the lowest loss of the seed on a sample
        of training examples (too flat a start wastes passes on learning the scale)."""
        rng = np.random.default_rng(self.seed + 2)
        sample = rng.choice(len(targets), min(SEED_SCALE_EXAMPLES, len(targets)), replace=False)
        items, strength = examples
        unit = {**variables, "scale": tf.constant(np.float32(1.0))}
        losses = dict.fromkeys(SEED_SCALES, 0.0)
        for start in range(0, len(sample), SCORING_BATCH):
            rows = sample[start : start + SCORING_BATCH]
            logits = self._logits(tf, unit, tf.constant(items[rows]), tf.constant(strength[rows]))
            for scale in SEED_SCALES:
                losses[scale] += float(
                    tf.reduce_sum(
                        tf.nn.sparse_softmax_cross_entropy_with_logits(targets[rows], logits * scale)
                    )
                ) / len(sample)
        chosen = min(losses, key=losses.get)
        self.fitted["seed_scale"] = chosen
        return np.float32(chosen)

    def _validation_ndcg(self, tf: Any, variables: dict[str, Any], validation: tuple) -> float:
        items, strength, targets, exclude = validation
        if len(targets) == 0:
            return 0.0
        gains = []
        for start in range(0, len(targets), SCORING_BATCH):
            stop = start + SCORING_BATCH
            logits = self._logits(
                tf, variables, tf.constant(items[start:stop]), tf.constant(strength[start:stop])
            )
            rows = [r for r, bought in enumerate(exclude[start:stop]) for _ in bought]
            if rows:
                cols = [c for bought in exclude[start:stop] for c in bought]
                logits = tf.tensor_scatter_nd_update(
                    logits, np.c_[rows, cols].astype(np.int32), np.full(len(rows), -np.inf, np.float32)
                )
            _, top = tf.math.top_k(logits, min(VALIDATION_K, len(self.products)))
            gains.append(ndcg_values(list(top.numpy()), [{t} for t in targets[start:stop]], VALIDATION_K))
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

    def scoring_logits(self, items: np.ndarray, strength: np.ndarray) -> np.ndarray:
        """`_logits` in numpy (float32): scoring needs no TensorFlow, whose import costs a task
        process seconds. The transitions are summed per (row, product) with one bincount."""
        weights = self._weights
        n_rows, n_products = items.shape[0], len(self.products)
        safe = np.maximum(items, 0)
        position = np.logaddexp(0.0, weights["position"]).astype(np.float32)  # softplus
        alpha = position[None, :] * strength * (items >= 0)  # B x L
        table = weights["table"][safe] * alpha[:, :, None]  # B x L x N
        cells = np.arange(n_rows)[:, None, None] * n_products + weights["neighbour_idx"][safe]
        direct = np.bincount(cells.ravel(), weights=table.ravel(), minlength=n_rows * n_products)
        customer = np.einsum("bl,bld->bd", alpha, weights["item_in"][safe])
        logits = customer @ weights["item_out"].T
        logits += direct.reshape(n_rows, n_products).astype(np.float32)
        logits *= weights["scale"]
        logits += weights["bias"][None, :]
        return logits

    def _top_k(self, batch: History, k: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        items, strength = recent_products(batch, self.max_history)
        logits = self.scoring_logits(items, strength)
        purchased = batch.purchased
        logits[stored_rows(purchased), purchased.indices] = -np.inf
        # The score is the softmax probability over what the customer has not bought.
        top, top_logits = top_k_dense(logits, min(k, len(self.products)))
        peak = logits.max(axis=1, keepdims=True)
        peak[~np.isfinite(peak)] = 0.0  # a customer who bought everything: nothing to score
        normaliser = peak + np.log(np.exp(logits - peak).sum(axis=1, keepdims=True, dtype=np.float64))
        top_logits = top_logits.astype(np.float64)
        probability = np.exp(top_logits - normaliser)
        return top, np.where(np.isfinite(top_logits), probability, -np.inf)

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
