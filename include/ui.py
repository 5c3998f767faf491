"""The Shopflow page inside Airflow's UI: the night's data quality, each run's model leaderboard
and the published versions of every table, read from the warehouse.

`create_app()` builds the FastAPI app that `plugins/shopflow.py` mounts in Airflow's API server
under `/shopflow` (and shows in the UI's navigation as "Shopflow"). Every route sits behind the
UI's login: the API server resolves the browser's session cookie to a user, or answers 401.

- `/shopflow/`: the page (server-rendered HTML, no script); `?quality_run=` and
  `?<model name>_run=` pick an earlier validation or training run.
- `/shopflow/api/page`: the same figures as JSON.
- `/shopflow/data-docs/<run>/<table>/index.html`: the Great Expectations Data Docs of one table's
  validation in one run, served from the folder the validation task wrote them to.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from include import publish, settings, validation, warehouse
from include.models import catalogue

# How many earlier runs the page offers in its pickers.
RUNS_OFFERED = 14
# Metrics shown beside the primary one, per model name (the primary one leads).
SHOWN_METRICS: dict[str, tuple[str, ...]] = {
    "recommender": ("ndcg_at_k", "recall_at_k"),
    "order_risk": ("pr_auc", "roc_auc", "recall_at_budget"),
}


# --------------------------------------------------------------------------- the figures


def _records(frame: Any) -> list[dict[str, Any]]:
    """Rows as plain dicts with JSON-friendly values (timestamps as ISO text, NaN as None)."""
    rows = []
    for row in frame.to_dict("records"):
        clean = {}
        for key, value in row.items():
            if hasattr(value, "isoformat"):
                value = value.isoformat(sep=" ")
            elif isinstance(value, float) and math.isnan(value):
                value = None
            elif hasattr(value, "item"):  # numpy scalars
                value = value.item()
            clean[key] = value
        rows.append(clean)
    return rows


def data_docs_href(run_id: str, table: str) -> str | None:
    """The page-relative link to a table's Data Docs in a run, if they were written."""
    folder = validation.data_docs_dir(run_id, table)
    if not (folder / "index.html").is_file():
        return None
    return f"data-docs/{folder.parent.name}/{table}/index.html"


def quality(run_id: str | None = None) -> dict[str, Any]:
    """One validation run's checks (the newest unless named): per table, the checks by outcome,
    the failed ones with what was observed, the rows quarantined and the Data Docs link."""
    runs = _records(warehouse.read_frame("ui/select_quality_runs", {"limit": RUNS_OFFERED}))
    chosen = next((r for r in runs if r["run_id"] == run_id), None) if run_id else None
    if chosen is None and run_id:
        chosen = {"run_id": run_id, "data_interval_start_at": None, "data_interval_end_at": None}
    if chosen is None and runs:
        chosen = runs[0]
    result: dict[str, Any] = {"runs": runs, "run": chosen, "tables": []}
    if chosen is None:
        return result
    checks = _records(warehouse.read_frame("ui/select_quality_checks", {"run_id": chosen["run_id"]}))
    quarantined = _records(warehouse.read_frame("ui/select_quarantine_counts", {"run_id": chosen["run_id"]}))
    tables: dict[str, dict[str, Any]] = {}
    for check in checks:
        table = tables.setdefault(
            check["table_name"],
            {
                "table": check["table_name"],
                "outcomes": {},
                "failed": [],
                "quarantined": [],
                "data_docs": data_docs_href(chosen["run_id"], check["table_name"]),
            },
        )
        outcome = check["severity"]
        table["outcomes"][outcome] = table["outcomes"].get(outcome, 0) + 1
        if not check["success"]:
            table["failed"].append(check)
    for row in quarantined:
        if row["table_name"] in tables:
            tables[row["table_name"]]["quarantined"].append(row)
    result["tables"] = list(tables.values())
    totals: dict[str, int] = {}
    for table in result["tables"]:
        for outcome, count in table["outcomes"].items():
            totals[outcome] = totals.get(outcome, 0) + count
    result["totals"] = totals
    return result


