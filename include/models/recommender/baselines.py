"""The simple recommenders: popularity (the skill floor), item-kNN, and a random ranking."""

from __future__ import annotations

import logging
import time
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from include.models.recommender.base import (
    HISTORY_COLUMNS,
    ArrayRecommender,
    History,
    check_k,
    cosine_neighbours,
    index_of,
    sparse_neighbours,
    sparse_top_k,
    stored_ones,
    top_k_dense,
)

log = logging.getLogger(__name__)

# Neighbours kept per product by item-kNN. On Amazon Beauty (12k products) NDCG@10 rises from
# 0.0364 with 100 to 0.0371 with 300 and 0.0376 with 1,000, where it levels off (2,000: 0.0376).
KNN_NEIGHBOURS = 1000
# Co-purchased products kept per product by popularity (its similar products).
POPULARITY_NEIGHBOURS = 100
# Purchases whose interaction is at most this many days before as_of count as recent.
POPULARITY_RECENT_DAYS = 28
# Seed of the random ranking.
RANDOM_SEED = 7


# ------------------------------------------------------------------------------ popularity


class PopularityRecommender(ArrayRecommender):
    """Most purchased products of late, the same list for everyone minus what they bought.

    Products are ranked by purchases on interactions at most `recent_days` before the fit's
    `as_of`, then by total interaction weight, then by product id. The score is
    that purchase count plus the weight tie-breaker scaled into [0, 1).

    Similar products are "customers who interacted with this product also bought": the number
    of such customers who purchased the other product, with overall popularity breaking ties
    (and filling the list for products with few co-purchases).
    """

    name: ClassVar[str] = "popularity"
    fit_columns: ClassVar[tuple[str, ...]] = (*HISTORY_COLUMNS, "last_at")
    _ARRAYS: ClassVar[tuple[str, ...]] = ("products", "score", "order", "neighbour_idx", "neighbour_score")

    def __init__(
        self,
        recent_days: int = POPULARITY_RECENT_DAYS,
        neighbours: int = POPULARITY_NEIGHBOURS,
        half_life_days: float = 0.0,
    ) -> None:
        super().__init__(half_life_days)
        self.recent_days = int(recent_days)
        self.neighbours = int(neighbours)
        self._score: np.ndarray = np.zeros(0)  # per product index
        self._order: np.ndarray = np.zeros(0, np.int64)  # product indices, most popular first
        self._neighbour_idx: np.ndarray = np.zeros((0, 0), np.int32)
        self._neighbour_score: np.ndarray = np.zeros((0, 0))

    def _fit(self, interactions: pd.DataFrame, history: History, as_of: pd.Timestamp) -> None:
        started = time.perf_counter()
        products = self.products
        column = index_of(products, interactions["product_id"].to_numpy(np.int64))
        last_at = pd.to_datetime(interactions["last_at"])
        # Anchored at as_of, not at the newest row: one late or clock-skewed row cannot move it.
        recent = (last_at >= as_of - pd.Timedelta(days=self.recent_days)).to_numpy()
        purchases = interactions["purchases"].to_numpy(np.float64)
        recent_purchases = np.bincount(
            column, weights=np.where(recent, purchases, 0.0), minlength=len(products)
        )
        weight = np.bincount(
            column, weights=interactions["weight"].to_numpy(np.float64), minlength=len(products)
        )
        self._score = recent_purchases + weight / (weight.max() + 1.0)
        self._order = np.lexsort((products, -weight, -recent_purchases))

        if not self.neighbours:  # the ranking alone (as scoring's fallback needs)
            self._without_neighbours()
            return
        # Co-purchases: customers who interacted with product i and purchased product j.
        by_product = stored_ones(history.weights).T.tocsr()
        bought = history.purchased.astype(np.float64).tocsr()
        # Co-purchase counts with popularity in (0, 1) added to break ties; a product nobody
        # co-purchased follows by popularity alone.
        prior = np.empty(len(products))
        prior[self._order] = 1.0 - np.arange(1, len(products) + 1) / (len(products) + 1)

        def co_purchases(start: int, stop: int) -> sp.csr_matrix:
            block = (by_product[start:stop] @ bought).tocsr()
            block.data += prior[block.indices]
            return block

        self._neighbour_idx, self._neighbour_score = sparse_neighbours(
            len(products), self.neighbours, co_purchases, fill=self._order, fill_scores=prior
        )
        log.info(
            "popularity fitted on %d interactions, %d products in %.1fs",
            len(interactions),
            len(products),
            time.perf_counter() - started,
        )

    def _without_neighbours(self) -> None:
        """No similar products: each known product keeps an empty list."""
        self._neighbour_idx = np.zeros((len(self.products), 0), np.int32)
        self._neighbour_score = np.zeros((len(self.products), 0))

    def ranking(self) -> pd.DataFrame:
        """Every known product, most popular first: product_id, score (see `from_ranking`)."""
        self._check_fitted()
        return pd.DataFrame({"product_id": self.products[self._order], "score": self._score[self._order]})

    @classmethod
    def from_ranking(cls, ranking: pd.DataFrame) -> PopularityRecommender:
        """The ranking of a fitted popularity model (`ranking()`), without its similar products:
        fitted once per run, staged, and used by every scoring shard."""
        model = cls(neighbours=0)
        ids = ranking["product_id"].to_numpy(np.int64)
        model._products = np.sort(ids)
        model._order = index_of(model._products, ids)
        model._score = np.empty(len(ids))
        model._score[model._order] = ranking["score"].to_numpy(np.float64)
        model._without_neighbours()
        model.fitted = {"products": len(ids), "from_ranking": True}
        return model

    def popularity(self) -> pd.Series:
        """The popularity score of every product, by product id."""
        return pd.Series(self._score, index=self.products, name="popularity")

    def top_products(self, k: int) -> pd.DataFrame:
        """The k most popular products: rank, product_id, score (for customers without history)."""
        top = self._order[: check_k(k)]
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(top) + 1, dtype=np.int64),
                "product_id": self.products[top],
                "score": self._score[top],
            }
        )

    def _top_k(self, batch: History, k: int) -> tuple[np.ndarray, np.ndarray]:
        purchased = batch.purchased
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


