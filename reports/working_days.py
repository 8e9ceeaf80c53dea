"""Working days: Monday to Friday, except the holidays given (a case's response deadline).

A deadline of N working days is the end of the Nth working day after the day a case was opened
(that day itself not counted), in the ministry's time zone: a case opened on Friday evening with
a deadline of 1 working day is due by the end of Monday.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SATURDAY = 5


def is_working_day(day: date, holidays: Collection[date] = ()) -> bool:
    return day.weekday() < SATURDAY and day not in holidays


def add_working_days(start: date, days: int, holidays: Collection[date] = ()) -> date:
    """The `days`-th working day after `start` (`start` itself when `days` is 0)."""
    if days < 0:
        raise ValueError(f"days must not be negative, got {days}")
    day = start
    left = days
    while left:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            left -= 1
    return day


def working_days_between(first: date, last: date, holidays: Collection[date] = ()) -> int:
    """Working days in (first, last]: how many `add_working_days` steps lead from one to the other."""
    count = 0
    day = first
    while day < last:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            count += 1
    return count


def deadline(opened_at: datetime, days: int, zone: ZoneInfo, holidays: Collection[date] = ()) -> datetime:
    """The moment (in UTC terms, aware) a case opened at `opened_at` is due: the end of the
    `days`-th working day after its local opening day, i.e. the next local midnight."""
    if opened_at.tzinfo is None:
        raise ValueError("opened_at must be an aware datetime")
    last = add_working_days(opened_at.astimezone(zone).date(), days, holidays)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
