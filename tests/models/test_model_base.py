"""The base every model shares: parameters are constructor arguments that survive save -> load."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from include.models import base, catalogue
from tests.models.test_recommender import planted_shop
from tests.models.test_risk import synthetic_orders

# Per model, parameters that differ from every default and keep training short.
NON_DEFAULT_PARAMS = {
    ("recommender", "popularity"): {"recent_days": 14, "neighbours": 7, "half_life_days": 3.0},
    ("recommender", "item_knn"): {"neighbours": 9, "half_life_days": 3.0},
    ("recommender", "ease"): {
        "l2": 5.0,
        "max_products": 50,
        "neighbours": 20,
        "validation_days": 3,
        "half_life_days": 3.0,
        "search_every": 2,
    },
    ("recommender", "linear_next"): {
        "l2": 2.0,
        "alpha": 0.5,
        "decay": 0.6,
        "max_history": 7,
        "max_examples_per_customer": 4,
        "max_products": 50,
        "neighbours": 20,
        "validation_days": 3,
        "half_life_days": 3.0,
        "search_every": 2,
    },
    ("recommender", "random"): {"seed": 3, "half_life_days": 3.0},
    ("recommender", "tf_next_item"): {
        "max_history": 8,
        "neighbours": 30,
        "embedding_dim": 8,
        "max_epochs": 1,
        "patience": 0,
        "batch_size": 128,
        "learning_rate": 0.02,
        "l2": 1e-5,
        "max_examples_per_customer": 5,
        "seed": 5,
        "max_products": 40,
        "seed_l2": 7.0,
        "max_steps": 50,
        "warm_steps": 20,
        "cold_every": 3,
        "half_life_days": 3.0,
    },
    ("order_risk", "logistic_regression"): {"C": 0.5, "max_iter": 300},
    ("order_risk", "gradient_boosting"): {
        "max_iter": 20,
        "learning_rate": 0.1,
        "max_leaf_nodes": 7,
        "min_samples_leaf": 20,
        "l2_regularization": 0.5,
        "seed": 3,
    },
    ("order_risk", "random"): {"seed": 11},
    ("order_risk", "tf_mlp"): {
        "hidden_units": [8],
        "dropout": 0.0,
        "l2": 1e-3,
        "learning_rate": 0.01,
        "batch_size": 256,
        "max_epochs": 2,
        "patience": 1,
        "validation_fraction": 0.25,
        "seed": 9,
        "warm_epochs": 3,
        "cold_every": 2,
    },
}
MODELS = [(family, name) for family in catalogue.FAMILIES for name in catalogue.candidate_names(family)]


def test_every_catalogued_model_has_a_round_trip_case() -> None:
    assert set(NON_DEFAULT_PARAMS) == set(MODELS)


@pytest.fixture(scope="module")
def training_data() -> dict[str, tuple]:
    interactions, _ = planted_shop()
    features, labels = synthetic_orders(3000, seed=1)
    return {"recommender": (interactions,), "order_risk": (features, labels)}


@pytest.mark.parametrize(("family", "name"), MODELS)
def test_a_loaded_model_reports_the_parameters_it_was_trained_with(
    family: str, name: str, training_data: dict, tmp_path: Path
) -> None:
    cls = catalogue.model_class(family, name)
    chosen = NON_DEFAULT_PARAMS[(family, name)]
    defaults = {
        p.name: p.default
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    assert set(chosen) == set(defaults), "every constructor argument is a saved parameter"
    assert all(chosen[key] != defaults[key] for key in chosen), "the case changes every parameter"

    model = cls(**chosen).fit(*training_data[family])
    assert model.params() == chosen
    model.save(tmp_path)
    meta = json.loads((tmp_path / base.META_FILE).read_text())
    assert meta["format_version"] == base.FORMAT_VERSION
    assert (meta["family"], meta["name"], meta["params"]) == (family, name, chosen)

    loaded = catalogue.load_model(tmp_path)
    assert type(loaded) is cls
    assert loaded.params() == chosen
    assert loaded.fitted == model.fitted


def test_a_model_saved_with_a_parameter_this_code_does_not_take_asks_for_a_retrain(
    training_data: dict, tmp_path: Path
) -> None:
    catalogue.model_class("recommender", "popularity")().fit(*training_data["recommender"]).save(tmp_path)
    meta = json.loads((tmp_path / base.META_FILE).read_text())
    meta["params"]["validation_days"] = 7  # a parameter an earlier version had
    (tmp_path / base.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="parameters this code does not take.*Retrain"):
        catalogue.load_model(tmp_path)


def test_an_unfitted_model_cannot_be_saved(tmp_path: Path) -> None:
    for family, name in MODELS:
        with pytest.raises(RuntimeError, match="not"):
            catalogue.model_class(family, name)().save(tmp_path / name)
    assert not any(tmp_path.iterdir())


def test_the_catalogue_refuses_unknown_names_and_mismatched_classes(monkeypatch) -> None:
    with pytest.raises(ValueError, match="Unknown model family 'images'"):
        catalogue.candidate_names("images")
    with pytest.raises(ValueError, match="Unknown order_risk candidate 'oracle'"):
        catalogue.model_class("order_risk", "oracle")
    monkeypatch.setitem(
        catalogue.MODEL_CLASSES["order_risk"], "lasso", "include.models.risk.baselines:LogisticRiskModel"
    )
    with pytest.raises(TypeError, match="not order_risk 'lasso'"):
        catalogue.model_class("order_risk", "lasso")


def test_floor_and_defaults_are_catalogued_candidates() -> None:
    for family in catalogue.FAMILIES:
        names = catalogue.candidate_names(family)
        assert set(catalogue.DEFAULT_CANDIDATES[family]) <= set(names)
        assert "random" not in catalogue.DEFAULT_CANDIDATES[family], "the no-skill check is opt-in"
    assert catalogue.FLOOR["recommender"] in catalogue.DEFAULT_CANDIDATES["recommender"]
    assert catalogue.FLOOR["order_risk"] not in catalogue.candidate_names("order_risk"), "no model needed"


def test_a_model_outside_the_store_is_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = catalogue.model_class("order_risk", "logistic_regression")().fit(*synthetic_orders(2000, 0))
    inside, elsewhere = tmp_path / "store" / "m1", tmp_path / "elsewhere" / "m1"
    model.save(inside)
    model.save(elsewhere)
    (tmp_path / "store" / "link").symlink_to(elsewhere)
    monkeypatch.setenv("SHOPFLOW_MODEL_DIR", str(tmp_path / "store"))
    assert catalogue.load_model(inside).params() == model.params()
    for path in (elsewhere, tmp_path / "store" / ".." / "elsewhere" / "m1", tmp_path / "store" / "link"):
        with pytest.raises(catalogue.ArtifactOutsideStore, match="outside the model store"):
            catalogue.load_model(path)
