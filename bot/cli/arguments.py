"""Checked command-line values: every date, quarter, number and text that reaches a report or the
database is parsed by one of these argparse types, and any mistake is one Russian line, exit 2.

Bounds (documented in README.md and docs/reports.md):
- dates 01.01.2000–31.12.2100 and quarters 2000Q1–2100Q4 (reports.period);
- numbers that are stored or looked up fit a 32-bit INTEGER column (PostgreSQL INTEGER, the
  narrowest of the two databases), so nothing overflows in a driver;
- texts that are stored fit their column and are valid UTF-8.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import NoReturn

from reports.period import to_date, to_quarter
from storage.schema import DB_INT_MAX

SHOWN = 40  # characters of a bad value echoed back


def shown(text: str) -> str:
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def date_arg(text: str) -> date:
    try:
        return to_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def quarter_arg(text: str) -> str:
    """The quarter as its canonical key, e.g. «2025q3» → «2025Q3»."""
    try:
        year, number = to_quarter(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return f"{year}Q{number}"


def bounded_int(low: int, high: int = DB_INT_MAX) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:  # also the digit-count limit of int() on very long strings
            raise argparse.ArgumentTypeError(f"ожидается целое число, получено «{shown(text)}»") from None
        if not low <= value <= high:
            sign = "не может быть отрицательным: " if value < 0 <= low else ""
            raise argparse.ArgumentTypeError(
                f"{sign}ожидается целое число от {low} до {high}, получено {shown(text)}"
            )
        return value

    return parse


def bounded_text(max_length: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # bytes of another encoding on the command line
            raise argparse.ArgumentTypeError("текст не в кодировке UTF-8") from None
        if len(text) > max_length:
            raise argparse.ArgumentTypeError(
                f"не длиннее {max_length} символов (получено {len(text)}): «{shown(text)}»"
            )
        return text

    return parse


# argparse's own messages, in Russian; anything else is shown as argparse words it.
_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^the following arguments are required: (.*)$"), r"не заданы обязательные параметры: \1"),
    (re.compile(r"^one of the arguments (.*) is required$"), r"нужен один из параметров: \1"),
    (re.compile(r"^unrecognized arguments: (.*)$"), r"непонятные параметры: \1"),
    (
        re.compile(r"^argument (\S+): invalid choice: (.*?) \(choose from (.*)\)$"),
        r"\1: нет варианта \2; варианты: \3",
    ),
    (re.compile(r"^argument (\S+): expected one argument$"), r"\1: нужно значение"),
    (re.compile(r"^argument (\S+): invalid int value: (.*)$"), r"\1: ожидается целое число, получено \2"),
    (re.compile(r"^argument (\S+): not allowed with argument (\S+)$"), r"\1: нельзя вместе с \2"),
    (re.compile(r"^argument (\S+): (.*)$", re.DOTALL), r"\1: \2"),
]


def russian(message: str) -> str:
    for pattern, replacement in _MESSAGES:
        if pattern.match(message):
            return pattern.sub(replacement, message)
    return message


class CliParser(argparse.ArgumentParser):
    """Errors are one Russian line naming the command and the parameter, exit code 2."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # Bytes that are not UTF-8 arrive as lone surrogates and would fail later, in a database
        # driver or a file name, with a traceback: refuse them here, for every parameter at once.
        for value in sys.argv[1:] if args is None else args:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                self.error(f"параметр «{shown(value)}» не в кодировке UTF-8")
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        line = " ".join(f"{self.prog}: {russian(message)}".split())
        print(f"{line} (справка: {self.prog} -h)", file=sys.stderr)
        sys.exit(2)
