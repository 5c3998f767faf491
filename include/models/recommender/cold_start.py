"""What no trained model knows yet: products nobody has interacted with, and customers whose
products the model does not know.

- `content_neighbours`: a product's similar products from the catalogue alone — the same
  category, then the same brand, then the same price band (the price quintile within the
  category), popularity breaking ties. A new product gets its similar products this way.
- `new_product_slots`: a new product reaches customers through those neighbours: a customer
  whose leading recommendations include one of its nearest neighbours gets it in the last slot
  of their list (one new product per customer at most, so the model's ranking keeps the rest).
- `category_popularity`: a customer the model cannot recommend to gets the popular products of
  the categories they browsed, weighted by how much they browsed each; without any known
  category, the globally popular products.

Scores here are ranks made into numbers, comparable only within one list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CATALOGUE_COLUMNS = ("product_id", "category", "brand", "price")
# Price bands per category (quantiles of price).
PRICE_BANDS = 5
# A new product is offered to customers whose first `LEADING_RECOMMENDATIONS` recommendations
# include one of its `NEAREST` content neighbours.
NEAREST = 5
LEADING_RECOMMENDATIONS = 3


def _check_catalogue(catalogue: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in CATALOGUE_COLUMNS if c not in catalogue.columns]
    if missing:
        raise ValueError(f"the product catalogue lacks column(s) {missing}; got {list(catalogue.columns)}")
    frame = catalogue[list(CATALOGUE_COLUMNS)].drop_duplicates("product_id").copy()
    # A product without a category has no catalogue neighbours and is nobody's (imported data
    # may have no catalogue at all); an unknown brand or price matches nothing.
    frame["category"] = frame["category"].where(frame["category"].notna() & (frame["category"] != ""))
    frame["brand"] = frame["brand"].fillna("")
    frame["band"] = frame.groupby("category")["price"].transform(_price_bands).fillna(-1).astype(int)
    return frame


def _price_bands(prices: pd.Series) -> pd.Series:
    """Each price's band within its category (0 = the cheapest fifth); NaN for an unknown price."""
    known = int(prices.notna().sum())
    if known == 0:
        return pd.Series(np.nan, index=prices.index)
    return pd.qcut(prices.rank(method="first"), min(PRICE_BANDS, known), labels=False)


def content_neighbours(
    catalogue: pd.DataFrame, products: np.ndarray, popularity: pd.Series, k: int
) -> pd.DataFrame:
    """The k products of `popularity`'s index most like each of `products`, by catalogue alone.

    Args:
        catalogue: product_id, category, brand, price of every product involved.
        products: the products to find neighbours for.
        popularity: score per product id of the products that may be neighbours (those the
            serving model can recommend); higher is more popular.
        k: neighbours per product.

    Returns:
        product_id, rank, similar_product_id, score: same category always; score = 2 for the
        same brand + 1 for the same price band + popularity scaled into [0, 1).
    """
    info = _check_catalogue(catalogue).set_index("product_id")
    pool = info.reindex(popularity.index.to_numpy(np.int64)).dropna(subset=["category"])
    pool_popularity = popularity.reindex(pool.index).to_numpy(np.float64)
    tie = pool_popularity.argsort().argsort() / max(len(pool_popularity), 1)  # in [0, 1)
    by_category = {c: np.flatnonzero(pool["category"].to_numpy() == c) for c in pool["category"].unique()}
    rows = []
    for product in np.asarray(products, np.int64):
        if product not in info.index:
            continue
        own = info.loc[product]
        members = by_category.get(own["category"], np.zeros(0, np.int64))
        members = members[pool.index.to_numpy()[members] != product]
        if len(members) == 0:
            continue
        score = (
            2.0 * ((pool["brand"].to_numpy()[members] == own["brand"]) & (own["brand"] != ""))
            + 1.0 * ((pool["band"].to_numpy()[members] == own["band"]) & (own["band"] >= 0))
            + tie[members]
        )
        best = np.argsort(-score, kind="stable")[:k]
        rows.append(
            pd.DataFrame(
                {
                    "product_id": product,
                    "rank": np.arange(1, len(best) + 1, dtype=np.int64),
                    "similar_product_id": pool.index.to_numpy(np.int64)[members[best]],
                    "score": score[best],
                }
            )
        )
    if not rows:
        return pd.DataFrame({"product_id": [], "rank": [], "similar_product_id": [], "score": []}).astype(
            {"product_id": np.int64, "rank": np.int64, "similar_product_id": np.int64, "score": float}
        )
    return pd.concat(rows, ignore_index=True)


