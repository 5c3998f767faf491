"""The next purchase, linear and in closed form: from the customer's latest products, the
newest weighing most.

    B = argmin_B  α ‖X − X B‖² / s_X  +  (1 − α) ‖Y − Z B‖² / s_Z  +  λ ‖B‖²
      = (α XᵀX / s_X + (1 − α) ZᵀZ / s_Z + λ I)⁻¹ (α XᵀX / s_X + (1 − α) ZᵀY / s_Z)

- X, one row per customer: the whole history (log1p of the interaction weights). This is
  the item-to-item part, what goes with what.
- Z and Y, one row per purchase: Z holds the customer's latest `max_history` products before
  the day of it, the p-th latest weighted decay^p, and Y the purchase. This part learns what
  is bought *after* what, and is directed: B[device, accessory] and B[accessory, device] part
  ways when one comes after the other.
- s_X, s_Z: the mean diagonals of XᵀX and ZᵀZ, so α shares the two parts whatever their scale.

Unlike EASE, the diagonal is not forced to zero: a product viewed and not bought is often
bought later, and B[i, i] learns how often (products already bought are never recommended).
It is the linear item-to-item model for sessions of Choi et al. (SLIST, WSDM 2021), here over
customers' histories. A customer is scored as z B, with z their latest products weighted as
in training; products the customer bought are never recommended, but one they only viewed may
be (and B learns that a view is often followed by the purchase).

λ is chosen on a validation split inside the training window (the latest purchase of a sample
of customers, held out of X, Z and Y), as a multiple of 1 (both parts are scaled to a unit
mean diagonal); α and the decay are parameters. Like EASE it models at most `max_products`
products (the most interacted-with), solves by Cholesky in float32 and keeps the `neighbours`
largest weights per product; a refit or the next night reuses the chosen λ.
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.models.recommender.base import History, sparse_top_k, top_k_dense
from include.models.recommender.ease import (
    EASE_MAX_PRODUCTS,
    EASE_NEIGHBOURS,
    EASE_SEARCH_EVERY,
    EASERecommender,
    _mean_ndcg,
    most_interacted,
    strongest,
)
from include.models.recommender.sequences import (
    Examples,
    Split,
    decayed_inputs,
    hold_out_latest,
    purchase_examples,
    recent_products,
)

log = logging.getLogger(__name__)

# The latest products that describe a customer, and the weight of each step back.
MAX_HISTORY = 50
DECAY = 0.7
# Share of the item-to-item part (X) against the next-purchase part (Z -> Y).
ALPHA = 0.3
# λ tried when none is given (both parts have a unit mean diagonal).
L2_GRID = (0.75, 1.5, 3.0, 6.0, 12.0)
# Purchases per customer used as targets at most (the latest ones).
MAX_EXAMPLES_PER_CUSTOMER = 20
VALIDATION_K = 10
SEED = 43


def solve(system: np.ndarray, target: np.ndarray, l2: float) -> np.ndarray:
    """(system + l2 I)⁻¹ target by Cholesky, in float32 (neither argument is changed)."""
    from scipy.linalg import lapack

    matrix = np.array(system, dtype=np.float32, copy=True)
    matrix[np.diag_indices_from(matrix)] += np.float32(l2)
    _, weights, info = lapack.sposv(
        matrix, np.array(target, dtype=np.float32), lower=False, overwrite_a=True, overwrite_b=True
    )
    if info != 0:
        raise np.linalg.LinAlgError(f"the system + {l2} I is not positive definite (posv info {info})")
    return weights


def next_system(
    weights: sp.csr_matrix, examples: Examples, kept: np.ndarray, alpha: float, decay: float
) -> tuple[np.ndarray, np.ndarray]:
    """(α XᵀX/s_X + (1−α) ZᵀZ/s_Z, α XᵀX/s_X + (1−α) ZᵀY/s_Z) over the `kept`
    product columns of `weights` (dense float32); purchases of other products are no targets."""
    n_products = weights.shape[1]
    column = np.full(n_products, -1, np.int64)
    column[kept] = np.arange(len(kept))
    whole = weights.tocsr().log1p()[:, kept].astype(np.float32)
    item_gram = (whole.T @ whole).toarray()
    targeted = np.flatnonzero(column[examples.targets] >= 0)
    inputs = decayed_inputs(examples.items[targeted], examples.strength[targeted], decay, n_products)[:, kept]
    outputs = sp.csr_matrix(
        (np.ones(len(targeted), np.float32), (np.arange(len(targeted)), column[examples.targets[targeted]])),
        shape=(len(targeted), len(kept)),
    )
    next_gram = (inputs.T @ inputs).toarray()
    item_scale = float(np.mean(np.diag(item_gram))) or 1.0
    next_scale = float(np.mean(np.diag(next_gram))) or 1.0
    system = (alpha / item_scale) * item_gram
    system += ((1.0 - alpha) / next_scale) * next_gram
    del next_gram
    target = (alpha / item_scale) * item_gram
    del item_gram
    target += ((1.0 - alpha) / next_scale) * (inputs.T @ outputs).toarray()
    return system, target


def without(weights: sp.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> sp.csr_matrix:
    """`weights` with the entries (rows, columns) removed (held-out purchases)."""
    seen = weights.tocsr().copy()
    seen[rows, columns] = 0
    seen.eliminate_zeros()
    return seen


def best_on_validation(
    system: np.ndarray,
    target: np.ndarray,
    split: Split,
    kept: np.ndarray,
    decay: float,
    n_products: int,
    grid: tuple[float, ...] = L2_GRID,
) -> tuple[float, np.ndarray, dict[float, float]]:
    """(λ, weights, NDCG@10 by λ): the λ of `grid` whose solution ranks the held-out purchases
    of `split` best from the customers' products before their day (their other purchases
    excluded), and that solution."""
    validation = split.validation
    column = np.full(n_products, -1, np.int64)
    column[kept] = np.arange(len(kept))
    inputs = decayed_inputs(validation.items, validation.strength, decay, n_products)[:, kept]
    rows = [row for row, bought in enumerate(split.exclude) for _ in bought]
    cols = column[[c for bought in split.exclude for c in bought]]
    relevant = [{int(t)} for t in validation.targets]
    best, best_weights, scores = grid[0], None, {}
    for l2 in grid:
        weights = solve(system, target, l2)
        keys = np.asarray(inputs @ weights)
        keys[np.asarray(rows, np.int64)[cols >= 0], cols[cols >= 0]] = -np.inf
        top, _ = top_k_dense(keys, VALIDATION_K)
        scores[l2] = _mean_ndcg([list(kept[t]) for t in top], relevant)
        if best_weights is None or scores[l2] > scores[best]:
            best, best_weights = l2, weights
        del weights
    log.info(
        "linear_next: validation NDCG@%d by l2 %s", VALIDATION_K, {k: round(v, 4) for k, v in scores.items()}
    )
    return best, best_weights, scores


class LinearNextRecommender(EASERecommender):
    """The next purchase from the latest products, in closed form (see the module docstring)."""

    name: ClassVar[str] = "linear_next"

    def __init__(
        self,
        l2: float = 0.0,
        alpha: float = ALPHA,
        decay: float = DECAY,
        max_history: int = MAX_HISTORY,
        max_examples_per_customer: int = MAX_EXAMPLES_PER_CUSTOMER,
        max_products: int = EASE_MAX_PRODUCTS,
        neighbours: int = EASE_NEIGHBOURS,
        half_life_days: float = 0.0,
        search_every: int = EASE_SEARCH_EVERY,
    ) -> None:
        super().__init__(
            l2=l2,
            max_products=max_products,
            neighbours=neighbours,
            half_life_days=half_life_days,
            search_every=search_every,
        )
        self.alpha = float(alpha)
        self.decay = float(decay)
        self.max_history = int(max_history)
        self.max_examples_per_customer = int(max_examples_per_customer)
        if not 0 <= self.alpha < 1 or not 0 < self.decay <= 1 or self.max_history < 1:
            raise ValueError("linear_next needs 0 <= alpha < 1, 0 < decay <= 1 and max_history >= 1")

    def _fit(self, interactions: pd.DataFrame, history: History, as_of: pd.Timestamp) -> None:
        started = time.perf_counter()
        examples = purchase_examples(history, self.max_history, self.max_examples_per_customer)
        if len(examples) == 0:
            raise ValueError("no customer has a purchase after another product; cannot fit")
        kept = most_interacted(history.weights, self.products, self.max_products)
        if self.l2:
            l2 = self.l2
        elif self._l2_factor:
            l2 = self._l2_factor
            self.fitted["l2_from"] = self._l2_from
        else:
            l2 = self._choose(history, examples, kept)
            self._l2_generation = 0
        system, target = next_system(history.weights, examples, kept, self.alpha, self.decay)
        weights = solve(system, target, l2)
        del system, target
        idx, values = strongest(weights, self.neighbours)
        del weights
        n_products = len(self.products)
        self._neighbour_idx = np.zeros((n_products, idx.shape[1]), np.int32)
        self._neighbour_score = np.full((n_products, idx.shape[1]), -np.inf)
        self._neighbour_idx[kept] = kept[idx]
        self._neighbour_score[kept] = np.where(values != 0, values, -np.inf)
        self._set_prior(history)
        self.fitted.update(
            {
                "l2": l2,
                "l2_factor": l2,
                "l2_generation": self._l2_generation,
                "modelled_products": len(kept),
                "training_examples": len(examples),
            }
        )
        log.info(
            "linear_next fitted on %d purchases of %d customers, %d of %d products, l2 %.3g, in %.1fs",
            len(examples),
            history.n_customers,
            len(kept),
            n_products,
            l2,
            time.perf_counter() - started,
        )

    def _choose(self, history: History, examples: Examples, kept: np.ndarray) -> float:
        """The λ of L2_GRID with the best validation NDCG@10 (see `best_on_validation`), for
        a B fitted without the held-out purchases."""
        split = hold_out_latest(examples, history, SEED)
        if len(split.validation) == 0:
            return L2_GRID[len(L2_GRID) // 2]
        seen = without(history.weights, split.validation.owner, split.validation.targets)
        system, target = next_system(seen, split.train, kept, self.alpha, self.decay)
        l2, _, scores = best_on_validation(system, target, split, kept, self.decay, len(self.products))
        self.fitted["validation_ndcg"] = {f"{k:.6g}": round(v, 6) for k, v in scores.items()}
        return l2

    def _top_k(self, batch: History, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._popular_order is None:
            self._popular_order = np.argsort(-self._prior, kind="stable")
        items, strength = recent_products(batch, self.max_history)
        inputs = decayed_inputs(items, strength, self.decay, len(self.products))
        return sparse_top_k(inputs @ self.similarity, k, exclude=batch.purchased, fill=self._popular_order)

    def similar_products(self, k: int) -> pd.DataFrame:
        """The products most often bought after each (its largest positive weights, itself
        left out)."""
        rows = np.arange(len(self.products))[:, None]
        self_weight = self._neighbour_idx == rows
        positive = np.where((self._neighbour_score > 0) & ~self_weight, self._neighbour_score, -np.inf)
        order = np.argsort(-positive, axis=1, kind="stable")
        return self._similar_from(
            np.take_along_axis(self._neighbour_idx, order, axis=1),
            np.take_along_axis(positive, order, axis=1),
            k,
        )
