"""EASE: the closed form against a hand-solved case, the choice of λ, the sparse model."""

from __future__ import annotations

import numpy as np
import pytest

from include.models.recommender.ease import EASERecommender, best_of, climb, ease_weights
from tests.models.test_recommender import planted_shop


def test_ease_weights_match_a_hand_solved_case() -> None:
    # X = [[1,1,0],[1,0,1],[0,1,1]] gives XᵀX = [[2,1,1],[1,2,1],[1,1,2]]. With λ = 1,
    # XᵀX + I = 2I + J (J: all ones), whose inverse is I/2 - J/10: diagonal 0.4, elsewhere -0.1.
    # B_ij = -P_ij / P_jj = 0.25 off the diagonal, and the diagonal is 0.
    x = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=float)
    np.testing.assert_allclose(ease_weights(x.T @ x, 1.0), 0.25 * (np.ones((3, 3)) - np.eye(3)), rtol=1e-6)


@pytest.mark.parametrize("peak", range(5))
def test_climbing_the_grid_finds_a_single_peak_with_few_solves(peak: int) -> None:
    grid = (0.0625, 0.25, 1.0, 4.0, 16.0)
    tried = []

    def score(value: float) -> float:
        tried.append(value)
        return -abs(grid.index(value) - peak)

    scores = climb(grid, score)
    assert best_of(scores) == grid[peak]
    assert tried[0] == 1.0 and len(tried) == len(set(tried))
    # The middle, then one side up to the peak and one past it (both sides when the middle wins).
    assert len(tried) == {0: 3, 1: 3, 2: 3, 3: 4, 4: 4}[peak]


def test_climbing_stops_on_a_tie_and_prefers_the_smaller_value() -> None:
    scores = climb((1.0, 2.0, 3.0, 4.0, 5.0), lambda value: 0.5 if value < 4 else 0.1)
    assert scores == {3.0: 0.5, 2.0: 0.5, 4.0: 0.1}
    assert best_of(scores) == 2.0


def test_ease_weights_solve_the_constrained_least_squares_problem() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((60, 8)) < 0.3).astype(float)
    gram, l2 = x.T @ x, 3.0
    weights = ease_weights(gram, l2).astype(float)
    assert np.allclose(np.diag(weights), 0)
    # Stationarity with a Lagrange multiplier per column: (G + λI) B - G = -diag(μ), i.e. the
    # off-diagonal entries of (G + λI) B - G vanish.
    residual = (gram + l2 * np.eye(8)) @ weights - gram
    np.testing.assert_allclose(residual - np.diag(np.diag(residual)), 0, atol=1e-4)


def test_ease_chooses_l2_on_the_validation_split_and_records_it() -> None:
    history, _ = planted_shop()
    model = EASERecommender(validation_days=10).fit(history, as_of=history["last_at"].max())
    grid = model.fitted["validation_ndcg"]
    assert 3 <= len(grid) <= 5 and all(0 <= v <= 1 for v in grid.values())
    assert f"{model.fitted['l2']:.6g}" in grid
    assert grid[f"{model.fitted['l2']:.6g}"] == max(grid.values())
    given = EASERecommender(l2=7.5).fit(history)
    assert given.fitted["l2"] == 7.5 and "validation_ndcg" not in given.fitted


