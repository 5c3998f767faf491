"""One candidate lifecycle for both model families: train, judge, decide, refit, serve.

    train ×N        each candidate on the data before the holdout, saved, referenced in XCom
    evaluate        every candidate, the skill floor and the champion on the same holdout, with
                    paired bootstrap intervals; the gate (include/promotion.py) decides; every
                    candidate is recorded in model_versions with its figures and the decision
    serve           a promoted (or refreshed) candidate is refitted with the same parameters on
                    the whole window up to as_of, recorded as a refit linked to it, and made
                    champion; otherwise the champion serves; with neither, nothing is published

A family (recommendations, order risk) subclasses `Lifecycle` with what is truly its own: how a
model is fitted on the staged data, what the holdout is, how a model is judged on it, and what
its skill floor is.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from include import registry, store, tracking
from include.models import catalogue
from include.pipeline.refs import GateOutcome, ServingModel, Staged, TrainedCandidate
from include.promotion import CHAMPION, GateSettings, Statistic

if TYPE_CHECKING:
    import numpy as np
    from airflow.sdk import ObjectStoragePath

    from include.models.base import Model

log = logging.getLogger(__name__)

# Scoring shards hold at least this many customers or orders.
MIN_ITEMS_PER_SHARD = 100


@dataclass(frozen=True)
class HoldoutResult:
    """One model's figures on the holdout, and its primary metric as a bootstrap statistic."""

    metrics: dict[str, float]
    statistic: Statistic


