"""Data-quality gate: Great Expectations suites run in the warehouse on one data interval.

Each source table has a suite of rules. Great Expectations runs them as SQL against a query
that selects the interval's rows, so no table is pulled into memory. Every result is written
to `data_quality_runs`; a failed critical rule raises `DataQualityError`, which fails the
Airflow task so that nothing downstream runs and the published tables stay as they were.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from include import warehouse

log = logging.getLogger(__name__)

CRITICAL = "critical"
WARNING = "warning"

EVENT_TYPES = ["view", "add_to_cart", "purchase"]
PAYMENT_METHODS = ["card", "paypal", "bank_transfer", "gift_card", "crypto"]
# Upper bound of a sane product price or order amount, in the shop's currency.
MAX_PRICE = 50_000
MAX_ORDER_AMOUNT = 250_000
# Sample offending values shown in the task log per failed rule.
SAMPLE_SIZE = 5


@dataclass(frozen=True)
class Rule:
    """One expectation with the severity of its failure."""

    expectation: str  # a class name in great_expectations.expectations
    kwargs: dict[str, Any] = field(default_factory=dict)
    severity: str = CRITICAL

    @property
    def column(self) -> str:
        """The column(s) the rule looks at, '' for table-level rules."""
        if "column" in self.kwargs:
            return self.kwargs["column"]
        return ",".join(self.kwargs.get("column_list", []))


def _keys(column: str) -> list[Rule]:
    return [
        Rule("ExpectColumnValuesToNotBeNull", {"column": column}),
        Rule("ExpectColumnValuesToBeUnique", {"column": column}),
    ]


def _not_null(*columns: str) -> list[Rule]:
    return [Rule("ExpectColumnValuesToNotBeNull", {"column": c}) for c in columns]


# Table -> its rules. Row-count rules ask for at least one row where every day has some.
SUITES: dict[str, list[Rule]] = {
    "customers": [*_keys("customer_id"), *_not_null("created_at", "country")],
    "products": [
        *_keys("product_id"),
        *_not_null("created_at", "category"),
        Rule("ExpectColumnValuesToBeBetween", {"column": "price", "min_value": 0.01, "max_value": MAX_PRICE}),
    ],
    "events": [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        *_keys("event_id"),
        *_not_null("session_id", "customer_id", "product_id", "event_at"),
        Rule("ExpectColumnValuesToBeInSet", {"column": "event_type", "value_set": EVENT_TYPES}),
    ],
    "orders": [
        Rule("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        *_keys("order_id"),
        *_not_null("customer_id", "ordered_at"),
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "amount", "min_value": 0.01, "max_value": MAX_ORDER_AMOUNT},
        ),
        Rule("ExpectColumnValuesToBeInSet", {"column": "payment_method", "value_set": PAYMENT_METHODS}),
    ],
    "order_items": [
        *_not_null("order_id", "product_id"),
        Rule("ExpectCompoundColumnsToBeUnique", {"column_list": ["order_id", "line_no"]}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 1}),
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "unit_price", "min_value": 0.01, "max_value": MAX_PRICE},
        ),
    ],
    "chargebacks": [*_keys("order_id"), *_not_null("reported_at")],
}
SOURCE_TABLES = list(SUITES)


class DataQualityError(RuntimeError):
    """A critical rule failed: the data of this interval must not be used."""


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule on one table."""

    table: str
    rule: Rule
    success: bool
    observed_value: Any
    unexpected_count: int | None
    sample: list[Any]

    def describe(self) -> str:
        """One line for the task log."""
        state = "ok" if self.success else f"FAILED ({self.rule.severity})"
        target = f"{self.table}.{self.rule.column}" if self.rule.column else self.table
        text = f"{target} {self.rule.expectation}: {state}"
        if self.unexpected_count:
            text += f", {self.unexpected_count} unexpected rows, e.g. {self.sample}"
        elif self.observed_value is not None:
            text += f", observed {self.observed_value}"
        return text


