"""The promotion gate: bootstrap intervals against hand-computed cases, and every decision."""

from __future__ import annotations

import numpy as np
import pytest

from include.promotion import (
    GateSettings,
    Interval,
    bootstrap,
    decide,
    paired_interval,
    percentile_interval,
    served_range,
)


def _mean(values: np.ndarray):
    return lambda counts: float(counts @ values / counts.sum())


def _intervals(values: dict[str, np.ndarray], draws: int = 2000, seed: int = 1):
    estimates = {name: float(v.mean()) for name, v in values.items()}
    replicates = bootstrap(
        {n: _mean(v) for n, v in values.items()}, len(next(iter(values.values()))), draws=draws, seed=seed
    )
    return estimates, replicates


# --------------------------------------------------------------------------- the bootstrap


@pytest.mark.parametrize(("confidence", "expected"), [(0.95, (0.0, 1.0)), (0.8, (0.0, 2 / 3))])
def test_the_interval_of_a_mean_matches_the_exact_bootstrap_distribution(confidence, expected) -> None:
    # Resampling [0, 0, 1] gives k ones with k ~ Binomial(3, 1/3): the mean k/3 is 0 with
    # probability 8/27, 1/3 with 12/27, 2/3 with 6/27 and 1 with 1/27. Cumulative: .296, .741,
    # .963, 1. The 2.5% and 10% points are 0; the 90% point is 2/3 and the 97.5% point is 1.
    values = np.array([0.0, 0.0, 1.0])
    replicates = bootstrap({"m": _mean(values)}, 3, draws=20_000, seed=7)["m"]
    counts = np.unique(np.round(replicates * 3).astype(int), return_counts=True)[1] / len(replicates)
    np.testing.assert_allclose(counts, [8 / 27, 12 / 27, 6 / 27, 1 / 27], atol=0.015)
    interval = percentile_interval(1 / 3, replicates, confidence)
    assert (interval.low, interval.high) == pytest.approx(expected)
    assert interval.estimate == pytest.approx(1 / 3)


def test_the_interval_of_a_large_sample_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(0)
    values = (rng.random(4000) < 0.3).astype(float)
    replicates = bootstrap({"m": _mean(values)}, len(values), draws=4000, seed=3)["m"]
    interval = percentile_interval(values.mean(), replicates, 0.95)
    half_width = 1.96 * values.std() / np.sqrt(len(values))
    assert interval.low == pytest.approx(values.mean() - half_width, abs=0.15 * half_width)
    assert interval.high == pytest.approx(values.mean() + half_width, abs=0.15 * half_width)


def test_the_same_seed_gives_the_same_interval() -> None:
    values = np.linspace(0, 1, 50)
    first = bootstrap({"m": _mean(values)}, 50, draws=200, seed=11)["m"]
    second = bootstrap({"m": _mean(values)}, 50, draws=200, seed=11)["m"]
    np.testing.assert_array_equal(first, second)


def test_a_paired_interval_sees_a_constant_gain_that_separate_intervals_hide() -> None:
    rng = np.random.default_rng(5)
    floor = rng.random(300)
    estimates, replicates = _intervals({"floor": floor, "better": floor + 0.01})
    alone = [percentile_interval(estimates[n], replicates[n], 0.95) for n in ("floor", "better")]
    assert alone[1].low < alone[0].high, "on their own the two intervals overlap"
    gain = paired_interval(estimates, replicates, "better", "floor", 0.95)
    assert (gain.estimate, gain.low, gain.high) == pytest.approx((0.01, 0.01, 0.01))


def test_a_statistic_undefined_on_a_resample_gives_nan_there_and_is_ignored() -> None:
    def needs_the_first_unit(counts: np.ndarray) -> float:
        if counts[0] == 0:
            raise ValueError("undefined without the first unit")
        return 1.0

    replicates = bootstrap({"s": needs_the_first_unit}, 2, draws=400, seed=2)["s"]
    assert 0.15 < np.isnan(replicates).mean() < 0.35  # the first unit is missed with probability 1/4
    assert percentile_interval(1.0, replicates, 0.95) == Interval(1.0, 1.0, 1.0)


