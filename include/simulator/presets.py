"""Shop sizes: what a preset sets (how many customers, products, sessions, how much fraud)."""

from __future__ import annotations

from dataclasses import dataclass

from include.simulator.knobs import MAX_VIEWS


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
