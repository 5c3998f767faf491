"""The recommender interface and the sparse helpers every candidate shares.

Every candidate is fitted on aggregated interactions (one row per customer and product) and
recommends from a customer's history as given at scoring time, so newer history is used
without retraining. A customer is scored when at least one of their history rows names a
product known to the model; everyone else is left out, to be filled by the caller (usually
with `PopularityRecommender.top_products`). Products the customer already purchased are never
recommended.

Input frames:
    interactions: customer_id, product_id, weight (views + 3 * add_to_cart + 5 * purchases),
        purchases (count), last_at (time of the last interaction; needed by popularity's fit).

Only numpy, pandas and scipy are imported here; TensorFlow lives in `tf_next_item`.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.models.base import Model, limited_threads

log = logging.getLogger(__name__)

# Customers (or products) scored per batch, at most.
SCORING_BATCH_SIZE = 4096
# Cells (rows x products) of one dense scoring batch, at most; bounds memory on big catalogues.
SCORING_MAX_CELLS = 8_000_000
# Columns per chunk when selecting the k smallest keys of wide rows (see top_k_smallest).
SELECTION_CHUNK = 64
# Above this share of stored cells, a sparse top-k lays its keys out densely (see sparse_top_k).
DENSE_SHARE = 0.2

RECOMMENDATION_COLUMNS = ["customer_id", "rank", "product_id", "score"]
SIMILAR_COLUMNS = ["product_id", "rank", "similar_product_id", "score"]
HISTORY_COLUMNS = ("customer_id", "product_id", "weight", "purchases")
# The weight one purchase adds to an interaction (include/sql/recommendations/extract_interactions.sql).
PURCHASE_WEIGHT = 5.0


# ---------------------------------------------------------------------------- input checks


def check_interactions(frame: pd.DataFrame, columns: Iterable[str] = HISTORY_COLUMNS) -> None:
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


def check_k(k: int) -> int:
    """`k` as an int, or ValueError unless it is a positive integer."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def index_of(products: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each id in the sorted `products`, or -1 for an unknown id."""
    if len(products) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(products, ids), len(products) - 1)
    return np.where(products[pos] == ids, pos, -1)


# ------------------------------------------------------------------------------- histories


@dataclass(frozen=True)
class History:
    """Customers' histories restricted to known products, as sparse customer x product rows."""

    customer_ids: np.ndarray  # sorted, one per row
    weights: sp.csr_matrix  # interaction weights
    purchased: sp.csr_matrix  # True where the customer purchased the product
    # When each interaction last happened, in days since 1970 (same pattern as `weights`).
    last_days: sp.csr_matrix | None = None

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    def rows(self, start: int, stop: int) -> History:
        """The histories of rows [start, stop)."""
        return self.take(slice(start, stop))

    def take(self, rows: slice | np.ndarray) -> History:
        """The histories of `rows` (a slice or row indices)."""
        return History(
            self.customer_ids[rows],
            self.weights[rows],
            self.purchased[rows],
            None if self.last_days is None else self.last_days[rows],
        )


def recency_weights(
    interactions: pd.DataFrame, as_of: datetime | pd.Timestamp, half_life_days: float
) -> np.ndarray:
    """Each row's weight, halved for every `half_life_days` its `last_at` lies before `as_of`.

    Rows dated after `as_of` count fully. `half_life_days` 0 leaves the weights as they are.
    """
    weight = interactions["weight"].to_numpy(np.float64)
    if not half_life_days:
        return weight
    age_days = (pd.Timestamp(as_of) - pd.to_datetime(interactions["last_at"])) / pd.Timedelta(days=1)
    return weight * np.power(0.5, np.clip(age_days.to_numpy(np.float64), 0.0, None) / half_life_days)