def test_drawing_whole_blocks_widens_the_interval_of_units_that_move_together() -> None:
    # 40 days of 25 orders each; an order's outcome is its day's rate plus noise, so the 1000
    # orders carry about as much information as 40 independent ones. Drawn one by one they look
    # like 1000 independent units; drawn by day, the interval has the width of 40 day means.
    rng = np.random.default_rng(4)
    days = np.repeat(np.arange(40), 25)
    values = rng.normal(0, 1, 40)[days] + rng.normal(0, 0.1, len(days))
    one_by_one = bootstrap({"m": _mean(values)}, len(values), draws=2000, seed=1)["m"]
    by_day = bootstrap({"m": _mean(values)}, len(values), draws=2000, seed=1, blocks=days)["m"]
    day_means = values.reshape(40, 25).mean(axis=1)
    assert np.std(by_day) == pytest.approx(day_means.std() / np.sqrt(40), rel=0.1)
    assert np.std(by_day) > 4 * np.std(one_by_one)


def test_a_resample_draws_as_many_blocks_as_there_are_and_keeps_each_whole() -> None:
    blocks = np.array(["b", "a", "b", "c", "a", "b"])
    seen = []

    def record(counts: np.ndarray) -> float:
        seen.append(counts.copy())
        return 0.0

    bootstrap({"s": record}, len(blocks), draws=200, seed=3, blocks=blocks)
    for counts in seen:
        # units of one block are drawn the same number of times, and three blocks are drawn
        assert counts[0] == counts[2] == counts[5] and counts[1] == counts[4]
        assert counts[1] + counts[0] + counts[3] == 3
    with pytest.raises(ValueError, match="2 block labels for 3 holdout units"):
        bootstrap({"s": record}, 3, draws=100, seed=3, blocks=np.array([1, 2]))


def test_the_served_range_adds_the_served_samples_own_noise() -> None:
    replicates = np.random.default_rng(0).normal(0.3, 0.02, 20_000)
    same_size = served_range(0.3, replicates, 0.95, holdout_units=1000, served_units=1000)
    # two samples of equal size: sqrt(2) times the holdout's own spread
    assert same_size.high - 0.3 == pytest.approx(1.96 * 0.02 * np.sqrt(2), rel=0.02)
    assert 0.3 - same_size.low == pytest.approx(same_size.high - 0.3)
    many_served = served_range(0.3, replicates, 0.95, holdout_units=1000, served_units=1_000_000)
    assert many_served.high - 0.3 == pytest.approx(1.96 * 0.02, rel=0.02)
    with pytest.raises(ValueError, match="served unit"):
        served_range(0.3, replicates, 0.95, holdout_units=1000, served_units=0)


def test_gate_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="confidence"):
        GateSettings(confidence=1.0)
    with pytest.raises(ValueError, match="draws"):
        GateSettings(draws=10)
    with pytest.raises(ValueError, match="min_gain"):
        GateSettings(min_gain=-0.1)


# --------------------------------------------------------------------------- the decision

SETTINGS = GateSettings(draws=1000)


def _units(seed: int, n: int = 400) -> np.ndarray:
    return np.random.default_rng(seed).random(n)


def _decide(
    values: dict[str, np.ndarray], *, candidates, floor="floor", champion=None, refreshable=None, **kw
):
    estimates, replicates = _intervals(values, draws=1000)
    settings = kw.pop("settings", SETTINGS)
    return decide(
        estimates,
        replicates,
        candidates=candidates,
        floor=floor,
        champion=champion,
        refreshable=refreshable,
        settings=settings,
        **kw,
    )


def test_a_random_candidate_has_no_skill_and_with_no_champion_nothing_serves() -> None:
    floor = _units(1)
    random = np.random.default_rng(2).permutation(floor)  # the same figures, unrelated to each unit
    decision = _decide({"floor": floor, "random": random}, candidates=["random"])
    assert decision.outcome == "none" and decision.winner is None
    assert not decision.verdicts["random"].skilful
    assert decision.reason.startswith("nothing to serve: no candidate beat floor beyond noise")


