"""The simulated shop: a deterministic stand-in for the shop that writes the source tables.

It simulates customers with latent tastes, a catalogue with long-tailed popularity, browsing
sessions with a view -> add_to_cart -> purchase funnel, the orders they produce, about 1% of
them fraudulent, and the chargebacks that reveal that fraud weeks later.

Every day is generated from its own random stream, seeded by (seed, day index), on top of a
population (customers, products) that is itself rebuilt from per-day seeds. So building N days
and then appending day N+1 writes exactly the rows that building N+1 days at once writes.

Ids:
- customers and products are numbered 1, 2, ... in order of creation;
- events, sessions and orders of day `d` (0 = the start day) get `d * ID_BLOCK + 1, 2, ...`
  in time order, so ids are unique and increase with time across days.

Fraud is visible in the warehouse only through chargebacks: a chargeback row is written in the
load of the day it is reported (7 to 56 days after the order), never earlier.
`simulate_truth` gives the ground truth for tests and benchmarks.

Its parts, along the shop's seams:
- `knobs.py`: every tunable (catalogue, tastes, sessions, orders, fraud) and the ids and random
  streams the parts share; `presets.py`: the shop sizes (tiny, small, medium, large);
- `population.py`: the catalogue and the customers that exist on each day;
- `day.py`: one day's activity (sessions, funnel, orders, fraud, chargebacks), day by day;
- `loading.py`: the public functions: days as frames, and writing them into a warehouse;
- `cli.py`: the command line; `randomness.py`: per-day random streams and weighted draws.
`tests/include/test_simulator.py` guards that a day is the same however it is generated.

Command line:
    python -m include.simulator build --preset small --days 90 [--start 2026-06-01 | --end yesterday] [--seed 7]
    python -m include.simulator append-day
    python -m include.simulator catch-up [--until yesterday]
"""

from __future__ import annotations

from include.simulator.cli import main
from include.simulator.knobs import COUNTRIES, DEFAULT_SEED, DEFAULT_START, ID_BLOCK, SOURCE_TABLES
from include.simulator.loading import (
    append_day,
    build_shop,
    catch_up,
    last_simulated_day,
    simulate,
    simulate_day,
    simulate_links,
    simulate_truth,
    with_load_times,
)
from include.simulator.presets import PRESETS, ShopPreset, resolve_preset

__all__ = [
    "COUNTRIES",
    "DEFAULT_SEED",
    "DEFAULT_START",
    "ID_BLOCK",
    "PRESETS",
    "SOURCE_TABLES",
    "ShopPreset",
    "append_day",
    "build_shop",
    "catch_up",
    "last_simulated_day",
    "main",
    "resolve_preset",
    "simulate",
    "simulate_day",
    "simulate_links",
    "simulate_truth",
    "with_load_times",
]
