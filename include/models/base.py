"""What every model of both families shares: parameters, the saved folder and its meta.json.

A model's parameters are its constructor's keyword arguments, kept as attributes of the same
name. `params()` reads them back from the signature, `save` writes them into `meta.json` next to
the model's own files, and `load` builds the model again from them, so a loaded model reports the
parameters it was trained with, not today's defaults.

A saved model is a folder:

    meta.json      {"format_version", "family", "name", "params", "fitted"}
    ...            the model's own files (arrays, a Keras file, a joblib file)

`fitted` holds facts learnt in training that are not parameters (row counts, epochs run).
Only the standard library is imported here: loading the base never loads a heavy library.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from include import settings

log = logging.getLogger(__name__)

META_FILE = "meta.json"
# Bumped when the layout of a saved folder changes incompatibly.
FORMAT_VERSION = 2


@contextlib.contextmanager
def limited_threads() -> Iterator[int]:
    """Hold OpenMP and BLAS (scikit-learn, numpy, scipy) to the task's thread budget
    (`include.settings.thread_budget`) inside the block; yields the budget."""
    # Load scikit-learn's OpenMP runtime first: a limit reaches only the libraries loaded.
    import sklearn.utils._openmp_helpers  # noqa: F401
    from threadpoolctl import threadpool_limits

    budget = settings.thread_budget()
    with threadpool_limits(limits=budget):
        yield budget


def tensorflow() -> Any:
    """TensorFlow, quietly, held to the task's thread budget (set once per process)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    budget = settings.thread_budget()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(budget)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran in this process: its pools are fixed
        pass
    return tf


class Model(abc.ABC):
    """A trainable, savable model of one family ("recommender" or "order_risk")."""

    family: ClassVar[str]
    name: ClassVar[str]

    def __init__(self) -> None:
        self.fitted: dict[str, Any] = {}

    # ---- parameters

    def params(self) -> dict[str, Any]:
        """The constructor's keyword arguments, as this model holds them (JSON-serialisable)."""
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        return {name: _plain(getattr(self, name)) for name in names}

    # ---- warm start

    @staticmethod
    def next_generation(previous: Model, every: int, key: str = "warm_generation") -> int | None:
        """How many nights in a row a model starting from `previous` would have reused an
        earlier version (`previous.fitted[key]` + 1), or None when that would be the
        `every`-th: then it starts from scratch."""
        generation = int(previous.fitted.get(key, 0)) + 1
        if generation >= every:
            log.info("%s: reused %d times in a row, starting from scratch", previous.name, generation - 1)
            return None
        return generation

    def _start_from(self, previous: Model, shape: tuple[str, ...], cold_every: int) -> bool:
        """Keep `previous` (a fitted model of this kind) for the next fit to start from, if its
        `shape` attributes equal this model's and no cold start is due; for a `warm_start` to
        call. Sets `_previous` and `_warm_generation`."""
        if any(getattr(previous, key) != getattr(self, key) for key in shape):
            log.info("%s: no warm start, the previous model has another shape", self.name)
            return False
        generation = self.next_generation(previous, cold_every)
        if generation is None:
            return False
        self._previous, self._warm_generation = previous, generation
        return True

    def warm_start(self, previous: Model) -> bool:
        """Start the next `fit` from `previous`, the same model fitted on earlier data (the
        nightly retrain's "incremental update"). Returns whether this model will; by default
        a model always trains from scratch."""
        return False

    def tune_like(self, evaluated: Mapping[str, Any]) -> None:
        """Before a refit: take from `evaluated` (the `fitted` record of the candidate the gate
        judged: the same configuration, fitted on the data before the holdout) what it chose
        from its own data, such as a regularisation strength, so the refit serves what was
        judged rather than choosing again. By default a model chooses nothing from its data."""
        return None

    # ---- what subclasses provide

    @abc.abstractmethod
    def _check_fitted(self) -> None:
        """Raise RuntimeError if the model has not been fitted or loaded."""

    @abc.abstractmethod
    def _save_files(self, directory: Path) -> None:
        """Write the model's own files into `directory` (which exists)."""

    @abc.abstractmethod
    def _load_files(self, directory: Path) -> None:
        """Read the model's own files from `directory`."""

    # ---- saving and loading

    def save(self, directory: Path) -> None:
        """Write the model's files, then `meta.json` (last, so a complete folder has one)."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_files(directory)
        write_meta(directory, family=self.family, name=self.name, params=self.params(), fitted=self.fitted)
        log.info("Saved %s %s to %s", self.family, self.name, directory)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read a model saved by `save`, with the parameters it was trained with."""
        directory = Path(directory)
        meta = read_meta(directory)
        if (meta["family"], meta["name"]) != (cls.family, cls.name):
            raise ValueError(
                f"{directory} holds the {meta['family']} model {meta['name']!r}, not {cls.family} {cls.name!r}"
            )
        try:
            model = cls(**meta["params"])
        except TypeError as error:  # saved by a version of the model with other parameters
            raise ValueError(
                f"{directory} holds a {cls.name} saved with parameters this code does not take "
                f"({error}). Retrain the model."
            ) from error
        model.fitted = dict(meta["fitted"])
        model._load_files(directory)
        return model


def write_meta(
    directory: Path, *, family: str, name: str, params: dict[str, Any], fitted: dict[str, Any]
) -> None:
    """Write `meta.json` into `directory`."""
    meta = {
        "format_version": FORMAT_VERSION,
        "family": family,
        "name": name,
        "params": params,
        "fitted": fitted,
    }
    (Path(directory) / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


def read_meta(directory: Path) -> dict[str, Any]:
    """The `meta.json` of a saved model folder, checked for its format version and keys."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {directory}: {META_FILE} is missing")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {meta.get('format_version')!r}; this code reads {FORMAT_VERSION}. "
            "Retrain the model."
        )
    missing = [key for key in ("family", "name", "params", "fitted") if key not in meta]
    if missing:
        raise ValueError(f"{path} lacks {missing}")
    return meta


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a parameter value (tuples become lists, numpy scalars numbers)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value
