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

As in EASE, no product explains itself: diag(B) = 0 (with a free diagonal the item-to-item
part learns little more than the identity, and needs a λ so large that it drowns the rest:
0.042 against 0.053 NDCG@10 on the medium shop).
It is the linear item-to-item model for sessions of Choi et al. (SLIST, WSDM 2021), here over
customers' histories. A customer is scored as z B, with z their latest products weighted as
in training.

λ is chosen on a time split inside the training window (the purchases of its last
`validation_days`, predicted from the products before them by a B fitted on the interactions
before them, as the DAG's holdout judges); the decay is a parameter (see DECAY) and α too.
Like EASE it models at most `max_products` products (the most interacted-with), solves by
Cholesky in float32 and keeps the `neighbours` largest weights per product; a refit or the
next night reuses the chosen λ.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.models.base import Model
from include.models.recommender.base import History, top_k_dense
from include.models.recommender.ease import (
    EASE_MAX_PRODUCTS,
    EASE_NEIGHBOURS,
    EASE_SEARCH_EVERY,
    EASE_VALIDATION_DAYS,
    EASERecommender,
    _mean_ndcg,
    best_of,
    climb,
    most_interacted,
    regularised_inverse,
    strongest,
    time_split,
)
from include.models.recommender.sequences import Examples, decayed_inputs, purchase_examples, recent_products

log = logging.getLogger(__name__)

# The latest products that describe a customer.
MAX_HISTORY = 50
# The weight of each step back (decay^p). The validation split cannot judge it fairly (it
# must leave out the views of the products bought after its cut, which a long memory would
# use), so it is a parameter: 0.9 ranks within 3% of the best decay both on Beauty (where 0.7
# to 0.85 is best) and on the simulated shop (0.97); 0 chooses from DECAY_GRID anyway.
DECAY = 0.9
DECAY_GRID = (0.7, 0.9, 0.97)
# λ tried on the validation split when not given (both parts have a unit mean diagonal): the
# factors EASE tries, climbed from the middle as EASE climbs them.
L2_GRID = (0.0625, 0.25, 1.0, 4.0, 16.0)
# Share of the item-to-item part (X) against the next-purchase part (Z -> Y).
ALPHA = 0.3
# Purchases per customer used as targets at most (the latest ones).
MAX_EXAMPLES_PER_CUSTOMER = 20
VALIDATION_K = 10


def solve(system: np.ndarray, target: np.ndarray, l2: float) -> np.ndarray:
    """B = P target − P diag(γ), P = (system + l2 I)⁻¹, with γ_j = (P target)_jj / P_jj so that
    diag(B) = 0 (EASE's constraint, solved the same way); float32, the arguments unchanged."""
    inverse = regularised_inverse(system, l2)
    weights = inverse @ np.asarray(target, dtype=np.float32)
    weights -= inverse * (np.diag(weights) / np.diag(inverse))[None, :]
    np.fill_diagonal(weights, 0.0)
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


def choose_on_time_split(
    interactions: pd.DataFrame,
    as_of: pd.Timestamp,
    products: np.ndarray,
    *,
    alpha: float,
    decays: tuple[float, ...] = DECAY_GRID,
    l2s: tuple[float, ...] = L2_GRID,
    validation_days: int,
    half_life_days: float,
    max_history: int,
    max_per_customer: int,
) -> tuple[float, float, dict[str, float]]:
    """(decay, λ, NDCG@10 by "decay/λ") on the validation split inside the training window
    (`time_split`: the purchases of its last `validation_days`, predicted from the customers'
    latest products before them, by a B fitted on the interactions before them). λ is climbed
    (`climb`) at the middle decay, then the other decays are tried at the best λ. The middle
    of each grid when no customer can be judged."""
    fallback = decays[len(decays) // 2], l2s[len(l2s) // 2], {}
    split = time_split(
        interactions,
        as_of,
        products,
        validation_days=validation_days,
        half_life_days=half_life_days,
        late_views=False,  # the same session's views, after the cut, point to the purchase
    )
    if split is None:
        return fallback
    examples = purchase_examples(split.seen, max_history, max_per_customer)
    if len(examples) == 0:
        return fallback
    judged = split.seen.take(split.rows)
    items, strength = recent_products(judged, max_history)
    exclude = judged.purchased.toarray()
    kept = np.arange(len(products))
    scores: dict[tuple[float, float], float] = {}

    def score(decay: float, l2s: tuple[float, ...]) -> None:
        system, target = next_system(split.seen.weights, examples, kept, alpha, decay)
        inputs = decayed_inputs(items, strength, decay, len(products))

        def ndcg(l2: float) -> float:
            keys = np.asarray(inputs @ solve(system, target, l2))
            keys[exclude] = -np.inf
            top, _ = top_k_dense(keys, VALIDATION_K)
            return _mean_ndcg([list(products[t]) for t in top], split.relevant)

        scores.update({(decay, l2): value for l2, value in climb(l2s, ndcg).items()})

    middle = decays[len(decays) // 2]
    score(middle, l2s)
    l2 = best_of({value: scores[middle, value] for value in l2s if (middle, value) in scores})
    for decay in decays:
        if decay != middle:
            score(decay, (l2,))
    decay = max(decays, key=lambda value: (scores[value, l2], value))
    named = {f"{d:g}/{v:g}": round(ndcg, 6) for (d, v), ndcg in scores.items()}
    log.info("linear_next: validation NDCG@%d by decay/l2 %s", VALIDATION_K, named)
    return decay, l2, named


class LinearNextRecommender(EASERecommender):
    """The next purchase from the latest products, in closed form (see the module docstring)."""

    name: ClassVar[str] = "linear_next"

    def __init__(
        self,
        l2: float = 0.0,
        decay: float = DECAY,
        alpha: float = ALPHA,
        max_history: int = MAX_HISTORY,
        max_examples_per_customer: int = MAX_EXAMPLES_PER_CUSTOMER,
        max_products: int = EASE_MAX_PRODUCTS,
        neighbours: int = EASE_NEIGHBOURS,
        validation_days: int = EASE_VALIDATION_DAYS,
        half_life_days: float = 0.0,
        search_every: int = EASE_SEARCH_EVERY,
    ) -> None:
        super().__init__(
            l2=l2,
            max_products=max_products,
            neighbours=neighbours,
            validation_days=validation_days,
            half_life_days=half_life_days,
            search_every=search_every,
        )
        self.decay = float(decay)  # 0: choose from DECAY_GRID on the validation split
        self.alpha = float(alpha)
        self.max_history = int(max_history)
        self.max_examples_per_customer = int(max_examples_per_customer)
        if not 0 <= self.alpha < 1 or not 0 <= self.decay <= 1 or self.max_history < 1:
            raise ValueError("linear_next needs 0 <= alpha < 1, 0 <= decay <= 1 and max_history >= 1")
        self._decay_chosen: float | None = None  # taken from another version, with λ

    def tune_like(self, evaluated: Mapping[str, Any]) -> None:
        """A refit takes the decay and λ its evaluated candidate chose."""
        super().tune_like(evaluated)
        if self._l2_factor and evaluated.get("decay"):
            self._decay_chosen = float(evaluated["decay"])

    def warm_start(self, previous: Model) -> bool:
        """Reuse the decay and λ `previous` chose (see EASE's `warm_start`)."""
        reused = super().warm_start(previous)
        if reused and previous.fitted.get("decay"):
            self._decay_chosen = float(previous.fitted["decay"])
        return reused

    @property
    def fitted_decay(self) -> float:
        """The decay the model scores with: the parameter, or the one chosen when fitting."""
        return self.decay or float(self.fitted["decay"])

    def _fit(self, interactions: pd.DataFrame, history: History, as_of: pd.Timestamp) -> None:
        started = time.perf_counter()
        examples = purchase_examples(history, self.max_history, self.max_examples_per_customer)
        if len(examples) == 0:
            raise ValueError("no customer has a purchase after another product; cannot fit")
        kept = most_interacted(history.weights, self.products, self.max_products)
        if self._l2_factor and (self.decay or self._decay_chosen):
            decay, l2 = self.decay or self._decay_chosen, self.l2 or self._l2_factor
            self.fitted["l2_from"] = self._l2_from
        elif self.l2 and self.decay:
            decay, l2 = self.decay, self.l2
        else:
            decay, l2, scores = choose_on_time_split(
                interactions,
                as_of,
                self.products[kept],
                alpha=self.alpha,
                decays=(self.decay,) if self.decay else DECAY_GRID,
                l2s=(self.l2,) if self.l2 else L2_GRID,
                validation_days=self.validation_days,
                half_life_days=self.half_life_days,
                max_history=self.max_history,
                max_per_customer=self.max_examples_per_customer,
            )
            if scores:
                self.fitted["validation_ndcg"] = scores
            self._l2_generation = 0
        system, target = next_system(history.weights, examples, kept, self.alpha, decay)
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
                "decay": decay,
                "l2": l2,
                "l2_factor": l2,
                "l2_generation": self._l2_generation,
                "modelled_products": len(kept),
                "training_examples": len(examples),
            }
        )
        log.info(
            "linear_next fitted on %d purchases of %d customers, %d of %d products, decay %.2f, l2 %.3g, "
            "in %.1fs",
            len(examples),
            history.n_customers,
            len(kept),
            n_products,
            decay,
            l2,
            time.perf_counter() - started,
        )

    def _input(self, batch: History) -> sp.csr_matrix:
        """The customers' latest products, the p-th latest weighted decay^p, as in training."""
        items, strength = recent_products(batch, self.max_history)
        return decayed_inputs(items, strength, self.fitted_decay, len(self.products))
