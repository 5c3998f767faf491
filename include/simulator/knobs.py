"""Every tunable of the simulated shop, and the ids, streams and kinds its parts share."""

from __future__ import annotations

from datetime import date

import numpy as np

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
# Tastes drift: every customer has a second set of tastes (categories and latent vector) and
# moves towards it and back, along a cosine of their own period and phase. At the peak this
# share of their tastes is the second set; a static model of the whole history blurs the two.
TASTE_DRIFT = 0.7
DRIFT_PERIOD_DAYS = (84, 224)  # one cycle (first -> second tastes -> first) takes 12 to 32 weeks

# --------------------------------------------------------------------------- bought-after knobs

# Devices bring accessories: a device of the first category has ACCESSORIES_PER_DEVICE
# accessories, cheaper products of the second category. Consumables bring a refill: a refill
# pack (REFILL_PACK_SHARE of a consumable category's products are packs) of the same category
# and brand. A regular purchase of a device or a consumable that is not a pack plans a
# follow-up session (with probability *_SHARE, days later within *_DELAY_DAYS) that views the
# follow-up product, bought with probability FOLLOW_UP_PURCHASE. The order is the signal:
# accessories and packs bring nothing themselves.
ACCESSORY_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("phones", "electronics"),
    ("computers", "office"),
)
ACCESSORIES_PER_DEVICE = 3
ACCESSORY_SHARE = 0.5
ACCESSORY_DELAY_DAYS = (1, 14)
CONSUMABLE_CATEGORIES = ("beauty", "grocery", "pet", "baby", "health")
REFILL_PACK_SHARE = 0.3
REFILL_SHARE = 0.5
REFILL_DELAY_DAYS = (14, 42)
FOLLOW_UP_PURCHASE = 0.75

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
_MAX_FOLLOW_UP_DELAY = max(ACCESSORY_DELAY_DAYS[1], REFILL_DELAY_DAYS[1])

# Random streams: each day draws from (seed, day, stream).
_STREAM_INITIAL = 0
_STREAM_ARRIVALS = 1
_STREAM_DAY = 2
_STREAM_CATALOGUE = 3
_STREAM_DRIFT = 4  # customers' second tastes and drift cycles (per arrival day)
_STREAM_LINKS = 5  # accessories and refills (per listing day)
_STREAM_PLANS = 6  # follow-ups planned by a day's purchases
_STREAM_FOLLOW_UP = 7  # what happens in a day's follow-up sessions

_FOLLOW_NONE, _FOLLOW_ACCESSORY, _FOLLOW_REFILL = 0, 1, 2

_KIND_LEGIT, _KIND_FRAUD_ACCOUNT, _KIND_TAKEOVER = 0, 1, 2
_FRAUD_KINDS = np.array(["", "new_account", "takeover"], dtype=object)
_EVENT_TYPES = np.array(["view", "add_to_cart", "purchase"], dtype=object)
