"""Data-quality gate: Great Expectations suites run in the warehouse on one data interval.

The gate validates rows by when they landed (`loaded_at`), not by the time they describe: a run
for [start, end) checks every row of the table loaded since its watermark (the end of the last
load range that passed) and before `end`. Normally that is the interval's load; after a failed
or skipped night, or on the first night, it reaches back further. A row dated last month but
loaded today is checked tonight. When the checks pass, the table's watermark moves to `end`,
and the model DAGs read only rows loaded before the watermarks of the tables they read
(`loaded_until`): nothing reaches a model that the gate has not seen or quarantined.

Per source table, in this order:

1. **Schema** (critical): every expected column exists (Great Expectations on the table) and
   has the expected type family (read from the warehouse catalogue). A missing, renamed or
   retyped column stops the table's validation and names the column.
2. **Rules on the rows under validation**, as Great Expectations suites whose SQL runs in the
   warehouse: keys not null (critical); the interval's load inside a band around the median of
   the trailing days' loads (what a miss means is the data contract's: critical, warning or not
   judged); row-level rules — duplicate ids, unknown references, timestamps in the future, and
   the contract's required columns, allowed values and bounds (`include/contract.toml`) — whose
   offending rows are **quarantined** while they are at most `quarantine_tolerance` of the rows
   under validation, and critical above it; freshness of the newest row (warning).
3. **Drift** (warning): the event-type mix, the category mix of events and the distribution of
   order amounts against the trailing window, by population stability index (PSI).

Every outcome goes to `data_quality_runs`, quarantined rows to `data_quality_quarantine` (the
extracts leave them out), and Data Docs are built for every run under `var/data_docs/` (unless
`SHOPFLOW_DATA_DOCS=off`).
A critical failure raises `DataQualityError` after everything is recorded.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from include import contract, settings, warehouse

log = logging.getLogger(__name__)

CRITICAL = "critical"
WARNING = "warning"
QUARANTINE = "quarantine"

# Rows of offending keys shown in the task log per failed rule.
SAMPLE_SIZE = 5
# Added to every bucket share before PSI, so that an empty bucket does not divide by zero.
PSI_EPSILON = 1e-4


@dataclass(frozen=True)
class QualitySettings:
    """Thresholds a user may change (the validation DAG exposes each one as a Param)."""

    quarantine_tolerance: float = 0.01  # share of an interval's rows that may be quarantined
    volume_min_ratio: float = 0.3  # a day's load below this x the trailing 10th percentile fails
    volume_max_ratio: float = 3.0  # a day's load above this x the trailing 90th percentile fails
    trailing_days: int = 14  # days before the interval that volume and drift compare with
    freshness_hours: float = 6.0  # the newest row must be at most this old at interval end
    drift_psi_limit: float = 0.2  # PSI above this is a drift warning
    max_price: float = 50_000.0  # highest sane product or unit price
    max_order_amount: float = 250_000.0  # highest sane order amount

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> QualitySettings:
        """The defaults, overridden by any Param of the same name."""
        names = {f.name for f in fields(cls)}
        return replace(cls(), **{k: v for k, v in (params or {}).items() if k in names and v is not None})


# Table -> column -> type family. A column's declared type must belong to its family.
TYPE_FAMILIES = {
    "integer": ("INT", "BIGINT", "INTEGER", "SMALLINT"),
    "float": ("DOUBLE", "DOUBLE PRECISION", "FLOAT", "REAL", "NUMERIC", "DECIMAL"),
    "text": ("TEXT", "VARCHAR", "CHAR", "CHARACTER VARYING", "STRING"),
    "timestamp": ("TIMESTAMP", "DATETIME", "TIMESTAMP WITHOUT TIME ZONE"),
}
SCHEMA: dict[str, dict[str, str]] = {
    "customers": {"customer_id": "integer", "created_at": "timestamp", "country": "text", "channel": "text"},
    "products": {
        "product_id": "integer",
        "created_at": "timestamp",
        "category": "text",
        "brand": "text",
        "price": "float",
    },
    "events": {
        "event_id": "integer",
        "session_id": "integer",
        "customer_id": "integer",
        "product_id": "integer",
        "event_type": "text",
        "event_at": "timestamp",
    },
    "orders": {
        "order_id": "integer",
        "customer_id": "integer",
        "ordered_at": "timestamp",
        "amount": "float",
        "payment_method": "text",
        "billing_country": "text",
        "shipping_country": "text",
        "ip_country": "text",
        "device_id": "text",
    },
    "order_items": {
        "order_id": "integer",
        "line_no": "integer",
        "product_id": "integer",
        "quantity": "integer",
        "unit_price": "float",
    },
    "chargebacks": {"order_id": "integer", "reported_at": "timestamp", "amount": "float", "reason": "text"},
}
SOURCE_TABLES = list(SCHEMA)
KEY_COLUMN = {
    "customers": "customer_id",
    "products": "product_id",
    "events": "event_id",
    "orders": "order_id",
    "order_items": "order_id",
    "chargebacks": "order_id",
}
# Row-level rules every shop has, per table: rule name -> the SQL file that finds the offending
# record ids. What values a column may hold is the data contract's (CONTRACT_RULE).
ROW_RULES: dict[str, dict[str, str]] = {
    "customers": {
        "duplicate_ids": "quality/find_duplicate_customers",
        "future_timestamps": "quality/find_future_customers",
    },
    "products": {
        "duplicate_ids": "quality/find_duplicate_products",
        "future_timestamps": "quality/find_future_products",
    },
    "events": {
        "duplicate_ids": "quality/find_duplicate_events",
        "unknown_references": "quality/find_unknown_event_references",
        "future_timestamps": "quality/find_future_events",
    },
    "orders": {
        "duplicate_ids": "quality/find_duplicate_orders",
        "unknown_references": "quality/find_unknown_order_references",
        "future_timestamps": "quality/find_future_orders",
    },
    "order_items": {
        "duplicate_ids": "quality/find_duplicate_order_items",
        "unknown_references": "quality/find_unknown_order_item_references",
        "orphan_rows": "quality/find_orphan_order_items",
    },
    "chargebacks": {
        "order_mismatch": "quality/find_mismatched_chargebacks",
        "future_timestamps": "quality/find_future_chargebacks",
    },
}
# The contract's rule: a required column null, or a value outside its allowed set or bounds.
CONTRACT_RULE = "invalid_values"
# Row-level findings that are worth a warning but leave the rows in use.
# Unknown account ages are one: risk scores those orders with an explicit "unknown" indicator.
WARNING_ROW_RULES: dict[str, dict[str, str]] = {
    "customers": {"missing_created_at": "quality/find_undated_customers"},
    "orders": {"unknown_account_age": "quality/find_orders_of_undated_accounts"},
    # A chargeback reported twice is still one fraud: the label extract keeps the first report,
    # where quarantining the order's reports would erase its label.
    "chargebacks": {"duplicate_reports": "quality/find_duplicate_chargebacks"},
}
FRESHNESS_RULES = {"events": "quality/find_stale_events", "orders": "quality/find_stale_orders"}
# Table -> drift check -> (SQL file with bucket counts, fewest interval rows to judge by).
DRIFT_CHECKS: dict[str, dict[str, tuple[str, int]]] = {
    "events": {
        "event_type_mix": ("quality/count_event_types", 100),
        "category_mix": ("quality/count_event_categories", 1000),
    },
    "orders": {"amount_distribution": ("quality/count_order_amounts", 200)},
}


class DataQualityError(RuntimeError):
    """A critical rule failed: the data of this interval must not be used."""


class NotValidated(ValueError):
    """A model run asked for rows of a table the gate has never passed."""


@dataclass
class CheckResult:
    """The outcome of one check on one table."""

    table: str
    check: str  # the expectation or rule name
    column: str
    severity: str  # critical / warning / quarantine: what a failure means
    success: bool
    observed_value: Any = None
    unexpected_count: int | None = None
    sample: list[Any] = field(default_factory=list)
    could_not_run: bool = False  # the check raised instead of answering

    @property
    def outcome(self) -> str:
        """passed, or the severity that applied."""
        return "passed" if self.success else self.severity

    def describe(self) -> str:
        """One line for the task log."""
        target = f"{self.table}.{self.column}" if self.column else self.table
        text = f"{target} {self.check}: {'ok' if self.success else self.severity.upper()}"
        if self.unexpected_count:
            text += f", {self.unexpected_count} offending rows"
        if self.sample:
            text += f", e.g. {self.sample}"
        if self.observed_value is not None:
            text += f", observed {self.observed_value}"
        return text


# --------------------------------------------------------------------------- SQL helpers


def _literal_sql(name: str, params: dict[str, Any], engine: sa.Engine, table: str | None = None) -> str:
    """A .sql file with its parameters rendered as quoted literals (see `_literal`)."""
    identifiers = {"table": table} if table else None
    (text,) = warehouse.split_statements(
        warehouse.load_sql(name, warehouse.dialect_name(engine), identifiers)
    )
    return _literal(text, params, engine)


def _literal(text: str, params: dict[str, Any], engine: sa.Engine) -> str:
    """A statement with its parameters rendered as quoted literals by SQLAlchemy.

    Great Expectations takes query strings, not parameters; timestamps are rendered in the
    warehouse's text form, which PostgreSQL casts to TIMESTAMP in the comparison.
    """
    used = {k: v for k, v in warehouse.bind_params(params, "sqlite").items() if f":{k}" in text}
    statement = sa.text(text).bindparams(**used)
    return str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


# What SQLite may store in a column of each type family (it keeps any value in any column: 'ORD-X'
# in a BIGINT, an epoch number or '12/01/2026' in a TIMESTAMP). Timestamps are text in the
# warehouse's sortable form, the only one the interval comparisons order correctly.
_SQLITE_STORED = {
    "integer": "typeof({c}) IN ('integer', 'null')",
    "float": "typeof({c}) IN ('real', 'integer', 'null')",
    "text": "typeof({c}) IN ('text', 'null')",
    "timestamp": "({c} IS NULL OR (typeof({c}) = 'text' AND {c} GLOB "
    "'[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]*'))",
}


def expected_columns(table: str) -> dict[str, str]:
    """The columns the gate expects of a source table: its own and the load time."""
    return {**SCHEMA[table], warehouse.LOADED_AT: "timestamp"}


def mistyped_rows_sql(table: str) -> str:
    """SQLite: the keys of rows of the *whole* table with a value of the wrong stored type (a
    mistyped timestamp falls in no interval, so the interval's rules would never see it)."""
    key = KEY_COLUMN[table]
    wrong = " OR ".join(
        f"NOT {_SQLITE_STORED[family].format(c=column)}" for column, family in expected_columns(table).items()
    )
    return f"SELECT CAST({key} AS TEXT) AS record_id FROM {warehouse.check_identifier(table)} WHERE {wrong}"


def unloaded_rows_sql(table: str) -> str:
    """The keys of rows without a load time: no interval holds them, so no extract reads them."""
    return (
        f"SELECT {KEY_COLUMN[table]} AS record_id FROM {warehouse.check_identifier(table)} "
        f"WHERE {warehouse.LOADED_AT} IS NULL"
    )


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(float(value))


def invalid_values_sql(table: str, cfg: QualitySettings) -> str | None:
    """The data contract's value rules of `table` as one query over the rows under validation
    (None when the contract constrains no value of it). Bounds that name a gate Param take its
    value tonight; a null is judged only by `required`."""
    spec = contract.load().tables[table]
    if not spec.constrains_values:
        return None
    key = KEY_COLUMN[table]
    broken = [f"{column} IS NULL" for column in spec.required]
    for column, values in spec.allowed.items():
        broken.append(f"{column} NOT IN ({', '.join(_quoted(v) for v in values)})")
    for column, limits in spec.bounds.items():
        for kind, limit in limits.items():
            value = getattr(cfg, limit) if isinstance(limit, str) else limit
            broken.append(f"NOT ({column} {contract.BOUND_KINDS[kind]} {_quoted(value)})")
    return (
        f"SELECT {key} AS record_id FROM {warehouse.check_identifier(table)} "
        f"WHERE {warehouse.LOADED_AT} >= :loaded_from AND {warehouse.LOADED_AT} < :end "
        f"AND {key} IS NOT NULL AND ({' OR '.join(broken)})"
    )


def quarantine_rules(table: str, cfg: QualitySettings, dialect: str) -> dict[str, str]:
    """Rule name -> the query (with :parameters) of every rule whose offending rows of `table`
    are quarantined: the rules every shop has, and the contract's."""
    rules = {
        rule: warehouse.split_statements(warehouse.load_sql(name, dialect))[0]
        for rule, name in ROW_RULES[table].items()
    }
    generated = invalid_values_sql(table, cfg)
    if generated is not None:
        rules[CONTRACT_RULE] = generated
    return rules


# Checks whose SQL is generated from the schema rather than kept in a rule file.
GENERATED_CHECKS = {"stored_types": mistyped_rows_sql, "unknown_load_time": unloaded_rows_sql}


def check_schema(table: str, engine: sa.Engine) -> list[CheckResult]:
    """The table exists, and every expected column with its type family; missing ones are named."""
    if not sa.inspect(engine).has_table(table):
        return [CheckResult(table, "expect_table_to_exist", "", CRITICAL, False, "table missing")]
    columns = {c["name"]: str(c["type"]).upper() for c in sa.inspect(engine).get_columns(table)}
    results = []
    expected = expected_columns(table)
    extra = sorted(set(columns) - set(expected))
    for column, family in expected.items():
        if column not in columns:
            hint = f"column missing; unexpected columns present: {extra}" if extra else "column missing"
            results.append(CheckResult(table, "expect_column_to_exist", column, CRITICAL, False, hint))
            continue
        declared = columns[column]
        ok = any(declared == t or declared.startswith(t + "(") for t in TYPE_FAMILIES[family])
        results.append(
            CheckResult(
                table,
                "expect_column_type_family",
                column,
                CRITICAL,
                ok,
                None if ok else f"{declared}, expected {family} {list(TYPE_FAMILIES[family])}",
            )
        )
    return results


def loaded_rows(table: str, start: datetime, end: datetime, conn: sa.Connection) -> int:
    """How many rows of `table` were loaded in [start, end)."""
    params = {"start": start, "end": end}
    return int(
        warehouse.scalar("quality/count_loaded_rows", params, conn=conn, identifiers={"table": table}) or 0
    )


def trailing_counts(table: str, start: datetime, days: int, conn: sa.Connection) -> list[int]:
    """Rows loaded on each of the `days` days before `start` that have any."""
    counts = []
    for back in range(days, 0, -1):
        day = start - timedelta(days=back)
        counts.append(loaded_rows(table, day, day + timedelta(days=1), conn))
    return [c for c in counts if c > 0]


def watermarks(conn: sa.Connection) -> dict[str, datetime]:
    """Each source table's watermark: the end of the latest load range that passed the gate."""
    import pandas as pd

    frame = warehouse.read_frame("quality/select_watermarks", conn=conn, parse_dates=["validated_until"])
    return {
        str(table): pd.Timestamp(until).to_pydatetime()
        for table, until in zip(frame["table_name"], frame["validated_until"], strict=True)
    }


def require_passed(tables: Sequence[str], engine: sa.Engine | None = None) -> dict[str, datetime]:
    """The watermarks of `tables`.

    Raises:
        NotValidated: naming each table the gate has never passed.
    """
    with (engine or warehouse.get_engine()).connect() as conn:
        marks = watermarks(conn) if warehouse.table_exists("validated_loads", conn) else {}
    missing = [t for t in tables if t not in marks]
    if missing:
        raise NotValidated(
            f"{', '.join(missing)} never passed the data-quality gate, so no row of "
            f"{'it' if len(missing) == 1 else 'them'} may be read: run warehouse_validation first"
        )
    return marks


def loaded_until(tables: list[str], as_of: datetime, engine: sa.Engine | None = None) -> datetime:
    """The load time before which a model run as of `as_of` may read `tables`: the earliest of
    their watermarks, and never later than `as_of` (a run reads what had landed by then).

    Raises:
        NotValidated: naming each table the gate has never passed.
    """
    marks = require_passed(tables, engine)
    until = min([as_of, *(marks[t] for t in tables)])
    if until < as_of:
        log.warning(
            "Reading rows loaded before %s: the gate has passed %s only up to then, not up to %s",
            until,
            ", ".join(t for t in tables if marks[t] < as_of),
            as_of,
        )
    return until


def population_stability(current: dict[str, int], reference: dict[str, int]) -> float:
    """PSI between two bucket-count distributions (0: identical; above 0.2: a real shift)."""
    buckets = set(current) | set(reference)
    total_c, total_r = sum(current.values()), sum(reference.values())
    if not total_c or not total_r:
        raise ValueError("PSI needs rows on both sides")
    psi = 0.0
    for bucket in buckets:
        c = current.get(bucket, 0) / total_c + PSI_EPSILON
        r = reference.get(bucket, 0) / total_r + PSI_EPSILON
        psi += (c - r) * math.log(c / r)
    return psi


def _bucket_counts(name: str, start: datetime, end: datetime, conn: sa.Connection) -> dict[str, int]:
    frame = warehouse.read_frame(name, {"start": start, "end": end}, conn=conn)
    return {str(b): int(n) for b, n in zip(frame["bucket"], frame["row_count"], strict=True)}


def check_drift(
    table: str, start: datetime, end: datetime, cfg: QualitySettings, conn: sa.Connection
) -> list[CheckResult]:
    """PSI of each drift check of `table` against the trailing window; warnings only."""
    results = []
    for check, (sql_name, min_rows) in DRIFT_CHECKS.get(table, {}).items():
        current = _bucket_counts(sql_name, start, end, conn)
        reference = _bucket_counts(sql_name, start - timedelta(days=cfg.trailing_days), start, conn)
        rows = sum(current.values())
        if rows < min_rows or not reference:
            results.append(
                CheckResult(
                    table,
                    f"drift_{check}",
                    "",
                    WARNING,
                    True,
                    f"not judged: {rows} rows (needs {min_rows}) or no trailing data",
                )
            )
            continue
        psi = population_stability(current, reference)
        results.append(
            CheckResult(
                table,
                f"drift_{check}",
                "",
                WARNING,
                psi <= cfg.drift_psi_limit,
                {"psi": round(psi, 4), "limit": cfg.drift_psi_limit},
            )
        )
    return results


# --------------------------------------------------------------------------- Great Expectations


def _quiet_great_expectations() -> None:
    """Great Expectations narrates every step at INFO, some of its modules with their own level:
    only its warnings belong in a task log."""
    for name in ["great_expectations", *logging.Logger.manager.loggerDict]:
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _gx_context(docs_dir: Path):  # noqa: ANN202 - great_expectations is imported lazily
    _quiet_great_expectations()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet_great_expectations()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name="shopflow",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def run_expectations(
    table: str,
    params: dict[str, Any],
    cfg: QualitySettings,
    volume_band: tuple[int, int | None],
    engine: sa.Engine,
    docs_dir: Path,
    rules: dict[str, str],
) -> list[CheckResult]:
    """The Great Expectations suite of `table` on the interval, run as SQL in the warehouse;
    builds the run's Data Docs."""
    _quiet_great_expectations()  # before the import: importing it logs ~200 lines at INFO
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.checkpoint import UpdateDataDocsAction

    context = _gx_context(docs_dir)
    url = engine.url.render_as_string(hide_password=False)
    if warehouse.dialect_name(engine) == "postgresql":
        # No pool: each validation opens and closes its own connections, so that many
        # validations in one process (tests, in-process runs) never pile up idle connections.
        source = context.data_sources.add_postgres(
            name="warehouse", connection_string=url, kwargs={"poolclass": sa.pool.NullPool}
        )
    else:  # Great Expectations closes SQLite connections itself
        source = context.data_sources.add_sqlite(name="warehouse", connection_string=url)

    def batch(name: str, start: datetime) -> Any:
        query = _literal_sql("validation/select_loaded_rows", {**params, "start": start}, engine, table)
        return source.add_query_asset(name=name, query=query).add_batch_definition_whole_table(name)

    # The rows under validation (loaded since the watermark), and the interval's own load,
    # whose size the volume band judges.
    rows_suite = context.suites.add(gx.ExpectationSuite(name=f"{table}_rows"))
    load_suite = context.suites.add(gx.ExpectationSuite(name=f"{table}_load"))
    plan: list[tuple[str, str, str]] = []  # (check name, column, severity) per expectation

    def add(expectation: Any, check: str, column: str, severity: str, suite: Any = rows_suite) -> None:
        expectation.meta = {"index": len(plan)}
        suite.add_expectation(expectation)
        plan.append((check, column, severity))

    key = KEY_COLUMN[table]
    add(gxe.ExpectColumnValuesToNotBeNull(column=key), "expect_column_values_to_not_be_null", key, CRITICAL)
    low, high = volume_band
    add(
        gxe.ExpectTableRowCountToBeBetween(min_value=low, max_value=high),
        "expect_table_row_count_to_be_between",
        "",
        CRITICAL if contract.load().tables[table].volume == CRITICAL else WARNING,
        load_suite,
    )
    if warehouse.dialect_name(engine) == "sqlite":  # PostgreSQL enforces the declared types
        expectation = gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=mistyped_rows_sql(table),
            description=f"{table}: every stored value of its column's type (timestamps as YYYY-MM-DD HH:MM:SS)",
        )
        add(expectation, "stored_types", "", CRITICAL)
    expectation = gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=unloaded_rows_sql(table),
        description=f"{table}: every row has a load time (rows without one are never read)",
    )
    add(expectation, "unknown_load_time", "", WARNING)
    for rule, query in rules.items():
        expectation = gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=_literal(query, params, engine),
            description=f"{table}: no {rule.replace('_', ' ')}",
        )
        add(expectation, rule, "", QUARANTINE)
    for rule, rule_file in WARNING_ROW_RULES.get(table, {}).items():
        expectation = gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=_literal_sql(rule_file, params, engine),
            description=f"{table}: no {rule.replace('_', ' ')}",
        )
        add(expectation, rule, "", WARNING)
    if table in FRESHNESS_RULES:
        expectation = gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=_literal_sql(FRESHNESS_RULES[table], params, engine),
            description=f"{table}: newest row within {cfg.freshness_hours} h of the interval end",
        )
        add(expectation, "freshness", "", WARNING)

    definitions = [
        context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{table}_{part}", data=batch(f"{table}_{part}", start), suite=suite)
        )
        for part, start, suite in [
            ("rows", params["loaded_from"], rows_suite),
            ("load", params["start"], load_suite),
        ]
    ]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{table}_checkpoint",
            validation_definitions=definitions,
            actions=[UpdateDataDocsAction(name="build_data_docs")] if settings.data_docs_enabled() else [],
            result_format={"result_format": "SUMMARY"},
        )
    )
    outcome = checkpoint.run()

    results = []
    for run_result in outcome.run_results.values():
        for item in run_result.results:
            check, column, severity = plan[int(item.expectation_config.meta["index"])]
            detail = item.result or {}
            raised = bool(item.exception_info and item.exception_info.get("raised_exception"))
            if not raised and item.exception_info:  # several metrics: a dict of exception infos
                raised = any(
                    isinstance(v, dict) and v.get("raised_exception") for v in item.exception_info.values()
                )
            observed = detail.get("observed_value")
            if raised:  # a check that could not run is a failure, never a pass
                severity, observed = CRITICAL, "the check could not run: see the task log"
                log.error("%s %s raised: %s", table, check, item.exception_info)
            sample = (
                detail.get("partial_unexpected_list")
                or detail.get("details", {}).get("unexpected_rows")
                or []
            )
            results.append(
                CheckResult(
                    table,
                    check,
                    column,
                    severity,
                    bool(item.success) and not raised,
                    observed,
                    detail.get(
                        "unexpected_count",
                        detail.get("observed_value") if check in _row_checks(table) else None,
                    ),
                    [_sample_value(v) for v in list(sample)[:SAMPLE_SIZE]],
                    could_not_run=raised,
                )
            )
    return results