class NeighbourRecommender(ArrayRecommender):
    """A recommender that scores with a sparse product x product weight matrix.

    Each product keeps its strongest `neighbours` weights. A customer's score for a product is
    the sum over their history of (input weight) x (weight from that history product); products
    no history product points to are ranked after all others by popularity, with score 0.
    Subclasses fill `_neighbour_idx` / `_neighbour_score` (-inf marks an empty slot) in `_fit`
    and may turn the customers' histories into the inputs the weights apply to (`_input`).
    """

    _ARRAYS: ClassVar[tuple[str, ...]] = ("products", "neighbour_idx", "neighbour_score", "prior")

    def __init__(self, neighbours: int, half_life_days: float) -> None:
        super().__init__(half_life_days)
        self.neighbours = int(neighbours)
        self._neighbour_idx: np.ndarray = np.zeros((0, 0), np.int32)
        self._neighbour_score: np.ndarray = np.zeros((0, 0))
        self._prior: np.ndarray = np.zeros(0)  # popularity tie-break in (-1, 0)
        self._similarity: sp.csr_matrix | None = None
        self._popular_order: np.ndarray | None = None  # product indices by the prior, best first

    def _input(self, batch: History) -> sp.csr_matrix:
        """What the neighbour weights apply to, customers x products: the history weights as
        given, by default."""
        return batch.weights

    def _set_prior(self, history: History) -> None:
        n_products = len(self.products)
        weight = np.asarray(history.weights.sum(axis=0)).ravel()
        order = np.lexsort((self.products, -weight))
        self._prior = np.empty(n_products)
        self._prior[order] = -np.arange(1, n_products + 1) / (n_products + 1)
        self._similarity = None
        self._popular_order = None

    @property
    def similarity(self) -> sp.csr_matrix:
        """The sparse product x product matrix of kept neighbour weights (float32)."""
        if self._similarity is None:
            n_products = len(self.products)
            valid = np.isfinite(self._neighbour_score)
            rows = np.broadcast_to(np.arange(n_products)[:, None], valid.shape)[valid]
            self._similarity = sp.csr_matrix(
                (self._neighbour_score[valid].astype(np.float32), (rows, self._neighbour_idx[valid])),
                shape=(n_products, n_products),
            )
        return self._similarity

    def _top_k(self, batch: History, k: int) -> tuple[np.ndarray, np.ndarray]:
        # Positive scores first, then every other product by popularity with score 0; the
        # work follows the products the history points to, not the whole catalogue.
        if self._popular_order is None:
            self._popular_order = np.argsort(-self._prior, kind="stable")
        scores = self._input(batch).astype(np.float32) @ self.similarity
        return sparse_top_k(scores, k, exclude=batch.purchased, fill=self._popular_order)

    def similar_products(self, k: int) -> pd.DataFrame:
        """The products with the largest positive weights (at most `neighbours`)."""
        positive = np.where(self._neighbour_score > 0, self._neighbour_score, -np.inf)
        order = np.argsort(-positive, axis=1, kind="stable")
        return self._similar_from(
            np.take_along_axis(self._neighbour_idx, order, axis=1),
            np.take_along_axis(positive, order, axis=1),
            k,
        )


