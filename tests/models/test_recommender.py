"""Recommender candidates: the shared contract, learning a planted taste, save -> load, evaluation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.models.catalogue import candidate_names, load_model, model_class
from include.models.recommender.base import Recommender, build_history, recency_weights
from include.models.recommender.baselines import ItemKNNRecommender, PopularityRecommender, RandomRecommender
from include.models.recommender.evaluation import evaluate_recommender, holdout_customers
from include.models.recommender.sequences import purchase_examples
from include.models.recommender.tf_next_item import TFNextItemRecommender, beats_beyond_noise

CANDIDATES = {name: model_class("recommender", name) for name in candidate_names("recommender")}

K = 10
GROUPS = 4
CUSTOMERS_PER_GROUP = 150
GROUP_PRODUCTS = 20  # product ids 10000 * group + 0..19
POPULAR_PRODUCTS = 10  # product ids 1..10, liked by every group
START = pd.Timestamp("2025-01-01")
CUTOFF = START + pd.Timedelta(days=75)
EVENT_WEIGHTS = {"view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}


def aggregate(events: pd.DataFrame) -> pd.DataFrame:
    """Events -> interactions, as the extract SQL does: one row per customer and product."""
    return (
        events.assign(
            weight=events["event_type"].map(EVENT_WEIGHTS),
            purchases=(events["event_type"] == "purchase").astype(np.int64),
        )
        .groupby(["customer_id", "product_id"], as_index=False)
        .agg(weight=("weight", "sum"), purchases=("purchases", "sum"), last_at=("at", "max"))
    )


def planted_shop(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A shop with planted taste, split in time into (history interactions, holdout purchases).

    Each customer belongs to one of GROUPS groups. They look at 8 of their group's 20
    products, 3 of the 10 popular products and one random product; a look may lead to a
    cart and later a purchase, days afterwards. Events before CUTOFF are history; purchases
    from CUTOFF on are the holdout.
    """
    rng = np.random.default_rng(seed)
    popular = np.arange(1, POPULAR_PRODUCTS + 1)
    rows = []
    for group in range(1, GROUPS + 1):
        own = 10_000 * group + np.arange(GROUP_PRODUCTS)
        for member in range(CUSTOMERS_PER_GROUP):
            customer = (group - 1) * CUSTOMERS_PER_GROUP + member + 1
            stray = 10_000 * rng.integers(1, GROUPS + 1) + rng.integers(GROUP_PRODUCTS)
            picks = [*rng.choice(own, 8, replace=False), *rng.choice(popular, 3, replace=False), stray]
            for product in dict.fromkeys(int(p) for p in picks):
                seen = START + pd.Timedelta(days=float(rng.uniform(0, 90)))
                rows.append((customer, product, "view", seen))
                if rng.random() < 0.5:
                    carted = seen + pd.Timedelta(days=float(rng.exponential(4)))
                    rows.append((customer, product, "add_to_cart", carted))
                    if rng.random() < 0.7:
                        bought = carted + pd.Timedelta(days=float(rng.exponential(4)))
                        rows.append((customer, product, "purchase", bought))
    events = pd.DataFrame(rows, columns=["customer_id", "product_id", "event_type", "at"])
    history = aggregate(events[events["at"] < CUTOFF])
    holdout = events.loc[
        (events["at"] >= CUTOFF) & (events["event_type"] == "purchase"), ["customer_id", "product_id"]
    ].drop_duplicates(ignore_index=True)
    return history, holdout


@pytest.fixture(scope="module")
def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    return planted_shop()


@pytest.fixture(scope="module")
def fitted(shop) -> dict[str, Recommender]:
    history, _ = shop
    return {name: cls().fit(history) for name, cls in CANDIDATES.items()}


@pytest.fixture(scope="module")
def recall(fitted, shop) -> dict[str, float]:
    history, holdout = shop
    customers = holdout_customers(history, holdout)
    return {
        name: evaluate_recommender(model, history, customers, K).metrics["recall_at_k"]
        for name, model in fitted.items()
    }


def group_of(product_ids: pd.Series | np.ndarray) -> np.ndarray:
    """Taste group of a product (0 for the popular ones)."""
    return np.asarray(product_ids) // 10_000


# -------------------------------------------------------------------------------- contract


