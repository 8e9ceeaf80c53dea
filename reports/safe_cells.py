"""Text in the files we hand out (CSV, XLSX): never a live formula, never an illegal XML character.

Respondents type free text (a follow-up, «Другое», a name in the messenger, a paper cell) that a
spreadsheet would otherwise run: `=HYPERLINK(…)`, `+cmd|…`, `@SUM(…)`. The OWASP rule for CSV
injection is applied to every text cell of every file: a text starting with `=`, `+`, `-`, `@`,
a tab or a carriage return gets a leading single quote. In XLSX the text is also written as an
explicit string cell, so neither a formula nor an error value (`#N/A`) is inferred from it, and
characters XML cannot hold (control characters) are dropped. The stored text never changes: this
applies only to the copy written into a file. Numbers and dates are written as they are.
"""

from __future__ import annotations

from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralize(text: str) -> str:
    """The text with a leading quote if a spreadsheet would read it as a formula."""
    return QUOTE + text if text.startswith(FORMULA_STARTS) else text


def xlsx_text(text: str) -> str:
    """The text as an XLSX cell holds it: control characters dropped, then neutralised."""
    if not text.isprintable():  # rare: most texts skip the regular expression
        text = ILLEGAL_CHARACTERS_RE.sub("", text)
    return neutralize(text)


def csv_row(row: list[Any]) -> list[Any]:
    """A CSV row with every text cell neutralised; other values unchanged."""
    return [neutralize(value) if type(value) is str else value for value in row]


def write_only_row(sheet: Any, row: list[Any]) -> list[Any]:
    """A row for `append` on a write-only sheet: each text a string cell.

    openpyxl infers a formula from a text starting with `=` (never left after `xlsx_text`) and an
    error value from `#N/A` and the like; only those get an explicit string cell, because making a
    cell object for every text costs a third of the export's time.
    """
    return [_string_value(sheet, value) if type(value) is str else value for value in row]


def _string_value(sheet: Any, text: str) -> str | WriteOnlyCell:
    value = xlsx_text(text)
    if value not in ERROR_CODES:
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    return cell


def set_text(cell: Any, value: object) -> None:
    """Put `value` into a cell of an ordinary sheet; a text goes in as an explicit string cell."""
    if isinstance(value, str):
        cell.value = xlsx_text(value)
        cell.data_type = "s"
    else:
        cell.value = value
