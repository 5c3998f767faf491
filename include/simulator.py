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

Command line:
    python -m include.simulator build --preset small --days 90 [--start 2026-06-01 | --end yesterday] [--seed 7]
    python -m include.simulator append-day
    python -m include.simulator catch-up [--until yesterday]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from include import warehouse

log = logging.getLogger(__name__)

SOURCE_TABLES = ("customers", "products", "events", "orders", "order_items", "chargebacks")
DEFAULT_START = date(2026, 6, 1)
DEFAULT_SEED = 7

SECONDS_PER_DAY = 86_400
# Events, sessions and orders of day d are numbered d * ID_BLOCK + 1, 2, ... in time order.
ID_BLOCK = 100_000_000
_EPOCH = date(1970, 1, 1)

# --------------------------------------------------------------------------- catalogue knobs

# (category, share of products and of browsing, mean log price)
CATEGORIES: tuple[tuple[str, float, float], ...] = (
    ("electronics", 0.09, 4.9),
    ("computers", 0.04, 6.1),
    ("phones", 0.04, 5.7),
    ("books", 0.08, 2.7),
    ("home", 0.07, 3.8),
    ("kitchen", 0.07, 3.5),
    ("garden", 0.04, 3.9),
    ("toys", 0.06, 3.2),
    ("beauty", 0.06, 2.9),
    ("sports", 0.05, 3.9),
    ("fashion", 0.08, 3.6),
    ("shoes", 0.04, 4.3),
    ("jewelry", 0.03, 4.7),
    ("grocery", 0.05, 2.2),
    ("pet", 0.04, 3.0),
    ("baby", 0.03, 3.4),
    ("office", 0.03, 3.0),
    ("games", 0.04, 3.9),
    ("health", 0.03, 3.0),
    ("outdoor", 0.03, 4.2),
)
BRANDS_PER_CATEGORY = 12  # brands in each category (brand popularity is itself long-tailed)
_BRAND_HEADS = (
    "Ar",
    "Bel",
    "Cor",
    "Dun",
    "El",
    "Fen",
    "Gal",
    "Hal",
    "Ix",
    "Jor",
    "Kel",
    "Lum",
    "Mor",
    "Nor",
    "Or",
    "Pax",
)
_BRAND_TAILS = ("a", "ex", "ion", "ora", "is", "on", "ix", "ana", "ett", "um", "ar", "el", "o", "ova", "une")
PRICE_SIGMA = 0.5  # log-normal spread of prices within a category
BRAND_PRICE_SIGMA = 0.3  # spread of the price premium of a brand
MIN_PRICE = 0.99  # lowest price in the catalogue
POPULARITY_TAIL = 1.2  # Pareto index of product popularity: a Zipf-like long tail
POPULARITY_CAP = 300.0  # cap on the popularity weight of a single product
NOVELTY_BOOST = 2.0  # popularity multiplier added to a brand-new product, fading with age
NOVELTY_DAYS = 10.0  # e-folding time of the novelty boost, in days
INITIAL_PRODUCT_AGE_DAYS = 730  # the initial catalogue was listed over the two years before
INITIAL_CUSTOMER_AGE_DAYS = 400  # mean account age of the initial customers at the start
MAX_INITIAL_CUSTOMER_AGE_DAYS = 1_500  # oldest account of the initial customers

# --------------------------------------------------------------------------- taste knobs

LATENT_DIM = 8  # size of the latent taste vectors of customers and products
TASTE_CONCENTRATION = 2.0  # total Dirichlet concentration of category tastes: lower = more focused
BRAND_LATENT_WEIGHT = 0.7  # how much a product's latent vector follows its brand's
TASTE_WEIGHT = 3.0  # weight of the customer-product affinity (cosine) against log popularity
EXPLORE_SHARE = 0.1  # share of sessions browsing a category drawn from overall popularity
ACTIVITY_SIGMA = 0.9  # log-normal spread of how often customers visit

# --------------------------------------------------------------------------- session knobs

# Relative session starts per hour of the day (UTC): a quiet night, an evening peak.
HOUR_WEIGHTS = (
    0.9,
    0.6,
    0.4,
    0.3,
    0.25,
    0.3,
    0.5,
    0.9,
    1.3,
    1.6,
    1.8,
    1.9,
    2.0,
    1.9,
    1.8,
    1.8,
    1.9,
    2.1,
    2.5,
    2.9,
    3.1,
    2.8,
    2.1,
    1.4,
)
WEEKDAY_FACTORS = (0.92, 0.9, 0.9, 0.94, 1.0, 1.2, 1.24)  # sessions Monday..Sunday vs the mean
SIGNUP_HOURS = 23  # accounts are opened before 23:00 so the first session fits in the day
SIGNUP_SESSION_SHARE = 0.6  # share of new customers who browse right after signing up
MAX_VIEWS = 12  # most products viewed in one session
MAX_SESSION_SECONDS = 2_400  # longer sessions are compressed to this (keeps a day's sessions in it)
VIEW_GAP_SECONDS = (8, 40)  # (minimum, mean extra) seconds between two views
CART_GAP_SECONDS = (3, 20)  # (minimum, mean extra) seconds from a view to its add_to_cart
CHECKOUT_GAP_SECONDS = (20, 90)  # (minimum, mean extra) seconds from the last step to checkout
CART_BASE = 0.24  # add_to_cart probability of a viewed product of neutral affinity
CART_TASTE = 0.3  # extra add_to_cart probability per unit of affinity (cosine)
CART_RANGE = (0.03, 0.85)  # bounds of the add_to_cart probability
PURCHASE_GIVEN_CART = 0.8  # probability that a carted product is bought at checkout
EXTRA_QUANTITY_P = 0.82  # legit quantity is geometric(p): mostly 1

# --------------------------------------------------------------------------- order knobs

# ISO-2 countries: the shop's customer countries first, then others seen in IPs/shipping.
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "PL", "SE", "CA", "BR", "MX", "IN", "JP", "AU")
CUSTOMER_COUNTRY_WEIGHTS = (0.30, 0.15, 0.15, 0.10, 0.05, 0.06, 0.06, 0.04, 0.04, 0.05, 0, 0, 0, 0, 0)
CHANNELS = ("organic", "paid_search", "social", "email", "referral")
CHANNEL_WEIGHTS = (0.35, 0.25, 0.15, 0.15, 0.10)  # sign-up channel of legit customers
FRAUD_CHANNEL_WEIGHTS = (0.45, 0.35, 0.15, 0.0, 0.05)  # sign-up channel of fraud accounts
PAYMENT_METHODS = ("card", "paypal", "bank_transfer", "gift_card", "crypto")
PAYMENT_WEIGHTS = (0.58, 0.27, 0.08, 0.05, 0.02)  # payment methods of legit customers
FRAUD_PAYMENT_WEIGHTS = (0.45, 0.15, 0.02, 0.23, 0.15)  # payment methods of fraud
PREFERRED_PAYMENT_SHARE = 0.8  # legit orders paid with the customer's usual method
SECOND_DEVICE_SHARE = 0.35  # legit customers with a second device of their own
SECOND_DEVICE_USE = 0.3  # share of their orders placed from the second device
HOUSEHOLD_SHARE = 0.05  # new legit customers sharing a device with an existing customer
TRAVELLER_SHARE = 0.06  # legit customers who often order from abroad
BASE_TRAVEL_RATE = 0.015  # legit orders from abroad (IP country differs) of non-travellers
TRAVELLER_TRAVEL_RATE = 0.35  # the same for travellers
GIFT_SHIPPING_RATE = 0.03  # legit orders shipped to another country