def test_candidates_are_registered_under_their_names() -> None:
    assert set(CANDIDATES) == {"popularity", "item_knn", "ease", "linear_next", "tf_next_item", "random"}
    assert CANDIDATES["popularity"] is PopularityRecommender
    assert CANDIDATES["item_knn"] is ItemKNNRecommender
    assert CANDIDATES["tf_next_item"] is TFNextItemRecommender
    assert CANDIDATES["random"] is RandomRecommender
    assert all(cls.name == name and cls.family == "recommender" for name, cls in CANDIDATES.items())


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_recommend_ranks_unpurchased_products_for_known_customers(name, fitted, shop) -> None:
    history, _ = shop
    model = fitted[name]
    customers = np.r_[history["customer_id"].unique(), 10**9]  # plus a customer never seen
    recs = model.recommend(history, customers, K)

    assert list(recs.columns) == ["customer_id", "rank", "product_id", "score"]
    assert str(recs["score"].dtype) == "float64"
    assert 10**9 not in set(recs["customer_id"])
    assert set(recs["customer_id"]) == set(history["customer_id"])
    # Every customer bought at most 12 of 90 products, so everyone gets a full list of k.
    per_customer = recs.groupby("customer_id")
    assert (per_customer.size() == K).all()
    assert (per_customer["rank"].agg(list).map(lambda r: r == list(range(1, K + 1)))).all()
    assert (per_customer["score"].diff().dropna() <= 0).all()
    assert not recs.duplicated(["customer_id", "product_id"]).any()
    bought = history.loc[history["purchases"] > 0, ["customer_id", "product_id"]]
    assert recs.merge(bought).empty


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_recommend_uses_newer_history_without_retraining(name, fitted, shop) -> None:
    history, _ = shop
    model = fitted[name]
    customer = int(history["customer_id"].iloc[0])
    before = model.recommend(history, np.array([customer]), K)
    top = int(before["product_id"].iloc[0])
    # The customer buys their top recommendation; a newcomer and a customer whose only
    # history is on a product the model never saw show up too.
    newer = pd.concat(
        [
            history,
            pd.DataFrame(
                {
                    "customer_id": [customer, 10**9, 10**9 + 1],
                    "product_id": [top, 10_001, 999_999],
                    "weight": [5.0, 1.0, 5.0],
                    "purchases": [1, 0, 1],
                    "last_at": [CUTOFF] * 3,
                }
            ),
        ],
        ignore_index=True,
    )
    newer = newer.drop_duplicates(["customer_id", "product_id"], keep="last")
    after = model.recommend(newer, np.array([customer, 10**9, 10**9 + 1]), K)
    assert top not in set(after.loc[after["customer_id"] == customer, "product_id"])
    assert (after["customer_id"] == 10**9).sum() == K
    assert 10**9 + 1 not in set(after["customer_id"])


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_recommend_for_nobody_usable_is_an_empty_frame(name, fitted, shop) -> None:
    history, _ = shop
    recs = fitted[name].recommend(history, np.array([10**9]), K)
    assert recs.empty
    assert list(recs.columns) == ["customer_id", "rank", "product_id", "score"]


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_similar_products_are_ranked_and_never_the_product_itself(name, fitted) -> None:
    model = fitted[name]
    similar = model.similar_products(5)
    assert list(similar.columns) == ["product_id", "rank", "similar_product_id", "score"]
    assert not (similar["product_id"] == similar["similar_product_id"]).any()
    assert set(similar["product_id"]) <= set(model.products)
    per_product = similar.groupby("product_id")
    assert per_product.size().max() == 5
    assert (per_product["rank"].agg(list).map(lambda r: r == list(range(1, len(r) + 1)))).all()
    assert (per_product["score"].diff().dropna() <= 0).all()


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_k_must_be_positive(name, fitted, shop) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        fitted[name].recommend(shop[0], np.array([1]), 0)
    with pytest.raises(ValueError, match="positive integer"):
        fitted[name].similar_products(0)


# ------------------------------------------------------------------------- planted pattern


def test_taste_models_beat_popularity_on_planted_taste(recall) -> None:
    assert recall["item_knn"] >= recall["popularity"] + 0.08, recall
    assert recall["ease"] >= recall["popularity"] + 0.08, recall
    # This shop has taste and no order: in the next-purchase models (and the TensorFlow one,
    # which starts as linear_next) the newest products weigh most and the older ones' taste
    # fades (decay 0.9 a step), so they gain less here.
    assert recall["linear_next"] >= recall["popularity"] + 0.05, recall
    assert recall["tf_next_item"] >= recall["popularity"] + 0.05, recall


def test_the_random_ranking_has_no_skill(recall) -> None:
    assert recall["random"] < recall["popularity"], recall


@pytest.mark.parametrize("name", ["item_knn", "ease", "linear_next", "tf_next_item"])
def test_similar_products_share_the_planted_taste(name, fitted) -> None:
    similar = fitted[name].similar_products(5)
    grouped = similar[group_of(similar["product_id"]) > 0]
    same_group = group_of(grouped["product_id"]) == group_of(grouped["similar_product_id"])
    # 19 of the other 89 products share a group: chance alone gives about 21%.
    assert same_group.mean() >= 0.6