def leaderboard(model_name: str, run_id: str | None = None) -> dict[str, Any]:
    """One training run of `model_name` (the newest unless named): every candidate with its
    primary metric's interval and the gate's verdict, the floor, the champion it was judged
    against, the decision, and the refit that serves."""
    runs = _records(
        warehouse.read_frame("ui/select_training_runs", {"model_name": model_name, "limit": RUNS_OFFERED})
    )
    chosen = run_id or (runs[0]["run_id"] if runs else None)
    result: dict[str, Any] = {"model_name": model_name, "runs": runs, "run_id": chosen, "candidates": []}
    if chosen is None:
        return result
    models = _records(
        warehouse.read_frame("ui/select_run_models", {"model_name": model_name, "run_id": chosen})
    )
    candidates = [m for m in models if m["role"] == "candidate"]
    if not candidates:
        return result
    comparison = json.loads(candidates[0]["comparison"])
    decision = comparison["decision"]
    shown = [m for m in SHOWN_METRICS.get(model_name, ()) if m != comparison["primary_metric"]]
    for model in candidates:
        verdict = decision["verdicts"].get(model["candidate"], {})
        metrics = json.loads(model["metrics"])
        result["candidates"].append(
            {
                "candidate": model["candidate"],
                "model_version": model["model_version"],
                "metric": verdict.get("metric"),
                "others": {name: metrics.get(name) for name in shown},
                "decision": model["decision"],
                "reason": model["decision_reason"],
                "train_rows": model["train_rows"],
                "holdout_rows": model["holdout_rows"],
            }
        )
    champion = comparison.get("champion") or {}
    result.update(
        primary_metric=comparison["primary_metric"],
        other_metrics=shown,
        gate=comparison["gate"],
        floor={"candidate": catalogue.FLOOR.get(model_name), "metric": decision["floor"]},
        champion=None
        if decision["champion"] is None
        else {"model_version": champion.get("model_version"), "metric": decision["champion"]},
        outcome=decision["outcome"],
        reason=decision["reason"],
        refits=[
            {"model_version": m["model_version"], "refit_of": m["refit_of"], "train_rows": m["train_rows"]}
            for m in models
            if m["role"] != "candidate"
        ],
    )
    return result


def published_versions() -> list[dict[str, Any]]:
    """Each published table with its kept versions, newest first."""
    engine = warehouse.get_engine()
    tables = []
    with engine.connect() as conn:
        for table in sorted(publish.PUBLISHED_TABLES):
            versions = _records(publish.list_versions(table, conn=conn))
            for version in versions:
                version.pop("physical_table", None)
                summary = version.get("summary")
                version["summary"] = json.loads(summary) if summary else None
            tables.append({"table": table, "versions": versions})
    return tables


