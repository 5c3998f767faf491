"""EASE: a linear item-to-item model with a closed-form solution (Steck, WWW 2019).

The weights B minimise ||X - XB||² + λ||B||² with a zero diagonal (no product explains
itself). With P = (XᵀX + λI)⁻¹, the solution is B = I - P · diag(1 / diag(P)). It is one of the
strongest simple recommenders on public benchmarks, and it costs one dense products x products
solve, so this implementation

- models at most `max_products` products, the most interacted-with (the rest are recommended
  only through popularity), and solves by Cholesky in float32;
- chooses λ on a validation split *inside* the training window (the purchases of its last
  `validation_days`, predicted from the interactions before them) unless `l2` is given,
  climbing the grid from its middle (`climb`: each λ tried costs a solve); a warm start
  (the previous night's EASE) reuses the λ that one chose, relative to tonight's
  XᵀX, and searches again every `search_every`-th night in a row;
- keeps the `neighbours` largest weights per product, so the saved model is sparse and is
  scored like item-kNN.

Histories enter as log1p of their interaction weights, so one heavily viewed product does not
drown the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.models.base import Model
from include.models.recommender.base import PURCHASE_WEIGHT, History, build_history, top_k_dense
from include.models.recommender.baselines import NeighbourRecommender

log = logging.getLogger(__name__)

# Products modelled at most (the most interacted-with): the solve costs products³.
EASE_MAX_PRODUCTS = 8000
# Weights kept per product (largest magnitude): the sparse model that is saved and scored.
EASE_NEIGHBOURS = 500
# λ tried when none is given, as multiples of the mean diagonal of XᵀX (climbed from the
# middle, see `climb`).
EASE_L2_GRID = (0.0625, 0.25, 1.0, 4.0, 16.0)
# Days at the end of the training window whose purchases choose λ.
EASE_VALIDATION_DAYS = 7
# Validation customers at most (a seeded sample), and the cut-off of the validation NDCG.
EASE_VALIDATION_CUSTOMERS = 5000
EASE_VALIDATION_K = 10
EASE_SEED = 11
# A warm-started EASE reuses the λ its previous version chose; every this-many-th night in a
# row it searches the grid again (1: always search).
EASE_SEARCH_EVERY = 7


def regularised_inverse(gram: np.ndarray, l2: float) -> np.ndarray:
    """(gram + l2 I)⁻¹ by Cholesky, in float32 (`gram` is left as it is)."""
    from scipy.linalg import lapack

    system = np.array(gram, dtype=np.float32, copy=True)
    system[np.diag_indices_from(system)] += np.float32(l2)
    factor, info = lapack.spotrf(system, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"the Gram matrix + {l2} I is not positive definite (potrf info {info})")
    inverse, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inverting the Cholesky factor failed (potri info {info})")
    return _symmetric_from_upper(inverse)


def climb(grid: tuple[float, ...] | list[float], evaluate: Callable[[float], float]) -> dict[float, float]:
    """The scores of the values of `grid` visited climbing from its middle (each evaluation is
    a solve, and the validation NDCG over λ has one peak): the smaller neighbour first, on
    while the score improves; the larger side only when the smaller neighbour did not improve.
    The grid's best value is among those visited whenever its scores rise to one peak and
    fall after it; three evaluations when the middle or its smaller neighbour is best, five at
    most."""
    values = sorted(grid)
    middle = len(values) // 2
    scores = {values[middle]: evaluate(values[middle])}
    for step in (-1, 1):
        at = middle
        while 0 <= at + step < len(values):
            scores[values[at + step]] = evaluate(values[at + step])
            if scores[values[at + step]] <= scores[values[at]]:
                break
            at += step
        if at != middle:
            break
    return scores


def best_of(scores: Mapping[float, float]) -> float:
    """The value with the best score (ties: the smallest, the least regularised)."""
    return max(scores, key=lambda value: (scores[value], -value))


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """B = I - P diag(1/diag(P)) with P = (gram + l2 I)⁻¹ and a zero diagonal (float32)."""
    # In place from here: at 8,000 products every copy of the matrix is 256 MB.
    weights = regularised_inverse(gram, l2)
    weights /= -np.diag(weights).copy()[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights


def _symmetric_from_upper(matrix: np.ndarray, block: int = 1024) -> np.ndarray:
    """Fill the lower triangle of `matrix` from its upper one, in place, a block of rows at a
    time (LAPACK's potri leaves only the upper triangle of the inverse)."""
    for start in range(0, len(matrix), block):
        stop = min(start + block, len(matrix))
        matrix[start:stop, :start] = matrix[:start, start:stop].T
        diagonal = matrix[start:stop, start:stop]
        diagonal[...] = np.triu(diagonal) + np.triu(diagonal, 1).T
    return matrix


def strongest(weights: np.ndarray, n: int, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the n largest-magnitude weights per row, by magnitude.

    Rows are taken `block` at a time, so the selection's temporaries (magnitudes, and int64
    positions for every column) cover a block, not the whole products x products matrix.
    """
    n = min(n, weights.shape[1] - 1)
    indices = np.empty((weights.shape[0], n), np.int64)
    values = np.empty((weights.shape[0], n), weights.dtype)
    for start in range(0, weights.shape[0], block):
        rows = weights[start : start + block]
        part = np.argpartition(-np.abs(rows), n, axis=1)[:, :n]
        kept = np.take_along_axis(rows, part, axis=1)
        order = np.argsort(-np.abs(kept), axis=1, kind="stable")
        indices[start : start + block] = np.take_along_axis(part, order, axis=1)
        values[start : start + block] = np.take_along_axis(kept, order, axis=1)
    return indices, values


class EASERecommender(NeighbourRecommender):
    """EASE over the most interacted-with products (see the module docstring)."""

    name: ClassVar[str] = "ease"

    def __init__(
        self,
        l2: float = 0.0,
        max_products: int = EASE_MAX_PRODUCTS,
        neighbours: int = EASE_NEIGHBOURS,
        validation_days: int = EASE_VALIDATION_DAYS,
        half_life_days: float = 0.0,
        search_every: int = EASE_SEARCH_EVERY,
    ) -> None:
        super().__init__(neighbours, half_life_days)
        self.l2 = float(l2)  # 0: choose on the validation split
        self.max_products = int(max_products)
        self.validation_days = int(validation_days)
        self.search_every = int(search_every)
        if self.l2 < 0 or self.max_products < 2 or self.search_every < 1:
            raise ValueError("EASE needs l2 >= 0, max_products >= 2 and search_every >= 1")
        # λ as a multiple of the mean diagonal of XᵀX, taken from another version (the evaluated
        # candidate for a refit, the previous night's for a warm start): where from, and how
        # many nights in a row λ has been reused.
        self._l2_factor: float | None = None
        self._l2_from = ""
        self._l2_generation = 0

    def tune_like(self, evaluated: Mapping[str, Any]) -> None:
        """A refit uses the λ (relative to its own XᵀX) its evaluated candidate chose on the
        validation split, instead of searching the grid again on the whole window."""
        factor = evaluated.get("l2_factor")
        if not self.l2 and factor:
            self._l2_factor = float(factor)
            self._l2_from = "evaluated candidate"
            self._l2_generation = int(evaluated.get("l2_generation", 0))

    def warm_start(self, previous: Model) -> bool:
        """Reuse the λ factor `previous` (an EASE of the same configuration, fitted on earlier
        data) chose, unless λ is fixed or already taken from the evaluated candidate, or λ has
        been reused `search_every - 1` nights in a row (then the grid is searched again)."""
        if self.l2 or self._l2_factor or not isinstance(previous, EASERecommender):
            return False
        if previous.params() != self.params():
            log.info("ease: no warm start, the previous model has another configuration")
            return False
        factor = previous.fitted.get("l2_factor")
        generation = self.next_generation(previous, self.search_every, "l2_generation")
        if not factor or generation is None:
            return False
        self._l2_factor, self._l2_from, self._l2_generation = float(factor), "previous version", generation
        return True

    def _input(self, batch: History) -> sp.csr_matrix:
        return batch.weights.log1p()

    def _fit(self, interactions: pd.DataFrame, history: History, as_of: pd.Timestamp) -> None:
        started = time.perf_counter()
        n_products = len(self.products)
        kept = most_interacted(history.weights, self.products, self.max_products)
        matrix = self._input(history)[:, kept].astype(np.float32)  # solved in float32
        gram = (matrix.T @ matrix).toarray()
        scale = float(np.mean(np.diag(gram))) or 1.0
        if self.l2:
            l2 = self.l2
        elif self._l2_factor:
            l2 = self._l2_factor * scale
            self.fitted["l2_from"] = self._l2_from
        else:
            l2 = self._choose_l2(interactions, as_of, kept, scale)
            self._l2_generation = 0
        weights = ease_weights(gram, l2)
        idx, values = strongest(weights, self.neighbours)
        width = idx.shape[1]
        self._neighbour_idx = np.zeros((n_products, width), np.int32)
        self._neighbour_score = np.full((n_products, width), -np.inf)
        self._neighbour_idx[kept] = kept[idx]
        self._neighbour_score[kept] = np.where(values != 0, values, -np.inf)
        self._set_prior(history)
        self.fitted.update(
            {
                "l2": l2,
                "l2_factor": l2 / scale,
                "l2_generation": self._l2_generation,
                "modelled_products": len(kept),
            }
        )
        log.info(
            "ease fitted on %d interactions, %d of %d products, l2 %.3g, in %.1fs",
            len(interactions),
            len(kept),
            n_products,
            l2,
            time.perf_counter() - started,
        )

    def _choose_l2(
        self, interactions: pd.DataFrame, as_of: pd.Timestamp, kept: np.ndarray, scale: float
    ) -> float:
        l2, scores = choose_l2(
            interactions,
            as_of,
            self.products[kept],
            scale,
            validation_days=self.validation_days,
            half_life_days=self.half_life_days,
        )
        if scores:
            self.fitted["validation_ndcg"] = {f"{k:.6g}": round(v, 6) for k, v in scores.items()}
        return l2


def most_interacted(weights: sp.csr_matrix, products: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the n products with the most interactions (ties: lower id), sorted."""
    counts = np.diff(weights.tocsc().indptr)
    return np.sort(np.lexsort((products, -counts))[:n])


def choose_l2(
    interactions: pd.DataFrame,
    as_of: pd.Timestamp,
    products: np.ndarray,
    scale: float,
    *,
    validation_days: int,
    half_life_days: float,
) -> tuple[float, dict[float, float]]:
    """The λ of `EASE_L2_GRID` (times `scale`, the mean diagonal of XᵀX) with the best NDCG on
    the validation split (`validation_by_l2`), and the NDCG of every λ tried; the second λ of
    the grid when the split has no customer to judge."""
    scores = validation_by_l2(
        interactions,
        as_of,
        products,
        [factor * scale for factor in EASE_L2_GRID],
        validation_days=validation_days,
        half_life_days=half_life_days,
    )
    if not scores:
        return EASE_L2_GRID[1] * scale, {}
    return best_of(scores), scores


@dataclass(frozen=True)
class TimeSplit:
    """The validation split inside a training window: the histories before the cut, and what
    the judged customers bought from the cut on."""

    seen: History  # the interactions before the cut, over the given products
    rows: np.ndarray  # rows of `seen` judged (a seeded sample of the buyers after the cut)
    relevant: list[set[int]]  # per judged row, the product ids bought from the cut on


def time_split(
    interactions: pd.DataFrame,
    as_of: pd.Timestamp,
    products: np.ndarray,
    *,
    validation_days: int,
    half_life_days: float,
    late_views: bool = True,
) -> TimeSplit | None:
    """The purchases of the last `validation_days` before `as_of`, to be predicted from the
    interactions before them (None when no customer can be judged).

    A pair bought after the cut is one row, dated at the purchase: whether its views came
    before the cut or in the purchase's own session is not known. With `late_views` its other
    interactions stay in the history (dated at the cut), as a product viewed before the
    holdout does; without (`late_views=False`), the views of the purchase's own session,
    which come after the cut, cannot point to it."""
    cut = pd.Timestamp(as_of) - pd.Timedelta(days=validation_days)
    last_at = pd.to_datetime(interactions["last_at"])
    late = (last_at >= cut).to_numpy()
    targets = interactions[late & (interactions["purchases"] > 0).to_numpy()]
    # As in the holdout, a product viewed or carted before it was bought stays in the history:
    # a late pair keeps the weight of its interactions other than purchases (dated at the cut,
    # not purchased), a late pair without purchases is left out.
    earlier = targets.assign(
        weight=targets["weight"] - PURCHASE_WEIGHT * targets["purchases"], purchases=0, last_at=cut
    )
    before = pd.concat(
        [interactions[~late], earlier[earlier["weight"] > 0] if late_views else earlier.iloc[:0]],
        ignore_index=True,
    )
    seen = build_history(before, products, half_life_days=half_life_days, as_of=cut)
    customers = np.intersect1d(seen.customer_ids, targets["customer_id"].to_numpy(np.int64))
    if len(customers) == 0 or seen.weights.nnz == 0:
        log.warning("no validation customers before %s", cut)
        return None
    rng = np.random.default_rng(EASE_SEED)
    if len(customers) > EASE_VALIDATION_CUSTOMERS:
        customers = np.sort(rng.choice(customers, EASE_VALIDATION_CUSTOMERS, replace=False))
    wanted = targets[targets["customer_id"].isin(customers)]
    relevant = wanted.groupby("customer_id")["product_id"].agg(set).reindex(customers)
    return TimeSplit(
        seen,
        np.searchsorted(seen.customer_ids, customers),
        [r if isinstance(r, set) else set() for r in relevant],
    )


def validation_by_l2(
    interactions: pd.DataFrame,
    as_of: pd.Timestamp,
    products: np.ndarray,
    grid: list[float],
    *,
    validation_days: int,
    half_life_days: float,
) -> dict[float, float]:
    """NDCG@10 of EASE over `products` for the λ of `grid` `climb` visits on the validation
    split inside the training window (`time_split`). Empty when the split has no customer to
    judge."""
    split = time_split(
        interactions, as_of, products, validation_days=validation_days, half_life_days=half_life_days
    )
    if split is None:
        return {}
    matrix = split.seen.weights.log1p().astype(np.float32)  # as the solve: float32 throughout
    gram = (matrix.T @ matrix).toarray()
    inputs = matrix[split.rows]
    exclude = split.seen.purchased[split.rows].toarray()

    def ndcg(l2: float) -> float:
        keys = np.asarray(inputs @ ease_weights(gram, l2))
        keys[exclude] = -np.inf
        top, _ = top_k_dense(keys, EASE_VALIDATION_K)
        return _mean_ndcg([list(products[t]) for t in top], split.relevant)

    scores = climb(grid, ndcg)
    log.info(
        "ease: validation NDCG@%d by l2 %s",
        EASE_VALIDATION_K,
        {f"{k:.6g}": round(v, 4) for k, v in scores.items()},
    )
    return scores


def _mean_ndcg(recommended: list[list[int]], relevant: list[set[int]]) -> float:
    from include.metrics import ndcg_values

    if not any(relevant):
        return 0.0
    return float(np.nanmean(ndcg_values(recommended, relevant, EASE_VALIDATION_K)))