def test_taste_models_recommend_the_customers_group(fitted, shop) -> None:
    history, _ = shop
    customers = history["customer_id"].unique()
    customer_group = (customers - 1) // CUSTOMERS_PER_GROUP + 1
    for name in ("item_knn", "ease", "linear_next", "tf_next_item"):
        recs = fitted[name].recommend(history, customers, 5)
        group = dict(zip(customers, customer_group, strict=True))
        own = group_of(recs["product_id"]) == recs["customer_id"].map(group).to_numpy()
        assert own.mean() >= 0.5, name


def test_popularity_ranks_by_recent_purchases_then_weight() -> None:
    now = pd.Timestamp("2025-03-01")
    interactions = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 1, 2, 3, 4],
            "product_id": [10, 10, 20, 30, 30, 40, 40],
            "weight": [5.0, 5.0, 5.0, 6.0, 1.0, 9.0, 5.0],
            "purchases": [1, 1, 1, 1, 0, 1, 1],
            # product 40's purchases are old: they fall outside the 28-day recent window.
            "last_at": [now, now, now, now, now, now - pd.Timedelta(days=60), now - pd.Timedelta(days=40)],
        }
    )
    model = PopularityRecommender().fit(interactions)
    # Recent purchases: 10 -> 2, 20 -> 1, 30 -> 1, 40 -> 0. Between 20 and 30 the weight
    # decides: 30 has 6 + 1 = 7, 20 has 5.
    assert model.top_products(4)["product_id"].tolist() == [10, 30, 20, 40]
    recs = model.recommend(interactions, np.array([1]), 3)
    # Customer 1 bought 10 and 30.
    assert recs["product_id"].tolist() == [20, 40]


def test_popularity_counts_recent_purchases_back_from_as_of_not_from_the_newest_row() -> None:
    now = pd.Timestamp("2025-03-01")
    interactions = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "product_id": [10, 10, 20, 30],
            "weight": [5.0, 5.0, 5.0, 5.0],
            "purchases": [1, 1, 1, 1],
            # A clock-skewed row dated a year ahead must not push everything out of "recent".
            "last_at": [now - pd.Timedelta(days=1)] * 3 + [now + pd.Timedelta(days=365)],
        }
    )
    model = PopularityRecommender().fit(interactions, as_of=now)
    assert model.top_products(2)["product_id"].tolist() == [10, 20]
    assert model.fitted["as_of"] == now.isoformat()
    # Without as_of the newest row is the anchor, and the skewed row wins alone.
    assert PopularityRecommender().fit(interactions).top_products(1)["product_id"].tolist() == [30]


def test_popularity_ranking_staged_once_recommends_as_the_fitted_model() -> None:
    """Scoring shards rebuild popularity from the ranking the extract staged, without fitting
    it again (or its co-purchase neighbours): the rebuilt model must recommend the same."""
    interactions, _ = planted_shop()
    fitted = PopularityRecommender().fit(interactions, as_of=CUTOFF)
    rebuilt = PopularityRecommender.from_ranking(fitted.ranking())
    customers = interactions["customer_id"].unique()[:50]
    pd.testing.assert_frame_equal(
        rebuilt.recommend(interactions, customers, K), fitted.recommend(interactions, customers, K)
    )
    pd.testing.assert_frame_equal(rebuilt.top_products(K), fitted.top_products(K))
    pd.testing.assert_series_equal(rebuilt.popularity(), fitted.popularity())
    ranking_only = PopularityRecommender(neighbours=0).fit(interactions, as_of=CUTOFF)
    pd.testing.assert_frame_equal(ranking_only.ranking(), fitted.ranking())
    assert ranking_only.similar_products(K).empty


def test_recency_weights_halve_every_half_life_and_never_grow() -> None:
    as_of = pd.Timestamp("2025-03-01")
    frame = pd.DataFrame(
        {
            "weight": [8.0, 8.0, 8.0, 8.0],
            "last_at": [
                as_of,
                as_of - pd.Timedelta(days=2),
                as_of - pd.Timedelta(days=4),
                as_of + pd.Timedelta(days=1),
            ],
        }
    )
    np.testing.assert_allclose(recency_weights(frame, as_of, 2.0), [8.0, 4.0, 2.0, 8.0])
    np.testing.assert_allclose(recency_weights(frame, as_of, 0.0), [8.0] * 4)


def test_with_a_half_life_the_recent_history_leads_the_recommendations() -> None:
    day = pd.Timestamp("2025-03-01")
    # Two clusters of products bought together: {1, 2} and {3, 4}. Customer 9 looked at 1 long
    # ago, heavily, and at 3 yesterday, lightly.
    rows = [
        (c, p, 5.0, 1, day - pd.Timedelta(days=30))
        for c in range(10, 50)
        for p in ((1, 2) if c % 2 else (3, 4))
    ]
    rows += [(9, 1, 6.0, 0, day - pd.Timedelta(days=60)), (9, 3, 1.0, 0, day - pd.Timedelta(days=1))]
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "weight", "purchases", "last_at"])
    plain = ItemKNNRecommender().fit(frame, as_of=day)
    fading = ItemKNNRecommender(half_life_days=7.0).fit(frame, as_of=day)
    assert plain.recommend(frame, np.array([9]), 1, as_of=day)["product_id"].tolist() == [2]
    assert fading.recommend(frame, np.array([9]), 1, as_of=day)["product_id"].tolist() == [4]


