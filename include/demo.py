"""`make demo`: build the small shop, run the three nightly DAGs with Airflow, print what they published."""

from __future__ import annotations

import argparse
import json
import logging
import time
from datetime import UTC, datetime, timedelta

from include import settings, simulator, tracking, warehouse
from include.dag_runs import run_dag
from include.models import catalogue

log = logging.getLogger(__name__)


def _quiet_logs() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True
    )
    for noisy in (
        "airflow",
        "great_expectations",
        "tensorflow",
        "absl",
        "alembic",
        "sqlalchemy",
        "py.warnings",
        "matplotlib",
        "h5py",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _start_afresh(engine) -> None:  # noqa: ANN001
    """The embedded warehouse is the demo's own: start from nothing, models and their MLflow runs included."""
    import shutil

    engine.dispose()
    folder = settings.var_dir()
    for path in folder.glob("warehouse.db*"):
        path.unlink()
    for sub in ("models", "staging", "data_docs", "mlflow", "cache"):
        shutil.rmtree(folder / sub, ignore_errors=True)


def summary() -> str:
    """The demo's report: rows per published table, model metrics, examples."""
    lines = ["", "=" * 78, "What the nightly pipeline published", "=" * 78]
    quality = warehouse.read_frame("report/select_quality_summary")
    lines.append(
        "Data quality of the night: " + ", ".join(f"{r.checks} {r.severity}" for r in quality.itertuples())
    )
    docs = sorted(
        (settings.var_dir() / "data_docs").glob("*/events/index.html"), key=lambda p: p.stat().st_mtime
    )
    if docs:
        lines.append(f"Data Docs: {docs[-1].parent.parent}/<table>/index.html")
    if tracking.enabled():
        lines.append(f"Every candidate in MLflow: {tracking.tracking_uri()} (see docs/deployment.md)")
    lines.append("")
    versions = warehouse.read_frame("report/select_current_versions")
    for row in versions.itertuples():
        lines.append(
            f"  {row.table_name:<20} version {row.version:<3} {row.row_count:>8} rows  "
            f"model {row.model_version}"
        )

    for model_name, metric_names in (
        ("recommender", ("ndcg_at_k", "recall_at_k")),
        ("order_risk", ("pr_auc", "roc_auc", "recall_at_budget")),
    ):
        lines += ["", *leaderboard(model_name, metric_names)]

    customer = warehouse.scalar("report/select_busiest_recommended_customer")
    if customer is not None:
        bought = warehouse.read_frame("report/select_customer_purchases", {"customer_id": int(customer)})
        recs = warehouse.read_frame("report/select_customer_recommendations", {"customer_id": int(customer)})
        lines += [
            "",
            f"Customer {customer} bought mostly: "
            + ", ".join(f"{r.category} ({r.purchases})" for r in bought.head(3).itertuples()),
            "  recommended:",
        ]
        for r in recs.itertuples():
            lines.append(
                f"  {r.rank:>3}. product {r.product_id:<6} {r.category:<14} {r.brand:<12} "
                f"{r.price:>8.2f}  score {r.score:.3f} ({r.source})"
            )

    bands = warehouse.read_frame("report/select_band_counts")
    lines += [
        "",
        "Order risk bands: " + ", ".join(f"{r.band} {r.orders}" for r in bands.itertuples()),
        "Riskiest recent orders:",
    ]
    for r in warehouse.read_frame("report/select_riskiest_orders", {"limit": 8}).itertuples():
        lines.append(
            f"  order {r.order_id:<8} {r.ordered_at:%Y-%m-%d %H:%M} {r.amount:>9.2f}  "
            f"score {r.score:.3f} {r.band:<8} {r.reasons}"
        )
    return "\n".join(lines)


def leaderboard(model_name: str, metric_names: tuple[str, ...]) -> list[str]:
    """The newest run's candidates of `model_name`: each primary metric with its interval, the
    skill floor, the champion, and the gate's decision with its reason."""
    models = warehouse.read_frame("report/select_run_models", {"model_name": model_name})
    if models.empty:
        return [f"{model_name}: no training run"]
    comparison = json.loads(models["comparison"].iloc[0])
    decision = comparison["decision"]
    gate = comparison["gate"]
    primary = comparison["primary_metric"]
    lines = [
        f"{model_name}: candidates on the same holdout ({primary} with its "
        f"{gate['confidence']:.0%} interval, {gate['draws']} bootstrap draws)"
    ]
    for row in models.itertuples():
        metrics = json.loads(row.metrics)
        verdict = decision["verdicts"][row.candidate]
        interval = verdict["metric"]
        others = "  ".join(f"{m} {metrics[m]:.4f}" for m in metric_names if m != primary)
        lines.append(
            f"  {row.candidate:<20} {primary} {interval['estimate']:.4f} "
            f"[{interval['low']:.4f}, {interval['high']:.4f}]  {others}  {row.decision}: {row.decision_reason}"
        )
    floor = decision["floor"]
    lines.append(f"  {'floor: ' + catalogue.FLOOR[model_name]:<20} {primary} {floor['estimate']:.4f}")
    if decision["champion"] is not None:
        champion = decision["champion"]
        version = comparison["champion"]["model_version"]
        lines.append(
            f"  {'champion':<20} {primary} {champion['estimate']:.4f} "
            f"[{champion['low']:.4f}, {champion['high']:.4f}]  ({version})"
        )
    lines.append(f"  decision: {decision['outcome']} -- {decision['reason']}")
    return lines


DEMO_RISK_CONF = {"maturity_days": 35, "holdout_days": 21}


def main(argv: list[str] | None = None) -> int:
    """Build the shop, run validation -> recommendations -> order risk, print the summary."""
    parser = argparse.ArgumentParser(prog="python -m include.demo")
    parser.add_argument("--preset", default="small", choices=sorted(simulator.PRESETS))
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--keep-shop", action="store_true", help="reuse the warehouse as it is")
    args = parser.parse_args(argv)
    _quiet_logs()
    started = time.monotonic()
    engine = warehouse.get_engine()
    print(f"Warehouse: {warehouse.describe(engine)}")
    if not args.keep_shop and str(engine.url) == settings.default_warehouse_url():
        _start_afresh(engine)
    if not args.keep_shop:
        counts = simulator.build_shop(engine, args.preset, args.days, replace=True)
        print(f"Simulated {args.days} days of the {args.preset} shop: {counts}")
    last_day = simulator.DEFAULT_START + timedelta(days=args.days - 1)
    as_of = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(days=1)

    # A validation run covers the day before its logical date: the last simulated day.
    conf = {"as_of": as_of.date().isoformat()}
    # Risk candidates learn from orders matured maturity_days before a holdout that itself ends
    # maturity_days before as_of: with 90 days of shop, label at 35 days (about 80% of the
    # simulated chargebacks have arrived by then) rather than the default 56.
    risk_conf = {**conf, **DEMO_RISK_CONF}
    for dag_id, run_conf in (
        ("warehouse_validation", {}),
        ("recommendations", conf),
        ("order_risk", risk_conf),
    ):
        step = time.monotonic()
        run_dag(dag_id, logical_date=as_of, conf=run_conf)
        print(f"dag.test {dag_id:<22} success in {time.monotonic() - step:.0f} s")
    print(summary())
    print(f"\nDone in {time.monotonic() - started:.0f} s. Next: `make airflow` for the web UI.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
