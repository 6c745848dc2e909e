"""Recurrence rules: a pattern (how often) and a range (from when, how long).

These mirror ``RecurrenceType``: one of six patterns followed by one of three
ranges.  Dates are calendar dates (``xs:date``); the time of day and the zone
of each occurrence come from the master item's start and time zone.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Final, Self

from lxml import etree
from pydantic import Field, model_validator

from crm_ews._soap import t
from crm_ews.ews._models._base import (
    EWSModel,
    decode_error,
    format_date,
    local_name,
    new_element,
    parse_date,
    parse_enum,
    parse_int,
    sub_element,
)

__all__ = [
    "AbsoluteMonthlyRecurrence",
    "AbsoluteYearlyRecurrence",
    "DailyRecurrence",
    "DayOfWeek",
    "DayOfWeekIndex",
    "EndDateRecurrence",
    "Month",
    "NoEndRecurrence",
    "NumberedRecurrence",
    "Recurrence",
    "RecurrencePattern",
    "RecurrenceRange",
    "RelativeMonthlyRecurrence",
    "RelativeYearlyRecurrence",
    "WeeklyRecurrence",
    "task_recurrence_from_xml",
]


class DayOfWeek(StrEnum):
    """A weekday, or a group of days (``DayOfWeekType``)."""

    SUNDAY = "Sunday"
    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"
    DAY = "Day"
    WEEKDAY = "Weekday"
    WEEKEND_DAY = "WeekendDay"


class DayOfWeekIndex(StrEnum):
    """Which week of the month a relative pattern means."""

    FIRST = "First"
    SECOND = "Second"
    THIRD = "Third"
    FOURTH = "Fourth"
    LAST = "Last"


class Month(StrEnum):
    """A month of the year (``MonthNamesType``)."""

    JANUARY = "January"
    FEBRUARY = "February"
    MARCH = "March"
    APRIL = "April"
    MAY = "May"
    JUNE = "June"
    JULY = "July"
    AUGUST = "August"
    SEPTEMBER = "September"
    OCTOBER = "October"
    NOVEMBER = "November"
    DECEMBER = "December"


_INTERVAL: Final = t("Interval")
_DAYS_OF_WEEK: Final = t("DaysOfWeek")
_FIRST_DAY_OF_WEEK: Final = t("FirstDayOfWeek")
_DAY_OF_MONTH: Final = t("DayOfMonth")
_DAY_OF_WEEK_INDEX: Final = t("DayOfWeekIndex")
_MONTH: Final = t("Month")
_START_DATE: Final = t("StartDate")
_END_DATE: Final = t("EndDate")
_NUMBER_OF_OCCURRENCES: Final = t("NumberOfOccurrences")

Interval = Annotated[int, Field(alias="Interval", ge=1, le=999)]
DayOfMonth = Annotated[int, Field(alias="DayOfMonth", ge=1, le=31)]


def _children(element: etree._Element) -> dict[str, str]:
    """Map each child's tag to its text; the patterns are flat and tiny."""
    return {
        child.tag: child.text or "" for child in element if isinstance(child.tag, str)
    }


def _required(values: dict[str, str], tag: str, where: str) -> str:
    value = values.get(tag)
    if value is None:
        raise decode_error(f"{where} has no {tag.rpartition('}')[2]}")
    return value


class DailyRecurrence(EWSModel):
    """Every ``interval`` days."""

    _tag: ClassVar[str] = "DailyRecurrence"

    interval: Interval = 1

    def to_xml(self) -> etree._Element:
        """Build ``t:DailyRecurrence``."""
        element = new_element(self._tag)
        sub_element(element, "Interval", str(self.interval))
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> DailyRecurrence:
        """Read ``t:DailyRecurrence``."""
        values = _children(element)
        return cls._trusted(
            interval=parse_int(_required(values, _INTERVAL, cls._tag), "Interval")
        )