# ---------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_save_then_load_gives_the_same_recommendations(name, fitted, shop, tmp_path: Path) -> None:
    history, _ = shop
    model = fitted[name]
    model.save(tmp_path / name)
    assert json.loads((tmp_path / name / "meta.json").read_text())["name"] == name

    loaded = load_model(tmp_path / name)
    assert type(loaded) is type(model)
    assert loaded.params() == model.params()
    json.dumps(loaded.params())
    customers = history["customer_id"].unique()
    pd.testing.assert_frame_equal(
        loaded.recommend(history, customers, K), model.recommend(history, customers, K)
    )
    pd.testing.assert_frame_equal(loaded.similar_products(5), model.similar_products(5))


def test_load_refuses_a_directory_of_another_candidate(fitted, tmp_path: Path) -> None:
    fitted["popularity"].save(tmp_path)
    with pytest.raises(ValueError, match="model 'popularity', not recommender 'item_knn'"):
        ItemKNNRecommender.load(tmp_path)
    with pytest.raises(ValueError, match="holds a recommender model, not a order_risk model"):
        load_model(tmp_path, family="order_risk")
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "name": "oracle"}))
    with pytest.raises(ValueError, match="Unknown recommender candidate 'oracle'"):
        load_model(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "format_version": 1}))
    with pytest.raises(ValueError, match="format version 1"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="meta.json"):
        load_model(tmp_path / "missing")


