"""Importers: a shop's CSV exports with a column mapping, and the public fraud sample's format,
each on small files written by the test (the shared data sets are for benchmarks only)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from include import warehouse
from include.importers import csv_tables, fraud_sample
from include.importers.__main__ import main
from tests.helpers import read_sql as _read

ORDERS_CSV = """id,customer,created,total,payment_method,billing_country,shipping_country,ip_country,device_id
1001,7,01.06.2026 09:15,49.90,card,DE,DE,DE,dev-a
1002,8,01.06.2026 23:59,120.00,paypal,FR,FR,FR,
1003,7,02.06.2026 00:10,,card,DE,DE,DE,dev-a
"""
ORDERS_MAP = {"order_id": "id", "customer_id": "customer", "ordered_at": "created", "amount": "total"}


def test_a_csv_export_lands_in_its_table_with_the_mapping(warehouse_url: str, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS_CSV)
    loaded = csv_tables.load_table_csv("orders", path, mapping=ORDERS_MAP, time_format="%d.%m.%Y %H:%M")
    assert (loaded.rows, loaded.first_day, loaded.last_day) == (
        3,
        pd.Timestamp("2026-06-01"),
        pd.Timestamp("2026-06-02"),
    )
    orders = _read("SELECT * FROM orders ORDER BY order_id")
    assert orders["order_id"].tolist() == [1001, 1002, 1003]
    assert orders["ordered_at"].tolist() == [
        pd.Timestamp("2026-06-01 09:15"),
        pd.Timestamp("2026-06-01 23:59"),
        pd.Timestamp("2026-06-02 00:10"),
    ]
    assert orders["amount"].iloc[:2].tolist() == [49.9, 120.0] and pd.isna(orders["amount"].iloc[2])
    assert pd.isna(orders["device_id"].iloc[1]), "an empty field is null, not ''"
    # They land now, whatever days they describe: the risk extract reads them once the gate has
    # passed this load (its watermark past their load time), like any other orders.
    landed = _read("SELECT DISTINCT loaded_at FROM orders")["loaded_at"]
    assert len(landed) == 1 and abs(
        landed.iloc[0] - pd.Timestamp.now(tz="UTC").tz_localize(None)
    ) < pd.Timedelta(minutes=5)
    window = {"start": pd.Timestamp("2026-06-01"), "end": pd.Timestamp("2026-06-03")}
    before = warehouse.read_frame("risk/extract_orders", {**window, "loaded_until": landed.iloc[0]})
    assert before.empty, "not read before the gate passed their load"
    after = landed.iloc[0] + pd.Timedelta(seconds=1)
    extract = warehouse.read_frame("risk/extract_orders", {**window, "loaded_until": after})
    assert sorted(extract["order_id"]) == [1001, 1002, 1003]

    # --replace empties the table first; without it, rows are appended.
    csv_tables.load_table_csv("orders", path, mapping=ORDERS_MAP, time_format="%d.%m.%Y %H:%M", replace=True)
    assert len(_read("SELECT order_id FROM orders")) == 3


@pytest.mark.parametrize(
    ("text", "mapping", "message"),
    [
        (ORDERS_CSV.replace("49.90", "49.90 EUR"), ORDERS_MAP, "line 2: '49.90 EUR' is not a float"),
        (ORDERS_CSV.replace("1002,", "ORD-2,"), ORDERS_MAP, "line 3: 'ORD-2' is not a integer"),
        (
            ORDERS_CSV.replace("02.06.2026 00:10", "2026-06-02"),
            ORDERS_MAP,
            "line 4: '2026-06-02' is not a timestamp",
        ),
        (ORDERS_CSV, {**ORDERS_MAP, "total_amount": "total"}, "orders has no column total_amount"),
        (ORDERS_CSV, {k: v for k, v in ORDERS_MAP.items() if k != "order_id"}, "has no order_id column"),
    ],
    ids=["currency_in_amount", "text_id", "other_time_format", "unknown_column", "no_key"],
)
def test_a_file_that_does_not_fit_is_refused_whole_and_named(
    warehouse_url: str, tmp_path: Path, text: str, mapping: dict, message: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(text)
    with pytest.raises(csv_tables.BadImport, match=message):
        csv_tables.load_table_csv("orders", path, mapping=mapping, time_format="%d.%m.%Y %H:%M")
    assert _read("SELECT COUNT(*) AS n FROM orders")["n"].iloc[0] == 0, "nothing was written"


def test_the_command_line_loads_and_reports_bad_files(
    warehouse_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,created_at,country,channel\n1,2026-06-01T08:00:00+02:00,DE,ads\n")
    assert main(["csv", "customers", str(path)]) == 0
    assert "Loaded 1 rows into customers" in capsys.readouterr().out
    # An offset in the text is honoured: stored as naive UTC.
    assert _read("SELECT created_at FROM customers")["created_at"].tolist() == [
        pd.Timestamp("2026-06-01 06:00")
    ]
    path.write_text("customer_id,created_at\nabc,2026-06-01\n")
    assert main(["csv", "customers", str(path)]) == 2
    assert "Not loaded:" in capsys.readouterr().err


def _fraud_files(folder: Path) -> Path:
    """Six purchases in the fraud sample's format (two frauds), and its IP ranges."""
    folder.mkdir()
    (folder / fraud_sample.SAMPLE_FILE).write_text(
        "user_id,signup_time,purchase_time,purchase_value,device_id,source,browser,sex,age,ip_address,class\n"
        "22058,2/24/2015 22:55,4/18/2015 2:47,34,QVPSPJUOCKZAR,SEO,Chrome,M,39,732758368.8,0\n"
        "333320,6/7/2015 20:39,6/8/2015 1:38,16,EOGFQPIZPYXFZ,Ads,Chrome,F,53,350311387.9,0\n"
        "1359,1/1/2015 18:52,1/1/2015 18:52,15,YSSKYOSJHPPLJ,SEO,Opera,M,53,2621473820,1\n"
        "150084,4/28/2015 21:13,5/4/2015 13:54,44,ATGTXKYKUDUQN,SEO,Safari,M,41,3840542444,0\n"
        "221365,7/21/2015 7:09,9/9/2015 18:40,39,NAUITBZFJKHWW,Ads,Safari,M,45,415583117.5,0\n"
        "159135,5/21/2015 6:03,7/9/2015 8:05,42,ALEYXFXINSXLZ,Ads,Chrome,M,18,2809315200,1\n"
    )
    (folder / fraud_sample.RANGES_FILE).write_text(
        "lower_bound_ip_address,upper_bound_ip_address,country\n"
        "350000000,360000000,Norway\n"
        "700000000,800000000,Japan\n"
        "2621473000,2621474000,United States\n"
    )
    return folder