class WeeklyRecurrence(EWSModel):
    """Every ``interval`` weeks on the given days."""

    _tag: ClassVar[str] = "WeeklyRecurrence"

    interval: Interval = 1
    days_of_week: Annotated[
        tuple[DayOfWeek, ...], Field(alias="DaysOfWeek", min_length=1)
    ]
    first_day_of_week: Annotated[DayOfWeek | None, Field(alias="FirstDayOfWeek")] = None

    def to_xml(self) -> etree._Element:
        """Build ``t:WeeklyRecurrence``; the days form one space-separated list."""
        element = new_element(self._tag)
        sub_element(element, "Interval", str(self.interval))
        sub_element(
            element, "DaysOfWeek", " ".join(day.value for day in self.days_of_week)
        )
        if self.first_day_of_week is not None:
            sub_element(element, "FirstDayOfWeek", self.first_day_of_week.value)
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> WeeklyRecurrence:
        """Read ``t:WeeklyRecurrence``."""
        values = _children(element)
        raw_days = _required(values, _DAYS_OF_WEEK, cls._tag).split()
        if not raw_days:
            raise decode_error("WeeklyRecurrence has no days")
        first = values.get(_FIRST_DAY_OF_WEEK)
        return cls._trusted(
            interval=parse_int(_required(values, _INTERVAL, cls._tag), "Interval"),
            days_of_week=tuple(
                parse_enum(DayOfWeek, day, "DaysOfWeek") for day in raw_days
            ),
            first_day_of_week=(
                parse_enum(DayOfWeek, first, "FirstDayOfWeek")
                if first is not None
                else None
            ),
        )


class AbsoluteMonthlyRecurrence(EWSModel):
    """Every ``interval`` months on day ``day_of_month``."""

    _tag: ClassVar[str] = "AbsoluteMonthlyRecurrence"

    interval: Interval = 1
    day_of_month: DayOfMonth

    def to_xml(self) -> etree._Element:
        """Build ``t:AbsoluteMonthlyRecurrence``."""
        element = new_element(self._tag)
        sub_element(element, "Interval", str(self.interval))
        sub_element(element, "DayOfMonth", str(self.day_of_month))
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> AbsoluteMonthlyRecurrence:
        """Read ``t:AbsoluteMonthlyRecurrence``."""
        values = _children(element)
        return cls._trusted(
            interval=parse_int(_required(values, _INTERVAL, cls._tag), "Interval"),
            day_of_month=parse_int(
                _required(values, _DAY_OF_MONTH, cls._tag), "DayOfMonth"
            ),
        )


class RelativeMonthlyRecurrence(EWSModel):
    """Every ``interval`` months on, say, the second Tuesday."""

    _tag: ClassVar[str] = "RelativeMonthlyRecurrence"

    interval: Interval = 1
    days_of_week: Annotated[DayOfWeek, Field(alias="DaysOfWeek")]
    day_of_week_index: Annotated[DayOfWeekIndex, Field(alias="DayOfWeekIndex")]

    def to_xml(self) -> etree._Element:
        """Build ``t:RelativeMonthlyRecurrence``."""
        element = new_element(self._tag)
        sub_element(element, "Interval", str(self.interval))
        sub_element(element, "DaysOfWeek", self.days_of_week.value)
        sub_element(element, "DayOfWeekIndex", self.day_of_week_index.value)
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> RelativeMonthlyRecurrence:
        """Read ``t:RelativeMonthlyRecurrence``."""
        values = _children(element)
        return cls._trusted(
            interval=parse_int(_required(values, _INTERVAL, cls._tag), "Interval"),
            days_of_week=parse_enum(
                DayOfWeek, _required(values, _DAYS_OF_WEEK, cls._tag), "DaysOfWeek"
            ),
            day_of_week_index=parse_enum(
                DayOfWeekIndex,
                _required(values, _DAY_OF_WEEK_INDEX, cls._tag),
                "DayOfWeekIndex",
            ),
        )


