"""Small helpers the tests share."""

from __future__ import annotations

import pandas as pd

from include import warehouse


def read_sql(sql: str, **params) -> pd.DataFrame:
    """The result of a literal query on the current warehouse."""
    with warehouse.get_engine().connect() as conn:
        return warehouse.read_frame(sql=sql, params=params, conn=conn)
