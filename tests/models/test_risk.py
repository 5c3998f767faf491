"""Each risk candidate learns a planted fraud pattern, explains it, and survives save/load."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from include.features import FEATURE_COLUMNS, PAYMENT_METHODS
from include.models.catalogue import DEFAULT_CANDIDATES, candidate_names, load_model, model_class
from include.models.risk.base import NO_SIGNAL_REASON, RiskModel, top_reasons
from include.models.risk.baselines import LogisticRiskModel, RandomRiskModel

# The candidates that learn; the random score is tested on its own.
CANDIDATES = {name: model_class("order_risk", name) for name in DEFAULT_CANDIDATES["order_risk"]}

N_ORDERS = 10_000
TRAIN_SHARE = 0.75
# The planted pattern, in log-odds; billing/IP mismatch is by far the strongest driver.
BASE_LOGIT = -6.0
DRIVER = "billing_ip_mismatch"


def planted_logit(features: pd.DataFrame) -> pd.Series:
    return (
        BASE_LOGIT
        + 5.0 * features[DRIVER]
        + 2.5 * (features["pay_crypto"] + features["pay_gift_card"])
        + 2.0 * (features["orders_last_24h"] >= 2)
        + 2.0 * (features["log_account_age_days"] < np.log1p(7))
        + 1.5 * (features["amount_vs_customer_median"] > 1.8)
    )


def synthetic_orders(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Order features in time order with ~3% fraud driven by a mix of them."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(index=pd.RangeIndex(n, name="order_id"))
    f["log_account_age_days"] = np.log1p(rng.exponential(300, n))
    f["log_amount"] = rng.normal(4, 0.8, n)
    f["amount_vs_customer_median"] = np.where(rng.random(n) < 0.3, 1.0, rng.lognormal(0, 0.3, n))
    f["prior_orders"] = rng.poisson(5, n).astype(float)
    f["orders_last_24h"] = rng.poisson(0.2, n).astype(float)
    f["billing_ip_mismatch"] = (rng.random(n) < 0.08).astype(float)
    f["shipping_billing_mismatch"] = (rng.random(n) < 0.05).astype(float)
    f["ip_not_customer_country"] = (
        (f["billing_ip_mismatch"] * (rng.random(n) < 0.5)) + (rng.random(n) < 0.04) > 0
    ).astype(float)
    f["device_accounts"] = 1.0 + rng.poisson(0.1, n)
    method = rng.choice(len(PAYMENT_METHODS), n, p=[0.6, 0.25, 0.08, 0.04, 0.03])
    for i, name in enumerate(PAYMENT_METHODS):
        f[f"pay_{name}"] = (method == i).astype(float)
    f["night_order"] = (rng.random(n) < 0.15).astype(float)
    f["n_lines"] = 1.0 + rng.poisson(0.5, n)
    f["log_n_items"] = np.log1p(f["n_lines"] + rng.poisson(0.5, n))
    # Some devices are unknown, at random; no other fact is ever missing in this data.
    f["device_unknown"] = (rng.random(n) < 0.05).astype(float)
    f["device_accounts"] = f["device_accounts"].mask(f["device_unknown"] == 1)
    for column in FEATURE_COLUMNS:
        if column.endswith("_unknown") and column not in f:
            f[column] = 0.0
    f = f[FEATURE_COLUMNS]
    fraud_probability = 1.0 / (1.0 + np.exp(-planted_logit(f)))
    labels = (rng.random(n) < fraud_probability).astype(int).to_numpy()
    return f, labels


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    features, labels = synthetic_orders(N_ORDERS, seed=0)
    cut = int(N_ORDERS * TRAIN_SHARE)
    return {
        "train_x": features.iloc[:cut],
        "train_y": labels[:cut],
        "test_x": features.iloc[cut:],
        "test_y": labels[cut:],
    }


@pytest.fixture(scope="module", params=sorted(CANDIDATES))
def trained(request: pytest.FixtureRequest, data: dict) -> RiskModel:
    return CANDIDATES[request.param]().fit(data["train_x"], data["train_y"])


def typical_row(data: dict) -> pd.DataFrame:
    """A single ordinary order: the training medians."""
    return data["train_x"].median().to_frame().T.rename_axis("order_id")


def fraudulent_row(data: dict) -> pd.DataFrame:
    """An ordinary order with the main driver and a burst of orders switched on."""
    return typical_row(data).assign(**{DRIVER: 1.0, "orders_last_24h": 3.0})


def test_synthetic_base_rate_is_about_three_percent(data: dict) -> None:
    assert 0.02 < data["train_y"].mean() < 0.05
    assert data["test_y"].sum() >= 40


def test_learns_the_planted_pattern(trained: RiskModel, data: dict) -> None:
    scores = trained.predict(data["test_x"])
    assert scores.shape == (len(data["test_x"]),)
    assert ((scores >= 0) & (scores <= 1)).all()
    base_rate = data["test_y"].mean()
    pr_auc = average_precision_score(data["test_y"], scores)
    assert pr_auc > 5 * base_rate, f"{trained.name}: PR-AUC {pr_auc:.3f}, base {base_rate:.3f}"


def test_save_then_load_gives_identical_scores(trained: RiskModel, data: dict, tmp_path: Path) -> None:
    trained.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert (meta["family"], meta["name"]) == ("order_risk", trained.name)
    assert meta["fitted"]["feature_columns"] == FEATURE_COLUMNS

    loaded = load_model(tmp_path / "model", family="order_risk")
    assert type(loaded) is type(trained)
    assert loaded.params() == trained.params()
    np.testing.assert_array_equal(loaded.predict(data["test_x"]), trained.predict(data["test_x"]))
    np.testing.assert_allclose(
        loaded.contributions(data["test_x"].iloc[:50]),
        trained.contributions(data["test_x"].iloc[:50]),
        rtol=1e-6,
        atol=1e-9,
    )


def test_contributions_rank_the_planted_driver_first(trained: RiskModel, data: dict) -> None:
    row = fraudulent_row(data)
    assert trained.predict(row)[0] > trained.predict(typical_row(data))[0]
    pushes = trained.contributions(row)
    assert list(pushes.columns) == FEATURE_COLUMNS
    assert pushes.index.equals(row.index)
    assert pushes.iloc[0].idxmax() == DRIVER
    assert pushes.iloc[0][DRIVER] > 0


def test_contributions_have_the_shape_of_the_input(trained: RiskModel, data: dict) -> None:
    rows = data["test_x"].iloc[:7]
    pushes = trained.contributions(rows)
    assert pushes.shape == rows.shape
    assert pushes.index.equals(rows.index)
    assert np.isfinite(pushes.to_numpy()).all()


def test_top_reasons_are_readable_text(trained: RiskModel, data: dict) -> None:
    rows = pd.concat([fraudulent_row(data), data["test_x"].iloc[:5]])
    reasons = top_reasons(trained, rows, n=2)
    assert len(reasons) == len(rows)
    assert reasons[0].startswith("billing country differs from IP country")
    assert "3 other orders by this customer in the 24 hours before, typically 0" in reasons[0]
    for text in reasons:
        assert 0 < len(text.split("; ")) <= 2
        assert "_" not in text
        assert "{" not in text


def test_the_typical_order_has_no_reason_and_typical_values_are_never_reasons(
    trained: RiskModel, data: dict
) -> None:
    assert top_reasons(trained, typical_row(data)) == [NO_SIGNAL_REASON]
    # The driver switched on, everything else typical: the driver is the only reason.
    assert top_reasons(trained, typical_row(data).assign(**{DRIVER: 1.0})) == [
        "billing country differs from IP country"
    ]


def test_unknown_values_read_as_typical_and_unseen_indicators_do_not_move_the_score(
    trained: RiskModel, data: dict
) -> None:
    typical = typical_row(data)
    unknown_age = typical.assign(log_account_age_days=np.nan, account_age_unknown=1.0)
    # account_age_unknown never varied in training, so the model leaves it out.
    assert "account_age_unknown" not in trained.model_columns
    np.testing.assert_allclose(trained.predict(unknown_age), trained.predict(typical))
    assert top_reasons(trained, unknown_age) == [NO_SIGNAL_REASON]


def test_predict_handles_no_rows_and_rejects_bad_input(trained: RiskModel, data: dict) -> None:
    assert trained.predict(data["test_x"].iloc[:0]).shape == (0,)
    assert top_reasons(trained, data["test_x"].iloc[:0]) == []
    with pytest.raises(ValueError, match="missing feature column"):
        trained.predict(data["test_x"].drop(columns=[DRIVER]))
    with pytest.raises(ValueError, match="infinite"):
        trained.predict(data["test_x"].iloc[:3].assign(log_amount=np.inf))


def test_fit_rejects_a_single_class_and_unlabelled_rows(data: dict) -> None:
    x = data["train_x"].iloc[:100]
    with pytest.raises(ValueError, match="both classes"):
        LogisticRiskModel().fit(x, np.zeros(len(x)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        LogisticRiskModel().fit(x, np.full(len(x), np.nan))


def test_loading_an_empty_folder_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"meta\.json"):
        load_model(tmp_path)


def test_candidates_are_the_baselines_the_tensorflow_model_and_a_random_score() -> None:
    names = candidate_names("order_risk")
    assert set(names) == {"logistic_regression", "gradient_boosting", "tf_mlp", "random"}
    assert all(model_class("order_risk", name).name == name for name in names)


def test_the_random_score_has_no_skill_and_is_repeatable(data: dict) -> None:
    model = RandomRiskModel().fit(data["train_x"], data["train_y"])
    scores = model.predict(data["test_x"])
    assert ((scores >= 0) & (scores < 1)).all()
    np.testing.assert_array_equal(scores, model.predict(data["test_x"]))
    np.testing.assert_array_equal(scores[10:20], model.predict(data["test_x"].iloc[10:20]))
    base_rate = data["test_y"].mean()
    assert average_precision_score(data["test_y"], scores) < 2 * base_rate
    assert top_reasons(model, data["test_x"].iloc[:3]) == [NO_SIGNAL_REASON] * 3


def test_scores_are_calibrated_probabilities(trained: RiskModel, data: dict) -> None:
    from include.metrics import brier_score, calibration_error, reliability_table

    calibration = trained.fitted["calibration"]
    assert calibration["out_of_sample"] and calibration["rows"] == int(len(data["train_y"]) * 0.2)
    scores, y = trained.predict(data["test_x"]), data["test_y"]
    raw = trained._predict(trained._matrix(data["test_x"]))
    # Raw, class-weighted scores claim many times the fraud rate; calibrated, the mean is about
    # the fraud rate (within the noise of ~75 frauds) and each tenth gets about what it claims.
    assert abs(scores.mean() - y.mean()) < 0.5 * y.mean()
    error = calibration_error(reliability_table(y, scores))
    assert error < 0.5 * y.mean()
    if trained.name != "gradient_boosting":  # unweighted: its raw scores are roughly calibrated
        assert calibration_error(reliability_table(y, raw)) > 5 * error
    assert brier_score(y, scores) < brier_score(y, np.full(len(y), y.mean()))


def test_the_tensorflow_model_warm_starts_from_an_earlier_version(data: dict, tmp_path: Path) -> None:
    """The next night's tf_mlp starts from the saved weights of an earlier version over the same
    columns, trains at most `warm_epochs` epochs and still learns the pattern; a cold start
    comes every `cold_every`-th night in a row, or when the columns or layers differ."""
    from include.models.catalogue import load_model
    from include.models.risk.tf_mlp import TFRiskModel

    cut = len(data["train_x"]) // 2
    first = TFRiskModel(max_epochs=6).fit(data["train_x"].iloc[:cut], data["train_y"][:cut])
    assert first.fitted["warm_generation"] == 0
    first.save(tmp_path / "first")
    previous = load_model(tmp_path / "first", family="order_risk")

    warm = TFRiskModel(max_epochs=6, warm_epochs=2)
    assert warm.warm_start(previous)
    warm.fit(data["train_x"], data["train_y"])
    assert warm.fitted["warm_generation"] == 1
    assert warm.fitted["epochs_trained"] <= 2
    scores = warm.predict(data["test_x"])
    assert average_precision_score(data["test_y"], scores) > 5 * data["test_y"].mean()

    # It starts from the previous weights: with a learning rate of 0 they stay as they were.
    start = TFRiskModel(max_epochs=6, warm_epochs=1, learning_rate=0.0)
    assert start.warm_start(previous)
    start.fit(data["train_x"].iloc[:cut], data["train_y"][:cut])
    for name in ("hidden_0", "hidden_1", "logit"):
        for part in ("kernel", "bias"):
            np.testing.assert_array_equal(start.layers[f"{part}_{name}"], previous.layers[f"{part}_{name}"])

    assert not TFRiskModel(cold_every=2).warm_start(warm), "the second warm night in a row trains cold"
    assert not TFRiskModel(hidden_units=(8,)).warm_start(previous)
    fewer = TFRiskModel(max_epochs=2)
    assert fewer.warm_start(previous)
    fewer.fit(data["train_x"].drop(columns=[DRIVER]), data["train_y"])
    assert fewer.fitted["warm_generation"] == 0, "other columns: trained from scratch"


def test_the_tensorflow_model_scores_and_explains_with_numpy_as_keras_does(
    data: dict, tmp_path: Path
) -> None:
    """A saved tf_mlp scores and explains orders with numpy: the same scores as its Keras
    model's forward pass and the same reasons as TensorFlow's gradient, and loading, scoring
    and explaining in a fresh process never imports TensorFlow."""
    import subprocess
    import sys

    import tensorflow as tf

    from include.models.risk.tf_mlp import TFRiskModel

    model = TFRiskModel(max_epochs=3).fit(data["train_x"], data["train_y"])
    X = data["test_x"]
    values = model._matrix(X)
    keras_scores = model.model.predict(values.astype("float32"), verbose=0)[:, 0]
    np.testing.assert_allclose(model._predict(values), keras_scores, rtol=1e-4, atol=1e-6)

    import keras

    logit_model = keras.Model(model.model.inputs, model.model.get_layer("logit").output)
    batch = tf.convert_to_tensor(values.astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(batch)
        logits = logit_model(batch, training=False)
    gradient = tape.gradient(logits, batch).numpy()
    expected = gradient * (values - model.typical_values().astype("float32"))
    pushes = model.contributions(X)[model.model_columns].to_numpy()
    np.testing.assert_allclose(pushes, expected, rtol=1e-3, atol=1e-5)
    assert np.abs(pushes).max() > 0.01

    model.save(tmp_path / "saved")
    X.to_parquet(tmp_path / "orders.parquet")
    code = (
        "import sys, pandas as pd; from pathlib import Path\n"
        "from include.models.catalogue import load_model\n"
        "from include.models.risk.base import top_reasons\n"
        f"m = load_model(Path({str(tmp_path / 'saved')!r}), family='order_risk')\n"
        f"X = pd.read_parquet({str(tmp_path / 'orders.parquet')!r})\n"
        "m.predict(X); top_reasons(m, X)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "SHOPFLOW_MODEL_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
