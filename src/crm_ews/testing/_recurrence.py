"""Expanding a calendar item's ``t:Recurrence`` into occurrence dates.

Covers the six calendar patterns (daily, weekly, absolute and relative
monthly, absolute and relative yearly) and the three ranges (no end, end date,
numbered).  Dates are produced lazily and in order, so a calendar view stops
as soon as it passes its window.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final

from lxml import etree

from crm_ews._soap import t
from crm_ews.testing._fields import local
from crm_ews.testing._wire import ItemError

_DAY_NAMES: Final = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
_DAY_GROUPS: Final = {
    "Day": tuple(range(7)),
    "Weekday": (0, 1, 2, 3, 4),
    "WeekendDay": (5, 6),
}
_MONTHS: Final = tuple(calendar.month_name)[1:]
_INDEXES: Final = ("First", "Second", "Third", "Fourth", "Last")

#: Upper bound on generated dates, so a hostile pattern cannot spin forever.
MAX_OCCURRENCES: Final = 20_000

_PATTERNS: Final = frozenset(
    {
        "DailyRecurrence",
        "WeeklyRecurrence",
        "AbsoluteMonthlyRecurrence",
        "RelativeMonthlyRecurrence",
        "AbsoluteYearlyRecurrence",
        "RelativeYearlyRecurrence",
    }
)
_RANGES: Final = frozenset(
    {"NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence"}
)


def _invalid(reason: str) -> ItemError:
    return ItemError("ErrorCalendarInvalidRecurrence", reason)


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A parsed recurrence pattern and range."""

    pattern: str
    interval: int
    weekdays: tuple[int, ...]
    week_index: int | None
    day_of_month: int | None
    month: int | None
    first_day_of_week: int
    start: date
    end: date | None
    count: int | None