def test_the_fraud_sample_importer_maps_users_purchases_and_frauds(
    warehouse_url: str, tmp_path: Path
) -> None:
    counts = fraud_sample.load_fraud_sample(
        warehouse.get_engine(), _fraud_files(tmp_path / "fraud"), chargeback_delay_days=30
    )
    assert counts == {"customers": 6, "orders": 6, "chargebacks": 2}
    orders = _read(
        "SELECT order_id, customer_id, ordered_at, amount, ip_country FROM orders ORDER BY order_id"
    )
    assert orders["customer_id"].tolist() == [1359, 22058, 150084, 333320, 159135, 221365], (
        "in purchase order"
    )
    assert orders["ip_country"].fillna("unknown").tolist() == [
        "United States",
        "Japan",
        "unknown",
        "Norway",
        "unknown",
        "unknown",
    ]
    chargebacks = _read("SELECT order_id, reported_at FROM chargebacks ORDER BY order_id")
    assert chargebacks["order_id"].tolist() == [1, 5]
    assert chargebacks["reported_at"].tolist() == [
        pd.Timestamp("2015-01-31 18:52"),
        pd.Timestamp("2015-08-08 08:05"),
    ]
    customers = _read("SELECT customer_id, created_at, channel FROM customers WHERE customer_id = 1359")
    assert customers.values.tolist() == [[1359, pd.Timestamp("2015-01-01 18:52"), "SEO"]]


SEQUENCES = "1 10 11 12\n2 11 13\n3 12 10 11 14 10\n"


def test_review_sequences_land_one_purchase_a_day_counted_back_from_the_end(
    warehouse_url: str, tmp_path: Path
) -> None:
    from datetime import date

    from include.importers import review_sequences

    path = tmp_path / "Sequences.txt"
    path.write_text(SEQUENCES)
    counts = review_sequences.load_review_sequences(warehouse.get_engine(), path, end=date(2026, 8, 29))
    # Customer 3 reviewed product 10 twice: it counts once, at its first time.
    assert counts == {"customers": 3, "products": 5, "events": 9}
    events = _read(
        "SELECT event_id, customer_id, product_id, event_type, event_at FROM events ORDER BY event_id"
    )
    assert (events["event_type"] == "purchase").all()
    assert events["event_id"].tolist() == list(range(1, 10)) and events["event_at"].is_monotonic_increasing
    last = events.sort_values("event_at").groupby("customer_id").tail(1)
    # Every customer's last product on the end day, the one before on the day before, and so on.
    assert last.set_index("customer_id")["product_id"].to_dict() == {1: 12, 2: 13, 3: 14}
    assert set(last["event_at"]) == {pd.Timestamp("2026-08-29 12:00")}
    third = events[events["customer_id"] == 3].sort_values("event_at")
    assert third["product_id"].tolist() == [12, 10, 11, 14]
    assert third["event_at"].dt.day.tolist() == [26, 27, 28, 29]
    products = _read("SELECT product_id, created_at, category, price FROM products ORDER BY product_id")
    assert products["category"].isna().all() and products["price"].isna().all()
    assert products.set_index("product_id")["created_at"][12] == pd.Timestamp("2026-08-25"), "the day before"
    loaded = _read("SELECT MAX(loaded_at) AS last FROM events")["last"].iat[0]
    assert pd.Timestamp(loaded) == pd.Timestamp("2026-08-29 12:00"), "a replay: rows land at their own time"


@pytest.mark.parametrize(
    ("text", "message"),
    [("1 10 x\n", "ids must be whole numbers"), ("1\n", "has no products"), ("1 10\n1 11\n", "two lines")],
)
def test_a_sequences_file_that_does_not_fit_is_refused_and_named(
    tmp_path: Path, text: str, message: str
) -> None:
    from include.importers import review_sequences

    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(review_sequences.BadSequences, match=message):
        review_sequences.read_sequences(path)


def test_the_command_line_loads_sequences(warehouse_url: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "Sequences.txt"
    path.write_text(SEQUENCES)
    assert main(["sequences", "--file", str(path), "--end", "2026-08-29"]) == 0
    assert "holdout_days 1" in capsys.readouterr().out
    (tmp_path / "bad.txt").write_text("1 a\n")
    assert main(["sequences", "--file", str(tmp_path / "bad.txt")]) == 2
    assert "Not loaded" in capsys.readouterr().err
