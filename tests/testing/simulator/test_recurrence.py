"""Recurrence patterns expand to the dates Exchange would produce."""

from __future__ import annotations

from datetime import date

import pytest

from crm_ews._soap import parse_xml
from crm_ews.testing._recurrence import occurrence_dates, parse_recurrence
from crm_ews.testing._wire import ItemError

_NS = 'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"'


def _dates(pattern: str, span: str, count: int = 5) -> list[date]:
    element = parse_xml(f"<t:Recurrence {_NS}>{pattern}{span}</t:Recurrence>".encode())
    found = []
    for _, day in occurrence_dates(parse_recurrence(element)):
        found.append(day)
        if len(found) == count:
            break
    return found


NO_END = "<t:NoEndRecurrence><t:StartDate>2030-01-01Z</t:StartDate></t:NoEndRecurrence>"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            "<t:DailyRecurrence><t:Interval>3</t:Interval></t:DailyRecurrence>",
            ["2030-01-01", "2030-01-04", "2030-01-07"],
        ),
        (
            "<t:WeeklyRecurrence><t:Interval>2</t:Interval><t:DaysOfWeek>Monday Friday"
            "</t:DaysOfWeek><t:FirstDayOfWeek>Monday</t:FirstDayOfWeek>"
            "</t:WeeklyRecurrence>",
            ["2030-01-04", "2030-01-14", "2030-01-18"],
        ),
        (
            "<t:AbsoluteMonthlyRecurrence><t:Interval>1</t:Interval><t:DayOfMonth>31"
            "</t:DayOfMonth></t:AbsoluteMonthlyRecurrence>",
            ["2030-01-31", "2030-02-28", "2030-03-31"],
        ),
        (
            "<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval>"
            "<t:DaysOfWeek>Friday"
            "</t:DaysOfWeek><t:DayOfWeekIndex>Last</t:DayOfWeekIndex>"
            "</t:RelativeMonthlyRecurrence>",
            ["2030-01-25", "2030-02-22", "2030-03-29"],
        ),
        (
            "<t:AbsoluteYearlyRecurrence><t:DayOfMonth>29</t:DayOfMonth>"
            "<t:Month>February"
            "</t:Month></t:AbsoluteYearlyRecurrence>",
            ["2030-02-28", "2031-02-28", "2032-02-29"],
        ),
        (
            "<t:RelativeYearlyRecurrence><t:DaysOfWeek>Weekday</t:DaysOfWeek>"
            "<t:DayOfWeekIndex>First</t:DayOfWeekIndex><t:Month>June</t:Month>"
            "</t:RelativeYearlyRecurrence>",
            ["2030-06-03", "2031-06-02", "2032-06-01"],
        ),
    ],
    ids=[
        "daily",
        "weekly",
        "absolute-monthly",
        "relative-monthly",
        "absolute-yearly",
        "relative-yearly",
    ],
)
def test_patterns(pattern: str, expected: list[str]) -> None:
    """Each calendar pattern yields the expected first dates."""
    assert [day.isoformat() for day in _dates(pattern, NO_END, 3)] == expected


def test_end_date_range_is_inclusive() -> None:
    """An end-date range includes its last day and stops there."""
    span = (
        "<t:EndDateRecurrence><t:StartDate>2030-01-01</t:StartDate>"
        "<t:EndDate>2030-01-03</t:EndDate></t:EndDateRecurrence>"
    )
    daily = "<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence>"
    assert len(_dates(daily, span, 10)) == 3


@pytest.mark.parametrize(
    ("pattern", "span"),
    [
        ("<t:WeeklyRecurrence><t:Interval>1</t:Interval></t:WeeklyRecurrence>", NO_END),
        (
            "<t:DailyRegeneration><t:Interval>1</t:Interval></t:DailyRegeneration>",
            NO_END,
        ),
        ("<t:DailyRecurrence><t:Interval>0</t:Interval></t:DailyRecurrence>", NO_END),
        (
            "<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence>",
            "<t:NoEndRecurrence/>",
        ),
        (
            "<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence>",
            "<t:EndDateRecurrence><t:StartDate>2030-01-05</t:StartDate>"
            "<t:EndDate>2030-01-01</t:EndDate></t:EndDateRecurrence>",
        ),
    ],
    ids=[
        "weekly-without-days",
        "task-pattern",
        "zero-interval",
        "no-start",
        "end-before-start",
    ],
)
def test_invalid_recurrences_are_item_errors(pattern: str, span: str) -> None:
    """Incomplete or non-calendar patterns are refused per item."""
    element = parse_xml(f"<t:Recurrence {_NS}>{pattern}{span}</t:Recurrence>".encode())
    with pytest.raises(ItemError):
        parse_recurrence(element)