def _text(element: etree._Element, name: str) -> str | None:
    child = element.find(t(name))
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _int(element: etree._Element, name: str, low: int, high: int) -> int | None:
    raw = _text(element, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise _invalid(f"{name} must be a number.") from exc
    if not low <= value <= high:
        raise _invalid(f"{name} is out of range.")
    return value


def parse_date(raw: str) -> date:
    """An ``xs:date`` (time zone suffix ignored).

    Raises:
        ItemError: Not a date.
    """
    try:
        return date.fromisoformat(raw.strip()[:10])
    except ValueError as exc:
        raise _invalid(f"{raw!r} is not a date.") from exc


def _weekdays(raw: str | None) -> tuple[int, ...]:
    if not raw:
        return ()
    days: set[int] = set()
    for word in raw.split():
        if word in _DAY_GROUPS:
            days.update(_DAY_GROUPS[word])
        elif word in _DAY_NAMES:
            days.add(_DAY_NAMES.index(word))
        else:
            raise _invalid(f"{word!r} is not a day of the week.")
    return tuple(sorted(days))


def parse_recurrence(element: etree._Element) -> Recurrence:
    """Parse a ``t:Recurrence`` element.

    Raises:
        ItemError: ``ErrorCalendarInvalidRecurrence`` for patterns that are
            incomplete or not calendar patterns.
    """
    children = [child for child in element if isinstance(child.tag, str)]
    if len(children) != 2:
        raise _invalid("A recurrence needs one pattern and one range.")
    pattern, span = children
    pattern_name, span_name = local(pattern), local(span)
    if pattern_name not in _PATTERNS or span_name not in _RANGES:
        raise _invalid("The recurrence pattern is not supported for calendar items.")

    index_raw = _text(pattern, "DayOfWeekIndex")
    month_raw = _text(pattern, "Month")
    start_raw = _text(span, "StartDate")
    if start_raw is None:
        raise _invalid("The recurrence range has no StartDate.")
    first_day = _text(pattern, "FirstDayOfWeek") or "Sunday"
    end_raw = _text(span, "EndDate")

    recurrence = Recurrence(
        pattern=pattern_name,
        interval=_int(pattern, "Interval", 1, 999) or 1,
        weekdays=_weekdays(_text(pattern, "DaysOfWeek") or _text(pattern, "DayOfWeek")),
        week_index=_INDEXES.index(index_raw) if index_raw in _INDEXES else None,
        day_of_month=_int(pattern, "DayOfMonth", 1, 31),
        month=_MONTHS.index(month_raw) + 1 if month_raw in _MONTHS else None,
        first_day_of_week=_DAY_NAMES.index(first_day) if first_day in _DAY_NAMES else 6,
        start=parse_date(start_raw),
        end=parse_date(end_raw) if end_raw else None,
        count=_int(span, "NumberOfOccurrences", 1, 999),
    )
    _check_complete(recurrence, span_name)
    return recurrence


def _check_complete(recurrence: Recurrence, span_name: str) -> None:
    pattern = recurrence.pattern
    if pattern == "WeeklyRecurrence" and not recurrence.weekdays:
        raise _invalid("A weekly recurrence needs DaysOfWeek.")
    if pattern.startswith("Absolute") and recurrence.day_of_month is None:
        raise _invalid("An absolute recurrence needs DayOfMonth.")
    if pattern.startswith("Relative") and (
        recurrence.week_index is None or not recurrence.weekdays
    ):
        raise _invalid("A relative recurrence needs DaysOfWeek and DayOfWeekIndex.")
    if pattern.endswith("YearlyRecurrence") and recurrence.month is None:
        raise _invalid("A yearly recurrence needs Month.")
    if span_name == "EndDateRecurrence" and recurrence.end is None:
        raise _invalid("An end-date range needs EndDate.")
    if span_name == "NumberedRecurrence" and recurrence.count is None:
        raise _invalid("A numbered range needs NumberOfOccurrences.")
    if recurrence.end is not None and recurrence.end < recurrence.start:
        raise ItemError(
            "ErrorCalendarEndDateIsEarlierThanStartDate",
            "The recurrence end date is earlier than its start date.",
        )


def _month_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _relative_day(year: int, month: int, weekdays: tuple[int, ...], index: int) -> date:
    days_in_month = calendar.monthrange(year, month)[1]
    matching = [
        date(year, month, day)
        for day in range(1, days_in_month + 1)
        if date(year, month, day).weekday() in weekdays
    ]
    return matching[-1] if index == 4 else matching[index]


def _months(start: date, step: int) -> Iterator[tuple[int, int]]:
    year, month = start.year, start.month
    while year <= 9999:
        yield year, month
        month += step
        year += (month - 1) // 12
        month = (month - 1) % 12 + 1


def _candidates(rec: Recurrence) -> Iterator[date]:
    """Pattern dates from the range start on, before range limits apply."""
    if rec.pattern == "DailyRecurrence":
        day = rec.start
        while True:
            yield day
            day += timedelta(days=rec.interval)
    elif rec.pattern == "WeeklyRecurrence":
        offset = (rec.start.weekday() - rec.first_day_of_week) % 7
        week_start = rec.start - timedelta(days=offset)
        order = sorted(rec.weekdays, key=lambda d: (d - rec.first_day_of_week) % 7)
        while True:
            for weekday in order:
                yield week_start + timedelta(days=(weekday - week_start.weekday()) % 7)
            week_start += timedelta(weeks=rec.interval)
    elif rec.pattern in ("AbsoluteMonthlyRecurrence", "RelativeMonthlyRecurrence"):
        for year, month in _months(rec.start, rec.interval):
            yield _monthly(rec, year, month)
    else:
        month = rec.month or 1
        for year in range(rec.start.year, 10000):
            yield _monthly(rec, year, month)


def _monthly(rec: Recurrence, year: int, month: int) -> date:
    if rec.day_of_month is not None and rec.pattern.startswith("Absolute"):
        return _month_day(year, month, rec.day_of_month)
    return _relative_day(year, month, rec.weekdays, rec.week_index or 0)


def occurrence_dates(rec: Recurrence) -> Iterator[tuple[int, date]]:
    """``(instance index, date)`` of each occurrence, in order, 1-based.

    Stops at the range end, after ``NumberOfOccurrences``, or after
    :data:`MAX_OCCURRENCES`.
    """
    index = 0
    try:
        for day in _candidates(rec):
            if day < rec.start:
                continue
            if rec.end is not None and day > rec.end:
                return
            index += 1
            if rec.count is not None and index > rec.count:
                return
            if index > MAX_OCCURRENCES:
                return
            yield index, day
    except OverflowError:
        return


def occurrence_start(
    day: date, master_start: datetime, zone: tzinfo | None = None
) -> datetime:
    """The start of the occurrence on ``day``, in UTC.

    With the series' zone, occurrences keep the master's local wall-clock
    time (10:00 in Berlin stays 10:00 across a DST change, as on Exchange);
    without one, they keep its UTC time of day.
    """
    if zone is None:
        return datetime.combine(day, master_start.timetz())
    local = master_start.astimezone(zone)
    wall = datetime.combine(day, local.time()).replace(tzinfo=zone)
    return wall.astimezone(UTC)


def zone_for(definition: etree._Element | None) -> tzinfo | None:
    """The zone a ``t:StartTimeZone`` names by its Windows ``Id``, if known."""
    if definition is None:
        return None
    windows_id = (definition.get("Id") or "").strip()
    if not windows_id:
        return None
    # The Windows-to-IANA table is CLDR data shipped with the EWS layer; the
    # lookup is a fact table, not protocol logic, so sharing it keeps the
    # simulator independent where it matters.
    from crm_ews.ews._timezones import zone_for_windows_id

    # Limitation: a zone given only by its rules (Periods/Transitions with an
    # unknown Id such as "Customized Time Zone") is not evaluated; such series
    # expand in UTC, off by the zone's offset changes.
    return zone_for_windows_id(windows_id)
