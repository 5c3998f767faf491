"""One day of the shop's activity: sessions, the view -> cart -> purchase funnel, orders, fraud and
the chargebacks that reveal it later."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date, timedelta

import numpy as np
import pandas as pd

from include.simulator.knobs import (
    _EVENT_TYPES,
    _FOLLOW_ACCESSORY,
    _FRAUD_KINDS,
    _KIND_FRAUD_ACCOUNT,
    _KIND_LEGIT,
    _KIND_TAKEOVER,
    _MAX_CHARGEBACK_LOOKBACK,
    _MAX_FOLLOW_UP_DELAY,
    _STREAM_DAY,
    _STREAM_FOLLOW_UP,
    _STREAM_PLANS,
    _TAKEOVER_DEVICE_BASE,
    _TAKEOVER_DEVICE_STRIDE,
    ACCESSORY_DELAY_DAYS,
    ACCESSORY_SHARE,
    BASE_TRAVEL_RATE,
    CARD_TESTING_SHARE,
    CART_BASE,
    CART_GAP_SECONDS,
    CART_RANGE,
    CART_TASTE,
    CATEGORIES,
    CHANNELS,
    CHARGEBACK_DELAY_DAYS,
    CHARGEBACK_DELAY_SHAPE,
    CHECKOUT_GAP_SECONDS,
    COUNTRIES,
    EXPLORE_SHARE,
    EXTRA_QUANTITY_P,
    FOLLOW_UP_PURCHASE,
    FRAUD_BURST_GAP_SECONDS,
    FRAUD_CHARGEBACK_SHARE,
    FRAUD_EXTRA_ITEMS,
    FRAUD_EXTRA_QUANTITY_P,
    FRAUD_EXTRA_VIEWS,
    FRAUD_IP_MISMATCH,
    FRAUD_PAYMENT_WEIGHTS,
    FRAUD_PREFERRED_PAYMENT,
    FRAUD_PRICE_TILT,
    FRAUD_SHIP_MISMATCH,
    FRAUD_SPEED,
    FRIENDLY_CHARGEBACK_SHARE,
    GIFT_SHIPPING_RATE,
    ID_BLOCK,
    MAX_BURST_ORDERS,
    MAX_SESSION_SECONDS,
    MAX_VIEWS,
    NOVELTY_BOOST,
    NOVELTY_DAYS,
    PAYMENT_METHODS,
    PAYMENT_WEIGHTS,
    PREFERRED_PAYMENT_SHARE,
    PURCHASE_GIVEN_CART,
    REFILL_DELAY_DAYS,
    REFILL_SHARE,
    SECOND_DEVICE_USE,
    SECONDS_PER_DAY,
    SIGNUP_SESSION_SHARE,
    TAKEOVER_EXTRA_ORDERS,
    TAKEOVER_IP_MISMATCH,
    TAKEOVER_MIN_AGE_DAYS,
    TAKEOVER_POOL_DEVICE_SHARE,
    TAKEOVER_SHIP_MISMATCH,
    TAKEOVER_STORED_PAYMENT,
    TASTE_DRIFT,
    TASTE_WEIGHT,
    TRAVELLER_TRAVEL_RATE,
    VIEW_GAP_SECONDS,
    WEEKDAY_FACTORS,
)
from include.simulator.population import _catalogue, _population
from include.simulator.presets import ShopPreset
from include.simulator.randomness import (
    _day_seconds,
    _gaps,
    _gumbel_top,
    _normalise,
    _other_country,
    _rank,
    _rng,
    _times_of_day,
    _timestamps,
    _unit_rows,
    _within_group_position,
    device_ids,
)


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
class _Plans:
    """Follow-up sessions planned by purchases: who comes back on which day for what."""

    day: np.ndarray  # day index of the follow-up session
    customer: np.ndarray
    product: np.ndarray  # the accessory or refill viewed
    second: np.ndarray  # when the session starts, seconds after midnight

    @classmethod
    def join(cls, parts: list[_Plans]) -> _Plans:
        if not parts:
            empty = np.empty(0, dtype=np.int64)
            return cls(empty, empty, empty, empty)
        return cls(*(np.concatenate([getattr(part, f.name) for part in parts]) for f in fields(cls)))

    def by_day(self) -> Iterator[tuple[int, _Plans]]:
        for day in np.unique(self.day):
            rows = self.day == day
            yield int(day), _Plans(*(getattr(self, f.name)[rows] for f in fields(_Plans)))


@dataclass
class _Day:
    """What the shop wrote on one day, plus the ground truth, future chargebacks and the
    follow-up sessions its purchases plan."""

    day: date
    frames: dict[str, pd.DataFrame]
    truth: pd.DataFrame  # order_id, is_fraud, fraud_kind
    chargebacks: pd.DataFrame  # chargeback rows with the day index they are reported on
    plans: _Plans


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

    def tastes(self, day: int, customers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The category tastes and unit latent vectors of `customers` on `day`: each moved
        towards their second tastes by TASTE_DRIFT * (1 - cos(2 pi day / period + phase)) / 2."""
        c = self.population.customers
        angle = 2 * np.pi * day / c["drift_period"][customers] + c["drift_phase"][customers]
        moved = (TASTE_DRIFT * 0.5 * (1.0 - np.cos(angle)))[:, None]
        taste = (1.0 - moved) * c["taste"][customers] + moved * c["taste2"][customers]
        latent = (1.0 - moved) * c["latent"][customers] + moved * c["latent2"][customers]
        return taste, (_unit_rows(latent) if len(customers) else latent.astype(np.float32))

    def _legit_slots(
        self,
        rng: np.random.Generator,
        sessions: _Sessions,
        day: int,
        on_sale: np.ndarray,
        log_popularity: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(session, product, affinity) of every view of legit sessions, in viewing order."""
        p = self.population.products
        n = len(sessions.customer)
        n_cat = len(CATEGORIES)
        category_of = p["category"][on_sale]
        counts = np.bincount(category_of, minlength=n_cat)
        available = counts > 0
        taste, latent = self.tastes(day, sessions.customer)
        taste = taste * available
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
            affinity = latent[members] @ p["latent"][products].T
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

    def _slots(self, rng: np.random.Generator, legit: _Sessions, fraud: _Sessions, day: int) -> _Slots:
        p = self.population.products
        day_start = self.start_s + day * SECONDS_PER_DAY
        on_sale = np.flatnonzero(p["created"] < day_start)
        age_days = (day_start - p["created"][on_sale]) / SECONDS_PER_DAY
        log_popularity = (
            p["log_popularity"][on_sale] + np.log1p(NOVELTY_BOOST * np.exp(-age_days / NOVELTY_DAYS))
        ).astype(np.float32)
        session, product, affinity = self._legit_slots(rng, legit, day, on_sale, log_popularity)
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

    # ------------------------------------------------------------------ bought after

    def regular(self, day: int) -> tuple[np.random.Generator, _Sessions, _Sessions, _Slots]:
        """The day's own sessions (legit, then fraud) and their slots, which depend on nothing
        but the day: (the day's random stream where they leave it, legit, fraud, slots)."""
        if day > self.last_day:
            raise ValueError(f"Day {day} is past the population built up to day {self.last_day}")
        rng = _rng(self.seed, day, _STREAM_DAY)
        legit = self._legit_sessions(rng, day)
        fraud = self._fraud_sessions(rng, day)
        return rng, legit, fraud, self._slots(rng, legit, fraud, day)

    def plans(self, day: int, legit: _Sessions, slots: _Slots) -> _Plans:
        """Follow-ups planned by the day's regular legit purchases of devices and consumables.
        Follow-up purchases plan none, so a day's plans depend on that day alone."""
        p = self.population.products
        rng = _rng(self.seed, day, _STREAM_PLANS)
        bought = np.flatnonzero(slots.purchased & (slots.session < len(legit.customer)))
        bought = bought[p["follow_up"][slots.product[bought]] != 0]
        lead = slots.product[bought]
        accessory = p["follow_up"][lead] == _FOLLOW_ACCESSORY
        n = len(bought)
        comes_back = rng.random(n) < np.where(accessory, ACCESSORY_SHARE, REFILL_SHARE)
        delay = np.where(
            accessory,
            rng.integers(ACCESSORY_DELAY_DAYS[0], ACCESSORY_DELAY_DAYS[1] + 1, size=n),
            rng.integers(REFILL_DELAY_DAYS[0], REFILL_DELAY_DAYS[1] + 1, size=n),
        )
        links = p["links"][lead]  # a refill is the first and only link
        which = np.floor(rng.random(n) * (links >= 0).sum(axis=1)).astype(np.int64)
        second = _times_of_day(rng, n)
        return _Plans(
            day=(day + delay)[comes_back],
            customer=legit.customer[slots.session[bought]][comes_back],
            product=links[np.arange(n), which][comes_back],
            second=second[comes_back],
        )

    def _follow_ups(self, day: int, plans: _Plans) -> tuple[_Sessions, _Slots]:
        """The follow-up sessions of the day: each views its planned product, which is bought
        with probability FOLLOW_UP_PURCHASE."""
        rng = _rng(self.seed, day, _STREAM_FOLLOW_UP)
        order = np.lexsort((plans.product, plans.second, plans.customer))
        n = len(order)
        bought = rng.random(n) < FOLLOW_UP_PURCHASE
        quantity = np.where(bought, rng.geometric(EXTRA_QUANTITY_P, size=n), 0)
        sessions = _Sessions(
            customer=plans.customer[order].astype(np.int64),
            start=(self.start_s + day * SECONDS_PER_DAY + plans.second[order]).astype(np.int64),
            kind=np.full(n, _KIND_LEGIT),
            device=np.full(n, -1, dtype=np.int64),
        )
        slots = _Slots(np.arange(n), plans.product[order], bought, bought, quantity)
        return sessions, slots

    # ------------------------------------------------------------------ the day

    def day(self, day: int, follow_ups: _Plans | None = None) -> _Day:
        """Generate everything of day `day` (0 = the start day), with the follow-up sessions
        earlier days planned for it."""
        rng, legit, fraud, regular = self.regular(day)
        plans = self.plans(day, legit, regular)
        day_start = self.start_s + day * SECONDS_PER_DAY
        day_end = day_start + SECONDS_PER_DAY
        follow_sessions, follow_slots = self._follow_ups(day, follow_ups or _Plans.join([]))
        offset = len(legit.customer) + len(fraud.customer)
        follow_slots.session += offset
        sessions = _Sessions(
            *(
                np.concatenate([getattr(part, f.name) for part in (legit, fraud, follow_sessions)])
                for f in fields(_Sessions)
            )
        )
        slots = _Slots(
            *(
                np.concatenate([getattr(regular, f.name), getattr(follow_slots, f.name)])
                for f in fields(_Slots)
            )
        )
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
        return _Day(self.start + timedelta(days=day), frames, truth, chargebacks, plans)

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

    Days before `emit` are generated only as far back as needed: whole, where their orders can
    be reported by an emitted day; before that, only the regular purchases whose follow-ups
    reach those days (a follow-up purchase plans nothing, so this ends).
    """
    if emit.start < 0 or emit.step != 1:
        raise ValueError("Days are counted from 0 in steps of 1")
    if len(emit) == 0:
        return
    shop = _Shop(preset, seed, start, emit.stop - 1)
    pending: dict[int, list[pd.DataFrame]] = {}
    planned: dict[int, list[_Plans]] = {}
    first_whole = max(0, emit.start - _MAX_CHARGEBACK_LOOKBACK)
    last_whole_before = emit.start - CHARGEBACK_DELAY_DAYS[0]
    for day in range(max(0, first_whole - _MAX_FOLLOW_UP_DELAY), emit.stop):
        follow_ups = _Plans.join(planned.pop(day, []))
        if day < emit.start and not first_whole <= day <= last_whole_before:
            _, legit, _, slots = shop.regular(day)  # only its plans reach the days needed
            plans = shop.plans(day, legit, slots)
        else:
            result = shop.day(day, follow_ups)
            plans = result.plans
            for report_day, rows in result.chargebacks.groupby("report_day", sort=True):
                pending.setdefault(int(report_day), []).append(rows)
        for target, rows in plans.by_day():
            if target < emit.stop:
                planned.setdefault(target, []).append(rows)
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