class ItemKNNRecommender(NeighbourRecommender):
    """Item-item cosine similarity on the customer x product weight matrix.

    Each product keeps its `neighbours` most similar products (positive similarity only).
    """

    name: ClassVar[str] = "item_knn"

    def __init__(self, neighbours: int = KNN_NEIGHBOURS, half_life_days: float = 0.0) -> None:
        super().__init__(neighbours, half_life_days)

    def _fit(self, interactions: pd.DataFrame, history: History, as_of: pd.Timestamp) -> None:
        started = time.perf_counter()
        n_products = len(self.products)
        self._neighbour_idx, self._neighbour_score = cosine_neighbours(history.weights, self.neighbours)
        self._set_prior(history)
        log.info(
            "item_knn fitted on %d interactions, %d products in %.1fs",
            len(interactions),
            n_products,
            time.perf_counter() - started,
        )


# -------------------------------------------------------------------------------- random


class RandomRecommender(ArrayRecommender):
    """A random order of the catalogue, drawn once at fit with `seed`, the same for everyone.

    It uses nothing it was fitted on but the product ids, so it has no skill by construction:
    the promotion gate must never let it serve. Similar products are the next products in the
    same random order.
    """

    name: ClassVar[str] = "random"
    _ARRAYS: ClassVar[tuple[str, ...]] = ("products", "order")

    def __init__(self, seed: int = RANDOM_SEED, half_life_days: float = 0.0) -> None:
        super().__init__(half_life_days)
        self.seed = int(seed)
        self._order: np.ndarray = np.zeros(0, np.int64)  # product indices in random order

    def _fit(self, interactions: pd.DataFrame, history: History, as_of: pd.Timestamp) -> None:
        self._order = np.random.default_rng(self.seed).permutation(len(self.products))

    def _top_k(self, batch: History, k: int) -> tuple[np.ndarray, np.ndarray]:
        purchased = batch.purchased
        n = len(self.products)
        keys = np.empty(n)
        keys[self._order] = np.arange(n, 0, -1) / n  # earlier in the order scores higher
        keys = np.broadcast_to(keys, purchased.shape).copy()
        keys[purchased.toarray()] = -np.inf
        return top_k_dense(keys, k)

    def similar_products(self, k: int) -> pd.DataFrame:
        """The k products after each one in the random order (cyclically)."""
        k = min(check_k(k), max(len(self.products) - 1, 0))
        n = len(self.products)
        position = np.empty(n, dtype=np.int64)
        position[self._order] = np.arange(n)
        following = (position[:, None] + np.arange(1, k + 1)) % max(n, 1)
        indices = self._order[following]
        scores = np.broadcast_to(1.0 / np.arange(1, k + 1), indices.shape).astype(np.float64)
        return self._similar_from(indices, scores, k)
