"""What the importers of public data sets share: their rows are a replay of history, and they
replace the warehouse's source rows whole."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from include import warehouse
from include.validation import SCHEMA


def as_replay(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each table's frame with exactly its source columns, every row landing at its own business
    time (`loaded_at`), so any past night can be validated and scored as it would have been then."""
    return {
        table: frame[list(SCHEMA[table])]
        .assign(**{warehouse.LOADED_AT: frame[warehouse.BUSINESS_TIME[table]].to_numpy()})
        .reset_index(drop=True)
        for table, frame in frames.items()
    }


def replace_source_rows(engine: sa.Engine, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Replace the warehouse's source rows with `frames`; returns rows written per table.

    Creates the schema as the simulator does for a fresh warehouse, then in one transaction
    empties the six source tables (and the simulator's record, so `append-day` will not extend
    this warehouse) and the quarantine, whose record ids named rows of the previous content,
    and bulk-loads the frames; then analyses the loaded tables. Model versions and published
    tables are left as they are.
    """
    warehouse.create_schema(engine)
    with warehouse.transaction(engine) as conn:
        warehouse.run_sql("simulator/create_shop_simulation", conn=conn)
        warehouse.run_sql("simulator/delete_source_rows", conn=conn)
        conn.exec_driver_sql("DELETE FROM data_quality_quarantine")
        counts = {table: warehouse.write_frame(frame, table, conn=conn) for table, frame in frames.items()}
    with warehouse.transaction(engine) as conn:
        warehouse.analyze(*frames, conn=conn)
    return counts