def test_the_first_champion_must_show_skill_and_the_best_skilful_one_wins() -> None:
    floor = _units(1)
    decision = _decide(
        {
            "floor": floor,
            "good": floor + 0.05,
            "better": floor + 0.08,
            "noise": floor + _units(9) * 0.02 - 0.01,
        },
        candidates=["noise", "good", "better"],
    )
    assert (decision.outcome, decision.winner) == ("promote", "better")
    assert (
        decision.reason == "better is the first champion: beat floor by +0.0800, interval [+0.0800, +0.0800]"
    )
    assert decision.verdicts["good"].note.endswith("below better")
    assert not decision.verdicts["noise"].skilful


def test_a_candidate_within_noise_of_the_champion_is_not_promoted() -> None:
    champion = _units(3) * 0.5 + 0.2
    candidate = champion + np.random.default_rng(4).normal(0, 0.05, len(champion))  # same on average
    floor = champion - 0.1
    decision = _decide(
        {"floor": floor, "champion": champion, "challenger": candidate},
        candidates=["challenger"],
        champion="champion",
    )
    gain = decision.verdicts["challenger"].over_champion
    assert gain.low < 0 < gain.high
    assert (decision.outcome, decision.winner) == ("keep", None)
    assert decision.reason.startswith("champion kept: best challenger: not above the champion")


def test_a_candidate_clearly_above_the_champion_is_promoted_with_its_interval() -> None:
    champion = _units(3)
    candidate = champion + 0.004 + np.random.default_rng(4).normal(0, 0.01, len(champion))
    decision = _decide(
        {"floor": champion - 0.1, "champion": champion, "challenger": candidate},
        candidates=["challenger"],
        champion="champion",
    )
    gain = decision.verdicts["challenger"].over_champion
    assert gain.low > 0
    assert decision.outcome == "promote"
    assert decision.reason == f"challenger beat the champion by {gain.signed()}"
    assert decision.reason.startswith("challenger beat the champion by +0.00")


def test_min_gain_asks_for_a_gain_beyond_it_with_confidence() -> None:
    champion = _units(3)
    values = {"floor": champion - 0.1, "champion": champion, "challenger": champion + 0.004}
    promoted = _decide(values, candidates=["challenger"], champion="champion")
    kept = _decide(
        values,
        candidates=["challenger"],
        champion="champion",
        settings=GateSettings(min_gain=0.005, draws=1000),
    )
    assert (promoted.outcome, kept.outcome) == ("promote", "keep")
    assert "not above the champion by more than 0.005" in kept.verdicts["challenger"].note


def test_the_champions_own_configuration_refreshes_it_when_within_noise() -> None:
    champion = _units(3)
    retrained = champion + np.random.default_rng(4).normal(0, 0.05, len(champion))
    values = {"floor": champion - 0.1, "champion": champion, "item_knn": retrained}
    refreshed = _decide(values, candidates=["item_knn"], champion="champion", refreshable="item_knn")
    assert (refreshed.outcome, refreshed.winner) == ("refresh", "item_knn")
    assert refreshed.reason.startswith("item_knn refreshed on newer data")
    worse = {**values, "item_knn": champion - 0.05}
    assert (
        _decide(worse, candidates=["item_knn"], champion="champion", refreshable="item_knn").outcome == "keep"
    )


def test_a_champion_that_saw_the_holdout_is_not_compared_and_a_skilful_candidate_wins() -> None:
    floor = _units(1)
    decision = _decide(
        {"floor": floor, "good": floor + 0.05},
        candidates=["good"],
        champion_note="champion v1 has seen this holdout",
    )
    assert decision.outcome == "promote"
    assert decision.reason.endswith("; champion v1 has seen this holdout")
    kept = _decide(
        {"floor": floor, "bad": floor - 0.05},
        candidates=["bad"],
        champion_note="champion v1 has seen this holdout",
    )
    assert kept.outcome == "keep" and "champion kept (champion v1 has seen this holdout)" in kept.reason


def test_the_floor_itself_is_never_promoted() -> None:
    floor = _units(1)
    decision = _decide({"floor": floor}, candidates=["floor"])
    assert decision.outcome == "none"
    assert decision.verdicts["floor"].note == "floor is the skill floor"