class AbsoluteYearlyRecurrence(EWSModel):
    """Every year on ``day_of_month`` of ``month``; the schema has no interval."""

    _tag: ClassVar[str] = "AbsoluteYearlyRecurrence"

    day_of_month: DayOfMonth
    month: Annotated[Month, Field(alias="Month")]

    def to_xml(self) -> etree._Element:
        """Build ``t:AbsoluteYearlyRecurrence``."""
        element = new_element(self._tag)
        sub_element(element, "DayOfMonth", str(self.day_of_month))
        sub_element(element, "Month", self.month.value)
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> AbsoluteYearlyRecurrence:
        """Read ``t:AbsoluteYearlyRecurrence``."""
        values = _children(element)
        return cls._trusted(
            day_of_month=parse_int(
                _required(values, _DAY_OF_MONTH, cls._tag), "DayOfMonth"
            ),
            month=parse_enum(Month, _required(values, _MONTH, cls._tag), "Month"),
        )


class RelativeYearlyRecurrence(EWSModel):
    """Every year on, say, the last Sunday of March; no interval either."""

    _tag: ClassVar[str] = "RelativeYearlyRecurrence"

    days_of_week: Annotated[DayOfWeek, Field(alias="DaysOfWeek")]
    day_of_week_index: Annotated[DayOfWeekIndex, Field(alias="DayOfWeekIndex")]
    month: Annotated[Month, Field(alias="Month")]

    def to_xml(self) -> etree._Element:
        """Build ``t:RelativeYearlyRecurrence``."""
        element = new_element(self._tag)
        sub_element(element, "DaysOfWeek", self.days_of_week.value)
        sub_element(element, "DayOfWeekIndex", self.day_of_week_index.value)
        sub_element(element, "Month", self.month.value)
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> RelativeYearlyRecurrence:
        """Read ``t:RelativeYearlyRecurrence``."""
        values = _children(element)
        return cls._trusted(
            days_of_week=parse_enum(
                DayOfWeek, _required(values, _DAYS_OF_WEEK, cls._tag), "DaysOfWeek"
            ),
            day_of_week_index=parse_enum(
                DayOfWeekIndex,
                _required(values, _DAY_OF_WEEK_INDEX, cls._tag),
                "DayOfWeekIndex",
            ),
            month=parse_enum(Month, _required(values, _MONTH, cls._tag), "Month"),
        )


class NoEndRecurrence(EWSModel):
    """Starts on ``start_date`` and never ends."""

    _tag: ClassVar[str] = "NoEndRecurrence"

    start_date: Annotated[date, Field(alias="StartDate")]

    def to_xml(self) -> etree._Element:
        """Build ``t:NoEndRecurrence``."""
        element = new_element(self._tag)
        sub_element(element, "StartDate", format_date(self.start_date))
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> NoEndRecurrence:
        """Read ``t:NoEndRecurrence``."""
        values = _children(element)
        return cls._trusted(
            start_date=parse_date(_required(values, _START_DATE, cls._tag), "StartDate")
        )


class EndDateRecurrence(EWSModel):
    """Starts on ``start_date``; the last occurrence is on or before ``end_date``."""

    _tag: ClassVar[str] = "EndDateRecurrence"

    start_date: Annotated[date, Field(alias="StartDate")]
    end_date: Annotated[date, Field(alias="EndDate")]

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self

    def to_xml(self) -> etree._Element:
        """Build ``t:EndDateRecurrence``."""
        element = new_element(self._tag)
        sub_element(element, "StartDate", format_date(self.start_date))
        sub_element(element, "EndDate", format_date(self.end_date))
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> EndDateRecurrence:
        """Read ``t:EndDateRecurrence``."""
        values = _children(element)
        return cls._trusted(
            start_date=parse_date(
                _required(values, _START_DATE, cls._tag), "StartDate"
            ),
            end_date=parse_date(_required(values, _END_DATE, cls._tag), "EndDate"),
        )