def _row_checks(table: str) -> set[str]:
    """The checks whose answer is a set of offending rows."""
    return {*ROW_RULES[table], CONTRACT_RULE, *WARNING_ROW_RULES.get(table, {}), *GENERATED_CHECKS}


def _sample_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sample_value(v) for k, v in value.items()}
    return value if isinstance(value, (int, float, str, type(None))) else str(value)


# --------------------------------------------------------------------------- orchestration


def data_docs_dir(run_id: str, table: str) -> Path:
    """Where the Data Docs of one table's validation in one run are kept."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)
    return settings.var_dir() / "data_docs" / safe / table


def validate_table(
    table: str,
    start: datetime,
    end: datetime,
    *,
    run_id: str,
    quality: QualitySettings | None = None,
    engine: sa.Engine | None = None,
    now: datetime | None = None,
) -> list[CheckResult]:
    """Validate the rows of `table` loaded since its watermark and before `end` (the interval's
    load for the volume band and drift), record and quarantine; when nothing critical failed,
    move the watermark to `end`. Returns every result.

    Raises:
        DataQualityError: if a critical check failed (after the results are recorded).
    """
    if table not in SCHEMA:
        raise ValueError(f"No suite for table {table!r}; known: {SOURCE_TABLES}")
    cfg = quality or QualitySettings()
    engine = engine or warehouse.get_engine()
    now = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    results = check_schema(table, engine)
    checked: tuple[int, datetime] | None = None  # (rows under validation, loaded since)
    if all(r.success for r in results):
        # The shop loads these tables by its own means: statistics for the checks and the
        # extracts that follow, whether or not its loader (or autovacuum) analyzed them.
        with warehouse.transaction(engine) as conn:
            warehouse.analyze(table, conn=conn)
        with engine.connect() as conn:
            loaded_from = _validation_start(table, start, conn)
        params = {
            "start": start,
            "end": end,
            "loaded_from": loaded_from,
            "now": now,
            "fresh_after": end - timedelta(hours=cfg.freshness_hours),
        }
        rules = quarantine_rules(table, cfg, warehouse.dialect_name(engine))
        with engine.connect() as conn:
            validated_rows = loaded_rows(table, loaded_from, end, conn)
            band = _volume_band(table, start, cfg, conn)
            results += check_drift(table, start, end, cfg, conn)
        docs = data_docs_dir(run_id, table)
        # The row rules look past the batch on purpose (duplicates across the table, rows dated
        # in the future), which Great Expectations remarks on by printing: keep stdout clean.
        with contextlib.redirect_stdout(io.StringIO()):
            results += run_expectations(table, params, cfg, band, engine, docs, rules)
        if any(r.could_not_run for r in results) and not warehouse.reachable(engine):
            # Great Expectations gave up on a lost connection: an outage, not a verdict on the
            # data. Nothing is recorded; the task fails and Airflow retries it.
            raise warehouse.WarehouseUnavailable(
                f"The warehouse stopped answering while {table} was validated: retry when it is back"
            )
        _apply_tolerance(results, table, validated_rows, cfg)
        _sample_offending_ids(results, table, params, rules, engine)
        _quarantine(results, table, params, rules, run_id, engine)
        passed = not any(r.outcome == CRITICAL for r in results)
        record_load(table, run_id, loaded_from, end, validated_rows, passed=passed, engine=engine)
        checked = (validated_rows, loaded_from)
    record_results(results, run_id=run_id, start=start, end=end, engine=engine)

    log.info("%s", summary(table, start, end, results, data_docs_dir(run_id, table) / "index.html"))
    if checked is not None:
        log.info("%s: checked the %s rows loaded in [%s, %s)", table, checked[0], checked[1], end)
    for result in results:
        log.log(
            logging.INFO
            if result.success
            else logging.ERROR
            if result.outcome == CRITICAL
            else logging.WARNING,
            "%s",
            result.describe(),
        )
    failed = [r for r in results if r.outcome == CRITICAL]
    if failed:
        raise DataQualityError(
            f"{len(failed)} critical data-quality check(s) failed on {table} for [{start}, {end}): "
            + "; ".join(r.describe() for r in failed)
        )
    return results


def summary(table: str, start: datetime, end: datetime, results: list[CheckResult], docs: Path) -> str:
    """The first lines of a validation's log: checks by outcome, what failed, the Data Docs."""
    outcomes = Counter(r.outcome for r in results)
    counts = ", ".join(f"{outcomes[o]} {o}" for o in ("passed", CRITICAL, QUARANTINE, WARNING) if outcomes[o])
    failed = [
        f"{r.check}{f' ({r.column})' if r.column else ''}: {r.outcome}" for r in results if not r.success
    ]
    text = f"{table} [{start}, {end}): {len(results)} checks, {counts}"
    if failed:
        text += "; failed: " + ", ".join(failed)
    return text + (f"\nData Docs: {docs}" if docs.exists() else "")