# --------------------------------------------------------------------------- fraud knobs

FRAUD_SLEEPER_SHARE = 0.15  # fraud accounts that wait weeks before striking
FRAUD_SLEEP_DAYS = (5, 40)  # how long sleepers wait
FRAUD_BURST_DELAY_SECONDS = (300, 6 * 3600)  # (minimum, mean extra) wait of the others
FRAUD_BURST_MAX_DELAY_DAYS = 3  # the others strike within this many days of signing up
FRAUD_EXTRA_ORDERS = 1.5  # Poisson mean of orders beyond the first in a fraud burst
MAX_BURST_ORDERS = 6  # most orders in one burst
FRAUD_BURST_GAP_SECONDS = (240, 5_400)  # range of the time between orders of a burst
FRAUD_POOL_DEVICE_SHARE = 0.6  # fraud accounts using a device of the fraudsters' shared pool
FRAUD_IP_MISMATCH = 0.6  # fraud orders whose IP country differs from the billing country
FRAUD_SHIP_MISMATCH = 0.35  # fraud orders shipped to another country than billed
FRAUD_PREFERRED_PAYMENT = 0.6  # fraud accounts sticking to one payment method
FRAUD_EXTRA_ITEMS = 1.0  # Poisson mean of products beyond the first in a fraud order
FRAUD_EXTRA_VIEWS = 0.6  # Poisson mean of products a fraudster views without buying
FRAUD_PRICE_TILT = 0.8  # fraudsters favour expensive products: weight * price**tilt
FRAUD_EXTRA_QUANTITY_P = 0.55  # fraud quantity is geometric(p): more often > 1
CARD_TESTING_SHARE = 0.15  # fraud orders that only test a card with one cheap product
FRAUD_SPEED = 0.4  # fraudsters click through faster: gaps multiplied by this
TAKEOVER_MIN_AGE_DAYS = 30  # account takeovers hit accounts at least this old
TAKEOVER_EXTRA_ORDERS = 0.5  # Poisson mean of orders beyond the first in a takeover
TAKEOVER_POOL_DEVICE_SHARE = 0.5  # takeovers from a pool device (else a fresh device)
TAKEOVER_IP_MISMATCH = 0.65  # takeover orders whose IP country differs from billing
TAKEOVER_SHIP_MISMATCH = 0.5  # takeover orders shipped to another country
TAKEOVER_STORED_PAYMENT = 0.4  # takeovers paying with the victim's usual method
FRAUD_CHARGEBACK_SHARE = 0.85  # fraud orders that end in a chargeback
FRIENDLY_CHARGEBACK_SHARE = 0.0005  # legit orders disputed as not received
CHARGEBACK_DELAY_DAYS = (7, 56)  # a chargeback is reported this many days after the order
CHARGEBACK_DELAY_SHAPE = (2.0, 3.0)  # Beta shape of the delay within that range

# Device numbers: the fraud pool first, then customers' devices, fresh takeover devices apart.
_TAKEOVER_DEVICE_BASE = 1 << 40
_TAKEOVER_DEVICE_STRIDE = 1 << 20
_MAX_CHARGEBACK_LOOKBACK = CHARGEBACK_DELAY_DAYS[1]

# Random streams: each day draws from (seed, day, stream).
_STREAM_INITIAL = 0
_STREAM_ARRIVALS = 1
_STREAM_DAY = 2
_STREAM_CATALOGUE = 3

_KIND_LEGIT, _KIND_FRAUD_ACCOUNT, _KIND_TAKEOVER = 0, 1, 2
_FRAUD_KINDS = np.array(["", "new_account", "takeover"], dtype=object)
_EVENT_TYPES = np.array(["view", "add_to_cart", "purchase"], dtype=object)


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class ShopPreset:
    """The size of a simulated shop (rates are daily means)."""

    name: str
    initial_customers: int
    initial_products: int
    new_customers_per_day: float
    new_products_per_day: float
    sessions_per_day: float
    views_per_session: float  # mean products viewed per browsing session
    checkout_share: float  # share of sessions with a cart that check out
    fraud_accounts_per_day: float  # new fraud accounts per day, each striking in a burst
    takeovers_per_day: float  # legit accounts taken over per day
    fraud_device_pool: int  # devices shared by the fraudsters

    def __post_init__(self) -> None:
        if self.initial_customers < 1 or self.initial_products < 1:
            raise ValueError("A shop needs at least one customer and one product at the start")
        rates = (
            self.new_customers_per_day,
            self.new_products_per_day,
            self.sessions_per_day,
            self.fraud_accounts_per_day,
            self.takeovers_per_day,
        )
        if min(rates) < 0:
            raise ValueError("Daily rates of a shop preset cannot be negative")
        if not 1 <= self.views_per_session <= MAX_VIEWS:
            raise ValueError(f"views_per_session must be between 1 and {MAX_VIEWS}")
        if not 0 < self.checkout_share <= 1:
            raise ValueError("checkout_share must be in (0, 1]")
        if self.fraud_device_pool < 1:
            raise ValueError("fraud_device_pool must be at least 1")


PRESETS: dict[str, ShopPreset] = {
    "tiny": ShopPreset(
        name="tiny",
        initial_customers=320,
        initial_products=155,
        new_customers_per_day=2.0,
        new_products_per_day=0.5,
        sessions_per_day=45,
        views_per_session=3.2,
        checkout_share=0.8,
        fraud_accounts_per_day=0.075,
        takeovers_per_day=0.038,
        fraud_device_pool=2,
    ),
    "small": ShopPreset(
        name="small",
        initial_customers=3_650,
        initial_products=820,
        new_customers_per_day=15.0,
        new_products_per_day=2.0,
        sessions_per_day=400,
        views_per_session=5.5,
        checkout_share=0.65,
        fraud_accounts_per_day=0.73,
        takeovers_per_day=0.37,
        fraud_device_pool=6,
    ),
    "medium": ShopPreset(
        name="medium",
        initial_customers=73_000,
        initial_products=16_400,
        new_customers_per_day=300.0,
        new_products_per_day=40.0,
        sessions_per_day=12_000,
        views_per_session=3.2,
        checkout_share=0.75,
        fraud_accounts_per_day=19.5,
        takeovers_per_day=9.8,
        fraud_device_pool=60,
    ),
    # Twice the medium shop: checks that time and memory grow linearly with the shop.
    "large": ShopPreset(
        name="large",
        initial_customers=146_000,
        initial_products=32_800,
        new_customers_per_day=600.0,
        new_products_per_day=80.0,
        sessions_per_day=24_000,
        views_per_session=3.2,
        checkout_share=0.75,
        fraud_accounts_per_day=39.0,
        takeovers_per_day=19.6,
        fraud_device_pool=120,
    ),
}


def resolve_preset(preset: str | ShopPreset) -> ShopPreset:
    """A preset by name (`tiny`, `small`, `medium`), or the given one."""
    if isinstance(preset, ShopPreset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"Unknown shop preset {preset!r}: choose one of {sorted(PRESETS)}") from None


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- population


