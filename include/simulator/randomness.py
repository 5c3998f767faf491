"""Shared helpers: per-day random streams, timestamps, weighted draws and rankings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np

from include.simulator.knobs import _EPOCH, COUNTRIES, HOUR_WEIGHTS, SECONDS_PER_DAY


def _rng(seed: int, day: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, day, stream])


def _day_seconds(day: date) -> int:
    return (day - _EPOCH).days * SECONDS_PER_DAY


def _timestamps(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds as naive UTC datetimes (whole seconds)."""
    return np.asarray(seconds, dtype="int64").astype("datetime64[s]").astype("datetime64[us]")


def _normalise(weights: Iterable[float]) -> np.ndarray:
    array = np.asarray(tuple(weights), dtype=float)
    return array / array.sum()


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def _times_of_day(rng: np.random.Generator, n: int, hours: int = 24) -> np.ndarray:
    """Seconds after midnight following the hour-of-day cycle (first `hours` hours only)."""
    hour = rng.choice(hours, size=n, p=_normalise(HOUR_WEIGHTS[:hours]))
    return hour * 3600 + rng.integers(0, 3600, size=n)


def _other_country(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """A country different from `country`, uniformly."""
    return (country + rng.integers(1, len(COUNTRIES), size=len(country))) % len(COUNTRIES)


def _gaps(rng: np.random.Generator, n: int, spec: tuple[int, int]) -> np.ndarray:
    return spec[0] + rng.exponential(spec[1], size=n)


def _gumbel_top(
    rng: np.random.Generator, scores: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sample counts[i] distinct columns of row i with probability ~ exp(score), in draw order.

    Returns (row, column) index arrays, row-major. Gumbel top-k: sampling without replacement.
    """
    k = int(counts.max(initial=0))
    if k == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    noise = rng.standard_exponential(size=scores.shape, dtype=np.float32)
    np.maximum(noise, np.finfo(np.float32).tiny, out=noise)
    keys = scores - np.log(noise, out=noise)
    if k < keys.shape[1]:
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(keys.shape[1]), keys.shape)
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    rows, positions = np.nonzero(np.arange(top.shape[1])[None, :] < counts[:, None])
    return rows, top[rows, positions]


def _rank(*keys: np.ndarray) -> np.ndarray:
    """0-based rank of each row when sorted by keys (first key most significant)."""
    order = np.lexsort(keys[::-1])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _within_group_position(group: np.ndarray) -> np.ndarray:
    """0-based position of each element inside its run of equal, contiguous `group` values."""
    if len(group) == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.r_[True, group[1:] != group[:-1]]
    start_index = np.maximum.accumulate(np.where(starts, np.arange(len(group)), 0))
    return np.arange(len(group)) - start_index


def device_ids(numbers: np.ndarray, seed: int) -> np.ndarray:
    """Opaque, unique text ids for device numbers (a bijection on 64 bits)."""
    salt = np.uint64((seed * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) % (1 << 64))
    mixed = np.asarray(numbers, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + salt
    shifts = np.arange(60, -1, -4, dtype=np.uint64)
    nibbles = (mixed[:, None] >> shifts[None, :]) & np.uint64(0xF)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles.astype(np.intp)]
    return np.ascontiguousarray(digits).view("S16").ravel().astype("U16").astype(object)
