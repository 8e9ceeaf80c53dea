"""Report periods: dates and quarters in the ministry's time zone, turned into UTC bounds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reports.errors import ReportError

QUARTER_RE = re.compile(r"^(\d{4})\s*[QqКк]([1-4])$")


@dataclass(frozen=True)
class Period:
    """[first, last] calendar days, inclusive, in `zone`."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """Exclusive upper bound."""
        return datetime.combine(self.last + timedelta(days=1), time(), self.zone).astimezone(UTC)

    @property
    def label(self) -> str:
        return f"{self.first:%d.%m.%Y} - {self.last:%d.%m.%Y}"


# Dates and quarters staff may ask for. Answers exist only from the service's start; the bounds keep
# every period (and the day after it, the exclusive end) far inside what datetime and the
# databases can represent, so a typo such as 0001-01-01 or 9999Q4 is an error, not a crash.
FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2100, 12, 31)
RANGE_TEXT = f"{FIRST_DATE:%d.%m.%Y}–{LAST_DATE:%d.%m.%Y}"


def to_date(text: str) -> date:
    """A day typed as ГГГГ-ММ-ДД or ДД.ММ.ГГГГ within FIRST_DATE..LAST_DATE; ValueError otherwise."""
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            value = datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
        if not FIRST_DATE <= value <= LAST_DATE:
            raise ValueError(f"дата «{text}» вне допустимого периода {RANGE_TEXT}")
        return value
    raise ValueError(f"ожидается дата ГГГГ-ММ-ДД или ДД.ММ.ГГГГ, получено «{text}»")


def parse_date(text: str, what: str) -> date:
    try:
        return to_date(text)
    except ValueError as exc:
        raise ReportError(f"{what}: {exc}") from None


def date_range(start: str | date | None, end: str | date | None, zone: ZoneInfo) -> Period:
    first = start if isinstance(start, date) else parse_date(start, "--from") if start else FIRST_DATE
    last = end if isinstance(end, date) else parse_date(end, "--to") if end else LAST_DATE
    if last < first:
        raise ReportError(f"Период пуст: --to ({last:%d.%m.%Y}) раньше --from ({first:%d.%m.%Y})")
    return Period(first, last, zone)


def to_quarter(text: str) -> tuple[int, int]:
    """(year, number) of a quarter typed as 2025Q3 (or 2025К3) within the date bounds; ValueError otherwise."""
    match = QUARTER_RE.match(text.strip())
    if not match:
        raise ValueError(f"ожидается квартал вида 2025Q3, получено «{text}»")
    year, number = int(match.group(1)), int(match.group(2))
    if not FIRST_DATE.year <= year <= LAST_DATE.year:
        raise ValueError(f"квартал «{text}» вне допустимого периода {FIRST_DATE.year}Q1–{LAST_DATE.year}Q4")
    return year, number


def parse_quarter(text: str) -> tuple[int, int]:
    try:
        return to_quarter(text)
    except ValueError as exc:
        raise ReportError(f"--quarter: {exc}") from None


def quarter_key(text: str) -> str:
    year, number = parse_quarter(text)
    return f"{year}Q{number}"


def quarter_period(text: str, zone: ZoneInfo) -> Period:
    year, number = parse_quarter(text)
    first = date(year, 3 * number - 2, 1)
    next_first = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return Period(first, next_first - timedelta(days=1), zone)


def quarter_title(text: str) -> str:
    year, number = parse_quarter(text)
    return f"{number} квартал {year} г."