def _validation_start(table: str, start: datetime, conn: sa.Connection) -> datetime:
    """Where the rows to validate begin: the table's watermark (rows loaded before it passed
    already), the interval's start if that is earlier (a re-run of an older interval), and the
    first row ever loaded when the table has never passed."""
    mark = watermarks(conn).get(table)
    if mark is not None:
        return min(mark, start)
    import pandas as pd

    first = warehouse.scalar("quality/select_earliest_load", conn=conn, identifiers={"table": table})
    if first is None or pd.isna(first):  # no rows, or none with a load time
        return start
    return min(pd.Timestamp(first).to_pydatetime(), start)


def record_load(
    table: str,
    run_id: str,
    loaded_from: datetime,
    loaded_until: datetime,
    rows: int,
    *,
    passed: bool,
    engine: sa.Engine | None = None,
) -> None:
    """Record which load range a validation covered and whether it passed (passing moves the
    table's watermark to `loaded_until`)."""
    params = {"table_name": table, "run_id": run_id}
    checked_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with warehouse.transaction(engine) as conn:
        warehouse.run_sql("quality/delete_validated_load", params, conn=conn)
        warehouse.run_sql(
            "quality/insert_validated_load",
            {
                **params,
                "loaded_from": loaded_from,
                "loaded_until": loaded_until,
                "row_count": rows,
                "passed": int(passed),
                "checked_at": checked_at,
            },
            conn=conn,
        )


