"""A Core statement compiled once for a dialect, with what running it on the driver needs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Compiled:
    sql: str
    construct: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    binds: tuple[tuple[str, Processor], ...]
    results: tuple[Processor, ...]


def compiled_for_driver(compiled: SQLCompiler, dialect: Dialect, columns: Any) -> Compiled:
    """What running `compiled` needs without SQLAlchemy: its SQL, bind order and type processors."""
    original = {escaped: name for name, escaped in (compiled.escaped_bind_names or {}).items()}
    binds = tuple(
        (
            name,
            compiled.binds[original.get(name, name)].type.dialect_impl(dialect).bind_processor(dialect),
        )
        for name in compiled.positiontup or ()
    )
    results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
    return Compiled(compiled.string, compiled.construct_params, binds, results)
