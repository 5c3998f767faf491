"""New products and customers the model cannot use: catalogue neighbours, a slot for new
products, category popularity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.models.recommender.cold_start import (
    category_popularity,
    content_neighbours,
    new_product_slots,
)

# Two categories; in "shoes" two brands and prices from 10 to 100.
CATALOGUE = pd.DataFrame(
    {
        "product_id": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99],
        "category": ["shoes"] * 10 + ["hats", "hats", "shoes"],
        "brand": ["acme"] * 5 + ["zeta"] * 5 + ["acme", "zeta", "acme"],
        "price": [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 15, 25, 12],
    }
)
# Everything but the new product 99 is known; popularity rises with the id.
POPULARITY = pd.Series(np.arange(1, 13, dtype=float), index=np.arange(1, 13))


def test_a_new_product_is_like_its_category_then_brand_then_price_band() -> None:
    similar = content_neighbours(CATALOGUE, np.array([99]), POPULARITY, 4)
    assert similar["rank"].tolist() == [1, 2, 3, 4]
    ids = similar["similar_product_id"].tolist()
    # Same brand and the lowest price band (10, 20 with 12) first, then the same brand.
    assert set(ids[:2]) == {1, 2} and ids[0] == 2  # more popular first among equals
    assert set(ids[2:]) <= {3, 4, 5}
    assert not {11, 12} & set(ids), "never another category"
    assert (similar["score"].diff().dropna() <= 0).all()


def test_content_neighbours_leave_out_the_product_itself_and_unknown_products() -> None:
    similar = content_neighbours(CATALOGUE, np.array([3, 12345]), POPULARITY, 20)
    assert set(similar["product_id"]) == {3}
    assert 3 not in set(similar["similar_product_id"])
    assert len(similar) == 9  # the other shoes the model knows


def test_content_neighbours_need_the_catalogue_columns() -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['brand'\]"):
        content_neighbours(CATALOGUE.drop(columns="brand"), np.array([99]), POPULARITY, 3)


def _recs(customer: int, products: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": customer,
            "rank": np.arange(1, len(products) + 1),
            "product_id": products,
            "score": np.linspace(1.0, 0.5, len(products)),
            "source": "model",
        }
    )


def test_a_new_product_takes_the_last_slot_of_customers_led_by_its_neighbours() -> None:
    neighbours = content_neighbours(CATALOGUE, np.array([99]), POPULARITY, 5)
    recs = pd.concat(
        [
            _recs(1, [2, 7, 8, 9]),  # led by 2, a neighbour of 99
            _recs(2, [11, 12, 7, 8]),  # hats and distant shoes: no
            _recs(3, [7, 1]),  # a short list, 1 is a neighbour: appended
        ],
        ignore_index=True,
    )
    out = new_product_slots(recs, neighbours, k=4)
    first = out[out["customer_id"] == 1]
    assert first["product_id"].tolist() == [2, 7, 8, 99]
    assert first["source"].tolist() == ["model"] * 3 + ["new_product"]
    assert first["score"].iloc[3] == recs.loc[3, "score"], "the displaced product's score"
    pd.testing.assert_frame_equal(
        out[out["customer_id"] == 2].reset_index(drop=True),
        recs[recs["customer_id"] == 2].reset_index(drop=True),
    )
    third = out[out["customer_id"] == 3]
    assert third["product_id"].tolist() == [7, 1, 99] and third["rank"].tolist() == [1, 2, 3]
    assert out.groupby("customer_id")["rank"].apply(lambda r: r.is_unique).all()


def test_category_popularity_follows_what_the_customer_browsed() -> None:
    history = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2],
            "product_id": [11, 12, 3, 4242],  # customer 2 browsed a product not in the catalogue
            "weight": [5.0, 1.0, 1.0, 1.0],
            "purchases": [1, 0, 0, 0],
        }
    )
    recs = category_popularity(history, CATALOGUE, POPULARITY, np.array([1, 2]), 3)
    assert set(recs["customer_id"]) == {1}, "no known category: left to global popularity"
    # Mostly hats (6 of 7 of the weight): the unbought hat first, then the most popular shoes.
    assert recs["product_id"].tolist() == [12, 10, 9]
    assert recs["rank"].tolist() == [1, 2, 3]
    assert 11 not in set(recs["product_id"]), "already bought"


def test_a_catalogue_without_categories_brands_or_prices_gives_no_neighbours_and_no_crash() -> None:
    # Imported review data knows products by id alone.
    bare = CATALOGUE.assign(category=None, brand=None, price=np.nan)
    assert content_neighbours(bare, np.array([99, 1]), POPULARITY, 4).empty
    history = pd.DataFrame(
        {"customer_id": [5, 5], "product_id": [1, 2], "weight": [1.0, 1.0], "purchases": [1, 0]}
    )
    assert category_popularity(history, bare, POPULARITY, np.array([5]), 3).empty
    # Some prices unknown: only the known ones are banded, and an unknown price matches no band.
    partly = CATALOGUE.assign(price=CATALOGUE["price"].where(CATALOGUE["product_id"] != 99))
    similar = content_neighbours(partly, np.array([99]), POPULARITY, 4)
    assert (similar["score"] < 3).all() and set(similar["similar_product_id"]) <= set(range(1, 11))