def test_an_ease_refit_uses_the_l2_its_evaluated_candidate_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refit serves the λ the gate judged (relative to its own XᵀX) instead of searching
    the grid again on the whole window."""
    from include.models.recommender import ease

    history, _ = planted_shop()
    as_of = history["last_at"].max()
    candidate = EASERecommender(validation_days=10).fit(history, as_of=as_of)
    factor = candidate.fitted["l2_factor"]
    assert factor in [pytest.approx(f) for f in ease.EASE_L2_GRID]

    def no_search(*args, **kwargs):
        raise AssertionError("the refit searched the grid again")

    monkeypatch.setattr(ease, "choose_l2", no_search)
    refit = EASERecommender(validation_days=10)
    refit.tune_like(candidate.fitted)
    more = history.assign(weight=history["weight"] * 2.0)  # another window: another XᵀX scale
    refit.fit(more, as_of=as_of)
    assert refit.fitted["l2_factor"] == pytest.approx(factor)
    assert refit.fitted["l2"] != pytest.approx(candidate.fitted["l2"])
    assert refit.fitted["l2_from"] == "evaluated candidate"
    # Without an evaluated candidate (or with another kind of model) it searches as before.
    with pytest.raises(AssertionError, match="searched the grid"):
        EASERecommender(validation_days=10).fit(history, as_of=as_of)


def test_a_warm_started_ease_reuses_the_previous_l2_and_searches_again_every_so_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next night's EASE takes the λ factor its previous version chose (one solve instead
    of a grid search); after `search_every - 1` nights in a row it searches again."""
    from include.models.recommender import ease
    from include.models.recommender.baselines import ItemKNNRecommender

    history, _ = planted_shop()
    as_of = history["last_at"].max()
    previous = EASERecommender(validation_days=10, search_every=3).fit(history, as_of=as_of)
    assert previous.fitted["l2_generation"] == 0
    searches = []
    real_choose = ease.choose_l2
    monkeypatch.setattr(ease, "choose_l2", lambda *a, **k: searches.append(1) or real_choose(*a, **k))

    more = history.assign(weight=history["weight"] * 2.0)
    warm = EASERecommender(validation_days=10, search_every=3)
    assert warm.warm_start(previous)
    warm.fit(more, as_of=as_of)
    assert searches == []
    assert warm.fitted["l2_factor"] == pytest.approx(previous.fitted["l2_factor"])
    assert warm.fitted["l2"] != pytest.approx(previous.fitted["l2"])
    assert (warm.fitted["l2_from"], warm.fitted["l2_generation"]) == ("previous version", 1)

    again = EASERecommender(validation_days=10, search_every=3)
    assert again.warm_start(warm)  # second night in a row
    third = EASERecommender(validation_days=10, search_every=3)
    third.fitted = {**warm.fitted, "l2_generation": 2}
    assert not EASERecommender(validation_days=10, search_every=3).warm_start(third), "the third searches"
    # Another configuration, a fixed λ or another kind of model: no warm start.
    assert not EASERecommender(validation_days=5, search_every=3).warm_start(previous)
    assert not EASERecommender(l2=3.0, validation_days=10, search_every=3).warm_start(previous)
    assert not EASERecommender(validation_days=10, search_every=3).warm_start(ItemKNNRecommender())
    # A refit takes the evaluated candidate's λ; a warm start does not replace it.
    refit = EASERecommender(validation_days=10, search_every=3)
    refit.tune_like(warm.fitted)
    assert not refit.warm_start(previous)
    EASERecommender(validation_days=10, search_every=3).fit(history, as_of=as_of)
    assert searches == [1], "without a previous version the grid is searched"


def test_ease_models_only_the_most_interacted_products_and_keeps_a_sparse_model() -> None:
    history, _ = planted_shop()
    model = EASERecommender(l2=10.0, max_products=30, neighbours=5).fit(history)
    assert model.fitted["modelled_products"] == 30
    modelled = np.isfinite(model._neighbour_score).any(axis=1)
    assert modelled.sum() == 30 and model._neighbour_score.shape[1] == 5
    counts = history.groupby("product_id").size().reindex(model.products).to_numpy()
    assert counts[modelled].min() >= counts[~modelled].max()
    recs = model.recommend(history, history["customer_id"].unique()[:20], 5)
    assert (recs.groupby("customer_id").size() == 5).all()


def test_ease_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="l2 >= 0"):
        EASERecommender(l2=-1.0)
    with pytest.raises(ValueError, match="half_life_days"):
        EASERecommender(half_life_days=-2)
    assert isinstance(EASERecommender().params()["l2"], float)


def test_the_strongest_weights_block_by_block_are_those_of_the_whole_matrix() -> None:
    from include.models.recommender.ease import strongest

    rng = np.random.default_rng(4)
    weights = rng.standard_normal((37, 50)).astype(np.float32)
    whole_idx, whole_val = strongest(weights, 6, block=len(weights))
    idx, val = strongest(weights, 6, block=5)  # eight blocks, the last one short
    np.testing.assert_array_equal(idx, whole_idx)
    np.testing.assert_array_equal(val, whole_val)
    magnitude = np.sort(np.abs(weights), axis=1)[:, ::-1][:, :6]
    np.testing.assert_array_equal(np.abs(val), magnitude)
    assert val.dtype == np.float32


def test_the_inverse_is_made_symmetric_in_place_block_by_block() -> None:
    from include.models.recommender.ease import _symmetric_from_upper

    rng = np.random.default_rng(5)
    full = rng.standard_normal((23, 23))
    full = full + full.T
    upper = np.triu(full) + np.tril(rng.standard_normal((23, 23)), -1)  # garbage below
    out = _symmetric_from_upper(upper, block=4)
    assert out is upper
    np.testing.assert_array_equal(out, full)
