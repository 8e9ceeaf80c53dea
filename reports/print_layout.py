"""Page set-up of the report sheets, so that what staff print is readable and complete."""

from __future__ import annotations

from typing import Any

from openpyxl.worksheet.properties import PageSetupProperties


def print_setup(sheet: Any, *, landscape: bool, title_rows: str | None = None) -> None:
    """A4, all columns on one page wide (as many pages down as needed), the header row repeated
    on every page, narrow margins and the table centred across the page."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE if landscape else sheet.ORIENTATION_PORTRAIT
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # 0: as many pages down as the rows need
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    if title_rows is not None:
        sheet.print_title_rows = title_rows