def page_data(
    quality_run: str | None = None, model_runs: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """Everything the page shows."""
    model_runs = model_runs or {}
    return {
        "warehouse": warehouse.describe(warehouse.get_engine()),
        "quality": quality(quality_run),
        "models": [leaderboard(name, model_runs.get(name)) for name in catalogue.FAMILIES],
        "published": published_versions(),
    }


# --------------------------------------------------------------------------- the HTML

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.2rem; color: #1f2933; font-size: 14px; }
h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .4rem; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
table { border-collapse: collapse; margin: .3rem 0 .8rem; }
th, td { border-bottom: 1px solid #d9e2ec; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.passed { color: #1b7f3b; } .warning { color: #9a6700; } .critical { color: #b42318; font-weight: 600; }
.quarantine { color: #8250df; } .promote, .champion { color: #1b7f3b; font-weight: 600; }
.muted { color: #627d98; } form { display: inline; } select { font-size: .9rem; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


def _interval(metric: dict[str, Any] | None) -> str:
    if not metric:
        return "–"
    return f"{metric['estimate']:.4f} <span class='muted'>[{metric['low']:.4f}, {metric['high']:.4f}]</span>"


def _summary_text(summary: dict[str, Any] | None) -> str:
    """A published version's summary in words: shares as percentages, counts as they are."""

    def value_text(value: Any) -> str:
        if isinstance(value, float) and 0.0 <= value <= 1.0:
            return f"{value:.1%}"
        return _e(value)

    parts = []
    for key, value in sorted((summary or {}).items()):
        if isinstance(value, dict):
            value = ", ".join(f"{_e(k)} {value_text(v)}" for k, v in value.items())
        else:
            value = value_text(value)
        parts.append(f"{_e(key.replace('_', ' '))}: {value}")
    return "; ".join(parts)


def _picker(name: str, runs: Iterable[dict[str, Any]], chosen: str | None, keep: dict[str, str]) -> str:
    """A run picker that keeps the other pickers' choices."""
    hidden = "".join(f"<input type='hidden' name='{_e(k)}' value='{_e(v)}'>" for k, v in keep.items() if v)
    options = "".join(
        f"<option value='{_e(r['run_id'])}'{' selected' if r['run_id'] == chosen else ''}>{_e(r['run_id'])}</option>"
        for r in runs
    )
    return (
        f"<form method='get'>{hidden}<select name='{_e(name)}' onchange='this.form.submit()'>{options}"
        "</select> <button type='submit'>show</button></form>"
    )


def _quality_html(q: dict[str, Any], keep: dict[str, str]) -> list[str]:
    out = ["<h2 id='quality'>Data quality</h2>"]
    run = q["run"]
    if run is None:
        return [*out, "<p class='muted'>No validation run yet.</p>"]
    totals = ", ".join(
        f"<span class='{_e(k)}'>{v} {_e(k)}</span>" for k, v in sorted(q.get("totals", {}).items())
    )
    out.append(
        f"<p>Validation run <b>{_e(run['run_id'])}</b>, interval {_e(run['data_interval_start_at'])} to "
        f"{_e(run['data_interval_end_at'])}: {totals or 'no checks'} "
        f"{_picker('quality_run', q['runs'], run['run_id'], keep)}</p>"
    )
    outcomes = ("passed", validation.WARNING, validation.QUARANTINE, validation.CRITICAL)
    out.append(
        "<table id='quality-tables'><tr><th>table</th>"
        + "".join(f"<th>{o}</th>" for o in outcomes)
        + "<th>quarantined rows</th><th>Data Docs</th></tr>"
    )
    for t in q["tables"]:
        docs = (
            f"<a href='{_e(t['data_docs'])}'>Data Docs</a>"
            if t["data_docs"]
            else "<span class='muted'>none</span>"
        )
        quarantined = sum(r["records"] for r in t["quarantined"])
        out.append(
            f"<tr data-table='{_e(t['table'])}'><td>{_e(t['table'])}</td>"
            + "".join(
                f"<td class='num {o if t['outcomes'].get(o) else ''}' data-outcome='{o}'>{t['outcomes'].get(o, 0)}</td>"
                for o in outcomes
            )
            + f"<td class='num'>{quarantined}</td><td>{docs}</td></tr>"
        )
    out.append("</table>")
    failed = [(t["table"], c) for t in q["tables"] for c in t["failed"]]
    if failed:
        out.append(
            "<h3>Checks that failed</h3><table id='failed-checks'><tr><th>table</th><th>check</th>"
            "<th>column</th><th>severity</th><th>observed</th><th>rows</th></tr>"
        )
        for table, c in failed:
            out.append(
                f"<tr><td>{_e(table)}</td><td>{_e(c['expectation'])}</td><td>{_e(c['column_name'])}</td>"
                f"<td class='{_e(c['severity'])}'>{_e(c['severity'])}</td><td>{_e(c['observed_value'])}</td>"
                f"<td class='num'>{_fmt(c['unexpected_count'])}</td></tr>"
            )
        out.append("</table>")
    return out


def _leaderboard_html(board: dict[str, Any], keep: dict[str, str]) -> list[str]:
    name = board["model_name"]
    out = [f"<h3 id='model-{_e(name)}'>{_e(name)}</h3>"]
    if not board["candidates"]:
        return [*out, "<p class='muted'>No training run yet.</p>"]
    gate = board["gate"]
    primary = board["primary_metric"]
    out.append(
        f"<p>Training run <b>{_e(board['run_id'])}</b> {_picker(name + '_run', board['runs'], board['run_id'], keep)}"
        f"<br>Candidates on the same holdout: {_e(primary)} with its {gate['confidence']:.0%} interval "
        f"({gate['draws']} bootstrap draws).</p>"
    )
    out.append(
        f"<table class='leaderboard' data-model='{_e(name)}'><tr><th>candidate</th><th>{_e(primary)}</th>"
        + "".join(f"<th>{_e(m)}</th>" for m in board["other_metrics"])
        + "<th>decision</th><th>reason</th><th>model version</th></tr>"
    )
    for c in board["candidates"]:
        out.append(
            f"<tr data-candidate='{_e(c['candidate'])}'><td>{_e(c['candidate'])}</td><td>{_interval(c['metric'])}</td>"
            + "".join(f"<td class='num'>{_fmt(c['others'].get(m))}</td>" for m in board["other_metrics"])
            + f"<td class='{_e(c['decision'])}' data-field='decision'>{_e(c['decision'])}</td><td>{_e(c['reason'])}</td>"
            f"<td class='muted'>{_e(c['model_version'])}</td></tr>"
        )
    floor = board["floor"]
    out.append(
        f"<tr><td>floor: {_e(floor['candidate'])}</td><td>{_interval(floor['metric'])}</td>"
        + "<td></td>" * len(board["other_metrics"])
        + "<td></td><td>a candidate must beat it with its whole interval</td><td></td></tr>"
    )
    if board["champion"]:
        out.append(
            f"<tr><td class='champion'>champion</td><td>{_interval(board['champion']['metric'])}</td>"
            + "<td></td>" * len(board["other_metrics"])
            + f"<td></td><td>serving before this run</td><td class='muted'>{_e(board['champion']['model_version'])}</td></tr>"
        )
    out.append("</table>")
    out.append(
        f"<p>Decision: <b class='{_e(board['outcome'])}'>{_e(board['outcome'])}</b> — {_e(board['reason'])}</p>"
    )
    for refit in board["refits"]:
        out.append(
            f"<p class='muted'>Serves: {_e(refit['model_version'])}, a refit of {_e(refit['refit_of'])} "
            f"on {refit['train_rows']} rows.</p>"
        )
    return out


def _published_html(tables: list[dict[str, Any]]) -> list[str]:
    out = ["<h2 id='published'>Published tables</h2>"]
    for t in tables:
        out.append(f"<h3>{_e(t['table'])}</h3>")
        if not t["versions"]:
            out.append("<p class='muted'>Not published yet.</p>")
            continue
        out.append(
            f"<table class='versions' data-table='{_e(t['table'])}'><tr><th>version</th><th>rows</th><th>model</th>"
            "<th>interval</th><th>published</th><th>state</th><th>summary</th></tr>"
        )
        for v in t["versions"]:
            state = "current" if v["is_current"] else ("rolled back" if v["rolled_back_at"] else "kept")
            out.append(
                f"<tr data-version='{v['version']}'><td class='num'>{v['version']}</td>"
                f"<td class='num'>{v['row_count']}</td><td>{_e(v['model_version'])}</td>"
                f"<td>{_e(v['data_interval_start_at'])} to {_e(v['data_interval_end_at'])}</td>"
                f"<td>{_e(v['published_at'])}</td><td class='{'champion' if v['is_current'] else 'muted'}'>{state}</td>"
                f"<td class='muted'>{_summary_text(v['summary'])}</td></tr>"
            )
        out.append("</table>")
    return out


def render(data: dict[str, Any], choices: dict[str, str] | None = None) -> str:
    """The page as HTML."""
    choices = choices or {}
    body = [
        "<h1>Shopflow</h1>",
        f"<p class='muted'>Warehouse: {_e(data['warehouse'])}. "
        "<a href='#quality'>Data quality</a> · <a href='#models'>Models</a> · <a href='#published'>Published tables</a></p>",
        *_quality_html(data["quality"], {k: v for k, v in choices.items() if k != "quality_run"}),
        "<h2 id='models'>Models</h2>",
    ]
    for board in data["models"]:
        keep = {k: v for k, v in choices.items() if k != board["model_name"] + "_run"}
        body += _leaderboard_html(board, keep)
    body += _published_html(data["published"])
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Shopflow</title>"
        f"<style>{STYLE}</style></head><body>" + "\n".join(body) + "</body></html>"
    )


# --------------------------------------------------------------------------- the app


def create_app(authenticated: Callable[..., Any] | None = None) -> FastAPI:
    """The FastAPI app of the page. `authenticated` is the dependency every route requires
    (the plugin passes Airflow's own; None only for code that checks the rendering alone)."""
    dependencies = [Depends(authenticated)] if authenticated is not None else []
    app = FastAPI(title="Shopflow", dependencies=dependencies, docs_url=None, redoc_url=None)

    def choices(request: Request) -> dict[str, str]:
        names = {"quality_run", *(f"{name}_run" for name in catalogue.FAMILIES)}
        return {k: v for k, v in request.query_params.items() if k in names and v}

    def data_for(picked: dict[str, str]) -> dict[str, Any]:
        runs = {name: picked.get(f"{name}_run") for name in catalogue.FAMILIES}
        return page_data(picked.get("quality_run"), runs)

    @app.exception_handler(sa.exc.OperationalError)
    @app.exception_handler(warehouse.WarehouseNotConfigured)
    @app.exception_handler(warehouse.WarehouseUnavailable)
    def warehouse_down(request: Request, error: Exception) -> HTMLResponse:
        """The page says what is wrong with the warehouse instead of a bare server error."""
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return HTMLResponse(
            f"<!doctype html><title>Shopflow</title><h1>Shopflow</h1>"
            f"<p>The warehouse cannot be read: {_e(first_line)}</p>",
            status_code=503,
        )

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> str:
        picked = choices(request)
        return render(data_for(picked), picked)

    @app.get("/api/page")
    def page_json(request: Request) -> dict[str, Any]:
        return data_for(choices(request))

    @app.get("/data-docs/{run_folder}/{table}/{path:path}")
    def data_docs(run_folder: str, table: str, path: str) -> FileResponse:
        root = (settings.var_dir() / "data_docs").resolve()
        target = (root / run_folder / table / (path or "index.html")).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise HTTPException(status_code=404, detail="no such Data Docs page")
        return FileResponse(target)

    return app
