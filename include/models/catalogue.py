"""The one list of model classes: family -> candidate name -> class, and `load_model`.

Classes are named by import path and imported only when asked for, so reading the catalogue
(as the DAG files do to build their Params) never imports pandas or TensorFlow. The model DAGs
train `DEFAULT_CANDIDATES` unless a run asks for others; `tests/dags` fails if a DAG and this
catalogue disagree.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from airflow.sdk import ObjectStoragePath

    from include.models.base import Model

FAMILIES = ("recommender", "order_risk")

MODEL_CLASSES: dict[str, dict[str, str]] = {
    "recommender": {
        "popularity": "include.models.recommender.baselines:PopularityRecommender",
        "item_knn": "include.models.recommender.baselines:ItemKNNRecommender",
        "ease": "include.models.recommender.ease:EASERecommender",
        "linear_next": "include.models.recommender.linear_next:LinearNextRecommender",
        "tf_next_item": "include.models.recommender.tf_next_item:TFNextItemRecommender",
        # Ranks at random: a sanity check that the promotion gate refuses a model with no skill.
        "random": "include.models.recommender.baselines:RandomRecommender",
    },
    "order_risk": {
        "logistic_regression": "include.models.risk.baselines:LogisticRiskModel",
        "gradient_boosting": "include.models.risk.baselines:GradientBoostingRiskModel",
        "tf_mlp": "include.models.risk.tf_mlp:TFRiskModel",
        # Scores at random: a sanity check that the promotion gate refuses a model with no skill.
        "random": "include.models.risk.baselines:RandomRiskModel",
    },
}

# What a nightly run trains when the `candidates` Param is left at its default.
DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "recommender": ("popularity", "item_knn", "ease", "linear_next", "tf_next_item"),
    "order_risk": ("logistic_regression", "gradient_boosting", "tf_mlp"),
}

# The skill floor of the promotion gate: a candidate must beat it beyond noise. For
# recommendations it is a model that is always trained; for risk it is the holdout base rate
# (the PR-AUC of a random ranking), which needs no model.
FLOOR: dict[str, str] = {"recommender": "popularity", "order_risk": "base_rate"}


def candidate_names(family: str) -> list[str]:
    """Every candidate of a family, in catalogue order."""
    return list(_family(family))


def model_class(family: str, name: str) -> type[Model]:
    """The class of candidate `name` of `family` (imports its module)."""
    classes = _family(family)
    if name not in classes:
        raise ValueError(f"Unknown {family} candidate {name!r}; known: {', '.join(classes)}")
    module, _, attribute = classes[name].partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if (cls.family, cls.name) != (family, name):
        raise TypeError(f"{classes[name]} is the {cls.family} model {cls.name!r}, not {family} {name!r}")
    return cls


class ArtifactOutsideStore(ValueError):
    """A model folder outside the model store: never loaded (some model files are pickles)."""


def save_model(model: Model, location: str | Path | ObjectStoragePath) -> str:
    """Save `model` at `location` in the model store (a folder or an object store prefix) and
    return the location as a string for XCom and the registry."""
    from include import store

    path = store.location(location)
    with store.writable_folder(path) as folder:
        model.save(folder)
    return store.uri(path)


def saved_meta(location: str | Path | ObjectStoragePath) -> dict[str, Any]:
    """The `meta.json` of a model saved at `location` in the model store."""
    from include.models.base import read_meta

    return read_meta(_readable(location))


def load_model(location: str | Path | ObjectStoragePath, family: str | None = None) -> Model:
    """Load any saved model, choosing the class by the family and name in its meta.json.

    Only folders inside the model store (`SHOPFLOW_MODEL_DIR`, include/store.py; local
    symbolic links resolved) are read: scikit-learn models are saved with joblib, a pickle,
    which runs code when loaded, so a location in `model_versions` that points elsewhere is
    refused. Recommenders are plain arrays (`np.load` without pickles) and Keras models load in
    Keras' safe mode. A model on a remote store is read from a local copy made once per host.

    Args:
        family: when given, a model of another family is refused.

    Raises:
        ArtifactOutsideStore: `location` is not inside the model store.
        FileNotFoundError: no saved model there.
    """
    from include.models.base import read_meta

    directory = _readable(location)
    meta = read_meta(directory)
    if family is not None and meta["family"] != family:
        raise ValueError(f"{location} holds a {meta['family']} model, not a {family} model")
    return model_class(meta["family"], meta["name"]).load(directory)


def _readable(location: str | Path | ObjectStoragePath) -> Path:
    """A local folder with the files of the model at `location`, once it is checked to be in
    the model store."""
    from include import store

    path, root = store.location(location), store.model_root()
    if not store.inside(path, root):
        raise ArtifactOutsideStore(
            f"Refused to load a model from {location}: it is outside the model store {root} (SHOPFLOW_MODEL_DIR)"
        )
    return store.readable_folder(path)


def _family(family: str) -> dict[str, str]:
    if family not in MODEL_CLASSES:
        raise ValueError(f"Unknown model family {family!r}; known: {', '.join(MODEL_CLASSES)}")
    return MODEL_CLASSES[family]