class Lifecycle(abc.ABC):
    """The shared lifecycle; a family fills in the abstract methods."""

    family: ClassVar[str]
    primary_metric: ClassVar[str]

    # ---- what a family provides

    @abc.abstractmethod
    def fit(self, model: Model, staged: Staged, *, full: bool) -> int:
        """Fit `model` on the training data, or on the whole window when `full` (a refit).

        Returns the number of rows it was fitted on.
        """

    @abc.abstractmethod
    def holdout(self, staged: Staged, settings: Mapping[str, Any]) -> Any:
        """The prepared holdout; `len()` of it is the number of units the bootstrap draws."""

    @abc.abstractmethod
    def evaluate(self, model: Model, holdout: Any) -> HoldoutResult:
        """`model`'s figures on the holdout."""

    @abc.abstractmethod
    def floor(self, holdout: Any, results: Mapping[str, HoldoutResult]) -> HoldoutResult:
        """The skill floor's figures on the holdout (`results` holds the candidates')."""

    def resample_blocks(self, holdout: Any) -> np.ndarray | None:
        """Labels of the blocks the bootstrap draws whole (None: each unit on its own)."""
        return None

    def served_units(self, staged: Staged) -> int | None:
        """How many units the serving model will score and be measured on, when that is known
        at evaluation time (None: the served figure is not a holdout-like metric)."""
        return None

    def run_settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The DAG Params the family's evaluation and serving use (recorded with the run)."""
        return {}

    def candidate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Model parameters every candidate of this run takes from the DAG's Params."""
        return {}

    def serving_settings(self, model: Model, staged: Staged, settings: Mapping[str, Any]) -> dict[str, Any]:
        """What the family derives from the serving model for scoring (nothing by default)."""
        return {}

    # ---- shared

    def candidates_to_train(self, requested: list[str] | None) -> list[str]:
        """The requested candidates (the catalogue's defaults when None), the floor always
        included when it is a model, each once, checked against the catalogue."""
        names = list(catalogue.DEFAULT_CANDIDATES[self.family] if requested is None else requested)
        known = catalogue.candidate_names(self.family)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"Unknown {self.family} candidate(s) {unknown}; known: {', '.join(known)}")
        floor = catalogue.FLOOR[self.family]
        if floor in known:
            names = [floor, *names]
        return list(dict.fromkeys(names))

    def train(
        self,
        candidate: str,
        staged: Mapping[str, Any],
        *,
        run_id: str,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Fit one candidate on the data before the holdout and save it; returns its reference.

        Args:
            params: model parameters other than the candidate's defaults (`candidate_params`).
        """
        data = Staged.from_dict(staged)
        model = catalogue.model_class(self.family, candidate)(**(params or {}))
        self._warm_start(model, data)
        rows = self.fit(model, data, full=False)
        version = registry.new_version(self.family, candidate, run_id)
        directory = registry.artifact_dir(self.family, version)
        artifact = catalogue.save_model(model, directory)
        log.info("Trained %s on %s rows, saved to %s", candidate, rows, artifact)
        return TrainedCandidate(candidate, version, artifact, rows, model.params()).to_dict()

    def evaluate_and_decide(
        self,
        trained: list[Mapping[str, Any]],
        staged: Mapping[str, Any],
        *,
        gate: GateSettings,
        settings: Mapping[str, Any],
        run_id: str,
    ) -> dict[str, Any]:
        """Judge every candidate, the floor and the champion on one holdout, apply the gate,
        record every candidate with the decision; returns the outcome (a `GateOutcome`)."""
        from include import promotion

        data = Staged.from_dict(staged)
        candidates = [TrainedCandidate.from_dict(t) for t in trained if t]  # skipped ones are None
        champion = registry.current_champion(self.family)
        if not candidates:
            if champion is None:
                raise ValueError(f"No candidate was trained and there is no {self.family} champion to serve")
            return GateOutcome("keep", f"retrain off: champion {champion.model_version} serves").to_dict()

        holdout = self.holdout(data, settings)
        results = {c.candidate: self.evaluate(catalogue.load_model(c.artifact), holdout) for c in candidates}
        floor_name = catalogue.FLOOR[self.family]
        results.setdefault(floor_name, self.floor(holdout, results))
        champion_note = ""
        compared = champion is not None and registry.comparable(champion, data.holdout_start)
        if compared:
            model = catalogue.load_model(champion.evaluated_artifact_dir, family=self.family)
            results[CHAMPION] = self.evaluate(model, holdout)
        elif champion is not None:
            champion_note = f"champion {champion.model_version} has seen this holdout, not comparable"

        primary = {name: float(r.metrics[self.primary_metric]) for name, r in results.items()}
        replicates = promotion.bootstrap(
            {name: r.statistic for name, r in results.items()},
            len(holdout),
            draws=gate.draws,
            seed=gate.seed,
            blocks=self.resample_blocks(holdout),
        )
        refreshable = None
        if champion is not None:
            refreshable = next(
                (
                    c.candidate
                    for c in candidates
                    if (c.candidate, c.params) == (champion.candidate, champion.params)
                ),
                None,
            )
        decision = promotion.decide(
            primary,
            replicates,
            candidates=[c.candidate for c in candidates],
            floor=floor_name,
            champion=CHAMPION if compared else None,
            refreshable=refreshable,
            settings=gate,
            champion_note=champion_note,
        )
        self._log_decision(decision)

        comparison = {
            "primary_metric": self.primary_metric,
            "gate": gate.to_dict(),
            "settings": dict(settings),
            "metrics": {name: r.metrics for name, r in results.items()},
            "champion": None
            if champion is None
            else {
                "model_version": champion.model_version,
                "evaluated_version": champion.evaluated_version,
                "compared": compared,
            },
            "decision": decision.to_dict(),
        }
        served_units = self.served_units(data)
        if served_units:
            ranges = {
                name: promotion.served_range(
                    primary[name],
                    replicates[name],
                    gate.confidence,
                    holdout_units=len(holdout),
                    served_units=served_units,
                )
                for name in [*(c.candidate for c in candidates), *([CHAMPION] if compared else [])]
            }
            comparison["served_range"] = {name: r.to_dict() for name, r in ranges.items()}
            if decision.winner is not None:
                log.info(
                    "%s on the %s units it will score: expected %s %s",
                    decision.winner,
                    served_units,
                    self.primary_metric,
                    ranges[decision.winner],
                )
        winner = None
        for c in candidates:
            verdict = decision.verdicts[c.candidate]
            won = c.candidate == decision.winner
            if won:
                winner = c
            record = dict(
                model_version=c.model_version,
                model_name=self.family,
                candidate=c.candidate,
                run_id=run_id,
                data_interval=data.window.interval,
                holdout_start_at=data.trained_until,
                train_rows=c.train_rows,
                holdout_rows=len(holdout),
                params=c.params,
                metrics=results[c.candidate].metrics,
                comparison=comparison,
                primary_metric=primary[c.candidate],
                primary_interval=(verdict.metric.low, verdict.metric.high),
                decision={"promote": "promoted", "refresh": "refreshed"}[decision.outcome]
                if won
                else "rejected",
                decision_reason=decision.reason if won else verdict.note,
                artifact=c.artifact,
            )
            registry.record_version(**record)
            tracking.log_version(**record)
        return GateOutcome(decision.outcome, decision.reason, winner).to_dict()

    def serve(
        self,
        outcome: Mapping[str, Any],
        staged: Mapping[str, Any],
        *,
        settings: Mapping[str, Any],
        run_id: str,
    ) -> dict[str, Any]:
        """Refit a promoted or refreshed candidate on the whole window and make it champion, or
        keep the champion; returns the serving model (a `ServingModel`).

        Raises:
            AirflowSkipException: when there is nothing to serve (no champion, no skilful
                candidate): scoring and publishing are skipped, the published tables stay.
        """
        gate = GateOutcome.from_dict(outcome)
        data = Staged.from_dict(staged)
        if gate.outcome == "none":
            from airflow.sdk.exceptions import AirflowSkipException

            log.warning("Nothing published: %s", gate.reason)
            raise AirflowSkipException(f"nothing to serve: {gate.reason}")
        if gate.outcome == "keep":
            champion = registry.current_champion(self.family)
            if champion is None:
                raise ValueError(f"The gate kept the {self.family} champion, but there is none")
            model = catalogue.load_model(champion.artifact_dir, family=self.family)
            version, artifact, candidate = (
                champion.model_version,
                store.uri(champion.artifact_dir),
                champion.candidate,
            )
        elif gate.outcome in ("promote", "refresh") and gate.winner is not None:
            model, version, artifact = self._refit(gate, data, run_id)
            candidate = gate.winner.candidate
        else:
            raise ValueError(f"Unknown gate outcome {gate.outcome!r}")
        serving = ServingModel(
            version, artifact, candidate, gate.reason, self.serving_settings(model, data, settings)
        )
        log.info("Serving %s (%s): %s", serving.model_version, serving.candidate, serving.reason)
        return serving.to_dict()

    def _warm_start(self, model: Model, data: Staged) -> None:
        """Offer a candidate its own latest evaluated version to start from.

        Only a version that stopped learning before tonight's holdout begins: starting from
        anything that has seen part of that holdout (a refit, or a candidate of a later
        holdout) would leak it into the gate. The model decides whether it can use it.
        """
        previous = registry.latest_evaluated(self.family, model.name, data.holdout_start)
        if previous is not None:
            self._offer(model, previous[1])

    def _warm_start_refit(self, model: Model, winner: TrainedCandidate) -> None:
        """Offer a refit (trained on the whole window) the serving refit of the same candidate,
        else tonight's evaluated winner: both learned from data inside tonight's window."""
        champion = registry.current_champion(self.family)
        if (
            champion is not None
            and champion.candidate == model.name
            and self._offer(model, champion.artifact_dir)
        ):
            return
        self._offer(model, winner.artifact)

    def _offer(self, model: Model, directory: str | ObjectStoragePath) -> bool:
        try:
            previous = catalogue.load_model(directory, family=self.family)
        except (FileNotFoundError, ValueError) as error:
            log.warning("No warm start for %s from %s: %s", model.name, directory, error)
            return False
        if model.warm_start(previous):
            log.info("%s starts from %s", model.name, directory)
            return True
        return False

    def _refit(self, gate: GateOutcome, data: Staged, run_id: str) -> tuple[Model, str, str]:
        """Fit the winner's configuration on the whole window, save, record, promote; returns
        the model, its version and its folder."""
        winner = gate.winner
        model = catalogue.model_class(self.family, winner.candidate)(**winner.params)
        model.tune_like(catalogue.saved_meta(winner.artifact)["fitted"])
        self._warm_start_refit(model, winner)
        rows = self.fit(model, data, full=True)
        version = registry.new_version(self.family, winner.candidate, run_id, role=registry.REFIT_ROLE)
        artifact = catalogue.save_model(model, registry.artifact_dir(self.family, version))
        record = dict(
            model_version=version,
            model_name=self.family,
            candidate=winner.candidate,
            role=registry.REFIT_ROLE,
            refit_of=winner.model_version,
            run_id=run_id,
            data_interval=data.window.interval,
            holdout_start_at=data.window.as_of,
            train_rows=rows,
            holdout_rows=0,
            params=model.params(),
            metrics={},
            comparison={"refit_of": winner.model_version},
            primary_metric=None,
            decision="serving",
            decision_reason=gate.reason,
            artifact=artifact,
        )
        registry.record_version(**record)
        registry.promote(self.family, version)
        tracking.set_champion(self.family, version, tracking.log_version(**record))
        log.info(
            "Refitted %s on %s rows as %s (from %s)", winner.candidate, rows, version, winner.model_version
        )
        return model, version, artifact

    def _log_decision(self, decision: Any) -> None:
        for name, verdict in decision.verdicts.items():
            log.info("%-22s %s %s  %s", name, self.primary_metric, verdict.metric, verdict.note)
        log.info("%-22s %s %s", "floor", self.primary_metric, decision.floor)
        if decision.champion is not None:
            log.info("%-22s %s %s", "champion", self.primary_metric, decision.champion)
        log.info("Decision: %s — %s", decision.outcome, decision.reason)


def plan_shards(items: int, n_shards: int) -> list[dict[str, int]]:
    """The scoring shards: at most `n_shards`, each with at least MIN_ITEMS_PER_SHARD items."""
    if items <= 0:
        raise ValueError("Nothing to score")
    n = max(1, min(n_shards, items // MIN_ITEMS_PER_SHARD or 1))
    return [{"shard": s, "n_shards": n} for s in range(n)]
