"""The data contract: what each source table must hold, and which tables each model DAG reads.

Declared in `include/contract.toml` (or the file `SHOPFLOW_CONTRACT` names) and read here; the
gate (`include.validation`) turns it into checks and the validation DAG announces each model
DAG's Asset from its consumer's tables. A contract that names an unknown table, column, Param or
severity is refused with the entry named, before any check runs.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).resolve().parent / "contract.toml"
VOLUME_SEVERITIES = ("critical", "warning", "none")
BOUND_KINDS = {"above": ">", "at_least": ">=", "at_most": "<="}
# Each model DAG and the folder of include/sql/ that holds its extracts.
CONSUMERS = {"recommendations": "recommendations", "order_risk": "risk"}
_READ_FROM = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_]+)", re.IGNORECASE)


class ContractError(ValueError):
    """The contract file is missing or names something that does not exist."""


@dataclass(frozen=True)
class TableContract:
    """What one source table must hold."""

    volume: str  # critical / warning / none: what a day's load outside the band means
    required: tuple[str, ...] = ()  # columns that must not be null
    allowed: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # column -> its only values
    bounds: dict[str, dict[str, float | str]] = field(default_factory=dict)  # column -> kind -> limit

    @property
    def constrains_values(self) -> bool:
        return bool(self.required or self.allowed or self.bounds)


@dataclass(frozen=True)
class Contract:
    path: Path
    consumers: dict[str, tuple[str, ...]]
    tables: dict[str, TableContract]


def contract_path() -> Path:
    """The contract in force: SHOPFLOW_CONTRACT, else the project's own."""
    return Path(os.environ.get("SHOPFLOW_CONTRACT") or DEFAULT_PATH).resolve()


def load(path: Path | None = None) -> Contract:
    """The contract at `path` (default: the one in force), checked against the warehouse schema.

    Raises:
        ContractError: naming the file and the entry that is wrong.
    """
    path = (path or contract_path()).resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise ContractError(f"No data contract at {path} (SHOPFLOW_CONTRACT names the file)") from None
    return _load(path, stamp)


@functools.cache
def _load(path: Path, _stamp: int) -> Contract:
    from include.validation import SCHEMA, QualitySettings

    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ContractError(f"{path} is not valid TOML: {error}") from None

    def fail(where: str, problem: str) -> ContractError:
        return ContractError(f"{path}: {where}: {problem}")

    unknown = sorted(set(raw) - {"consumers", "tables"})
    if unknown:
        raise fail("top level", f"unknown sections {unknown} (expected [consumers] and [tables.<table>])")
    consumers = raw.get("consumers", {})
    if sorted(consumers) != sorted(CONSUMERS):
        raise fail("[consumers]", f"must list exactly {list(CONSUMERS)}, not {sorted(consumers)}")
    for name, tables in consumers.items():
        strange = sorted(set(tables) - set(SCHEMA))
        if strange:
            raise fail(f"consumers.{name}", f"unknown tables {strange}")
        unchecked = sorted(tables_read(name) - set(tables))
        if unchecked:
            # Its Asset would be announced while rows it reads were never judged.
            raise fail(f"consumers.{name}", f"its extracts read {unchecked} too: list every table it reads")
    params = {f.name for f in QualitySettings.__dataclass_fields__.values()}
    tables = raw.get("tables", {})
    missing = sorted(set(SCHEMA) - set(tables))
    if missing or set(tables) - set(SCHEMA):
        raise fail(
            "[tables]",
            f"must describe every source table {list(SCHEMA)}; missing {missing}, "
            f"unknown {sorted(set(tables) - set(SCHEMA))}",
        )
    parsed = {}
    for table, spec in tables.items():
        where = f"tables.{table}"
        extra = sorted(set(spec) - {"volume", "required", "allowed", "bounds"})
        if extra:
            raise fail(where, f"unknown keys {extra}")
        volume = spec.get("volume", "none")
        if volume not in VOLUME_SEVERITIES:
            raise fail(f"{where}.volume", f"{volume!r} is not one of {list(VOLUME_SEVERITIES)}")
        columns = set(SCHEMA[table])
        named = [*spec.get("required", []), *spec.get("allowed", {}), *spec.get("bounds", {})]
        strange = sorted(set(named) - columns)
        if strange:
            raise fail(where, f"{table} has no column {strange}; its columns: {list(SCHEMA[table])}")
        for column, limits in spec.get("bounds", {}).items():
            for kind, limit in limits.items():
                if kind not in BOUND_KINDS:
                    raise fail(f"{where}.bounds.{column}", f"{kind!r} is not one of {list(BOUND_KINDS)}")
                if isinstance(limit, str) and limit not in params:
                    raise fail(
                        f"{where}.bounds.{column}.{kind}", f"{limit!r} is not a gate Param {sorted(params)}"
                    )
                if not isinstance(limit, (int, float, str)) or isinstance(limit, bool):
                    raise fail(
                        f"{where}.bounds.{column}.{kind}", f"{limit!r} is not a number or a Param name"
                    )
        parsed[table] = TableContract(
            volume=volume,
            required=tuple(spec.get("required", [])),
            allowed={c: tuple(v) for c, v in spec.get("allowed", {}).items()},
            bounds={c: dict(v) for c, v in spec.get("bounds", {}).items()},
        )
    return Contract(path, {k: tuple(v) for k, v in consumers.items()}, parsed)


def tables_read(consumer: str) -> set[str]:
    """The source tables a model DAG's extracts read (include/sql/<its folder>/extract_*.sql)."""
    from include.validation import SCHEMA
    from include.warehouse import SQL_DIR

    named: set[str] = set()
    for path in sorted((SQL_DIR / CONSUMERS[consumer]).glob("extract_*.sql")):
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
        named |= {name.lower() for name in _READ_FROM.findall(text)}
    return named & set(SCHEMA)