def _volume_band(
    table: str, start: datetime, cfg: QualitySettings, conn: sa.Connection
) -> tuple[int, int | None]:
    """(min, max) rows of the interval's load (`volume_band` of the trailing days' loads); no band
    for a table whose volume the contract does not judge."""
    if contract.load().tables[table].volume == "none":
        return 0, None
    return volume_band(trailing_counts(table, start, cfg.trailing_days, conn), cfg)


def volume_band(history: Sequence[int], cfg: QualitySettings) -> tuple[int, int | None]:
    """volume_min_ratio x the 10th percentile to volume_max_ratio x the 90th percentile of the
    trailing days' loads; with fewer than 3 such days, just not empty.

    Percentiles rather than the median: a shop whose traffic comes in bursts (a promotion, a
    rainy week) has them inside its own trailing spread, so an ordinary busy or quiet day is not
    a false alarm, while an empty, a tenth or a tenfold load still falls outside
    (bench/results/volume_bands.md).
    """
    if len(history) < 3:
        return 1, None
    low, high = _percentile(history, 0.1), _percentile(history, 0.9)
    # Rounded first, so that float noise (310.00000000000006 x 3) does not move a bound by a row.
    return max(1, math.floor(round(low * cfg.volume_min_ratio, 6))), math.ceil(
        round(high * cfg.volume_max_ratio, 6)
    )