def test_tf_scoring_with_numpy_matches_the_tensorflow_graph(fitted, shop, tmp_path: Path) -> None:
    """The TensorFlow recommender scores with numpy: the logits of its TensorFlow graph, the
    same top products and probabilities; loading and recommending in a fresh process never
    imports TensorFlow."""
    import subprocess
    import sys

    import tensorflow as tf

    from include.models.recommender.sequences import recent_products

    history, _ = shop
    model = fitted["tf_next_item"]
    customers = history["customer_id"].unique()[:120]
    batch = build_history(history, model.products, customers)
    items, strength = recent_products(batch, model.max_history)
    expected = model._logits(tf, model._variables(tf), tf.constant(items), tf.constant(strength)).numpy()
    np.testing.assert_allclose(model.scoring_logits(items, strength), expected, rtol=1e-4, atol=1e-4)

    indices, scores = model._top_k(batch, K)
    masked = np.where(batch.purchased.toarray(), -np.inf, expected.astype(np.float64))
    probability = np.exp(masked - np.log(np.exp(masked).sum(axis=1, keepdims=True)))
    best = -np.sort(-probability, axis=1)[:, :K]
    np.testing.assert_allclose(scores, best, rtol=1e-3)
    np.testing.assert_allclose(np.take_along_axis(probability, indices, axis=1), best, rtol=1e-3)

    model.save(tmp_path / "saved")
    history[history["customer_id"].isin(customers)].to_parquet(tmp_path / "history.parquet")
    code = (
        "import sys, pandas as pd; from pathlib import Path\n"
        "from include.models.catalogue import load_model\n"
        f"m = load_model(Path({str(tmp_path / 'saved')!r}), family='recommender')\n"
        f"h = pd.read_parquet({str(tmp_path / 'history.parquet')!r})\n"
        f"assert len(m.recommend(h, h['customer_id'].unique(), {K}))\n"
        "print('tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "SHOPFLOW_MODEL_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_tf_training_is_reproducible_with_a_seed(shop) -> None:
    history, _ = shop
    customers = history["customer_id"].unique()[:50]
    first = TFNextItemRecommender(max_epochs=2).fit(history).recommend(history, customers, K)
    second = TFNextItemRecommender(max_epochs=2).fit(history).recommend(history, customers, K)
    pd.testing.assert_frame_equal(first, second)


def test_tf_model_starts_from_the_linear_solution(shop) -> None:
    """Untrained (no passes), the TensorFlow model ranks as linear_next with the same penalty
    does: its product -> product table and its position weights are seeded from it."""
    from include.models.recommender.linear_next import LinearNextRecommender

    history, _ = shop
    customers = history["customer_id"].unique()[:200]
    seed_only = TFNextItemRecommender(max_epochs=0, seed_l2=3.0).fit(history)
    linear = LinearNextRecommender(l2=3.0).fit(history)
    assert seed_only.fitted["epochs"] == 0 and set(seed_only.fitted["seed_l2_ndcg"]) == {"3"}
    assert seed_only.fitted["validation_ndcg"] == seed_only.fitted["seed_validation_ndcg"]
    ours = seed_only.recommend(history, customers, 5).groupby("customer_id")["product_id"].agg(set)
    theirs = linear.recommend(history, customers, 5).groupby("customer_id")["product_id"].agg(set)
    overlap = np.mean([len(ours[c] & theirs[c]) / 5 for c in customers])
    # Not identical: the validation purchases are left out of the seed's solution.
    assert overlap >= 0.8, overlap


def test_tf_seed_penalty_is_the_best_of_those_tried_on_the_validation_split(fitted) -> None:
    facts = fitted["tf_next_item"].fitted
    tried = facts["seed_l2_ndcg"]
    assert "1" in tried and 3 <= len(tried) <= 5 and all(0 <= v <= 1 for v in tried.values())
    # The best, or the grid's middle when the best does not beat it beyond noise.
    assert f"{facts['seed_l2']:g}" in {max(tried, key=tried.get), "1"}


def test_a_gain_counts_only_beyond_one_standard_error_of_the_paired_difference() -> None:
    rng = np.random.default_rng(0)
    baseline = rng.random(1000)
    assert beats_beyond_noise(baseline + 0.01, baseline)  # a gain on every example
    noise = rng.normal(0, 0.3, 1000)
    noise -= noise.mean()  # standard error of the difference: 0.3 / √1000 ≈ 0.0095
    assert not beats_beyond_noise(baseline + 0.002 + noise, baseline)
    assert beats_beyond_noise(baseline + 0.02 + noise, baseline)
    assert not beats_beyond_noise(baseline, baseline)


def test_tf_training_never_ends_below_its_seed_on_validation(fitted) -> None:
    facts = fitted["tf_next_item"].fitted
    assert facts["validation_ndcg"] >= facts["seed_validation_ndcg"] > 0


def test_tf_warm_start_reuses_the_weights_and_follows_the_catalogue(fitted, shop) -> None:
    """Tonight's model starts from last night's: a product kept keeps its learned row (minus
    slots pointing at a vanished product), a vanished one is dropped, a new one gets a row."""
    history, _ = shop
    previous = fitted["tf_next_item"]
    vanished = int(previous.products[0])
    newcomer = 99_999
    tonight = pd.concat(
        [
            history[history["product_id"] != vanished],
            history[history["product_id"] == 10_001].assign(product_id=newcomer),
        ],
        ignore_index=True,
    )
    model = TFNextItemRecommender(warm_steps=0)
    assert model.warm_start(previous)
    model.fit(tonight)
    assert model.fitted["warm_generation"] == 1
    assert (model.fitted["warm_new_products"], model.fitted["warm_vanished_products"]) == (1, 1)
    assert vanished not in set(model.products) and newcomer in set(model.products)
    old, new = previous._weights, model._weights
    for product in (10_001, 20_005, 3):
        a, b = np.searchsorted(previous.products, product), np.searchsorted(model.products, product)
        old_ids = previous.products[old["neighbour_idx"][a]]
        new_ids = model.products[new["neighbour_idx"][b]]
        still = old_ids != vanished
        np.testing.assert_array_equal(new_ids[still], old_ids[still])
        np.testing.assert_array_equal(new["table"][b][still], old["table"][a][still])
        assert not new["table"][b][~still].any()
        np.testing.assert_array_equal(new["item_in"][b], old["item_in"][a])
    row = np.searchsorted(model.products, newcomer)
    assert new["neighbour_idx"][row][0] == row and not new["table"][row].any()
    # Bought alongside 10_001's group: its neighbours come from co-occurrence.
    assert (group_of(model.products[new["neighbour_idx"][row][1:6]]) == 1).mean() >= 0.6
    recs = model.recommend(tonight, tonight["customer_id"].unique()[:20], K)
    assert not recs.empty and vanished not in set(recs["product_id"])


def test_tf_warm_start_gives_way_to_a_cold_start_every_so_often(fitted) -> None:
    previous = fitted["tf_next_item"]
    assert TFNextItemRecommender(cold_every=2).warm_start(previous)
    assert not TFNextItemRecommender(cold_every=1).warm_start(previous)
    assert not TFNextItemRecommender(neighbours=17).warm_start(previous)
    assert not TFNextItemRecommender().warm_start(fitted["ease"])


def test_purchase_examples_predict_a_purchase_from_the_days_before_it() -> None:
    """A purchase is predicted from what the customer did before its day, as in the holdout:
    the same day's views (of it or of others) are not in its history."""
    day = pd.Timestamp("2025-02-01")
    interactions = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 1],
            "product_id": [10, 11, 12, 13, 14],
            "weight": [1.0, 6.0, 1.0, 1.0, 6.0],
            "purchases": [0, 1, 0, 0, 1],
            # 10 viewed, 11 bought on day 0; 12 and 13 viewed on day 3, 14 bought later that day
            "last_at": [
                day,
                day + pd.Timedelta(hours=1),
                *[day + pd.Timedelta(days=3, hours=h) for h in (1, 2, 3)],
            ],
        }
    )
    products = np.array([10, 11, 12, 13, 14])
    examples = purchase_examples(build_history(interactions, products), max_history=4, max_per_customer=20)
    # 11 has nothing before its day: no example. 14 is predicted from day 0 alone, newest first.
    assert list(products[examples.targets]) == [14]
    assert list(examples.items[0]) == [1, 0, -1, -1]