@dataclass
class _Catalogue:
    """Fixed per seed: categories, brands and their latent vectors and price premiums."""

    category_share: np.ndarray
    log_price: np.ndarray
    brand_names: np.ndarray  # (category, brand) -> name
    brand_weights: np.ndarray  # long-tailed brand popularity inside a category
    brand_premium: np.ndarray  # (category, brand) log price premium
    brand_latent: np.ndarray  # (category, brand, LATENT_DIM)


def _catalogue(seed: int) -> _Catalogue:
    rng = _rng(seed, 0, _STREAM_CATALOGUE)
    n_cat = len(CATEGORIES)
    names = np.array(
        [
            _BRAND_HEADS[i // len(_BRAND_TAILS)] + _BRAND_TAILS[i % len(_BRAND_TAILS)]
            for i in range(n_cat * BRANDS_PER_CATEGORY)
        ],
        dtype=object,
    ).reshape(n_cat, BRANDS_PER_CATEGORY)
    return _Catalogue(
        category_share=_normalise(c[1] for c in CATEGORIES),
        log_price=np.array([c[2] for c in CATEGORIES]),
        brand_names=names,
        brand_weights=_normalise(1.0 / np.arange(1, BRANDS_PER_CATEGORY + 1)),
        brand_premium=rng.normal(0.0, BRAND_PRICE_SIGMA, size=(n_cat, BRANDS_PER_CATEGORY)),
        brand_latent=rng.normal(size=(n_cat, BRANDS_PER_CATEGORY, LATENT_DIM)),
    )


@dataclass
class _Population:
    """Customers and products created up to some day, as column arrays (index = id - 1)."""

    customers: dict[str, np.ndarray]
    products: dict[str, np.ndarray]


def _new_products(
    rng: np.random.Generator, cat: _Catalogue, created: np.ndarray, day: int
) -> dict[str, np.ndarray]:
    n = len(created)
    category = rng.choice(len(CATEGORIES), size=n, p=cat.category_share)
    brand = rng.choice(BRANDS_PER_CATEGORY, size=n, p=cat.brand_weights)
    mean_log = cat.log_price[category] + cat.brand_premium[category, brand]
    price = np.maximum(np.round(np.exp(rng.normal(mean_log, PRICE_SIGMA)), 2), MIN_PRICE)
    weight = np.minimum(rng.pareto(POPULARITY_TAIL, size=n) + 1.0, POPULARITY_CAP)
    latent = BRAND_LATENT_WEIGHT * cat.brand_latent[category, brand] + np.sqrt(
        1 - BRAND_LATENT_WEIGHT**2
    ) * rng.normal(size=(n, LATENT_DIM))
    order = np.argsort(created, kind="stable")
    return {
        "created": created[order],
        "category": category[order],
        "brand": brand[order],
        "price": price[order],
        "log_popularity": np.log(weight[order]),
        "latent": _unit_rows(latent[order]) if n else np.empty((0, LATENT_DIM), np.float32),
        "day": np.full(n, day, dtype=np.int32),
    }


def _new_customers(
    rng: np.random.Generator,
    preset: ShopPreset,
    cat: _Catalogue,
    created: np.ndarray,
    fraud: np.ndarray,
    day: int,
    existing_devices: np.ndarray,
    next_device: int,
) -> tuple[dict[str, np.ndarray], int]:
    """Customers created at `created` (fraud accounts where `fraud`), sorted by creation."""
    order = np.argsort(created, kind="stable")
    created, fraud = created[order], fraud[order]
    n = len(created)
    country = rng.choice(len(COUNTRIES), size=n, p=_normalise(CUSTOMER_COUNTRY_WEIGHTS))
    channel = np.where(
        fraud,
        rng.choice(len(CHANNELS), size=n, p=_normalise(FRAUD_CHANNEL_WEIGHTS)),
        rng.choice(len(CHANNELS), size=n, p=_normalise(CHANNEL_WEIGHTS)),
    )
    taste = rng.dirichlet(TASTE_CONCENTRATION * cat.category_share, size=n)
    latent = rng.normal(size=(n, LATENT_DIM))
    activity = np.where(fraud, 0.0, rng.lognormal(0.0, ACTIVITY_SIGMA, size=n))
    payment = np.where(
        fraud,
        rng.choice(len(PAYMENT_METHODS), size=n, p=_normalise(FRAUD_PAYMENT_WEIGHTS)),
        rng.choice(len(PAYMENT_METHODS), size=n, p=_normalise(PAYMENT_WEIGHTS)),
    )
    traveller = ~fraud & (rng.random(n) < TRAVELLER_SHARE)

    # Devices: own ones, a few shared in households, fraudsters often on the shared pool.
    own = next_device + np.arange(n)
    next_device += n
    second = ~fraud & (rng.random(n) < SECOND_DEVICE_SHARE)
    device2 = np.full(n, -1, dtype=np.int64)
    device2[second] = next_device + np.arange(int(second.sum()))
    next_device += int(second.sum())
    # A housemate's device: one of an earlier customer, or of another new legit customer.
    shareable = np.concatenate([existing_devices, own[~fraud]]).astype(np.int64)
    household = ~fraud & (rng.random(n) < HOUSEHOLD_SHARE) & (len(shareable) > 1)
    housemate = shareable[rng.integers(0, max(len(shareable), 1), size=n)] if len(shareable) else own
    pooled = fraud & (rng.random(n) < FRAUD_POOL_DEVICE_SHARE)
    pool_device = rng.integers(0, preset.fraud_device_pool, size=n)
    device1 = np.where(household, housemate, own)
    device1 = np.where(pooled, pool_device, device1).astype(np.int64)

    # Fraud accounts strike in a burst of orders, most within hours, sleepers weeks later.
    sleeper = rng.random(n) < FRAUD_SLEEPER_SHARE
    sleep = rng.integers(FRAUD_SLEEP_DAYS[0] * SECONDS_PER_DAY, FRAUD_SLEEP_DAYS[1] * SECONDS_PER_DAY, size=n)
    quick = np.minimum(
        FRAUD_BURST_DELAY_SECONDS[0] + rng.exponential(FRAUD_BURST_DELAY_SECONDS[1], size=n),
        FRAUD_BURST_MAX_DELAY_DAYS * SECONDS_PER_DAY,
    ).astype(np.int64)
    burst_orders = 1 + np.minimum(rng.poisson(FRAUD_EXTRA_ORDERS, size=n), MAX_BURST_ORDERS - 1)
    burst_gap = rng.integers(*FRAUD_BURST_GAP_SECONDS, size=n)
    burst_start = created + np.where(sleeper, sleep, quick)
    return {
        "created": created,
        "fraud": fraud,
        "country": country,
        "channel": channel,
        "taste": taste,
        "latent": _unit_rows(latent) if n else np.empty((0, LATENT_DIM), np.float32),
        "activity": activity,
        "payment": payment,
        "traveller": traveller,
        "device1": device1,
        "device2": device2,
        "burst_start": np.where(fraud, burst_start, 0),
        "burst_orders": np.where(fraud, burst_orders, 0),
        "burst_gap": np.where(fraud, burst_gap, 0),
        "day": np.full(n, day, dtype=np.int32),
    }, next_device


def _arrivals(
    preset: ShopPreset,
    seed: int,
    cat: _Catalogue,
    start_s: int,
    day: int,
    existing_devices: np.ndarray,
    next_device: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """New customers and products of one day (day 0 also brings the initial population)."""
    day_start = start_s + day * SECONDS_PER_DAY
    customers_created: list[np.ndarray] = []
    products_created: list[np.ndarray] = []
    if day == 0:
        rng0 = _rng(seed, 0, _STREAM_INITIAL)
        age = np.minimum(
            rng0.exponential(INITIAL_CUSTOMER_AGE_DAYS * SECONDS_PER_DAY, preset.initial_customers),
            MAX_INITIAL_CUSTOMER_AGE_DAYS * SECONDS_PER_DAY,
        ).astype(np.int64)
        customers_created.append(day_start - SECONDS_PER_DAY - age)
        age = rng0.integers(
            SECONDS_PER_DAY, INITIAL_PRODUCT_AGE_DAYS * SECONDS_PER_DAY, size=preset.initial_products
        )
        products_created.append(day_start - age)
    rng = _rng(seed, day, _STREAM_ARRIVALS)
    n_legit = rng.poisson(preset.new_customers_per_day)
    n_fraud = rng.poisson(preset.fraud_accounts_per_day)
    n_products = rng.poisson(preset.new_products_per_day)
    signups = day_start + _times_of_day(rng, n_legit + n_fraud, hours=SIGNUP_HOURS)
    customers_created.append(signups)
    products_created.append(day_start + rng.integers(0, SECONDS_PER_DAY, size=n_products))
    created = np.concatenate(customers_created).astype(np.int64)
    fraud = np.zeros(len(created), dtype=bool)
    fraud[len(created) - n_fraud :] = True
    customers, next_device = _new_customers(
        rng, preset, cat, created, fraud, day, existing_devices, next_device
    )
    products = _new_products(rng, cat, np.concatenate(products_created).astype(np.int64), day)
    return customers, products, next_device


def _population(preset: ShopPreset, seed: int, cat: _Catalogue, start_s: int, last_day: int) -> _Population:
    """Everyone and everything created up to the end of `last_day`."""
    customer_parts: list[dict[str, np.ndarray]] = []
    product_parts: list[dict[str, np.ndarray]] = []
    devices = np.empty(0, dtype=np.int64)
    next_device = preset.fraud_device_pool
    for day in range(last_day + 1):
        customers, products, next_device = _arrivals(preset, seed, cat, start_s, day, devices, next_device)
        customer_parts.append(customers)
        product_parts.append(products)
        legit_devices = customers["device1"][~customers["fraud"]]
        devices = np.concatenate([devices, legit_devices])
    return _Population(
        customers={k: np.concatenate([p[k] for p in customer_parts]) for k in customer_parts[0]},
        products={k: np.concatenate([p[k] for p in product_parts]) for k in product_parts[0]},
    )


# --------------------------------------------------------------------------- one day


@dataclass
class _Sessions:
    """Sessions of a day before their events are laid out."""

    customer: np.ndarray
    start: np.ndarray  # planned start, epoch seconds
    kind: np.ndarray  # _KIND_*
    device: np.ndarray  # device of a takeover session, else -1


@dataclass
class _Slots:
    """Products viewed in sessions, in viewing order, with what happened to them."""

    session: np.ndarray
    product: np.ndarray
    carted: np.ndarray
    purchased: np.ndarray
    quantity: np.ndarray


@dataclass
class _Day:
    """What the shop wrote on one day, plus the ground truth and future chargebacks."""

    day: date
    frames: dict[str, pd.DataFrame]
    truth: pd.DataFrame  # order_id, is_fraud, fraud_kind
    chargebacks: pd.DataFrame  # chargeback rows with the day index they are reported on


class _Shop:
    """A simulated shop for one preset, seed and start day."""

    def __init__(self, preset: ShopPreset, seed: int, start: date, last_day: int) -> None:
        self.preset = preset
        self.seed = seed
        self.start = start
        self.start_s = _day_seconds(start)
        self.catalogue = _catalogue(seed)
        self.population = _population(preset, seed, self.catalogue, self.start_s, last_day)
        self.last_day = last_day

    # ------------------------------------------------------------------ sessions

    def _legit_sessions(self, rng: np.random.Generator, day: int) -> _Sessions:
        c = self.population.customers
        day_start = self.start_s + day * SECONDS_PER_DAY
        weekday = (self.start + timedelta(days=day)).weekday()
        eligible = np.flatnonzero(~c["fraud"] & (c["created"] < day_start))
        n_regular = rng.poisson(self.preset.sessions_per_day * WEEKDAY_FACTORS[weekday])
        if len(eligible) == 0:
            n_regular = 0
        weights = c["activity"][eligible]
        regular = (
            eligible[rng.choice(len(eligible), size=n_regular, p=weights / weights.sum())]
            if n_regular
            else np.empty(0, dtype=np.int64)
        )
        regular_start = day_start + _times_of_day(rng, n_regular)
        new = np.flatnonzero(
            ~c["fraud"] & (c["created"] >= day_start) & (c["created"] < day_start + SECONDS_PER_DAY)
        )
        signup = new[rng.random(len(new)) < SIGNUP_SESSION_SHARE]
        signup_start = c["created"][signup] + rng.integers(30, 900, size=len(signup))
        customer = np.concatenate([regular, signup]).astype(np.int64)
        return _Sessions(
            customer=customer,
            start=np.concatenate([regular_start, signup_start]).astype(np.int64),
            kind=np.full(len(customer), _KIND_LEGIT),
            device=np.full(len(customer), -1, dtype=np.int64),
        )

    def _fraud_sessions(self, rng: np.random.Generator, day: int) -> _Sessions:
        c = self.population.customers
        day_start = self.start_s + day * SECONDS_PER_DAY
        day_end = day_start + SECONDS_PER_DAY
        # Bursts of fraud accounts, planned when the account was opened.
        accounts = np.flatnonzero(c["fraud"] & (c["created"] < day_end))
        k = np.arange(MAX_BURST_ORDERS)
        times = c["burst_start"][accounts, None] + k[None, :] * c["burst_gap"][accounts, None]
        active = (k[None, :] < c["burst_orders"][accounts, None]) & (times >= day_start) & (times < day_end)
        rows, cols = np.nonzero(active)
        burst_customer, burst_start = accounts[rows], times[rows, cols]
        # Account takeovers of older legit accounts, from a pool device or a fresh one.
        old = np.flatnonzero(
            ~c["fraud"] & (c["created"] < day_start - TAKEOVER_MIN_AGE_DAYS * SECONDS_PER_DAY)
        )
        n_takeovers = rng.poisson(self.preset.takeovers_per_day) if len(old) else 0
        victim = old[rng.integers(0, max(len(old), 1), size=n_takeovers)]
        n_orders = 1 + np.minimum(rng.poisson(TAKEOVER_EXTRA_ORDERS, size=n_takeovers), 3)
        first = day_start + rng.integers(0, SECONDS_PER_DAY, size=n_takeovers)
        gap = rng.integers(*FRAUD_BURST_GAP_SECONDS, size=n_takeovers)
        pooled = rng.random(n_takeovers) < TAKEOVER_POOL_DEVICE_SHARE
        device = np.where(
            pooled,
            rng.integers(0, self.preset.fraud_device_pool, size=n_takeovers),
            _TAKEOVER_DEVICE_BASE + day * _TAKEOVER_DEVICE_STRIDE + np.arange(n_takeovers),
        )
        which = np.repeat(np.arange(n_takeovers), n_orders)
        step = _within_group_position(which)
        takeover_start = first[which] + step * gap[which]
        customer = np.concatenate([burst_customer, victim[which]]).astype(np.int64)
        return _Sessions(
            customer=customer,
            start=np.concatenate([burst_start, takeover_start]).astype(np.int64),
            kind=np.concatenate(
                [
                    np.full(len(burst_customer), _KIND_FRAUD_ACCOUNT),
                    np.full(len(which), _KIND_TAKEOVER),
                ]
            ),
            device=np.concatenate([np.full(len(burst_customer), -1), device[which]]).astype(np.int64),
        )

    # ------------------------------------------------------------------ products in sessions

    def _legit_slots(
        self,
        rng: np.random.Generator,
        sessions: _Sessions,
        on_sale: np.ndarray,
        log_popularity: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(session, product, affinity) of every view of legit sessions, in viewing order."""
        c, p = self.population.customers, self.population.products
        n = len(sessions.customer)
        n_cat = len(CATEGORIES)
        category_of = p["category"][on_sale]
        counts = np.bincount(category_of, minlength=n_cat)
        available = counts > 0
        taste = c["taste"][sessions.customer] * available
        overall = self.catalogue.category_share * available
        overall = overall / overall.sum()
        explore = rng.random(n) < EXPLORE_SHARE
        probs = np.where(explore[:, None], overall[None, :], taste)
        cumulative = np.cumsum(probs, axis=1)
        draw = rng.random(n) * cumulative[:, -1]
        category = np.minimum((cumulative <= draw[:, None]).sum(axis=1), n_cat - 1)
        n_views = np.minimum(
            np.minimum(1 + rng.poisson(self.preset.views_per_session - 1, size=n), MAX_VIEWS),
            counts[category],
        )
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for cat_index in range(n_cat):
            members = np.flatnonzero(category == cat_index)
            if len(members) == 0:
                continue
            in_category = category_of == cat_index
            products = on_sale[in_category]
            affinity = c["latent"][sessions.customer[members]] @ p["latent"][products].T
            scores = np.float32(TASTE_WEIGHT) * affinity
            scores += log_popularity[in_category][None, :]
            rows, cols = _gumbel_top(rng, scores, n_views[members])
            parts.append((members[rows], products[cols], affinity[rows, cols]))
        if not parts:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0)
        session, product, affinity = (np.concatenate(x) for x in zip(*parts, strict=True))
        order = np.argsort(session, kind="stable")
        return session[order], product[order], affinity[order]

    def _fraud_slots(
        self,
        rng: np.random.Generator,
        sessions: _Sessions,
        offset: int,
        on_sale: np.ndarray,
        log_popularity: np.ndarray,
    ) -> _Slots:
        p = self.population.products
        n = len(sessions.customer)
        testing = rng.random(n) < CARD_TESTING_SHARE
        n_items = np.where(testing, 1, 1 + np.minimum(rng.poisson(FRAUD_EXTRA_ITEMS, size=n), 4))
        n_views = np.minimum(n_items + rng.poisson(FRAUD_EXTRA_VIEWS, size=n), MAX_VIEWS)
        n_views = np.minimum(n_views, len(on_sale))
        n_items = np.minimum(n_items, n_views)
        log_price = np.log(p["price"][on_sale])
        tilt = np.where(testing, -1.0, FRAUD_PRICE_TILT)
        scores = log_popularity[None, :] + tilt[:, None] * log_price[None, :]
        rows, cols = _gumbel_top(rng, scores.astype(np.float32), n_views)
        position = _within_group_position(rows)
        bought = position < n_items[rows]
        quantity = np.where(testing[rows], 1, rng.geometric(FRAUD_EXTRA_QUANTITY_P, size=len(rows)))
        return _Slots(
            session=rows + offset,
            product=on_sale[cols],
            carted=bought,
            purchased=bought,
            quantity=np.where(bought, quantity, 0),
        )

    def _slots(self, rng: np.random.Generator, legit: _Sessions, fraud: _Sessions, day_start: int) -> _Slots:
        p = self.population.products
        on_sale = np.flatnonzero(p["created"] < day_start)
        age_days = (day_start - p["created"][on_sale]) / SECONDS_PER_DAY
        log_popularity = (
            p["log_popularity"][on_sale] + np.log1p(NOVELTY_BOOST * np.exp(-age_days / NOVELTY_DAYS))
        ).astype(np.float32)
        session, product, affinity = self._legit_slots(rng, legit, on_sale, log_popularity)
        # The funnel: affinity drives add_to_cart; some sessions with a cart check out.
        p_cart = np.clip(CART_BASE + CART_TASTE * affinity, *CART_RANGE)
        carted = rng.random(len(session)) < p_cart
        buyer = rng.random(len(legit.customer)) < self.preset.checkout_share
        purchased = carted & buyer[session] & (rng.random(len(session)) < PURCHASE_GIVEN_CART)
        carted_slots = np.flatnonzero(carted & buyer[session])
        first_carted = carted_slots[np.unique(session[carted_slots], return_index=True)[1]]
        bought_any = np.bincount(session[purchased], minlength=len(legit.customer)) > 0
        purchased[first_carted[~bought_any[session[first_carted]]]] = True
        quantity = np.where(purchased, rng.geometric(EXTRA_QUANTITY_P, size=len(session)), 0)
        legit_slots = _Slots(session, product, carted, purchased, quantity)
        fraud_slots = self._fraud_slots(rng, fraud, len(legit.customer), on_sale, log_popularity)
        return _Slots(
            *(
                np.concatenate([getattr(legit_slots, f.name), getattr(fraud_slots, f.name)])
                for f in fields(_Slots)
            )
        )

    # ------------------------------------------------------------------ the day

    def day(self, day: int) -> _Day:
        """Generate everything of day `day` (0 = the start day)."""
        if day > self.last_day:
            raise ValueError(f"Day {day} is past the population built up to day {self.last_day}")
        rng = _rng(self.seed, day, _STREAM_DAY)
        day_start = self.start_s + day * SECONDS_PER_DAY
        day_end = day_start + SECONDS_PER_DAY
        legit = self._legit_sessions(rng, day)
        fraud = self._fraud_sessions(rng, day)
        sessions = _Sessions(
            *(np.concatenate([getattr(legit, f.name), getattr(fraud, f.name)]) for f in fields(_Sessions))
        )
        slots = self._slots(rng, legit, fraud, day_start)
        n_sessions = len(sessions.customer)

        # Events: per slot a view (and its add_to_cart), then one checkout with the purchases.
        steps = 1 + slots.carted.astype(np.int64)
        step_slot = np.repeat(np.arange(len(slots.session)), steps)
        is_cart = _within_group_position(step_slot) == 1
        buy_slot = np.flatnonzero(slots.purchased)
        slot_of_event = np.concatenate([step_slot, buy_slot])
        event_type = np.concatenate([is_cart.astype(np.int64), np.full(len(buy_slot), 2)])
        event_session = slots.session[slot_of_event]
        order = np.lexsort((event_type == 2, event_session))  # stable: keeps viewing order
        slot_of_event, event_type, event_session = (
            slot_of_event[order],
            event_type[order],
            event_session[order],
        )
        n_events = len(event_session)
        gap = np.where(
            event_type == 1, _gaps(rng, n_events, CART_GAP_SECONDS), _gaps(rng, n_events, VIEW_GAP_SECONDS)
        )
        gap = np.where(event_type == 2, _gaps(rng, n_events, CHECKOUT_GAP_SECONDS), gap)
        gap = np.where(sessions.kind[event_session] == _KIND_LEGIT, gap, gap * FRAUD_SPEED)
        position = _within_group_position(event_session)
        previous_is_purchase = np.r_[False, event_type[:-1] == 2]
        gap = np.where((position == 0) | ((event_type == 2) & previous_is_purchase), 0, np.ceil(gap)).astype(
            np.int64
        )
        offset = _session_offsets(gap, event_session, n_sessions)
        duration = np.zeros(n_sessions, dtype=np.int64)
        np.maximum.at(duration, event_session, offset)
        too_long = duration > MAX_SESSION_SECONDS
        if too_long.any():
            factor = np.where(too_long, MAX_SESSION_SECONDS / np.maximum(duration, 1), 1.0)
            gap = np.where(gap > 0, np.maximum(1, np.floor(gap * factor[event_session])), 0).astype(np.int64)
            offset = _session_offsets(gap, event_session, n_sessions)
            duration = np.zeros(n_sessions, dtype=np.int64)
            np.maximum.at(duration, event_session, offset)
        start = np.minimum(sessions.start, day_end - 1 - duration)
        has_events = np.bincount(event_session, minlength=n_sessions) > 0
        event_at = start[event_session] + offset

        # Ids in time order: sessions by start, events by time, orders by checkout time.
        kept = np.flatnonzero(has_events)
        session_rank = np.full(n_sessions, -1, dtype=np.int64)
        session_rank[kept] = _rank(start[kept], kept)
        session_id = day * ID_BLOCK + session_rank + 1
        event_id = day * ID_BLOCK + _rank(event_at, session_rank[event_session], position) + 1

        events = pd.DataFrame(
            {
                "event_id": event_id,
                "session_id": session_id[event_session],
                "customer_id": sessions.customer[event_session] + 1,
                "product_id": slots.product[slot_of_event] + 1,
                "event_type": _EVENT_TYPES[event_type],
                "event_at": _timestamps(event_at),
            }
        ).sort_values("event_id", ignore_index=True)

        orders, items, truth = self._orders(
            rng, day, sessions, slots, event_type, event_session, event_at, session_rank
        )
        chargebacks = self._chargebacks(rng, orders, truth)
        frames = {
            "customers": self._customers_frame(day),
            "products": self._products_frame(day),
            "events": events,
            "orders": orders,
            "order_items": items,
        }
        return _Day(self.start + timedelta(days=day), frames, truth, chargebacks)

    def _orders(
        self,
        rng: np.random.Generator,
        day: int,
        sessions: _Sessions,
        slots: _Slots,
        event_type: np.ndarray,
        event_session: np.ndarray,
        event_at: np.ndarray,
        session_rank: np.ndarray,
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        c, p = self.population.customers, self.population.products
        n_sessions = len(sessions.customer)
        checkout_at = np.zeros(n_sessions, dtype=np.int64)
        purchase = event_type == 2
        checkout_at[event_session[purchase]] = event_at[purchase]
        buying = np.flatnonzero(np.bincount(event_session[purchase], minlength=n_sessions) > 0)
        buying = buying[np.lexsort((session_rank[buying], checkout_at[buying]))]
        n_orders = len(buying)
        order_number = np.full(n_sessions, -1, dtype=np.int64)
        order_number[buying] = np.arange(n_orders)
        order_id = day * ID_BLOCK + np.arange(n_orders) + 1

        # Items: purchased slots, numbered per order in viewing order.
        bought = np.flatnonzero(slots.purchased)
        bought = bought[np.lexsort((bought, order_number[slots.session[bought]]))]
        item_order = order_number[slots.session[bought]]
        unit_price = p["price"][slots.product[bought]]
        quantity = slots.quantity[bought]
        amount = np.round(np.bincount(item_order, weights=quantity * unit_price, minlength=n_orders), 2)
        items = pd.DataFrame(
            {
                "order_id": order_id[item_order],
                "line_no": (_within_group_position(item_order) + 1).astype(np.int64),
                "product_id": slots.product[bought] + 1,
                "quantity": quantity.astype(np.int64),
                "unit_price": unit_price,
            }
        )

        customer = sessions.customer[buying]
        kind = sessions.kind[buying]
        legit = kind == _KIND_LEGIT
        takeover = kind == _KIND_TAKEOVER
        fraud_account = kind == _KIND_FRAUD_ACCOUNT
        billing = c["country"][customer]
        # Payment: legit customers mostly pay their usual way; fraud leans to risky methods.
        usual = c["payment"][customer]
        legit_draw = rng.choice(len(PAYMENT_METHODS), size=n_orders, p=_normalise(PAYMENT_WEIGHTS))
        fraud_draw = rng.choice(len(PAYMENT_METHODS), size=n_orders, p=_normalise(FRAUD_PAYMENT_WEIGHTS))
        u = rng.random(n_orders)
        payment = np.select(
            [legit, fraud_account, takeover],
            [
                np.where(u < PREFERRED_PAYMENT_SHARE, usual, legit_draw),
                np.where(u < FRAUD_PREFERRED_PAYMENT, usual, fraud_draw),
                np.where(u < TAKEOVER_STORED_PAYMENT, usual, fraud_draw),
            ],
        )
        # Countries: travellers and gifts make legit mismatches; fraud mismatches more often.
        ip_rate = np.select(
            [legit, fraud_account, takeover],
            [
                BASE_TRAVEL_RATE + TRAVELLER_TRAVEL_RATE * c["traveller"][customer],
                np.full(n_orders, FRAUD_IP_MISMATCH),
                np.full(n_orders, TAKEOVER_IP_MISMATCH),
            ],
        )
        ship_rate = np.select(
            [legit, fraud_account, takeover],
            [GIFT_SHIPPING_RATE, FRAUD_SHIP_MISMATCH, TAKEOVER_SHIP_MISMATCH],
        )
        ip = np.where(rng.random(n_orders) < ip_rate, _other_country(rng, billing), billing)
        shipping = np.where(rng.random(n_orders) < ship_rate, _other_country(rng, billing), billing)
        # Devices: the customer's own (first or second), or the takeover's device.
        device2 = c["device2"][customer]
        use_second = (device2 >= 0) & (rng.random(n_orders) < SECOND_DEVICE_USE) & legit
        device = np.where(use_second, device2, c["device1"][customer])
        device = np.where(takeover, sessions.device[buying], device)
        country_names = np.array(COUNTRIES, dtype=object)
        orders = pd.DataFrame(
            {
                "order_id": order_id,
                "customer_id": customer + 1,
                "ordered_at": _timestamps(checkout_at[buying]),
                "amount": amount,
                "payment_method": np.array(PAYMENT_METHODS, dtype=object)[payment],
                "billing_country": country_names[billing],
                "shipping_country": country_names[shipping],
                "ip_country": country_names[ip],
                "device_id": device_ids(device, self.seed),
            }
        )
        truth = pd.DataFrame(
            {
                "order_id": order_id,
                "is_fraud": ~legit,
                "fraud_kind": _FRAUD_KINDS[kind],
            }
        )
        return orders, items, truth

    def _chargebacks(
        self, rng: np.random.Generator, orders: pd.DataFrame, truth: pd.DataFrame
    ) -> pd.DataFrame:
        """Chargebacks the day's orders will receive, with the day they are reported on."""
        n = len(orders)
        fraud = truth["is_fraud"].to_numpy()
        u = rng.random(n)
        disputed = np.where(fraud, u < FRAUD_CHARGEBACK_SHARE, u < FRIENDLY_CHARGEBACK_SHARE)
        low, high = CHARGEBACK_DELAY_DAYS
        delay = (
            low * SECONDS_PER_DAY
            + np.floor(rng.beta(*CHARGEBACK_DELAY_SHAPE, size=n) * (high - low) * SECONDS_PER_DAY)
        ).astype(np.int64)
        ordered = orders["ordered_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
        reported = ordered + delay
        frame = pd.DataFrame(
            {
                "order_id": orders["order_id"].to_numpy(),
                "reported_at": _timestamps(reported),
                "amount": orders["amount"].to_numpy(),
                "reason": np.where(fraud, "fraudulent", "product_not_received").astype(object),
                "report_day": (reported - self.start_s) // SECONDS_PER_DAY,
            }
        )
        return frame[disputed].reset_index(drop=True)

    def _customers_frame(self, day: int) -> pd.DataFrame:
        c = self.population.customers
        index = np.flatnonzero(c["day"] == day)
        return pd.DataFrame(
            {
                "customer_id": index.astype(np.int64) + 1,
                "created_at": _timestamps(c["created"][index]),
                "country": np.array(COUNTRIES, dtype=object)[c["country"][index]],
                "channel": np.array(CHANNELS, dtype=object)[c["channel"][index]],
            }
        )

    def _products_frame(self, day: int) -> pd.DataFrame:
        p = self.population.products
        index = np.flatnonzero(p["day"] == day)
        return pd.DataFrame(
            {
                "product_id": index.astype(np.int64) + 1,
                "created_at": _timestamps(p["created"][index]),
                "category": np.array([c[0] for c in CATEGORIES], dtype=object)[p["category"][index]],
                "brand": self.catalogue.brand_names[p["category"][index], p["brand"][index]],
                "price": p["price"][index],
            }
        )


def _session_offsets(gap: np.ndarray, session: np.ndarray, n_sessions: int) -> np.ndarray:
    """Seconds from its session's first event to each event (events grouped by session)."""
    total = np.cumsum(gap)
    first = np.zeros(n_sessions, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, session[1:] != session[:-1]]) if len(session) else []
    first[session[starts]] = total[starts] - gap[starts]
    return total - first[session]


_CHARGEBACK_COLUMNS = ["order_id", "reported_at", "amount", "reason"]


def _empty_chargebacks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": np.empty(0, dtype=np.int64),
            "reported_at": np.empty(0, dtype="datetime64[us]"),
            "amount": np.empty(0, dtype=float),
            "reason": np.empty(0, dtype=object),
        }
    )


def _run(preset: ShopPreset, seed: int, start: date, emit: range) -> Iterator[tuple[_Day, pd.DataFrame]]:
    """Yield each day of `emit` with the chargebacks reported on it.

    Days before `emit` are generated only as far back as a chargeback can reach.
    """
    if emit.start < 0 or emit.step != 1:
        raise ValueError("Days are counted from 0 in steps of 1")
    if len(emit) == 0:
        return
    shop = _Shop(preset, seed, start, emit.stop - 1)
    pending: dict[int, list[pd.DataFrame]] = {}
    first = max(0, emit.start - _MAX_CHARGEBACK_LOOKBACK)
    last_needed_before = emit.start - CHARGEBACK_DELAY_DAYS[0]
    for day in range(first, emit.stop):
        if day < emit.start and day > last_needed_before:
            continue  # its orders cannot be reported by the first emitted day
        result = shop.day(day)
        for report_day, rows in result.chargebacks.groupby("report_day", sort=True):
            pending.setdefault(int(report_day), []).append(rows)
        if day < emit.start:
            continue
        due = pending.pop(day, [])
        reported = (
            pd.concat(due, ignore_index=True)[_CHARGEBACK_COLUMNS].sort_values(
                ["reported_at", "order_id"], ignore_index=True
            )
            if due
            else _empty_chargebacks()
        )
        for stale in [d for d in pending if d < day]:
            del pending[stale]
        yield result, reported


# --------------------------------------------------------------------------- public API


def simulate(
    preset: str | ShopPreset, days: int, *, start: date = DEFAULT_START, seed: int = DEFAULT_SEED
) -> Iterator[tuple[date, dict[str, pd.DataFrame]]]:
    """Yield each simulated day with the rows the shop writes that day, for all six tables.

    The chargebacks of a day are those reported that day (for orders of earlier days).
    """
    for result, chargebacks in _run(resolve_preset(preset), seed, start, range(days)):
        yield result.day, {**result.frames, "chargebacks": chargebacks}


def simulate_day(
    preset: str | ShopPreset,
    day_index: int,
    *,
    start: date = DEFAULT_START,
    seed: int = DEFAULT_SEED,
) -> dict[str, pd.DataFrame]:
    """The rows of one day (0 = `start`), identical to that day of `simulate`."""
    for result, chargebacks in _run(resolve_preset(preset), seed, start, range(day_index, day_index + 1)):
        return {**result.frames, "chargebacks": chargebacks}
    raise ValueError(f"Not a simulated day: {day_index}")


def simulate_truth(
    preset: str | ShopPreset, days: int, *, start: date = DEFAULT_START, seed: int = DEFAULT_SEED
) -> pd.DataFrame:
    """Ground truth of every simulated order: `order_id`, `is_fraud`, `fraud_kind`.

    `fraud_kind` is '' for legit orders, 'new_account' or 'takeover' for fraud. The warehouse
    never holds this; it shows only through chargebacks.
    """
    parts = [result.truth for result, _ in _run(resolve_preset(preset), seed, start, range(days))]
    return pd.concat(parts, ignore_index=True)


def with_load_times(frames: dict[str, pd.DataFrame], day: date) -> dict[str, pd.DataFrame]:
    """The day's rows with their `loaded_at`: the simulated shop streams each row as it happens,
    so a row lands at its own time (an order line with its order), kept inside the day it was
    written on (a customer dated after the day, or undated, lands at the day's edge)."""
    first = pd.Timestamp(day)
    last = first + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    order_times = frames["orders"].set_index("order_id")["ordered_at"]
    stamped = {}
    for table, frame in frames.items():
        column = warehouse.BUSINESS_TIME[table]
        times = frame["order_id"].map(order_times) if column is None else frame[column]
        times = pd.to_datetime(times).fillna(first).clip(first, last)
        stamped[table] = frame.assign(**{warehouse.LOADED_AT: times.to_numpy()})
    return stamped


def _write_day(
    conn: sa.Connection,
    preset: ShopPreset,
    seed: int,
    start: date,
    day: date,
    frames: dict[str, pd.DataFrame],
) -> dict[str, int]:
    frames = with_load_times(frames, day)
    counts = {table: warehouse.write_frame(frames[table], table, conn=conn) for table in SOURCE_TABLES}
    warehouse.run_sql(
        "simulator/insert_shop_simulation_day",
        {
            "day_index": (day - start).days,
            "day_start_at": day,
            "preset": preset.name,
            "preset_settings": json.dumps(asdict(preset), sort_keys=True),
            "seed": seed,
            "start_at": start,
            "row_counts": json.dumps(counts, sort_keys=True),
        },
        conn=conn,
    )
    return counts


def build_shop(
    engine: sa.Engine,
    preset: str | ShopPreset = "small",
    days: int = 90,
    *,
    start: date = DEFAULT_START,
    seed: int = DEFAULT_SEED,
    replace: bool = False,
) -> dict[str, int]:
    """Create the schema and write `days` simulated days, one transaction per day.

    Refuses a warehouse that already holds source rows, unless `replace`, which first deletes
    the rows of the six source tables. Returns the rows written per table.
    """
    shop = resolve_preset(preset)
    if days < 1:
        raise ValueError("Simulate at least one day")
    warehouse.create_schema(engine)
    with warehouse.transaction(engine) as conn:
        warehouse.run_sql("simulator/create_shop_simulation", conn=conn)
        existing = int(warehouse.read_frame("simulator/count_source_rows", conn=conn).iat[0, 0])
        if existing and not replace:
            raise ValueError(
                f"The warehouse already holds {existing} source rows; "
                "pass replace=True (--replace) to delete them and build a new shop"
            )
        # Also forgets the record of an earlier shop whose rows were deleted by hand.
        warehouse.run_sql("simulator/delete_source_rows", conn=conn)
        if existing:
            log.info("Deleted %s rows of the previous simulated shop", existing)
    totals = dict.fromkeys(SOURCE_TABLES, 0)
    for day, frames in simulate(shop, days, start=start, seed=seed):
        with warehouse.transaction(engine) as conn:
            counts = _write_day(conn, shop, seed, start, day, frames)
        for table, count in counts.items():
            totals[table] += count
        written = (day - start).days + 1
        if written % 10 == 0 or written == days:
            log.info("Wrote day %s of %s (%s): %s events so far", written, days, day, totals["events"])
    # A bulk load leaves the planner without statistics until something analyzes the tables.
    with warehouse.transaction(engine) as conn:
        warehouse.analyze(*SOURCE_TABLES, conn=conn)
    log.info(
        "Built the %s shop, %s to %s (seed %s) in %s: %s",
        shop.name,
        start,
        start + timedelta(days=days - 1),
        seed,
        warehouse.describe(engine),
        totals,
    )
    return totals


def _last_simulated(engine: sa.Engine) -> pd.Series | None:
    with engine.connect() as conn:
        if not warehouse.table_exists("shop_simulation", conn):
            return None
        last = warehouse.read_frame("simulator/select_last_shop_simulation_day", conn=conn)
    return None if last.empty else last.iloc[0]


def last_simulated_day(engine: sa.Engine) -> date | None:
    """The last day written by the simulator, or None if it has not built this warehouse."""
    last = _last_simulated(engine)
    return None if last is None else pd.Timestamp(last["day_start_at"]).date()


def append_day(engine: sa.Engine, *, preset: str | ShopPreset | None = None, seed: int | None = None) -> date:
    """Write the day after the last simulated one, as a build of one more day would have.

    `preset` and `seed` default to those of the build; other values are refused, since they
    would not continue the same shop. Returns the day written.
    """
    last = _last_simulated(engine)
    if last is None:
        raise ValueError("The warehouse holds no simulated shop: build one first")
    shop = ShopPreset(**json.loads(last["preset_settings"]))
    if preset is not None and resolve_preset(preset) != shop:
        raise ValueError(f"The warehouse was built with the {shop.name!r} preset, not {preset!r}")
    stored_seed = int(last["seed"])
    if seed is not None and seed != stored_seed:
        raise ValueError(f"The warehouse was built with seed {stored_seed}, not {seed}")
    start = pd.Timestamp(last["start_at"]).date()
    day_index = int(last["day_index"]) + 1
    frames = simulate_day(shop, day_index, start=start, seed=stored_seed)
    day = start + timedelta(days=day_index)
    with warehouse.transaction(engine) as conn:
        counts = _write_day(conn, shop, stored_seed, start, day, frames)
    log.info("Appended %s to the %s shop in %s: %s", day, shop.name, warehouse.describe(engine), counts)
    return day


def catch_up(engine: sa.Engine, until: date) -> list[date]:
    """Append days until the shop's last day is `until` (the live shop's nightly load).

    Returns the days written, none when the shop already reaches `until`.
    """
    written = []
    last = last_simulated_day(engine)
    if last is None:
        raise ValueError("The warehouse holds no simulated shop: build one first (make shop)")
    while last < until:
        last = append_day(engine)
        written.append(last)
    return written


def _day(text: str) -> date:
    """A day on the command line: YYYY-MM-DD, `today` or `yesterday` (UTC)."""
    today = datetime.now(UTC).date()
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    return named[text] if text in named else date.fromisoformat(text)


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Command line: `build` a simulated shop or `append-day` to it."""
    parser = argparse.ArgumentParser(prog="python -m include.simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="SQLAlchemy URL of the warehouse (default: the warehouse connection)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every day")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write a new simulated shop")
    build.add_argument("--preset", default="small", choices=sorted(PRESETS))
    build.add_argument("--days", type=int, default=90)
    build.add_argument("--start", type=_day, help=f"the first day (default {DEFAULT_START})")
    build.add_argument("--end", type=_day, help="the last day instead, e.g. yesterday (a live shop)")
    build.add_argument("--seed", type=int, default=DEFAULT_SEED)
    build.add_argument("--replace", action="store_true", help="delete an existing shop first")
    append = commands.add_parser("append-day", help="write the next day of the shop")
    append.add_argument("--preset", choices=sorted(PRESETS), help="check the shop's preset")
    append.add_argument("--seed", type=int, help="check the shop's seed")
    catch = commands.add_parser("catch-up", help="append days until the shop reaches a day")
    catch.add_argument("--until", type=_day, default="yesterday", help="the last day (default yesterday)")
    for sub in (build, append, catch):
        sub.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    engine = warehouse.get_engine(args.url)
    began = datetime.now()
    try:
        if args.command == "build":
            if args.start is not None and args.end is not None:
                raise ValueError("Give --start or --end, not both")
            start = args.start or DEFAULT_START
            if args.end is not None:
                start = args.end - timedelta(days=args.days - 1)
            counts = build_shop(
                engine, args.preset, args.days, start=start, seed=args.seed, replace=args.replace
            )
            print(
                f"Built the {args.preset} shop in {warehouse.describe(engine)}: "
                + ", ".join(f"{table} {count:,}" for table, count in counts.items())
            )
        elif args.command == "append-day":
            day = append_day(engine, preset=args.preset, seed=args.seed)
            print(f"Appended {day} to the shop in {warehouse.describe(engine)}")
        else:
            days = catch_up(engine, args.until)
            print(
                f"Appended {len(days)} days to the shop in {warehouse.describe(engine)}, up to {args.until}"
            )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("Done in %.1f s", (datetime.now() - began).total_seconds())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
