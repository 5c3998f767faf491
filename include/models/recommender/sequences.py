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

from include.models.recommender.base import History, stored_rows

# Customers whose latest purchase is held out for validation, at most (and a fifth at most).
VALIDATION_CUSTOMERS = 5000


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
    days = aligned_days(weights, history.last_days)
    purchased = history.purchased.tocsr()
    any_purchase = purchased.nnz > 0
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
        day = np.floor(when[order])
        first_of_day = np.searchsorted(day, day, side="left")
        positions = [
            t for t in range(len(cols)) if (bought is None or cols[t] in bought) and first_of_day[t] > 0
        ]
        for t in positions[-max_per_customer:]:
            end = first_of_day[t]
            start = max(0, end - max_history)
            padded = np.full(max_history, -1, np.int32)
            padded_strength = np.zeros(max_history, np.float32)
            padded[: end - start] = cols[start:end][::-1]
            padded_strength[: end - start] = strength[start:end][::-1]
            items_out.append(padded)
            strength_out.append(padded_strength)
            targets_out.append(cols[t])
            owner.append(row)
    if not targets_out:
        return Examples(
            np.zeros((0, max_history), np.int32),
            np.zeros((0, max_history), np.float32),
            np.zeros(0, np.int32),
            np.zeros(0, np.int64),
        )
    return Examples(
        np.stack(items_out), np.stack(strength_out), np.asarray(targets_out, np.int32), np.asarray(owner)
    )


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
