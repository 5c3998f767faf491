"""The validation module on its own: failures that raise, the log, Data Docs, thresholds, PSI."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from include import simulator, validation, warehouse

DAYS = 30
DAY = datetime.combine(simulator.DEFAULT_START + timedelta(days=DAYS - 1), datetime.min.time())
NEXT = DAY + timedelta(days=1)


@pytest.fixture
def shop(warehouse_url: str) -> sa.Engine:
    engine = warehouse.get_engine(warehouse_url)
    simulator.build_shop(engine, "tiny", DAYS)
    return engine


def _one_unknown_product(engine: sa.Engine) -> int:
    with warehouse.transaction(engine) as conn:
        event_id = conn.execute(
            sa.text("SELECT MIN(event_id) FROM events WHERE event_at >= :s AND event_at < :e"),
            warehouse.bind_params({"s": DAY, "e": NEXT}, warehouse.dialect_name(conn)),
        ).scalar_one()
        conn.execute(sa.text("UPDATE events SET product_id = 999999 WHERE event_id = :i"), {"i": event_id})
    return int(event_id)


def _one_rule_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract's rule on events asks for a column that does not exist: its check raises."""
    original = validation.quarantine_rules

    def broken(table, cfg, dialect):  # noqa: ANN001
        rules = original(table, cfg, dialect)
        if table == "events":
            rules[validation.CONTRACT_RULE] = "SELECT no_such_column AS record_id FROM events"
        return rules

    monkeypatch.setattr(validation, "quarantine_rules", broken)


def test_a_check_that_cannot_run_is_a_critical_failure(shop: sa.Engine, monkeypatch) -> None:
    _one_rule_broken(monkeypatch)
    with pytest.raises(validation.DataQualityError, match="invalid_values"):
        validation.validate_table("events", DAY, NEXT, run_id="r1", engine=shop)
    row = warehouse.read_frame(
        sql="SELECT severity, success FROM data_quality_runs WHERE expectation = 'invalid_values'",
        conn=shop.connect(),
    )
    assert row.values.tolist() == [["critical", 0]]


def test_checks_that_fail_because_the_warehouse_went_away_are_an_outage_not_bad_data(
    shop: sa.Engine, monkeypatch
) -> None:
    _one_rule_broken(monkeypatch)  # stands for the query whose connection was lost
    monkeypatch.setattr(warehouse, "reachable", lambda engine=None: False)  # and it is still gone
    with pytest.raises(warehouse.WarehouseUnavailable, match="stopped answering while events"):
        validation.validate_table("events", DAY, NEXT, run_id="r1", engine=shop)
    recorded = warehouse.read_frame(sql="SELECT COUNT(*) AS n FROM data_quality_runs", conn=shop.connect())
    assert recorded["n"].iloc[0] == 0, "an outage is not a data-quality verdict"


def test_a_dropped_table_is_recorded_as_critical(shop: sa.Engine) -> None:
    with warehouse.transaction(shop) as conn:
        conn.exec_driver_sql("DROP TABLE chargebacks")
    with pytest.raises(validation.DataQualityError, match="chargebacks expect_table_to_exist"):
        validation.validate_table("chargebacks", DAY, NEXT, run_id="r1", engine=shop)
    row = warehouse.read_frame(
        sql="SELECT expectation, severity, success FROM data_quality_runs", conn=shop.connect()
    )
    assert row.values.tolist() == [["expect_table_to_exist", "critical", 0]]