def build_history(
    interactions: pd.DataFrame,
    products: np.ndarray,
    customer_ids: np.ndarray | None = None,
    *,
    checked: bool = False,
    half_life_days: float = 0.0,
    as_of: datetime | pd.Timestamp | None = None,
) -> History:
    """The histories of `customer_ids` (all customers when None) over the known `products`.

    With `half_life_days`, each interaction's weight decays with its age at `as_of` (see
    `recency_weights`). `checked` skips validating the frame again when the caller has just
    done so.
    """
    missing = [c for c in HISTORY_COLUMNS if c not in interactions.columns]
    if missing:
        raise ValueError(f"interactions lack column(s) {missing}; got {list(interactions.columns)}")
    frame = interactions
    if customer_ids is not None:
        wanted = np.unique(np.asarray(customer_ids, dtype=np.int64))
        frame = frame[frame["customer_id"].isin(wanted)]
    if not checked:
        check_interactions(frame)
    customers = frame["customer_id"].to_numpy(np.int64)
    column = index_of(products, frame["product_id"].to_numpy(np.int64))
    known = column >= 0
    ids, row = np.unique(customers[known], return_inverse=True)
    column = column[known]
    shape = (len(ids), len(products))
    if half_life_days and as_of is None:
        raise ValueError("recency weighting needs the moment the history is as of")
    weight = (
        recency_weights(frame, as_of, half_life_days)
        if half_life_days
        else frame["weight"].to_numpy(np.float64)
    )
    weights = sp.csr_matrix((weight[known], (row, column)), shape=shape)
    bought = frame["purchases"].to_numpy(np.float64)[known] > 0
    purchased = sp.csr_matrix(
        (np.ones(int(bought.sum()), dtype=bool), (row[bought], column[bought])), shape=shape
    )
    last_days = None
    if "last_at" in frame.columns:
        days = (pd.to_datetime(frame["last_at"]) - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        last_days = sp.csr_matrix((days.to_numpy(np.float64)[known], (row, column)), shape=shape)
    return History(ids, weights, purchased, last_days)


def batch_rows(n_products: int) -> int:
    """Rows per dense scoring batch for a catalogue of `n_products`."""
    return max(1, min(SCORING_BATCH_SIZE, SCORING_MAX_CELLS // max(n_products, 1)))


# --------------------------------------------------------------------------- top-k helpers


def stored_ones(matrix: sp.spmatrix) -> sp.csr_matrix:
    """A CSR copy of `matrix` with 1 in every stored cell (who interacted with what)."""
    ones = matrix.tocsr().copy()
    ones.data = np.ones_like(ones.data)
    return ones


def stored_rows(matrix: sp.csr_matrix) -> np.ndarray:
    """The row of each stored cell of a CSR matrix, in storage order."""
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def top_k_dense(keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest keys per row, best first."""
    # Selecting the k smallest of -keys, not the k largest of keys: numpy's selection is many
    # times slower the second way when most keys tie (a sparse model scores most products 0).
    indices, values = top_k_smallest(-keys, k)
    return indices, -values


def top_k_smallest(keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k smallest keys per row, smallest first (ties: the
    order argpartition leaves them in).

    A wide row is cut into chunks of `SELECTION_CHUNK` columns: the k smallest keys lie in
    the k chunks with the smallest minima (a key outside them has k smaller chunk minima
    before it), so one vectorised pass of minima and a selection over k chunks' keys replace
    a selection over the whole row, which numpy runs several times slower.
    """
    n_rows, n_cols = keys.shape
    k = min(k, n_cols)
    if k == 0:
        return np.zeros((n_rows, 0), np.int64), np.zeros((n_rows, 0), keys.dtype)
    n_chunks = n_cols // SELECTION_CHUNK
    if n_chunks < 4 * k or not np.issubdtype(keys.dtype, np.floating):
        return _select(keys, np.broadcast_to(np.arange(n_cols), keys.shape), k)
    whole = n_chunks * SELECTION_CHUNK
    minima = keys[:, :whole].reshape(n_rows, n_chunks, SELECTION_CHUNK).min(axis=2)
    if whole < n_cols:
        minima = np.concatenate([minima, keys[:, whole:].min(axis=1, keepdims=True)], axis=1)
    chunks = np.argpartition(minima, k - 1, axis=1)[:, :k]
    columns = (chunks[:, :, None] * SELECTION_CHUNK + np.arange(SELECTION_CHUNK)).reshape(n_rows, -1)
    inside = columns < n_cols  # the last chunk may be short
    columns = np.minimum(columns, n_cols - 1)
    candidates = np.where(inside, np.take_along_axis(keys, columns, axis=1), np.inf).astype(keys.dtype)
    return _select(candidates, columns, k)


def _select(keys: np.ndarray, columns: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `columns` of the k smallest `keys` per row, and those keys, smallest first."""
    part = np.argpartition(keys, k - 1, axis=1)[:, :k]
    part_keys = np.take_along_axis(keys, part, axis=1)
    order = np.argsort(part_keys, axis=1, kind="stable")
    chosen = np.take_along_axis(np.take_along_axis(columns, part, axis=1), order, axis=1)
    return chosen.astype(np.int64, copy=False), np.take_along_axis(part_keys, order, axis=1)


def sparse_top_k(
    scores: sp.csr_matrix,
    k: int,
    *,
    exclude: sp.csr_matrix | None = None,
    fill: np.ndarray | None = None,
    fill_scores: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns of the k largest positive stored values, best first; a row with
    fewer is completed from `fill` (columns, best first), each scored `fill_scores[column]`
    (0 by default), skipping what it already holds. A cell stored in `exclude` is never chosen;
    -inf marks an empty slot (always trailing).

    When most cells are stored the keys are laid out densely, in place (`_dense_top_k`);
    otherwise only the stored cells are compared (`_stored_top_k`), so the work follows the
    products a customer's history points to rather than the whole catalogue.
    """
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k == 0 or n_rows == 0:
        return np.zeros((n_rows, k), np.int64), np.full((n_rows, k), -np.inf)
    scores = scores.tocsr()
    fill = None if fill is None else np.asarray(fill, dtype=np.int64)
    if scores.nnz > DENSE_SHARE * n_rows * n_cols:
        return _dense_top_k(scores, k, exclude, fill, fill_scores)
    return _stored_top_k(scores, k, exclude, fill, fill_scores)


def _dense_top_k(
    scores: sp.csr_matrix,
    k: int,
    exclude: sp.csr_matrix | None,
    fill: np.ndarray | None,
    fill_scores: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """`sparse_top_k` over dense keys, smallest best: -value for a positive stored cell, the
    place in `fill` scaled into (0, 1) for any other, 2 for a cell that cannot be chosen. The
    stored cells become keys before the matrix is made dense, in its own dtype, in place: they
    hold (key - base key), every other cell 0, and adding the base key of each column to the
    dense rows gives every key."""
    n_cols = scores.shape[1]
    base = np.full(n_cols, 2.0, dtype=scores.dtype)
    if fill is not None:
        base[fill] = (np.arange(len(fill)) + 1) / (len(fill) + 1)
    positive = scores.data > 0
    offset = base.take(scores.indices)
    offset += scores.data
    np.negative(offset, out=offset)
    offset *= positive
    keyed = sp.csr_matrix((offset, scores.indices, scores.indptr), shape=scores.shape)
    keys = keyed.toarray()
    keys += base
    if exclude is not None:
        exclude = exclude.tocsr()
        keys[stored_rows(exclude), exclude.indices] = 2.0
    indices, top = top_k_smallest(keys, k)
    top = top.astype(np.float64)
    filled = fill_scores[indices] if fill_scores is not None else np.zeros_like(top)
    values = np.where(top < 0, -top, np.where(top < 1, filled, -np.inf))
    return indices.astype(np.int64), values


def _stored_top_k(
    scores: sp.csr_matrix,
    k: int,
    exclude: sp.csr_matrix | None,
    fill: np.ndarray | None,
    fill_scores: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """`sparse_top_k` comparing only stored cells: each row's positive cells side by side in a
    padded block, the best k + (most excluded cells of a row) kept, excluded ones dropped."""
    n_rows, n_cols = scores.shape
    indices = np.zeros((n_rows, k), np.int64)
    values = np.full((n_rows, k), -np.inf)
    exclude = None if exclude is None else exclude.tocsr().astype(bool)
    most_excluded = 0 if exclude is None else int(np.diff(exclude.indptr).max(initial=0))
    keep = scores.data > 0
    rows = stored_rows(scores)[keep]
    columns = scores.indices[keep]
    counts = np.bincount(rows, minlength=n_rows)
    width = int(counts.max(initial=0))
    held = np.zeros(n_rows, np.int64)
    if width:
        flat = rows * width + (np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts))
        keys = np.full(n_rows * width, np.inf, dtype=scores.dtype)
        keys[flat] = -scores.data[keep]
        padded = np.zeros(n_rows * width, np.int64)
        padded[flat] = columns
        slot, top = top_k_smallest(keys.reshape(n_rows, width), min(k + most_excluded, width))
        chosen = np.take_along_axis(padded.reshape(n_rows, width), slot, axis=1)
        usable = np.isfinite(top)
        if exclude is not None:
            cells = np.arange(n_rows)[:, None] * n_cols + chosen
            excluded = stored_rows(exclude) * n_cols + exclude.indices
            usable &= ~np.isin(cells, excluded)
        # The usable ones first, in order; then the best k of them.
        order = np.argsort(~usable, axis=1, kind="stable")[:, :k]
        usable = np.take_along_axis(usable, order, axis=1)
        held = usable.sum(axis=1)
        width_k = order.shape[1]
        indices[:, :width_k] = np.where(usable, np.take_along_axis(chosen, order, axis=1), 0)
        values[:, :width_k] = np.where(
            usable, -np.take_along_axis(top, order, axis=1).astype(np.float64), -np.inf
        )
    short = np.flatnonzero(held < k)
    if fill is None or not len(short):
        return indices, values
    # A short row holds all its usable positive cells; the first k + (most it holds or
    # excludes) of `fill` are enough to complete it.
    taken = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, columns)), shape=(n_rows, n_cols))[short]
    if exclude is not None:
        taken = taken + exclude[short]
    head = fill[: k + int(np.diff(taken.indptr).max(initial=0))]
    free = ~taken[:, head].toarray()
    place = np.cumsum(free, axis=1)
    need = (k - held[short])[:, None]
    row, column = np.nonzero(free & (place <= need))
    slot = held[short][row] + place[row, column] - 1
    indices[short[row], slot] = head[column]
    values[short[row], slot] = 0.0 if fill_scores is None else fill_scores[head[column]]
    return indices, values


def top_neighbours(
    n_products: int,
    n: int,
    block_scores: Callable[[int, int], np.ndarray],
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n other products per product, computed block by block.

    Args:
        n_products: catalogue size.
        n: neighbours to keep per product.
        block_scores: (start, stop) -> dense (stop - start) x n_products scores of the products
            `rows[start:stop]`; -inf excludes.
        rows: the products to find neighbours for (default: all, in order).

    Returns:
        (indices, scores), each len(rows) x min(n, n_products - 1); -inf marks an empty slot.
    """

    def choose(start: int, stop: int, block_rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        block = np.asarray(block_scores(start, stop), dtype=np.float64)
        block[np.arange(stop - start), block_rows] = -np.inf  # never itself
        return top_k_dense(block, n)

    return _by_blocks(n_products, n, rows, choose)


def sparse_neighbours(
    n_products: int,
    n: int,
    block_scores: Callable[[int, int], sp.csr_matrix],
    rows: np.ndarray | None = None,
    *,
    fill: np.ndarray | None = None,
    fill_scores: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n other products per product from sparse blocks of scores (`sparse_top_k`: positive
    stored scores first, then `fill`), as `top_neighbours` returns them.

    Args:
        block_scores: (start, stop) -> sparse (stop - start) x n_products scores of the
            products `rows[start:stop]`.
    """

    def choose(start: int, stop: int, block_rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        itself = sp.csr_matrix(
            (np.ones(stop - start, dtype=bool), (np.arange(stop - start), block_rows)),
            shape=(stop - start, n_products),
        )
        return sparse_top_k(block_scores(start, stop), n, exclude=itself, fill=fill, fill_scores=fill_scores)

    return _by_blocks(n_products, n, rows, choose)


def _by_blocks(
    n_products: int,
    n: int,
    rows: np.ndarray | None,
    choose: Callable[[int, int, np.ndarray, int], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour lists of `rows` (default: every product), `choose`n block by block:
    (start, stop, the block's products, n) -> the block's (indices, scores)."""
    rows = np.arange(n_products) if rows is None else np.asarray(rows)
    n = min(n, max(n_products - 1, 0))
    indices = np.zeros((len(rows), n), dtype=np.int32)
    scores = np.full((len(rows), n), -np.inf)
    step = batch_rows(n_products)
    for start in range(0, len(rows), step):
        stop = min(start + step, len(rows))
        indices[start:stop], scores[start:stop] = choose(start, stop, rows[start:stop], n)
    return indices, scores


def cosine_neighbours(
    matrix: sp.csr_matrix, n: int, products: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each product's (column's) `n` most cosine-similar products over the rows of `matrix`,
    positive similarity only, for the column indices `products` (default: all); as
    `top_neighbours` returns them."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
    normalised = (matrix @ sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))).tocsr()
    by_product = normalised.T.tocsr()
    if products is not None:
        by_product = by_product[np.asarray(products)]

    # Unrelated products (similarity 0 or less) are not neighbours.
    return sparse_neighbours(
        matrix.shape[1], n, lambda start, stop: by_product[start:stop] @ normalised, products
    )


def ranked_frame(
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


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """An empty ranked frame with the right dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=np.float64 if c == "score" else np.int64) for c in columns})


# ------------------------------------------------------------------------------- interface


class Recommender(Model):
    """A recommender candidate: fit on interactions, recommend from any customer history."""

    family: ClassVar[str] = "recommender"
    # The columns `fit` needs.
    fit_columns: ClassVar[tuple[str, ...]] = HISTORY_COLUMNS

    def __init__(self, half_life_days: float = 0.0) -> None:
        super().__init__()
        # How fast a customer's history fades: an interaction's weight halves every this many
        # days before the moment recommended for (0: no decay). Every candidate takes it.
        self.half_life_days = float(half_life_days)
        if self.half_life_days < 0:
            raise ValueError(f"half_life_days must be >= 0, got {half_life_days}")
        self._products: np.ndarray | None = None

    # ---- what subclasses provide

    @abc.abstractmethod
    def _fit(self, interactions: pd.DataFrame, history: History, as_of: pd.Timestamp) -> None:
        """Learn from validated interactions; `history` is the same data as sparse rows, and
        `as_of` the moment the data ends."""

    @abc.abstractmethod
    def _top_k(self, batch: History, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Product indices and scores (rows x <= k), best first, for a batch of histories.

        Purchased products must be excluded; -inf marks an empty slot (always trailing).
        """

    @abc.abstractmethod
    def similar_products(self, k: int) -> pd.DataFrame:
        """Per known product, up to k other products: product_id, rank, similar_product_id, score."""

    # ---- shared behaviour

    @property
    def products(self) -> np.ndarray:
        """The product ids known to the model, sorted."""
        if self._products is None:
            raise RuntimeError(f"the {self.name} recommender is not fitted; call fit or load")
        return self._products

    def _check_fitted(self) -> None:
        self.products  # noqa: B018 - raises when unfitted

    def fit(self, interactions: pd.DataFrame, *, as_of: datetime | None = None) -> Self:
        """Validate the interactions, set the vocabulary and learn; returns self.

        Args:
            as_of: when the data ends (the run's cut-off); what is "recent" is counted back
                from it. Default: the newest `last_at`, else now.
        """
        check_interactions(interactions, self.fit_columns)
        if interactions.empty:
            raise ValueError("interactions are empty; nothing to fit on")
        if as_of is None:
            as_of = (
                pd.to_datetime(interactions["last_at"]).max()
                if "last_at" in interactions
                else pd.Timestamp.now()
            )
        as_of = pd.Timestamp(as_of)
        self._products = np.unique(interactions["product_id"].to_numpy(np.int64))
        history = build_history(interactions, self._products, checked=True)
        self.fitted = {
            "interactions": len(interactions),
            "customers": history.n_customers,
            "products": len(self._products),
            "as_of": as_of.isoformat(),
        }
        with limited_threads():
            self._fit(interactions, history, as_of)
        return self

    def customers_with_history(self, interactions: pd.DataFrame, customer_ids: np.ndarray) -> np.ndarray:
        """The given customers (sorted, unique) with a history row on a known product."""
        wanted = np.unique(np.asarray(customer_ids, dtype=np.int64))
        frame = interactions[interactions["customer_id"].isin(wanted)]
        known = index_of(self.products, frame["product_id"].to_numpy(np.int64)) >= 0
        return np.unique(frame["customer_id"].to_numpy(np.int64)[known])

    def recommend(
        self,
        interactions: pd.DataFrame,
        customer_ids: np.ndarray,
        k: int,
        *,
        as_of: datetime | pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Top-k products for each given customer with usable history.

        Args:
            interactions: histories to recommend from (may be newer than the training data).
            customer_ids: customers to score; those without a history row on a known product
                are absent from the result.
            k: products per customer.
            as_of: the moment recommended for, from which `half_life_days` counts back
                (default: the newest `last_at` of the histories).

        Returns:
            customer_id, rank (1..k), product_id, score; sorted by customer and rank, scores
            non-increasing within a customer; never a product the customer purchased.
        """
        k = check_k(k)
        if self.half_life_days and as_of is None:
            as_of = pd.to_datetime(interactions["last_at"]).max()
        history = build_history(
            interactions, self.products, customer_ids, half_life_days=self.half_life_days, as_of=as_of
        )
        frames = []
        step = batch_rows(len(self.products))
        with limited_threads():  # once per call: entering it inspects every loaded library
            for start in range(0, history.n_customers, step):
                stop = min(start + step, history.n_customers)
                indices, scores = self._top_k(history.rows(start, stop), k)
                frames.append(
                    ranked_frame(
                        history.customer_ids[start:stop],
                        self.products,
                        indices,
                        scores,
                        RECOMMENDATION_COLUMNS,
                    )
                )
        if not frames:
            return empty_frame(RECOMMENDATION_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def _similar_from(self, indices: np.ndarray, scores: np.ndarray, k: int) -> pd.DataFrame:
        k = check_k(k)
        products = self.products
        return ranked_frame(products, products, indices[:, :k], scores[:, :k], SIMILAR_COLUMNS)


class ArrayRecommender(Recommender):
    """A recommender whose state is a few numpy arrays, saved together as `<name>.npz`."""

    # The attributes saved, without their leading underscore (`products` -> `self._products`).
    _ARRAYS: ClassVar[tuple[str, ...]]

    def _save_files(self, directory: Path) -> None:
        np.savez(directory / f"{self.name}.npz", **{key: getattr(self, f"_{key}") for key in self._ARRAYS})

    def _load_files(self, directory: Path) -> None:
        with np.load(directory / f"{self.name}.npz", allow_pickle=False) as arrays:
            for key in self._ARRAYS:
                setattr(self, f"_{key}", arrays[key])