# -------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda f: f.drop(columns="weight"), r"lack column\(s\) \['weight'\]"),
        (lambda f: f.assign(weight=f["weight"].where(f.index != 3)), "nulls"),
        (lambda f: f.assign(weight=-f["weight"]), "negative or non-finite weight"),
        (lambda f: pd.concat([f, f.iloc[:2]]), "2 repeat"),
        (lambda f: f.iloc[:0], "empty"),
    ],
)
@pytest.mark.parametrize("name", ["popularity", "item_knn"])
def test_fit_rejects_malformed_interactions(name, breakage, message, shop) -> None:
    with pytest.raises(ValueError, match=message):
        CANDIDATES[name]().fit(breakage(shop[0]))


def test_recommend_before_fit_says_so(shop) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        ItemKNNRecommender().recommend(shop[0], np.array([1]), K)


# ------------------------------------------------------------------------------ evaluation


def test_ranking_values_match_the_per_customer_formulas() -> None:
    """The matrix computation of nDCG@k and Recall@k gives the figures of include.metrics'
    per-customer loop, with customers left out, short lists and a repeated product."""
    from include.metrics import ndcg_values, recall_values
    from include.models.recommender.evaluation import HoldoutCustomers, ranking_values

    rng = np.random.default_rng(5)
    k, n = 5, 200
    ids = np.sort(rng.choice(10_000, n, replace=False)).astype(np.int64)
    relevant = [set(rng.choice(30, rng.integers(1, 8), replace=False).tolist()) for _ in range(n)]
    rows = []
    for customer in ids[rng.random(n) < 0.9]:  # some customers get nothing
        products = rng.choice(30, rng.integers(1, k + 1), replace=False)
        if len(products) > 2 and rng.random() < 0.2:
            products[2] = products[0]  # a repeated product counts once
        rows += [(customer, rank, p) for rank, p in enumerate(products, start=1)]
    recs = pd.DataFrame(rows, columns=["customer_id", "rank", "product_id"])
    customers = HoldoutCustomers(customer_ids=ids, relevant=relevant, cold=0, catalogue=30)
    ndcg, recall = ranking_values(recs, customers, k)
    lists = recs.groupby("customer_id")["product_id"].agg(list)
    recommended = [lists.get(c, []) for c in ids]
    np.testing.assert_allclose(ndcg, ndcg_values(recommended, relevant, k))
    np.testing.assert_allclose(recall, recall_values(recommended, relevant, k))
    assert (ndcg > 0).any() and (ndcg == 0).any()


def test_evaluate_recommender_hand_computed() -> None:
    day = pd.Timestamp("2025-03-01")
    history = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 3, 3],
            "product_id": [10, 20, 20, 30, 10],
            "weight": [5.0, 1.0, 5.0, 5.0, 5.0],
            "purchases": [1, 0, 1, 1, 1],
            "last_at": [day] * 5,
        }
    )
    holdout = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 2, 3, 4],
            "product_id": [30, 40, 20, 10, 10, 10],
        }
    )
    model = PopularityRecommender().fit(history)
    # Popularity: 10 (2 purchases), then 20 and 30 (1 each; 20 has weight 6 > 5) -> 10, 20, 30.
    # Customer 1 bought 10 -> recommended [20, 30]; relevant {30, 40}:
    #   recall 1/2; DCG = 1/log2(3) (30 at rank 2), IDCG = 1 + 1/log2(3) -> 0.38685.
    # Customer 2 bought 20 -> recommended [10, 30]; relevant {20, 10} minus bought 20 = {10}:
    #   recall 1; nDCG 1.
    # Customer 3 re-bought 10 only: nothing relevant, skipped. Customer 4 has no history: cold.
    # Coverage: {10, 20, 30} recommended of catalogue {10, 20, 30, 40} -> 3/4.
    customers = holdout_customers(history, holdout)
    assert customers.customer_ids.tolist() == [1, 2]
    assert customers.relevant == [{30, 40}, {10}]
    result = evaluate_recommender(model, history, customers, 2)
    ndcg_user_1 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert result.metrics == pytest.approx(
        {
            "recall_at_k": (0.5 + 1.0) / 2,
            "ndcg_at_k": (ndcg_user_1 + 1.0) / 2,
            "users": 2,
            "scored_users": 2,
            "cold_users": 1,
            "coverage": 0.75,
        }
    )
    assert result.metrics["ndcg_at_k"] == pytest.approx(0.693426, abs=1e-6)
    np.testing.assert_allclose(result.ndcg, [ndcg_user_1, 1.0])
    np.testing.assert_allclose(result.recall, [0.5, 1.0])