def _percentile(values: Sequence[int], share: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _apply_tolerance(
    results: list[CheckResult], table: str, validated_rows: int, cfg: QualitySettings
) -> None:
    """Row-level failures above the tolerance (a share of the rows under validation) become
    critical."""
    allowed = math.floor(cfg.quarantine_tolerance * max(validated_rows, 0))
    for result in results:
        if result.severity == QUARANTINE and not result.success:
            count = int(result.unexpected_count or 0)
            result.observed_value = {
                "offending_rows": count,
                "validated_rows": validated_rows,
                "tolerated": allowed,
            }
            if count > allowed:
                result.severity = CRITICAL


def _sample_offending_ids(
    results: list[CheckResult], table: str, params: dict[str, Any], rules: dict[str, str], engine: sa.Engine
) -> None:
    """A few offending record ids of each failed row rule, for the log and the results."""
    with engine.connect() as conn:
        for result in results:
            if not result.success and result.check in GENERATED_CHECKS:
                query = GENERATED_CHECKS[result.check](table)
                rows = conn.exec_driver_sql(f"{query} LIMIT {SAMPLE_SIZE}")
                result.sample = [f"{KEY_COLUMN[table]}={row[0]}" for row in rows]
                continue
            if result.success or result.could_not_run or result.check not in rules:
                continue
            sql = warehouse.load_sql(
                "quality/sample_offending_ids",
                warehouse.dialect_name(engine),
                statements={"rule_query": rules[result.check]},
            )
            rows = conn.execute(sa.text(sql), _bound({**params, "limit": SAMPLE_SIZE}, sql, engine))
            result.sample = [f"{KEY_COLUMN[table]}={row[0]}" for row in rows]


def _bound(params: dict[str, Any], sql: str, engine: sa.Engine) -> dict[str, Any]:
    bound = warehouse.bind_params(params, warehouse.dialect_name(engine))
    return {k: v for k, v in bound.items() if f":{k}" in sql}


def _quarantine(
    results: list[CheckResult],
    table: str,
    params: dict[str, Any],
    rules: dict[str, str],
    run_id: str,
    engine: sa.Engine,
) -> None:
    """Replace the interval's quarantine of `table` with the rows of failed quarantine rules,
    after lifting earlier verdicts on records loaded again since (see lift_quarantine.sql)."""
    with warehouse.transaction(engine) as conn:
        warehouse.run_sql(
            "quality/delete_quarantine", {"table_name": table, "start": params["start"]}, conn=conn
        )
        lifted = warehouse.run_sql(
            "quality/lift_quarantine",
            {**params, "table_name": table},
            conn=conn,
            identifiers={"table": table},
            statements={"key": KEY_COLUMN[table]},
        )
        if lifted:
            log.info("%s: %s quarantined rows were loaded again and are judged afresh", table, lifted)
        for result in results:
            if result.outcome != QUARANTINE:
                continue
            warehouse.run_sql(
                "quality/insert_quarantine",
                {**params, "table_name": table, "rule": result.check, "run_id": run_id},
                conn=conn,
                statements={"rule_query": rules[result.check]},
            )
        warehouse.analyze("data_quality_quarantine", conn=conn)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def record_results(
    results: list[CheckResult],
    *,
    run_id: str,
    start: datetime,
    end: datetime,
    engine: sa.Engine | None = None,
) -> None:
    """Write results to data_quality_runs, replacing earlier results of the same run and table."""
    import pandas as pd

    if not results:
        return
    checked_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "table_name": [r.table for r in results],
            "expectation": [r.check for r in results],
            "column_name": [r.column for r in results],
            "severity": [r.outcome for r in results],
            "success": [int(r.success) for r in results],
            "observed_value": [_json(r.observed_value) for r in results],
            "unexpected_count": pd.array([r.unexpected_count for r in results], dtype="Int64"),
            "data_interval_start_at": pd.Timestamp(start).tz_localize(None),
            "data_interval_end_at": pd.Timestamp(end).tz_localize(None),
            "checked_at": pd.Timestamp(checked_at),
        }
    )
    with warehouse.transaction(engine) as conn:
        warehouse.run_sql(
            "validation/delete_run_results", {"run_id": run_id, "table_name": results[0].table}, conn=conn
        )
        warehouse.write_frame(frame, "data_quality_runs", conn=conn)
