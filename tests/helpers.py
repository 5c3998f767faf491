"""Small helpers the tests share."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from include import warehouse


def read_sql(sql: str, **params) -> pd.DataFrame:
    """The result of a literal query on the current warehouse."""
    with warehouse.get_engine().connect() as conn:
        return warehouse.read_frame(sql=sql, params=params, conn=conn)


def pass_earlier_nights(engine: sa.Engine, until: datetime) -> None:
    """Record every row loaded before `until` as passed by the gate, the state earlier nights'
    validations leave: tests of what follows the gate start from it without re-running it (the
    gate itself, its first night included, is tested in tests/data/test_quality_gate.py)."""
    from include import validation

    since = datetime(2000, 1, 1)
    with engine.connect() as conn:
        rows = {t: validation.loaded_rows(t, since, until, conn) for t in validation.SOURCE_TABLES}
    for table, count in rows.items():
        validation.record_load(table, "earlier-nights", since, until, count, passed=True, engine=engine)