class NumberedRecurrence(EWSModel):
    """Starts on ``start_date`` and stops after ``number_of_occurrences``."""

    _tag: ClassVar[str] = "NumberedRecurrence"

    start_date: Annotated[date, Field(alias="StartDate")]
    number_of_occurrences: Annotated[
        int, Field(alias="NumberOfOccurrences", ge=1, le=999)
    ]

    def to_xml(self) -> etree._Element:
        """Build ``t:NumberedRecurrence``."""
        element = new_element(self._tag)
        sub_element(element, "StartDate", format_date(self.start_date))
        sub_element(element, "NumberOfOccurrences", str(self.number_of_occurrences))
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> NumberedRecurrence:
        """Read ``t:NumberedRecurrence``."""
        values = _children(element)
        return cls._trusted(
            start_date=parse_date(
                _required(values, _START_DATE, cls._tag), "StartDate"
            ),
            number_of_occurrences=parse_int(
                _required(values, _NUMBER_OF_OCCURRENCES, cls._tag),
                "NumberOfOccurrences",
            ),
        )


#: Any of the six recurrence patterns.
RecurrencePattern = (
    DailyRecurrence
    | WeeklyRecurrence
    | AbsoluteMonthlyRecurrence
    | RelativeMonthlyRecurrence
    | AbsoluteYearlyRecurrence
    | RelativeYearlyRecurrence
)

#: Any of the three recurrence ranges.
RecurrenceRange = NoEndRecurrence | EndDateRecurrence | NumberedRecurrence

_PATTERNS: Final[dict[str, type[RecurrencePattern]]] = {
    t(cls._tag): cls
    for cls in (
        DailyRecurrence,
        WeeklyRecurrence,
        AbsoluteMonthlyRecurrence,
        RelativeMonthlyRecurrence,
        AbsoluteYearlyRecurrence,
        RelativeYearlyRecurrence,
    )
}
_RANGES: Final[dict[str, type[RecurrenceRange]]] = {
    t(cls._tag): cls for cls in (NoEndRecurrence, EndDateRecurrence, NumberedRecurrence)
}

# Limitation: task "regenerating" patterns (a task due N days after the
# previous one was completed) are not modelled.  Such a task decodes with
# recurrence=None, so the CRM sees a plain task; the server keeps the rule as
# long as nobody writes a recurrence onto that task.
_REGENERATING: Final = frozenset(
    t(name)
    for name in (
        "DailyRegeneration",
        "WeeklyRegeneration",
        "MonthlyRegeneration",
        "YearlyRegeneration",
    )
)


class Recurrence(EWSModel):
    """A recurrence rule: one pattern and one range.

    Example::

        Recurrence(
            pattern=WeeklyRecurrence(days_of_week=(DayOfWeek.MONDAY,)),
            range=NumberedRecurrence(start_date=date(2024, 1, 1),
                                     number_of_occurrences=10),
        )
    """

    pattern: RecurrencePattern
    range: RecurrenceRange

    def to_xml(self, tag: str = "Recurrence") -> etree._Element:
        """Build ``t:Recurrence`` (``RecurrenceType``): pattern, then range."""
        element = new_element(tag)
        element.append(self.pattern.to_xml())
        element.append(self.range.to_xml())
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> Recurrence:
        """Read a ``RecurrenceType`` element.

        Raises:
            ResponseDecodeError: The pattern or the range is missing or unknown.
        """
        pattern: RecurrencePattern | None = None
        range_: RecurrenceRange | None = None
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            pattern_cls = _PATTERNS.get(tag)
            if pattern_cls is not None:
                pattern = pattern_cls.from_xml(child)
                continue
            range_cls = _RANGES.get(tag)
            if range_cls is not None:
                range_ = range_cls.from_xml(child)
        if pattern is None:
            raise decode_error(f"{local_name(element)} has no recurrence pattern")
        if range_ is None:
            raise decode_error(f"{local_name(element)} has no recurrence range")
        return cls._trusted(pattern=pattern, range=range_)


def task_recurrence_from_xml(element: etree._Element) -> Recurrence | None:
    """Read a ``TaskRecurrenceType``; ``None`` for a regenerating pattern."""
    for child in element:
        if child.tag in _REGENERATING:
            return None
    return Recurrence.from_xml(element)