def test_the_log_names_table_check_observed_value_and_offending_ids_and_docs(
    shop: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    bad_id = _one_unknown_product(shop)
    with caplog.at_level(logging.INFO, logger="include.validation"):
        results = validation.validate_table("events", DAY, NEXT, run_id="r1", engine=shop)
    failed = [r for r in results if not r.success]
    assert [(r.check, r.outcome, r.unexpected_count) for r in failed] == [
        ("unknown_references", "quarantine", 1)
    ]
    line = next(m for m in caplog.messages if m.startswith("events unknown_references:"))
    assert "events" in line and "QUARANTINE" in line and str(bad_id) in line and "offending_rows" in line
    docs = validation.data_docs_dir("r1", "events") / "index.html"
    assert docs.exists() and any(str(docs) in m for m in caplog.messages)


def test_data_docs_can_be_turned_off_without_changing_a_verdict(
    shop: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _one_unknown_product(shop)
    with_docs = validation.validate_table("events", DAY, NEXT, run_id="r1", engine=shop)
    monkeypatch.setenv("SHOPFLOW_DATA_DOCS", "off")
    without = validation.validate_table("events", DAY, NEXT, run_id="r2", engine=shop)
    assert [(r.check, r.outcome, r.unexpected_count) for r in without] == [
        (r.check, r.outcome, r.unexpected_count) for r in with_docs
    ]
    assert validation.data_docs_dir("r1", "events").is_dir()
    assert not validation.data_docs_dir("r2", "events").exists()


def test_a_validation_log_starts_with_its_summary_and_holds_no_great_expectations_chatter(
    shop: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _one_unknown_product(shop)
    with caplog.at_level(logging.INFO):
        results = validation.validate_table("events", DAY, NEXT, run_id="r1", engine=shop)
    ours = [r.getMessage() for r in caplog.records if r.name == "include.validation"]
    assert ours[0].startswith(
        f"events [{DAY}, {NEXT}): {len(results)} checks, {len(results) - 1} passed, 1 quarantine"
    )
    assert "failed: unknown_references: quarantine" in ours[0]
    assert f"Data Docs: {validation.data_docs_dir('r1', 'events') / 'index.html'}" in ours[0]
    chatter = [
        r for r in caplog.records if r.name.startswith("great_expectations") and r.levelno < logging.WARNING
    ]
    assert chatter == []


def test_the_tolerance_decides_between_quarantine_and_failure(shop: sa.Engine) -> None:
    _one_unknown_product(shop)
    strict = validation.QualitySettings(quarantine_tolerance=0.0)
    with pytest.raises(validation.DataQualityError, match="unknown_references"):
        validation.validate_table("events", DAY, NEXT, run_id="r1", engine=shop, quality=strict)
    quarantined = warehouse.read_frame(
        sql="SELECT COUNT(*) AS n FROM data_quality_quarantine", conn=shop.connect()
    )
    assert quarantined["n"].iloc[0] == 0, "above the tolerance nothing is quarantined: the run fails"


def test_revalidating_an_interval_replaces_its_quarantine(shop: sa.Engine) -> None:
    bad_id = _one_unknown_product(shop)
    validation.validate_table("events", DAY, NEXT, run_id="r1", engine=shop)
    with warehouse.transaction(shop) as conn:  # the shop repairs the row
        conn.execute(sa.text("UPDATE events SET product_id = 1 WHERE event_id = :i"), {"i": bad_id})
    validation.validate_table("events", DAY, NEXT, run_id="r2", engine=shop)
    left = warehouse.read_frame(sql="SELECT COUNT(*) AS n FROM data_quality_quarantine", conn=shop.connect())
    assert left["n"].iloc[0] == 0


def test_a_quarantined_row_corrected_on_a_later_night_is_read_again(shop: sa.Engine) -> None:
    """Quarantine is by key: a product quarantined one night stays out until the shop loads it
    again corrected; the night that checks the correction lifts the old verdict."""
    from tests.helpers import pass_earlier_nights

    before = DAY - timedelta(days=1)
    pass_earlier_nights(shop, before)
    tolerant = validation.QualitySettings(quarantine_tolerance=1.0)  # the night's products: a handful

    def reload(price: float, at: datetime) -> None:
        with warehouse.transaction(shop) as conn:
            conn.execute(
                sa.text("UPDATE products SET price = :p, loaded_at = :t WHERE product_id = 1"),
                warehouse.bind_params({"p": price, "t": at}, warehouse.dialect_name(conn)),
            )

    def catalogue(until: datetime) -> set[int]:
        params = {"end": until, "loaded_until": until}
        with shop.connect() as conn:
            return set(
                warehouse.read_frame("recommendations/extract_products", params, conn=conn)["product_id"]
            )

    reload(-5.0, before + timedelta(hours=3))  # a bad price lands the night before DAY
    validation.validate_table("products", before, DAY, run_id="n1", engine=shop, quality=tolerant)
    assert 1 not in catalogue(DAY), "quarantined"
    validation.validate_table("products", DAY, NEXT, run_id="n2", engine=shop, quality=tolerant)
    assert 1 not in catalogue(NEXT), "a night without a correction keeps the verdict"

    reload(12.5, DAY + timedelta(hours=3))  # the correction lands the next night
    validation.validate_table("products", DAY, NEXT, run_id="n3", engine=shop, quality=tolerant)
    assert 1 in catalogue(NEXT), "the corrected product is read again"
    assert 1 not in catalogue(DAY), "not as of the night before, when it was still bad"


def test_settings_come_from_params_and_ignore_the_rest() -> None:
    cfg = validation.QualitySettings.from_params(
        {"quarantine_tolerance": 0.05, "day": "2026-06-30", "drift_psi_limit": None}
    )
    assert cfg.quarantine_tolerance == 0.05
    assert cfg.drift_psi_limit == validation.QualitySettings().drift_psi_limit


def test_population_stability_index_by_hand() -> None:
    # (0.5-0.9)*ln(0.5/0.9) + (0.5-0.1)*ln(0.5/0.1) = 0.2351 + 0.6438
    assert math.isclose(
        validation.population_stability({"a": 50, "b": 50}, {"a": 90, "b": 10}), 0.8789, abs_tol=1e-3
    )
    assert validation.population_stability({"a": 3, "b": 7}, {"a": 30, "b": 70}) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="rows on both sides"):
        validation.population_stability({}, {"a": 1})


def test_volume_band_spans_the_percentiles_of_the_trailing_loads(shop: sa.Engine) -> None:
    cfg = validation.QualitySettings()
    assert validation.volume_band([100] * 14, cfg) == (30, 300)
    # Two busy days in fourteen: the 90th percentile is 100 + 0.7 x 300 (linear between ranks).
    bursty = [100] * 12 + [400] * 2
    low, high = validation.volume_band(bursty, cfg)
    assert (low, high) == (30, 930)
    assert 500 <= high, "a busy day like the trailing ones passes (3 x the median would fail it)"
    assert 1000 > high, "a tenfold load still fails"
    assert validation.volume_band([5, 7], cfg) == (1, None), "too little history: just not empty"
    assert validation._percentile([3, 1, 2, 4], 0.5) == 2.5
    # In the warehouse: the band of the loads of the trailing days.
    with shop.connect() as conn:
        history = validation.trailing_counts("events", DAY, cfg.trailing_days, conn)
        assert len(history) == cfg.trailing_days
        assert validation._volume_band("events", DAY, cfg, conn) == validation.volume_band(history, cfg)
        assert validation._volume_band("customers", DAY, cfg, conn) == (0, None), "not judged by the contract"


@pytest.mark.parametrize(
    ("table", "update", "bad_key"),
    [
        # Text in an integer id: SQLite keeps it, and the risk features crashed on it.
        (
            "orders",
            "UPDATE orders SET order_id = 'ORD-X' WHERE order_id = (SELECT MAX(order_id) FROM orders)",
            "ORD-X",
        ),
        # Timestamps in another form fall in no interval: only a whole-table check sees them.
        ("events", "UPDATE events SET event_at = 1780000000 WHERE event_id = 1", "1"),
        ("customers", "UPDATE customers SET created_at = '12/01/2026' WHERE customer_id = 1", "1"),
    ],
    ids=["text_in_an_id", "epoch_timestamp", "us_date_text"],
)
def test_sqlite_values_of_the_wrong_stored_type_stop_the_night(
    tmp_path, monkeypatch, table: str, update: str, bad_key: str
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("SHOPFLOW_VAR_DIR", str(tmp_path / "var"))
    engine = warehouse.get_engine(url)
    simulator.build_shop(engine, "tiny", DAYS)
    assert all(
        r.success
        for r in validation.validate_table(table, DAY, NEXT, run_id="r0", engine=engine)
        if r.check == "stored_types"
    )
    with warehouse.transaction(engine) as conn:
        conn.exec_driver_sql(update)
    with pytest.raises(validation.DataQualityError, match=f"{table} stored_types: CRITICAL") as raised:
        validation.validate_table(table, DAY, NEXT, run_id="r1", engine=engine)
    assert bad_key in str(raised.value)
