"""Working days: properties over any start, count and holiday list, plus hand-checked dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.working_days import add_working_days, deadline, is_working_day, working_days_between

NSK = ZoneInfo("Asia/Novosibirsk")
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))
counts = st.integers(min_value=0, max_value=60)
holiday_lists = st.frozensets(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)), max_size=40)


@given(starts, counts, holiday_lists)
def test_the_result_is_exactly_that_many_working_days_later(
    start: date, days: int, holidays: frozenset[date]
) -> None:
    end = add_working_days(start, days, holidays)
    assert end >= start
    assert working_days_between(start, end, holidays) == days
    if days:
        assert is_working_day(end, holidays)  # never a weekend or holiday
    else:
        assert end == start


@given(starts, counts, counts, holiday_lists)
def test_adding_in_two_steps_is_adding_at_once(
    start: date, a: int, b: int, holidays: frozenset[date]
) -> None:
    assert add_working_days(add_working_days(start, a, holidays), b, holidays) == add_working_days(
        start, a + b, holidays
    )


@given(starts, counts, holiday_lists)
def test_more_holidays_never_bring_the_day_closer(start: date, days: int, holidays: frozenset[date]) -> None:
    plain = add_working_days(start, days)
    assert add_working_days(start, days, holidays) >= plain
    # Without holidays a week holds five working days: at most two weekend days per five.
    assert (plain - start).days <= days + 2 * ((days + 4) // 5) + 2


@given(starts, st.integers(min_value=1, max_value=60), holiday_lists)
def test_no_working_day_is_skipped(start: date, days: int, holidays: frozenset[date]) -> None:
    end = add_working_days(start, days, holidays)
    before = add_working_days(start, days - 1, holidays)
    between = [before + timedelta(days=n) for n in range(1, (end - before).days)]
    assert not any(is_working_day(day, holidays) for day in between)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=30),
    holiday_lists,
)
def test_a_deadline_is_a_local_midnight_after_opening(
    opened: datetime, days: int, holidays: frozenset[date]
) -> None:
    due = deadline(opened, days, NSK, holidays)
    assert due > opened
    local = due.astimezone(NSK)
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert is_working_day(local.date() - timedelta(days=1), holidays)


def test_hand_checked_dates() -> None:
    friday = date(2026, 12, 4)
    assert add_working_days(friday, 1) == date(2026, 12, 7)  # Monday
    assert add_working_days(friday, 5) == date(2026, 12, 11)
    assert add_working_days(date(2026, 12, 5), 1) == date(2026, 12, 7)  # from a Saturday
    new_year = {date(2027, 1, d) for d in range(1, 9)}
    assert add_working_days(date(2026, 12, 30), 2, new_year) == date(2027, 1, 11)
    # Opened Friday 23:30 local (16:30 UTC), 1 working day: due by the end of Monday local.
    opened = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
    assert deadline(opened, 1, NSK) == datetime(2026, 12, 8, 0, 0, tzinfo=NSK)
    # 18:30 UTC on Friday is already Saturday in Novosibirsk: the same Monday.
    assert deadline(datetime(2026, 12, 4, 18, 30, tzinfo=UTC), 1, NSK) == datetime(2026, 12, 8, tzinfo=NSK)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        add_working_days(date(2026, 1, 1), -1)
    with pytest.raises(ValueError):
        deadline(datetime(2026, 1, 1), 1, NSK)
