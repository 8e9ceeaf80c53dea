"""Page set-up of the report sheets, so that what staff print is readable and complete."""

from __future__ import annotations

import math
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


LINE_HEIGHT = 15.0  # points per line of 11 pt text
DEFAULT_WIDTH = 8.43


def fit_row_heights(sheet: Any, first_row: int, last_row: int) -> None:
    """Row heights for wrapped text: LibreOffice and Excel keep the stored height of a file
    written by openpyxl, so a long wrapped name would spill over the next row when printed.
    Characters per line are estimated from the column width (one width unit ~ one letter)."""
    merged = {cell for merge in sheet.merged_cells.ranges for row in merge.rows for cell in row}
    for row in sheet.iter_rows(min_row=first_row, max_row=last_row):
        lines = 1
        for cell in row:
            if not isinstance(cell.value, str) or not cell.alignment.wrap_text:
                continue
            if (cell.row, cell.column) in merged:
                continue
            width = sheet.column_dimensions[cell.column_letter].width or DEFAULT_WIDTH
            per_line = max(1, int(width * (0.9 if cell.font.b else 1.05)))
            needed = sum(max(1, math.ceil(len(part) / per_line)) for part in cell.value.split("\n"))
            lines = max(lines, needed)
        if lines > 1:
            sheet.row_dimensions[row[0].row].height = LINE_HEIGHT * lines + 2
