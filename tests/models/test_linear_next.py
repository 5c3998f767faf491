"""linear_next: the closed form against a hand-solved case, its direction and recency, λ."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.models.recommender.base import build_history
from include.models.recommender.ease import EASERecommender
from include.models.recommender.linear_next import LinearNextRecommender, next_system, solve
from include.models.recommender.sequences import decayed_inputs, purchase_examples
from tests.models.test_recommender import planted_shop

DAY = pd.Timestamp("2025-03-01")


def _interactions(rows: list[tuple[int, int, float, int, float]]) -> pd.DataFrame:
    """(customer, product, weight, purchases, day) rows as interactions."""
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "weight", "purchases", "day"])
    frame["last_at"] = DAY + pd.to_timedelta(frame.pop("day"), unit="D")
    return frame


def test_the_next_purchase_part_matches_a_hand_solved_case() -> None:
    # Every customer buys product 1 (index 0), then product 2 (index 1) a day later. With α = 0
    # only the next-purchase part counts: one example per customer, Z = [s, 0] with
    # s = log1p(5), Y = [0, 1]. Over 4 customers ZᵀZ = diag(4s², 0), whose mean diagonal is
    # 2s²; so the system is diag(2, 0), the target [[0, 2/s], [0, 0]], and with λ = 1,
    # B = diag(1/3, 1) · target: B[1 -> 2] = 2 / (3s), and nothing leads from 2 back to 1.
    rows = [(c, p, 5.0, 1, day) for c in range(1, 5) for p, day in ((1, 0), (2, 1))]
    history = build_history(_interactions(rows), np.array([1, 2]))
    examples = purchase_examples(history, max_history=3, max_per_customer=5)
    system, target = next_system(history.weights, examples, np.arange(2), alpha=0.0, decay=0.5)
    s = np.log1p(5.0)
    np.testing.assert_allclose(system, [[2, 0], [0, 0]], rtol=1e-6)
    np.testing.assert_allclose(target, [[0, 2 / s], [0, 0]], rtol=1e-6)
    np.testing.assert_allclose(solve(system, target, 1.0), [[0, 2 / (3 * s)], [0, 0]], rtol=1e-6)


def test_no_product_explains_itself() -> None:
    """diag(B) = 0, and B solves the constrained problem: (system + λI) B − target vanishes off
    the diagonal (one Lagrange multiplier per column), as for EASE."""
    rng = np.random.default_rng(0)
    rows = [
        (c, int(p), 1.0, 1, float(day))
        for c in range(60)
        for day, p in enumerate(rng.choice(8, 4, replace=False))
    ]
    history = build_history(_interactions(rows), np.arange(8))
    examples = purchase_examples(history, max_history=3, max_per_customer=5)
    system, target = next_system(history.weights, examples, np.arange(8), alpha=0.3, decay=0.7)
    weights = solve(system, target, 0.5).astype(float)
    assert np.allclose(np.diag(weights), 0.0)
    residual = (system + 0.5 * np.eye(8)) @ weights - target
    np.testing.assert_allclose(residual - np.diag(np.diag(residual)), 0.0, atol=1e-4)
    assert not LinearNextRecommender().fit(planted_shop()[0]).similarity.diagonal().any()


def test_decayed_inputs_weigh_the_newest_product_most() -> None:
    items = np.array([[3, 1, -1], [2, 2, 0]])
    strength = np.ones((2, 3), np.float32)
    matrix = decayed_inputs(items, strength, 0.5, 4).toarray()
    np.testing.assert_allclose(matrix, [[0, 0.5, 0, 1], [0.25, 0, 1.5, 0]])


def _device_shop() -> pd.DataFrame:
    """Devices (10, 11) bought first, their accessories (20, 21) days later; never the
    other way round. Customers also buy one of the fillers (30-39)."""
    rng = np.random.default_rng(1)
    rows = []
    for customer in range(1, 301):
        device = 10 + customer % 2
        day = float(rng.integers(0, 30))
        rows.append((customer, device, 6.0, 1, day))
        rows.append((customer, 30 + int(rng.integers(10)), 6.0, 1, day + 1))
        if customer <= 240:
            rows.append((customer, device + 10, 6.0, 1, day + 3))
    return _interactions(rows)


def test_it_learns_what_is_bought_after_what_and_not_the_other_way_round() -> None:
    interactions = _device_shop()
    # The next-purchase part alone is directed: device -> accessory, nothing back. EASE's
    # weights, learned from co-occurrence, point both ways.
    directed = LinearNextRecommender(alpha=0.0, l2=1.0, decay=0.7).fit(interactions).similarity.toarray()
    ease = EASERecommender().fit(interactions).similarity.toarray()
    index = {p: i for i, p in enumerate(LinearNextRecommender().fit(interactions).products)}
    assert directed[index[10], index[20]] > 0.05 and directed[index[20], index[10]] == 0
    assert ease[index[20], index[10]] > 0.5 * ease[index[10], index[20]] > 0
    # With both parts (the default), a new device buyer is recommended the device's accessory.
    model = LinearNextRecommender().fit(interactions)
    newcomers = _interactions([(1000, 10, 6.0, 1, 40.0), (1001, 11, 6.0, 1, 40.0)])
    everyone = pd.concat([interactions, newcomers], ignore_index=True)
    top = model.recommend(everyone, np.array([1000, 1001]), 1).set_index("customer_id")["product_id"]
    assert top.to_dict() == {1000: 20, 1001: 21}


def test_the_latest_products_count_most() -> None:
    interactions = _device_shop()
    model = LinearNextRecommender(l2=1.0, decay=0.7).fit(interactions)
    # Bought device 11 long ago and device 10 yesterday: 10's accessory comes first.
    customer = _interactions([(2000, 11, 6.0, 1, 10.0), (2000, 10, 6.0, 1, 40.0)])
    everyone = pd.concat([interactions, customer], ignore_index=True)
    recs = model.recommend(everyone, np.array([2000]), 2)
    assert list(recs["product_id"]) == [20, 21]


def test_decay_and_l2_are_chosen_on_the_validation_split_and_reused_by_the_refit() -> None:
    history, _ = planted_shop()
    as_of = history["last_at"].max()
    model = LinearNextRecommender(decay=0.0, validation_days=10).fit(history, as_of=as_of)
    grid = model.fitted["validation_ndcg"]
    # λ climbed at the middle decay (3 to 5 solves), then the two other decays at the best λ.
    assert 5 <= len(grid) <= 7 and all(0 <= v <= 1 for v in grid.values())
    assert {key for key in grid if not key.startswith("0.9/")} == {
        f"{d:g}/{model.fitted['l2']:g}" for d in (0.7, 0.97)
    }
    assert grid[f"{model.fitted['decay']:g}/{model.fitted['l2']:g}"] == max(grid.values())
    refit = LinearNextRecommender(decay=0.0, validation_days=10)
    refit.tune_like(model.fitted)
    refit.fit(history, as_of=as_of)
    assert (refit.fitted["decay"], refit.fitted["l2"]) == (model.fitted["decay"], model.fitted["l2"])
    assert refit.fitted["l2_from"] == "evaluated candidate" and "validation_ndcg" not in refit.fitted
    given = LinearNextRecommender(l2=7.5, decay=0.5).fit(history)
    assert (given.fitted["l2"], given.fitted["decay"]) == (7.5, 0.5) and "validation_ndcg" not in given.fitted
    default = LinearNextRecommender(validation_days=10).fit(history, as_of=as_of)
    assert default.fitted["decay"] == 0.9
    tried = default.fitted["validation_ndcg"]
    assert "0.9/1" in tried and {key.split("/")[0] for key in tried} == {"0.9"}
    assert tried[f"0.9/{default.fitted['l2']:g}"] == max(tried.values())


def test_a_saved_model_scores_with_the_decay_it_chose(tmp_path) -> None:
    from include.models.catalogue import load_model

    history, _ = planted_shop()
    model = LinearNextRecommender(decay=0.0, validation_days=10).fit(history)
    model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    customers = history["customer_id"].unique()[:50]
    assert loaded.fitted_decay == model.fitted["decay"]
    pd.testing.assert_frame_equal(
        loaded.recommend(history, customers, 5), model.recommend(history, customers, 5)
    )


@pytest.mark.parametrize("params", [{"alpha": 1.0}, {"decay": -0.1}, {"decay": 1.5}, {"max_history": 0}])
def test_bad_parameters_are_refused(params) -> None:
    with pytest.raises(ValueError, match="linear_next needs"):
        LinearNextRecommender(**params)


def test_a_history_without_a_purchase_after_another_is_refused() -> None:
    with pytest.raises(ValueError, match="no customer has a purchase after another product"):
        LinearNextRecommender().fit(_interactions([(1, 1, 6.0, 1, 0.0), (2, 2, 6.0, 1, 0.0)]))
