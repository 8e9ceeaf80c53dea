"""Report periods: dates and quarters in the ministry's time zone, turned into UTC bounds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import UsageError

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


def parse_date(text: str, what: str) -> date:
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise UsageError(f"{what}: ожидается дата ГГГГ-ММ-ДД или ДД.ММ.ГГГГ, получено «{text}»")


def date_range(start: str | None, end: str | None, zone: ZoneInfo) -> Period:
    first = parse_date(start, "--from") if start else date(2000, 1, 1)
    last = parse_date(end, "--to") if end else date(2999, 12, 31)
    if last < first:
        raise UsageError(f"Период пуст: --to ({last:%d.%m.%Y}) раньше --from ({first:%d.%m.%Y})")
    return Period(first, last, zone)


def parse_quarter(text: str) -> tuple[int, int]:
    match = QUARTER_RE.match(text.strip())
    if not match:
        raise UsageError(f"--quarter: ожидается квартал вида 2025Q3, получено «{text}»")
    return int(match.group(1)), int(match.group(2))


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