def test_a_customer_the_model_cannot_score_counts_as_a_miss() -> None:
    day = pd.Timestamp("2025-03-01")
    history = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "product_id": [10, 99],
            "weight": [5.0, 1.0],
            "purchases": [1, 0],
            "last_at": [day] * 2,
        }
    )
    holdout = pd.DataFrame({"customer_id": [1, 2], "product_id": [20, 20]})
    # The model knows products 10 and 20 only: customer 2's history (product 99) is of no use
    # to it, and the customer still counts, with nDCG 0.
    known = pd.DataFrame(
        {"customer_id": [1, 3], "product_id": [10, 20], "weight": [5.0, 5.0], "purchases": [1, 1]}
    ).assign(last_at=day)
    model = PopularityRecommender().fit(known)
    result = evaluate_recommender(model, history, holdout_customers(history, holdout), 1)
    assert result.metrics["users"] == 2 and result.metrics["scored_users"] == 1
    assert result.ndcg.tolist() == [1.0, 0.0]


def test_evaluate_recommender_without_evaluable_customers_fails_clearly() -> None:
    day = pd.Timestamp("2025-03-01")
    history = pd.DataFrame(
        {"customer_id": [1], "product_id": [10], "weight": [5.0], "purchases": [1], "last_at": [day]}
    )
    holdout = pd.DataFrame({"customer_id": [1, 2], "product_id": [10, 10]})
    with pytest.raises(ValueError, match="no holdout customer can be evaluated"):
        holdout_customers(history, holdout)


