"""The catalogue and the customers: who and what exists on each day, rebuilt from per-day seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from include.simulator.knobs import (
    _BRAND_HEADS,
    _BRAND_TAILS,
    _FOLLOW_ACCESSORY,
    _FOLLOW_NONE,
    _FOLLOW_REFILL,
    _STREAM_ARRIVALS,
    _STREAM_CATALOGUE,
    _STREAM_DRIFT,
    _STREAM_INITIAL,
    _STREAM_LINKS,
    ACCESSORIES_PER_DEVICE,
    ACCESSORY_CATEGORIES,
    ACTIVITY_SIGMA,
    BRAND_LATENT_WEIGHT,
    BRAND_PRICE_SIGMA,
    BRANDS_PER_CATEGORY,
    CATEGORIES,
    CHANNEL_WEIGHTS,
    CHANNELS,
    CONSUMABLE_CATEGORIES,
    COUNTRIES,
    CUSTOMER_COUNTRY_WEIGHTS,
    DRIFT_PERIOD_DAYS,
    FRAUD_BURST_DELAY_SECONDS,
    FRAUD_BURST_GAP_SECONDS,
    FRAUD_BURST_MAX_DELAY_DAYS,
    FRAUD_CHANNEL_WEIGHTS,
    FRAUD_EXTRA_ORDERS,
    FRAUD_PAYMENT_WEIGHTS,
    FRAUD_POOL_DEVICE_SHARE,
    FRAUD_SLEEP_DAYS,
    FRAUD_SLEEPER_SHARE,
    HOUSEHOLD_SHARE,
    INITIAL_CUSTOMER_AGE_DAYS,
    INITIAL_PRODUCT_AGE_DAYS,
    LATENT_DIM,
    MAX_BURST_ORDERS,
    MAX_INITIAL_CUSTOMER_AGE_DAYS,
    MIN_PRICE,
    PAYMENT_METHODS,
    PAYMENT_WEIGHTS,
    POPULARITY_CAP,
    POPULARITY_TAIL,
    PRICE_SIGMA,
    REFILL_PACK_SHARE,
    SECOND_DEVICE_SHARE,
    SECONDS_PER_DAY,
    SIGNUP_HOURS,
    TASTE_CONCENTRATION,
    TRAVELLER_SHARE,
)
from include.simulator.presets import ShopPreset
from include.simulator.randomness import _normalise, _rng, _times_of_day, _unit_rows


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
    customers.update(_drift(_rng(seed, day, _STREAM_DRIFT), cat, len(created)))
    products = _new_products(rng, cat, np.concatenate(products_created).astype(np.int64), day)
    return customers, products, next_device


def _drift(rng: np.random.Generator, cat: _Catalogue, n: int) -> dict[str, np.ndarray]:
    """Each customer's second tastes and the cycle they drift along (drawn from a stream of
    their own, so the first tastes and everything else stay as they were)."""
    latent = rng.normal(size=(n, LATENT_DIM))
    return {
        "taste2": rng.dirichlet(TASTE_CONCENTRATION * cat.category_share, size=n),
        "latent2": _unit_rows(latent) if n else np.empty((0, LATENT_DIM), np.float32),
        "drift_period": rng.uniform(*DRIFT_PERIOD_DAYS, size=n),
        "drift_phase": rng.uniform(0.0, 2 * np.pi, size=n),
    }


def _links(seed: int, products: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """What each product brings: (product, ACCESSORIES_PER_DEVICE) indices of its accessories
    (a device) or its refill pack in the first column (a consumable), -1 elsewhere; and the
    kind of each product's follow-up (_FOLLOW_ACCESSORY, _FOLLOW_REFILL or _FOLLOW_NONE).

    A device's accessories are drawn by popularity from cheaper products of its accessory
    category listed by the end of its own listing day; a consumable's refill from the packs of
    its category and brand listed by then (none when its brand has no pack yet). Products
    are indexed in listing-day order, so "listed by day d" is a prefix of them.
    """
    names = [c[0] for c in CATEGORIES]
    accessory_of = {names.index(device): names.index(accessory) for device, accessory in ACCESSORY_CATEGORIES}
    consumable = np.isin(products["category"], [names.index(name) for name in CONSUMABLE_CATEGORIES])
    n = len(products["day"])
    links = np.full((n, ACCESSORIES_PER_DEVICE), -1, dtype=np.int64)
    kind = np.full(n, _FOLLOW_NONE, dtype=np.int8)
    category, brand, price = products["category"], products["brand"], products["price"]
    weight = np.exp(products["log_popularity"])
    days = np.unique(products["day"])
    pack = np.zeros(n, dtype=bool)
    rngs = {int(day): _rng(seed, int(day), _STREAM_LINKS) for day in days}
    for day in days:  # packs first: a day's consumables may take that day's packs
        listed = np.flatnonzero(products["day"] == day)
        pack[listed] = consumable[listed] & (rngs[int(day)].random(len(listed)) < REFILL_PACK_SHARE)
    members = {c: np.flatnonzero(category == c) for c in range(len(CATEGORIES))}
    listed_by = np.searchsorted(products["day"], np.arange(days.max(initial=-1) + 1), side="right")
    for day in days:
        rng = rngs[int(day)]
        for product in np.flatnonzero(products["day"] == day):
            c = int(category[product])
            if c in accessory_of:
                pool = members[accessory_of[c]]
                pool = pool[pool < listed_by[day]]
                cheaper = pool[price[pool] < price[product]]
                pool, k = (cheaper if len(cheaper) else pool), ACCESSORIES_PER_DEVICE
            elif consumable[product] and not pack[product]:
                pool = members[c]
                pool, k = pool[(pool < listed_by[day]) & pack[pool] & (brand[pool] == brand[product])], 1
            else:
                continue
            if len(pool):
                chosen = rng.choice(
                    pool, size=min(k, len(pool)), replace=False, p=weight[pool] / weight[pool].sum()
                )
                links[product, : len(chosen)] = chosen
                kind[product] = _FOLLOW_ACCESSORY if c in accessory_of else _FOLLOW_REFILL
    return links, kind


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
    products = {k: np.concatenate([p[k] for p in product_parts]) for k in product_parts[0]}
    products["links"], products["follow_up"] = _links(seed, products)
    return _Population(
        customers={k: np.concatenate([p[k] for p in customer_parts]) for k in customer_parts[0]},
        products=products,
    )
