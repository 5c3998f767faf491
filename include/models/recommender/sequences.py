"""Customers' products in the order they happened, for the models of the next purchase.

The candidates are fitted on aggregated interactions (one row per customer and product, with
the time of the last one); the order of a customer's products is that of those times. Two
views of it:

- `recent_products`: each customer's latest products, newest first, as scoring sees them;
- `purchase_examples`: every purchase with the products before *the day* of it (a purchase is
  predicted from what the customer did before that day, as the time holdout asks: the same
  session's views are never known in advance), and a validation split that holds out the
  latest purchase of a sample of customers.

`decayed_inputs` turns either into a sparse customer x product matrix in which the p-th latest
product weighs decay^p times its strength (log1p of the interaction's weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from include.models.recommender.base import History, stored_ones, stored_rows

# Customers whose latest purchase is held out for validation, at most (and a fifth at most).
VALIDATION_CUSTOMERS = 5000
# Examples built at a time (bounds the temporaries: a block x max_history index).
EXAMPLE_BLOCK = 65536


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
    return np.asarray(days[stored_rows(weights), weights.indices]).ravel()


def recent_products(batch: History, max_history: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `max_history` latest products (newest first, -1 pads) and their strengths
    log1p(weight), ordered by when they happened (then by weight, then by product)."""
    weights = batch.weights.tocsr()
    n_rows = weights.shape[0]
    rows = stored_rows(weights)
    when = aligned_days(weights, batch.last_days)
    order = np.lexsort((weights.indices, -weights.data, -when, rows))
    position = np.arange(len(order)) - weights.indptr[rows[order]]
    keep = position < max_history
    items = np.full((n_rows, max_history), -1, dtype=np.int32)
    strength = np.zeros((n_rows, max_history), dtype=np.float32)
    items[rows[order][keep], position[keep]] = weights.indices[order][keep]
    strength[rows[order][keep], position[keep]] = np.log1p(weights.data[order][keep])
    return items, strength


@dataclass
class Examples:
    """Purchases to predict, each from the customer's latest products before its day."""

    items: np.ndarray  # N x L product indices, newest first, -1 pads
    strength: np.ndarray  # N x L log1p(weight)
    targets: np.ndarray  # N product indices
    owner: np.ndarray  # N history rows (customers)

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, rows: np.ndarray) -> Examples:
        return Examples(self.items[rows], self.strength[rows], self.targets[rows], self.owner[rows])


@dataclass
class Split:
    """Training examples, and the validation examples held out of them."""

    train: Examples
    validation: Examples
    exclude: list[set[int]]  # per validation example: the customer's other purchases


def purchase_examples(history: History, max_history: int, max_per_customer: int) -> Examples:
    """Every customer's latest `max_per_customer` purchases (every product when the history
    holds no purchases), each with the customer's `max_history` latest products before the day
    of it. A purchase on the customer's first day has nothing before it and is left out."""
    weights = history.weights.tocsr()
    rows = stored_rows(weights)
    # Each customer's products oldest first (then the heavier, then by product), customer by
    # customer: the stored cells of row r stay at weights.indptr[r] onwards.
    when = aligned_days(weights, history.last_days)
    order = np.lexsort((weights.indices, -weights.data, when, rows))
    cols, rows, day = weights.indices[order], rows[order], np.floor(when[order])
    strength = np.log1p(weights.data[order]).astype(np.float32)
    row_start = weights.indptr[rows]
    cell = np.arange(len(order))
    # Where each cell's day begins in its row: what is known before a purchase that day.
    new_day = np.r_[True, (rows[1:] != rows[:-1]) | (day[1:] != day[:-1])]
    day_start = np.maximum.accumulate(np.where(new_day, cell, 0)) - row_start
    target = day_start > 0
    if history.purchased.nnz:
        target &= np.asarray(stored_ones(history.purchased)[rows, cols]).ravel() > 0
    chosen = np.flatnonzero(target)
    # The latest `max_per_customer` of each customer's targets.
    owner = rows[chosen]
    from_end = np.bincount(owner, minlength=weights.shape[0])[owner] - (
        np.arange(len(chosen)) - np.searchsorted(owner, owner, side="left")
    )
    chosen = chosen[from_end <= max_per_customer]
    items = np.full((len(chosen), max_history), -1, np.int32)
    strengths = np.zeros((len(chosen), max_history), np.float32)
    back = np.arange(max_history)
    for first in range(0, len(chosen), EXAMPLE_BLOCK):
        block = chosen[first : first + EXAMPLE_BLOCK]
        known = day_start[block]  # products before the purchase's day, newest at known - 1
        source = (row_start[block] + known - 1)[:, None] - back[None, :]
        present = back[None, :] < known[:, None]
        source = np.where(present, source, 0)
        items[first : first + len(block)] = np.where(present, cols[source], -1)
        strengths[first : first + len(block)] = np.where(present, strength[source], 0.0)
    return Examples(items, strengths, cols[chosen].astype(np.int32), rows[chosen].astype(np.int64))


def hold_out_latest(examples: Examples, history: History, seed: int) -> Split:
    """Hold out the latest purchase of a seeded sample of customers (VALIDATION_CUSTOMERS at
    most, a fifth of those with an example at most)."""
    if len(examples) == 0:
        return Split(examples, examples, [])
    rng = np.random.default_rng(seed)
    last = np.r_[examples.owner[1:] != examples.owner[:-1], True]
    candidates = np.flatnonzero(last)
    chosen = np.sort(
        rng.choice(candidates, min(VALIDATION_CUSTOMERS, len(candidates) // 5 or 1), replace=False)
    )
    train = np.ones(len(examples), bool)
    train[chosen] = False
    purchased = history.purchased.tocsr()
    exclude = [
        set(purchased.indices[purchased.indptr[r] : purchased.indptr[r + 1]]) - {t}
        for r, t in zip(examples.owner[chosen], examples.targets[chosen], strict=True)
    ]
    return Split(examples.subset(np.flatnonzero(train)), examples.subset(chosen), exclude)


def position_weights(decay: float, max_history: int) -> np.ndarray:
    """decay^p for positions p = 0 (the latest product) … max_history - 1."""
    return (float(decay) ** np.arange(max_history)).astype(np.float32)


def decayed_inputs(items: np.ndarray, strength: np.ndarray, decay: float, n_products: int) -> sp.csr_matrix:
    """Rows x products: Σ_p decay^p · strength_p on the p-th latest product (float32)."""
    values = strength * position_weights(decay, items.shape[1])[None, :]
    present = items >= 0
    rows = np.broadcast_to(np.arange(items.shape[0])[:, None], items.shape)[present]
    matrix = sp.csr_matrix(
        (values[present].astype(np.float32), (rows, items[present])), shape=(items.shape[0], n_products)
    )
    matrix.sum_duplicates()
    return matrix
