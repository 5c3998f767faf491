"""Review sequences imported as purchases, validated under their own contract and run through the
recommendations DAG in PostgreSQL: the DAG's time holdout is the leave-one-out protocol of the
sequential-recommendation literature (each customer's last product)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from include import warehouse
from include.dag_runs import run_dag
from include.importers import review_sequences
from tests.helpers import read_sql as _read

pytestmark = pytest.mark.e2e

END = date(2026, 8, 29)
AS_OF = datetime(2026, 8, 30, tzinfo=UTC)


def _chains_file(path: Path, customers: int = 400, seed: int = 3) -> Path:
    """Customers who walk along one of twelve chains of ten products (each next product follows
    the one before), from a random start, for 4 to 8 steps: the last product is predictable from
    the one before it, and not from popularity alone."""
    rng = np.random.default_rng(seed)
    lines = []
    for customer in range(1, customers + 1):
        chain = rng.integers(0, 12)
        steps = int(rng.integers(4, 9))
        start = int(rng.integers(0, 10 - steps + 1))
        products = [100 + chain * 10 + start + step for step in range(steps)]
        lines.append(" ".join(map(str, [customer, *products])))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_review_sequences_run_through_the_gate_and_the_dag_as_leave_one_out(
    postgres_warehouse_url: str, airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLOW_CONTRACT", str(review_sequences.CONTRACT))
    path = _chains_file(tmp_path / "Sequences.txt")
    counts = review_sequences.load_review_sequences(warehouse.get_engine(), path, end=END)
    assert counts["customers"] == 400

    run_dag("warehouse_validation", logical_date=AS_OF)
    quality = _read("SELECT table_name, severity FROM data_quality_runs")
    # Passed; the newest purchase is 12 hours old at midnight, which only warns (freshness).
    assert set(quality["severity"]) <= {"passed", "warning"} and quality["table_name"].nunique() == 6

    conf = {"as_of": AS_OF.date().isoformat(), "holdout_days": 1, "history_days": 30, "active_days": 30}
    run_dag("recommendations", logical_date=AS_OF, conf=conf)
    models = _read(
        "SELECT candidate, decision, holdout_rows, primary_metric FROM model_versions WHERE role = 'candidate'"
    )
    # Leave-one-out: the holdout is one product per customer, the last one.
    assert (models["holdout_rows"] == 400).all()
    floor = models.set_index("candidate")["primary_metric"]["popularity"]
    (champion,) = models.query("decision == 'promoted'").itertuples()
    assert champion.candidate != "popularity" and champion.primary_metric > 2 * floor
    recs = _read("SELECT customer_id, product_id FROM recommendations")
    assert recs["customer_id"].nunique() == 400
