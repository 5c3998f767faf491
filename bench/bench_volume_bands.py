"""Volume bands on real daily traffic: false alarms on ordinary days, and faults caught.

    .venv/bin/pip install --no-deps ISLP==0.6.0     # once: its bundled public data sets
    PYTHONPATH=. .venv/bin/python bench/bench_volume_bands.py [--out bench/results/volume_bands.md]

The gate fails a night when a table's daily load leaves a band computed from the trailing
days. A band that is too tight stops the nightly on ordinary bursty traffic; one too wide lets a
lost or repeated load through. Each rule is run over real daily series, every day judged against
the days before it:

- Capital Bikeshare rentals per day, 2011 (ISLP's Bikeshare: weekly rhythm, weather dips);
- NYSE trading volume per trading day, 1962-1986 (ISLP's NYSE, exp(log_volume));
- the fraud sample's orders per day (../shared/data/fraud-ecommerce, when present);
- the simulated small shop's events and orders per day (steady by construction).

False alarms: ordinary days outside the band. Faults caught: the same days with their load
replaced by nothing, a tenth (a partial load) or ten times (a load repeated). The band the gate
uses is `include.validation.volume_band`; the rule it replaced (0.3-3 x the median of 14 days) is
computed here beside it.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from include import validation

FAULTS = {"nothing": 0.0, "a tenth": 0.1, "ten times": 10.0}
Band = tuple[int, int | None]


def median_rule(history: Sequence[int], cfg: validation.QualitySettings) -> Band:
    """The rule before: 0.3-3 x the median of the last 14 days."""
    recent = sorted(history[-14:])
    if len(recent) < 3:
        return 1, None
    median = statistics.median(recent)
    return max(1, math.floor(median * cfg.volume_min_ratio)), math.ceil(median * cfg.volume_max_ratio)


def series() -> dict[str, np.ndarray]:
    from ISLP import load_data

    found = {}
    bikes = load_data("Bikeshare")
    found["Bikeshare rentals per day, 2011"] = bikes.groupby("day", sort=True)["bikers"].sum().to_numpy()
    nyse = load_data("NYSE")
    found["NYSE volume per trading day, 1962-1986"] = np.round(np.exp(nyse["log_volume"]) * 1e6).to_numpy()
    fraud = (
        Path(__file__).resolve().parents[2] / "shared" / "data" / "fraud-ecommerce" / "Fraud_Data_sample.csv"
    )
    if fraud.exists():
        purchases = pd.to_datetime(pd.read_csv(fraud, usecols=["purchase_time"])["purchase_time"])
        daily = purchases.dt.normalize().value_counts().sort_index()
        daily = daily.reindex(pd.date_range(daily.index.min(), daily.index.max()), fill_value=0)
        found["fraud sample orders per day, 2015"] = daily.to_numpy()
    from include import simulator

    days = list(simulator.simulate("small", 120))
    found["simulated small shop, events per day"] = np.array([len(f["events"]) for _, f in days])
    found["simulated small shop, orders per day"] = np.array([len(f["orders"]) for _, f in days])
    return found


def _outside(n: float, low: int, high: int | None) -> bool:
    return n < low or (high is not None and n > high)


def judge(values: np.ndarray, rule: Callable[[Sequence[int], validation.QualitySettings], Band]) -> dict:
    cfg = validation.QualitySettings()
    alarms = judged = 0
    caught = dict.fromkeys(FAULTS, 0)
    for day in range(len(values)):
        history = [int(v) for v in values[max(0, day - cfg.trailing_days) : day] if v > 0]
        low, high = rule(history, cfg)
        if len(history) < 3:
            continue
        judged += 1
        alarms += _outside(values[day], low, high)
        for name, factor in FAULTS.items():
            caught[name] += _outside(round(values[day] * factor), low, high)
    return {"judged": judged, "alarms": alarms, "caught": caught}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/volume_bands.md")
    args = parser.parse_args()
    rules = {"0.3-3 x median of 14 days (before)": median_rule, "the gate's band": validation.volume_band}
    cfg = validation.QualitySettings()
    lines = [
        "# Volume bands on real daily traffic",
        "",
        "- command: `PYTHONPATH=. .venv/bin/python bench/bench_volume_bands.py` "
        "(needs `.venv/bin/pip install --no-deps ISLP==0.6.0`)",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        f"- the gate's band (`include.validation.volume_band`): volume_min_ratio ({cfg.volume_min_ratio}) x the "
        f"10th percentile to volume_max_ratio ({cfg.volume_max_ratio}) x the 90th percentile of the loads of "
        f"the trailing {cfg.trailing_days} days; the rule before: the same ratios x the median of the last 14 days",
        "- false alarms: ordinary days outside the band; caught: the same days with the load replaced",
        "",
        "| series | rule | days judged | false alarms | caught: nothing | caught: a tenth | caught: ten times |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, values in series().items():
        for rule_name, rule in rules.items():
            r = judge(values, rule)
            n = r["judged"]
            cells = [f"{r['caught'][f] / n:.1%}" for f in FAULTS]
            lines.append(
                f"| {name} | {rule_name} | {n} | {r['alarms']} ({r['alarms'] / n:.1%}) | "
                + " | ".join(cells)
                + " |"
            )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