def _interval_query(table: str, start: datetime, end: datetime, engine: sa.Engine) -> str:
    """The interval's SELECT with its bound values rendered as quoted literals by SQLAlchemy.

    Great Expectations takes a query string, not parameters; SQLAlchemy's literal rendering
    quotes the two timestamps safely.
    """
    dialect = warehouse.dialect_name(engine)
    text = warehouse.split_statements(warehouse.load_sql(f"validation/select_{table}_in_interval", dialect))[
        0
    ]
    # Rendered as text in both dialects: PostgreSQL casts it to TIMESTAMP in the comparison.
    params = warehouse.bind_params({"start": start, "end": end}, "sqlite")
    statement = sa.text(text).bindparams(**params)
    return str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _gx_context():  # noqa: ANN202 - great_expectations is imported lazily
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_table(
    table: str,
    start: datetime,
    end: datetime,
    *,
    run_id: str,
    engine: sa.Engine | None = None,
) -> list[RuleResult]:
    """Run the suite of `table` on rows of [start, end), record the results, return them.

    Raises:
        DataQualityError: if a critical rule failed (after the results are recorded).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    if table not in SUITES:
        raise ValueError(f"No suite for table {table!r}; known: {SOURCE_TABLES}")
    engine = engine or warehouse.get_engine()
    context = _gx_context()
    url = engine.url.render_as_string(hide_password=False)
    if warehouse.dialect_name(engine) == "postgresql":
        source = context.data_sources.add_postgres(name="warehouse", connection_string=url)
    else:
        source = context.data_sources.add_sqlite(name="warehouse", connection_string=url)
    asset = source.add_query_asset(name=table, query=_interval_query(table, start, end, engine))
    batch = asset.add_batch_definition_whole_table("interval")
    suite = context.suites.add(gx.ExpectationSuite(name=f"{table}_suite"))
    rules = SUITES[table]
    for index, rule in enumerate(rules):
        expectation = getattr(gxe, rule.expectation)(**rule.kwargs, meta={"rule": index})
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table}_interval", data=batch, suite=suite)
    )
    outcome = definition.run(result_format={"result_format": "SUMMARY"})

    results = []
    for item in outcome.results:
        rule = rules[int(item.expectation_config.meta["rule"])]
        raised = bool(item.exception_info and item.exception_info.get("raised_exception"))
        detail = item.result or {}
        observed = detail.get("observed_value")
        if raised:
            observed = f"error: {item.exception_info.get('exception_message')}"
        results.append(
            RuleResult(
                table=table,
                rule=rule,
                success=bool(item.success) and not raised,
                observed_value=observed,
                unexpected_count=detail.get("unexpected_count"),
                sample=list(detail.get("partial_unexpected_list") or [])[:SAMPLE_SIZE],
            )
        )
    record_results(results, run_id=run_id, start=start, end=end, engine=engine)

    for result in results:
        level = logging.INFO if result.success else logging.ERROR
        log.log(level, "%s", result.describe())
    failed = [r for r in results if not r.success and r.rule.severity == CRITICAL]
    if failed:
        raise DataQualityError(
            f"{len(failed)} critical data-quality rule(s) failed on {table} "
            f"for [{start}, {end}): " + "; ".join(r.describe() for r in failed)
        )
    return results


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def record_results(
    results: list[RuleResult],
    *,
    run_id: str,
    start: datetime,
    end: datetime,
    engine: sa.Engine | None = None,
) -> None:
    """Write results to data_quality_runs, replacing any earlier results of the same run."""
    import pandas as pd

    if not results:
        return
    checked_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    frame = pd.DataFrame(
        {
            "run_id": run_id,
            "table_name": [r.table for r in results],
            "expectation": [r.rule.expectation for r in results],
            "column_name": [r.rule.column for r in results],
            "severity": [r.rule.severity for r in results],
            "success": [int(r.success) for r in results],
            "observed_value": [_json(r.observed_value) for r in results],
            "unexpected_count": [r.unexpected_count for r in results],
            "data_interval_start_at": pd.Timestamp(start).tz_localize(None),
            "data_interval_end_at": pd.Timestamp(end).tz_localize(None),
            "checked_at": pd.Timestamp(checked_at),
        }
    )
    frame["unexpected_count"] = frame["unexpected_count"].astype("Int64")
    with warehouse.transaction(engine) as conn:
        warehouse.run_sql(
            "validation/delete_run_results",
            {"run_id": run_id, "table_name": results[0].table},
            conn=conn,
        )
        warehouse.write_frame(frame, "data_quality_runs", conn=conn)