def new_product_slots(recommendations: pd.DataFrame, neighbours: pd.DataFrame, k: int) -> pd.DataFrame:
    """`recommendations` with at most one new product per customer, in the last of k slots.

    Args:
        recommendations: customer_id, rank, product_id, score, source (ranks 1..k).
        neighbours: `content_neighbours` of the new products.
        k: list length.

    A customer gets the new product whose nearest neighbours best match their leading
    recommendations (a neighbour at rank 1 of theirs counts most); ties go to the lower id.
    The new product takes rank k (the product there, if any, leaves the list); its score is
    the displaced product's, so scores stay ordered.
    """
    if recommendations.empty or neighbours.empty:
        return recommendations
    near = neighbours[neighbours["rank"] <= NEAREST][["product_id", "similar_product_id", "rank"]]
    leading = recommendations[recommendations["rank"] <= LEADING_RECOMMENDATIONS][
        ["customer_id", "product_id", "rank"]
    ]
    matches = leading.merge(
        near.rename(columns={"product_id": "new_product_id", "similar_product_id": "product_id"}),
        on="product_id",
        suffixes=("_customer", "_neighbour"),
    )
    if matches.empty:
        return recommendations
    matches["strength"] = 1.0 / matches["rank_customer"] + 1.0 / (matches["rank_neighbour"] + 1)
    best = (
        matches.groupby(["customer_id", "new_product_id"], as_index=False)["strength"]
        .sum()
        .sort_values(["customer_id", "strength", "new_product_id"], ascending=[True, False, True])
        .drop_duplicates("customer_id")
    )
    # A customer already recommended a product it would offer keeps the list as it is.
    best = best.merge(
        recommendations[["customer_id", "product_id"]].rename(columns={"product_id": "new_product_id"}),
        how="left",
        indicator=True,
    )
    chosen = best[best["_merge"] == "left_only"].set_index("customer_id")["new_product_id"]
    offered = recommendations["customer_id"].isin(chosen.index)
    # As integers: a rank column of Python objects would be grouped value by value.
    last_rank = (
        recommendations["rank"].astype(np.int64).groupby(recommendations["customer_id"]).transform("max")
    )
    last = recommendations[offered & (recommendations["rank"] == last_rank)]
    added = last.assign(
        product_id=last["customer_id"].map(chosen).astype(np.int64),
        rank=np.where(last["rank"] >= k, k, last["rank"] + 1),
        source="new_product",
    )
    kept = recommendations[~(offered & (recommendations["rank"] >= k))]
    return pd.concat([kept, added], ignore_index=True).sort_values(["customer_id", "rank"], ignore_index=True)


def category_popularity(
    history: pd.DataFrame,
    catalogue: pd.DataFrame,
    popularity: pd.Series,
    customers: np.ndarray,
    k: int,
) -> pd.DataFrame:
    """Top-k per customer from the popular products of the categories they interacted with.

    Args:
        history: customer_id, product_id, weight, purchases of the customers.
        catalogue: product_id, category, brand, price.
        popularity: score per product id of the products that may be recommended.
        customers: who to recommend to; those without a known category are left out (the
            caller gives them global popularity).

    Returns:
        customer_id, rank, product_id, score (the category share times the product's
        popularity rank, scaled into (0, 1]); purchased products are left out.
    """
    info = _check_catalogue(catalogue).set_index("product_id")["category"]
    mine = history[history["customer_id"].isin(customers)].copy()
    mine["category"] = mine["product_id"].map(info)
    mine = mine.dropna(subset=["category"])
    if mine.empty:
        return pd.DataFrame(columns=["customer_id", "rank", "product_id", "score"])
    share = mine.groupby(["customer_id", "category"])["weight"].sum()
    share = share / share.groupby(level="customer_id").transform("sum")
    ranked = popularity.sort_values(ascending=False, kind="stable")
    strength = pd.Series(
        1.0 - np.arange(len(ranked)) / max(len(ranked), 1), index=ranked.index.to_numpy(np.int64)
    )
    pool = pd.DataFrame({"product_id": strength.index, "strength": strength.to_numpy()})
    pool["category"] = pool["product_id"].map(info)
    # Enough of each category's best products to fill any list after removing purchases.
    bought = mine[mine["purchases"] > 0]
    depth = k + int(bought.groupby("customer_id").size().max()) if len(bought) else k
    pool = pool.dropna(subset=["category"]).groupby("category").head(depth)
    scored = share.rename("share").reset_index().merge(pool, on="category")
    scored["score"] = scored["share"] * scored["strength"]
    scored = scored.merge(
        bought[["customer_id", "product_id"]].assign(bought=True),
        on=["customer_id", "product_id"],
        how="left",
    )
    scored = scored[scored["bought"].isna()]
    scored = scored.sort_values(["customer_id", "score", "product_id"], ascending=[True, False, True])
    top = scored.groupby("customer_id").head(k).copy()
    top["rank"] = top.groupby("customer_id").cumcount() + 1
    return top[["customer_id", "rank", "product_id", "score"]].reset_index(drop=True)
