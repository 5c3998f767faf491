"""The data contract: what it declares is what the gate checks and the extracts read; a contract
that names something that does not exist is refused with the entry named."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from include import contract, simulator, validation, warehouse
from tests.helpers import pass_earlier_nights

DAYS = 30
DAY = datetime.combine(simulator.DEFAULT_START + timedelta(days=DAYS - 1), datetime.min.time())
NEXT = DAY + timedelta(days=1)
FRAUD_CONTRACT = Path(contract.__file__).parent / "importers" / "fraud_sample_contract.toml"


def test_each_model_dag_waits_for_exactly_the_tables_its_extracts_read() -> None:
    default = contract.load(contract.DEFAULT_PATH)
    for consumer, tables in default.consumers.items():
        assert set(tables) == contract.tables_read(consumer), consumer
    assert contract.tables_read("order_risk") == {"customers", "orders", "order_items", "chargebacks"}
    assert contract.load(FRAUD_CONTRACT).consumers == default.consumers


def _contract_with(tmp_path: Path, old: str, new: str) -> Path:
    text = contract.DEFAULT_PATH.read_text()
    assert old in text, old
    path = tmp_path / "contract.toml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('required = ["country", "channel"]', 'required = ["country", "chanel"]', r"no column \['chanel'\]"),
        ('volume = "critical"', 'volume = "loud"', "'loud' is not one of"),
        ('at_most = "max_price"', 'at_most = "max_prize"', "'max_prize' is not a gate Param"),
        ("bounds.quantity = { at_least = 1 }", "bounds.quantity = { least = 1 }", "'least' is not one of"),
        (
            'order_risk = ["customers", "orders", "order_items", "chargebacks"]',
            'order_risk = ["customers", "orders", "chargebacks"]',
            r"consumers.order_risk: its extracts read \['order_items'\] too",
        ),
        ("[tables.chargebacks]", "[tables.refunds]", r"missing \['chargebacks'\], unknown \['refunds'\]"),
        ("[consumers]", "[consumer]", r"unknown sections \['consumer'\]"),
    ],
    ids=["column", "severity", "param", "bound", "consumer", "table", "section"],
)
def test_a_contract_naming_what_does_not_exist_is_refused(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _contract_with(tmp_path, old, new)
    with pytest.raises(contract.ContractError, match=message) as refused:
        contract.load(path)
    assert str(path) in str(refused.value)


def test_a_missing_contract_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPFLOW_CONTRACT", str(tmp_path / "nowhere.toml"))
    with pytest.raises(contract.ContractError, match="No data contract at .*nowhere.toml"):
        contract.load()


@pytest.fixture
def shop(warehouse_url: str) -> sa.Engine:
    engine = warehouse.get_engine(warehouse_url)
    simulator.build_shop(engine, "tiny", DAYS)
    pass_earlier_nights(engine, DAY)
    return engine


def _orders_without_payment_method(engine: sa.Engine) -> int:
    """Tonight's orders lose their payment method: what a shop that does not record it loads."""
    with warehouse.transaction(engine) as conn:
        params = warehouse.bind_params({"s": DAY, "e": NEXT}, warehouse.dialect_name(conn))
        return conn.execute(
            sa.text("UPDATE orders SET payment_method = NULL WHERE loaded_at >= :s AND loaded_at < :e"),
            params,
        ).rowcount


def _outcome(results: list[validation.CheckResult], check: str) -> str:
    (result,) = [r for r in results if r.check == check]
    return result.outcome


def test_what_the_contract_requires_decides_what_is_invalid(
    shop: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _orders_without_payment_method(shop) > 0
    # The project's contract requires a payment method: every order of the night is invalid.
    with pytest.raises(validation.DataQualityError, match="orders invalid_values: CRITICAL"):
        validation.validate_table("orders", DAY, NEXT, run_id="strict", engine=shop)

    # A shop that does not record payment methods says so in its contract: the orders pass.
    lenient = _contract_with(
        tmp_path,
        'required = ["customer_id", "amount", "payment_method"]',
        'required = ["customer_id", "amount"]',
    )
    monkeypatch.setenv("SHOPFLOW_CONTRACT", str(lenient))
    results = validation.validate_table("orders", DAY, NEXT, run_id="lenient", engine=shop)
    assert _outcome(results, "invalid_values") == "passed"
    # A value outside the allowed set is still invalid when present.
    with warehouse.transaction(shop) as conn:
        conn.execute(
            sa.text(
                "UPDATE orders SET payment_method = 'iou' WHERE order_id = (SELECT MAX(order_id) FROM orders)"
            )
        )
    tolerant = validation.QualitySettings(quarantine_tolerance=0.2)
    results = validation.validate_table(
        "orders", DAY, NEXT, run_id="lenient-2", engine=shop, quality=tolerant
    )
    assert _outcome(results, "invalid_values") == "quarantine"


def test_the_contract_says_whether_a_volume_miss_fails_or_warns(
    shop: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with warehouse.transaction(shop) as conn:  # tonight's load of orders never came
        conn.execute(
            sa.text("DELETE FROM orders WHERE loaded_at >= :s"),
            warehouse.bind_params({"s": DAY}, warehouse.dialect_name(conn)),
        )
    with pytest.raises(validation.DataQualityError, match="expect_table_row_count_to_be_between"):
        validation.validate_table("orders", DAY, NEXT, run_id="critical", engine=shop)

    monkeypatch.setenv("SHOPFLOW_CONTRACT", str(FRAUD_CONTRACT))  # bursty real traffic: a warning
    results = validation.validate_table("orders", DAY, NEXT, run_id="warning", engine=shop)
    assert _outcome(results, "expect_table_row_count_to_be_between") == "warning"