def test_item_knn_neighbours_block_by_block_are_the_exact_top_cosines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sparse product computed in row blocks, each pruned to its top n, keeps exactly the
    n most cosine-similar other products of each product (positive similarity only)."""
    import scipy.sparse as sp

    from include.models.recommender import base

    monkeypatch.setattr(base, "SCORING_MAX_CELLS", 7 * 300)  # blocks of 7 products, 43 of them
    rng = np.random.default_rng(3)
    matrix = sp.random(500, 300, density=0.03, random_state=rng, format="csr") * 4.0
    indices, scores = base.cosine_neighbours(matrix, 12)
    dense = matrix.toarray()
    norms = np.linalg.norm(dense, axis=0)
    cosine = (dense.T @ dense) / np.outer(np.where(norms > 0, norms, 1), np.where(norms > 0, norms, 1))
    np.fill_diagonal(cosine, 0.0)
    for product in range(300):
        positive = np.flatnonzero(cosine[product] > 1e-12)
        expected = np.sort(cosine[product, positive])[::-1][:12]
        kept = scores[product][np.isfinite(scores[product])]
        np.testing.assert_allclose(kept, expected, rtol=1e-9)
        np.testing.assert_allclose(cosine[product, indices[product, : len(kept)]], kept, rtol=1e-9)
        assert product not in indices[product, : len(kept)]


@pytest.mark.parametrize("n_cols", [64 * 40, 64 * 40 + 17])
def test_top_k_smallest_over_chunks_is_the_exact_selection(n_cols: int) -> None:
    """Selecting through chunk minima gives the k smallest keys of each row in order, with
    excluded (infinite) keys, ties, and a short last chunk."""
    from include.models.recommender.base import top_k_smallest

    rng = np.random.default_rng(2)
    keys = rng.standard_normal((50, n_cols)).astype(np.float32)
    keys[:10] = np.round(keys[:10])  # many ties
    keys[10:20, :-5] = np.inf  # only the last five columns (in the short chunk) are usable
    keys[20, 3] = -100.0
    indices, values = top_k_smallest(keys, 10)
    expected = np.sort(keys, axis=1)[:, :10]
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(np.take_along_axis(keys, indices, axis=1), expected)
    assert indices[20, 0] == 3
    assert (len(np.unique(indices[30:], axis=None)) > 10) and all(len(set(r)) == 10 for r in indices[20:])


@pytest.mark.parametrize("dense_share", [0.0, 1.0], ids=["dense keys", "stored cells"])
def test_sparse_top_k_chooses_as_a_dense_top_k_over_the_same_keys(
    dense_share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Positive stored values first by value, then the fill order; excluded cells never; a row
    with nothing to choose keeps -inf slots. Checked against a dense sort of the same keys,
    for both ways of choosing."""
    import scipy.sparse as sp

    from include.models.recommender import base
    from include.models.recommender.base import sparse_top_k

    monkeypatch.setattr(base, "DENSE_SHARE", dense_share)

    rng = np.random.default_rng(11)
    n_rows, n_cols, k = 60, 40, 6
    scores = sp.random(n_rows, n_cols, density=0.2, random_state=rng, format="csr")
    scores.data -= 0.2  # some stored values are not positive: they rank as unstored
    exclude = sp.random(n_rows, n_cols, density=0.1, random_state=rng, format="csr").astype(bool)
    fill = rng.permutation(n_cols)
    fill_scores = rng.uniform(-1, 0, n_cols)
    indices, values = sparse_top_k(scores, k, exclude=exclude, fill=fill, fill_scores=fill_scores)

    dense = scores.toarray()
    rank_in_fill = np.empty(n_cols)
    rank_in_fill[fill] = np.arange(n_cols)
    keys = np.where(dense > 0, dense + n_cols, n_cols - 1 - rank_in_fill)  # positives above all
    keys[exclude.toarray()] = -np.inf
    expected = np.argsort(-keys, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(indices, expected)
    chosen = np.take_along_axis(dense, expected, axis=1)
    np.testing.assert_allclose(values, np.where(chosen > 0, chosen, fill_scores[expected]))

    # Without a fill a row holds only its positive, unexcluded cells; the rest are empty.
    indices, values = sparse_top_k(scores, k, exclude=exclude)
    positives = ((dense > 0) & ~exclude.toarray()).sum(axis=1)
    np.testing.assert_array_equal(np.isfinite(values).sum(axis=1), np.minimum(positives, k))
    assert (positives < k).any() and (positives > k).any(), "both cases occur"


def test_popularity_neighbours_are_co_purchases_then_popularity(shop) -> None:
    """Each product's similar products: the most co-purchased first (popularity breaks ties),
    then, when fewer were co-purchased, the most popular others; never the product itself.
    Checked against the dense count matrix."""
    history, _ = shop
    # A few customers, so some products were co-purchased with fewer than 15 others.
    history = history[history["customer_id"].isin(history["customer_id"].unique()[:25])]
    model = PopularityRecommender(neighbours=15).fit(history)
    batch = build_history(history, model.products)
    interacted = (batch.weights > 0).astype(np.float64).toarray()
    counts = interacted.T @ batch.purchased.astype(np.float64).toarray()
    n = len(model.products)
    prior = np.empty(n)
    prior[model._order] = 1.0 - np.arange(1, n + 1) / (n + 1)
    keys = counts + prior
    np.fill_diagonal(keys, -np.inf)
    expected = np.argsort(-keys, axis=1, kind="stable")[:, :15]
    np.testing.assert_array_equal(model._neighbour_idx, expected)
    np.testing.assert_allclose(model._neighbour_score, np.take_along_axis(keys, expected, axis=1))
    co_purchased = (counts > 0).sum(axis=1) - (np.diag(counts) > 0)
    assert (co_purchased < 15).any() and (co_purchased > 15).any(), "both cases occur"


@pytest.mark.parametrize("name", ["item_knn", "ease", "linear_next"])
def test_neighbour_scoring_ranks_as_the_plain_dense_computation(name, shop) -> None:
    """The in-place float32 scoring ranks as the plain float64 formula does: positive scores
    first, by score, then every other product by popularity, never a purchased product."""
    history, _ = shop
    model = model_class("recommender", name)(neighbours=4).fit(history)  # few positive scores
    customers = history["customer_id"].unique()[:300]
    # Half the customers with their whole history, half with one product: some have fewer
    # than k positive scores and are filled by popularity.
    short = history[history["customer_id"].isin(customers[150:])].groupby("customer_id").head(1)
    history = pd.concat([history[history["customer_id"].isin(customers[:150])], short])
    batch = build_history(history, model.products, customers)
    indices, scores = model._top_k(batch, K)

    raw = (model._input(batch) @ model.similarity.astype(np.float64)).toarray()
    keys = np.where(raw > 0, raw, model._prior)
    keys[batch.purchased.toarray()] = -np.inf
    chosen = np.take_along_axis(keys, indices, axis=1)
    kth = -np.sort(-keys, axis=1)[:, K - 1]
    # Every chosen product is at least as good as the k-th best (up to float32 rounding) ...
    assert (chosen >= kth[:, None] - 1e-5).all()
    # ... in order, with the model's score where it is positive and 0 where popularity fills.
    assert (np.diff(chosen, axis=1) <= 1e-5).all()
    np.testing.assert_allclose(scores, np.maximum(chosen, 0.0), rtol=1e-5, atol=1e-6)
    assert not np.take_along_axis(batch.purchased.toarray(), indices, axis=1).any()
    positives = (raw > 0).sum(axis=1)
    assert positives.min() < K < positives.max(), "both cases occur"
