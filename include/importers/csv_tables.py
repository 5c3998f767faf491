"""A shop's own CSV exports, loaded into a source table with a column mapping.

    python -m include.importers csv orders exports/orders.csv \\
        --map order_id=id --map ordered_at=created --time-format "%d.%m.%Y %H:%M" [--replace]

Each warehouse column takes the CSV column of the same name, or the one `--map` names; a
column the file lacks is null (the landing tables allow it; the gate decides what is
acceptable), except the table's key, which is required. Values are converted to the column's
type, and a value that does not convert stops the load with its row and column named: nothing
is written, as with any other failure, since the load is one transaction. Timestamps are
parsed with `--time-format` (or as ISO 8601) and stored as naive UTC (an offset in the text is
honoured). The rows land now (`loaded_at`): the next validation run checks them with its own
load, whatever days they describe. After the load the table is analyzed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from include import warehouse
from include.validation import KEY_COLUMN, SCHEMA

log = logging.getLogger(__name__)

# The business time of each table's rows: the days the file covers.
TIME_COLUMN = warehouse.BUSINESS_TIME


class BadImport(ValueError):
    """The file cannot be loaded as asked; the message names the row, column or mapping."""


@dataclass(frozen=True)
class Loaded:
    table: str
    rows: int
    first_day: pd.Timestamp | None
    last_day: pd.Timestamp | None


def read_table_csv(
    table: str,
    path: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    time_format: str | None = None,
) -> pd.DataFrame:
    """The rows of `path` as `table`'s columns, converted to their types.

    Raises:
        BadImport: an unknown table or warehouse column in the mapping, a missing key or
            mapped column, or a value that does not convert (its line and column named).
    """
    if table not in SCHEMA:
        raise BadImport(f"{table!r} is not a source table: {sorted(SCHEMA)}")
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(SCHEMA[table]))
    if unknown:
        raise BadImport(f"{table} has no column {', '.join(unknown)}; its columns: {list(SCHEMA[table])}")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    missing = sorted(source for source in mapping.values() if source not in raw.columns)
    if missing:
        raise BadImport(f"{path} has no column {', '.join(missing)}; it has {list(raw.columns)}")
    frame = pd.DataFrame(index=raw.index)
    for column, family in SCHEMA[table].items():
        source = mapping.get(column, column)
        if source not in raw.columns:
            if column == KEY_COLUMN[table]:
                raise BadImport(f"{path} has no {column} column (map one with --map {column}=<csv column>)")
            frame[column] = None
            continue
        frame[column] = _convert(raw[source], family, time_format, where=f"{path} column {source!r}")
    return frame


def _convert(values: pd.Series, family: str, time_format: str | None, *, where: str) -> pd.Series:
    """`values` (text) as `family`; a non-empty value that does not convert raises, naming it."""
    present = values.notna()
    if family == "text":
        return values.str.strip().where(present, None)
    if family == "timestamp":
        parsed = pd.to_datetime(values, format=time_format, errors="coerce", utc=True)
        converted = parsed.dt.tz_convert(None)
    else:
        converted = pd.to_numeric(values, errors="coerce")
        if family == "integer":
            whole = converted.isna() | (converted == converted.round())
            converted = converted.where(whole)
    bad = present & converted.isna()
    if bad.any():
        line = int(bad.idxmax()) + 2  # the header is line 1
        raise BadImport(
            f"{where}, line {line}: {values[bad].iloc[0]!r} is not a {family}"
            + (f" in the format {time_format!r}" if family == "timestamp" and time_format else "")
            + f" ({int(bad.sum())} such values)"
        )
    if family == "integer":
        return converted.astype("Int64")
    return converted


def load_table_csv(
    table: str,
    path: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    time_format: str | None = None,
    replace: bool = False,
) -> Loaded:
    """Append the file's rows to `table` (after emptying it, with `replace`), in one transaction."""
    frame = read_table_csv(table, path, mapping=mapping, time_format=time_format)
    # The rows land now: tonight's validation checks them, whatever days they describe.
    frame[warehouse.LOADED_AT] = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    engine = warehouse.get_engine()
    warehouse.ensure_output_tables(engine)
    with warehouse.transaction(engine) as conn:
        if replace:
            conn.exec_driver_sql(f"DELETE FROM {warehouse.check_identifier(table)}")
        rows = warehouse.write_frame(frame, table, conn=conn)
        warehouse.analyze(table, conn=conn)
    time_column = TIME_COLUMN[table]
    days = frame[time_column].dropna().dt.normalize() if time_column else pd.Series(dtype="datetime64[ns]")
    loaded = Loaded(table, rows, days.min() if len(days) else None, days.max() if len(days) else None)
    log.info("Loaded %s rows of %s from %s", rows, table, path)
    return loaded
