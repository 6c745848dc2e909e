"""Field mapping between neutral CRM records and EWS items, per entity.

The mapping is declarative: each entity has a table of :class:`FieldMap`
entries, one per neutral field, that says which EWS fields it fills and how
to read it back.  CRM backends override single entries
(``EntityMapping.with_overrides``) without rewriting the rest, and carry
CRM-only ``extra`` fields in named extended properties of their choosing.

Every mapped item also carries the engine's correlation id in a named
extended property, so an item whose create answer was lost can be found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_ews.ews import (
    AbsoluteMonthlyRecurrence,
    AbsoluteYearlyRecurrence,
    Attendee,
    Body,
    BodyType,
    CalendarItem,
    DailyRecurrence,
    DayOfWeek,
    DayOfWeekIndex,
    EmailAddress,
    EmailAddressKey,
    EndDateRecurrence,
    ExtendedProperty,
    ExtendedPropertyKey,
    Item,
    LegacyFreeBusyStatus,
    Mailbox,
    MapiPropertyType,
    Month,
    NoEndRecurrence,
    NumberedRecurrence,
    PhoneNumber,
    PhoneNumberKey,
    PhysicalAddress,
    PhysicalAddressKey,
    RelativeMonthlyRecurrence,
    RelativeYearlyRecurrence,
    Sensitivity,
    WeeklyRecurrence,
)
from crm_ews.ews import Contact as EWSContact
from crm_ews.ews import Importance as EWSImportance
from crm_ews.ews import Recurrence as EWSRecurrence
from crm_ews.ews import Task as EWSTask
from crm_ews.ews import TaskStatus as EWSTaskStatus
from crm_ews.repository import (
    AddressKind,
    Appointment,
    Contact,
    CRMRecord,
    EntityType,
    Frequency,
    Importance,
    PhoneKind,
    PostalAddress,
    Recurrence,
    ShowAs,
    Task,
    TaskStatus,
    Weekday,
    WeekOfMonth,
)

__all__ = [
    "CORRELATION_PROPERTY",
    "CRM_PROPERTY_SET",
    "EntityMapping",
    "FieldMap",
    "default_mappings",
    "extra_property",
]

#: The property set of every extended property crm_ews writes.
CRM_PROPERTY_SET: Final = UUID("6f3c1f57-52a6-4f0e-9d62-0b8e3f6c2a41")

#: The named property holding the engine's correlation id on an item.
CORRELATION_PROPERTY: Final = ExtendedPropertyKey(
    property_set_id=CRM_PROPERTY_SET,
    property_name="CrmEwsCorrelationId",
    property_type=MapiPropertyType.STRING,
)


def extra_property(name: str) -> ExtendedPropertyKey:
    """The extended property that carries the CRM-only ``extra[name]``."""
    return ExtendedPropertyKey(
        property_set_id=CRM_PROPERTY_SET,
        property_name=f"CrmExtra:{name}",
        property_type=MapiPropertyType.STRING,
    )


@dataclass(frozen=True, slots=True)
class FieldMap:
    """How one neutral field travels to and from an EWS item.

    Args:
        ews_fields: The EWS item fields this entry writes (python names).
        to_ews: Neutral record -> {EWS field: value}; ``None`` clears a field.
        from_ews: EWS item -> the neutral value.
    """

    ews_fields: tuple[str, ...]
    to_ews: Callable[[Any], dict[str, Any]]
    from_ews: Callable[[Any], Any]


def _text(value: str) -> str | None:
    return value if value else None


def _simple(neutral: str, ews: str) -> FieldMap:
    """A text field named differently on each side; '' and None are one."""
    return FieldMap(
        ews_fields=(ews,),
        to_ews=lambda record: {ews: _text(getattr(record, neutral))},
        from_ews=lambda item: getattr(item, ews) or "",
    )


def _body_map() -> FieldMap:
    def to_ews(record: Any) -> dict[str, Any]:
        text = record.notes if isinstance(record, Contact) else record.body
        return {"body": Body(content=text, body_type=BodyType.TEXT) if text else None}

    return FieldMap(
        ews_fields=("body",),
        to_ews=to_ews,
        from_ews=lambda item: item.body.content if item.body is not None else "",
    )


def _categories_map() -> FieldMap:
    return FieldMap(
        ews_fields=("categories",),
        to_ews=lambda record: {"categories": tuple(record.categories)},
        from_ews=lambda item: tuple(item.categories or ()),
    )


# -- appointments -------------------------------------------------------------

_WEEKDAYS: Final = {
    Weekday.MONDAY: DayOfWeek.MONDAY,
    Weekday.TUESDAY: DayOfWeek.TUESDAY,
    Weekday.WEDNESDAY: DayOfWeek.WEDNESDAY,
    Weekday.THURSDAY: DayOfWeek.THURSDAY,
    Weekday.FRIDAY: DayOfWeek.FRIDAY,
    Weekday.SATURDAY: DayOfWeek.SATURDAY,
    Weekday.SUNDAY: DayOfWeek.SUNDAY,
}
_WEEKDAYS_BACK: Final = {value: key for key, value in _WEEKDAYS.items()}
_WEEKS: Final = {
    WeekOfMonth.FIRST: DayOfWeekIndex.FIRST,
    WeekOfMonth.SECOND: DayOfWeekIndex.SECOND,
    WeekOfMonth.THIRD: DayOfWeekIndex.THIRD,
    WeekOfMonth.FOURTH: DayOfWeekIndex.FOURTH,
    WeekOfMonth.LAST: DayOfWeekIndex.LAST,
}
_WEEKS_BACK: Final = {value: key for key, value in _WEEKS.items()}
_MONTHS: Final = tuple(Month)
_SHOW_AS: Final = {
    ShowAs.FREE: LegacyFreeBusyStatus.FREE,
    ShowAs.TENTATIVE: LegacyFreeBusyStatus.TENTATIVE,
    ShowAs.BUSY: LegacyFreeBusyStatus.BUSY,
    ShowAs.OOF: LegacyFreeBusyStatus.OOF,
}
_SHOW_AS_BACK: Final = {value: key for key, value in _SHOW_AS.items()}


def recurrence_to_ews(recurrence: Recurrence | None) -> EWSRecurrence | None:
    """The EWS recurrence for a neutral one."""
    # Limitation: a series syncs as its master only.  An occurrence moved or
    # cancelled in Outlook changes the master's ModifiedOccurrences or
    # DeletedOccurrences, which the neutral record does not carry, so the
    # CRM keeps the regular pattern.  CRMs that need exceptions read them
    # with EWSClient.calendar_view.
    if recurrence is None:
        return None
    days = tuple(_WEEKDAYS[day] for day in recurrence.days_of_week)
    pattern: Any
    if recurrence.frequency is Frequency.DAILY:
        pattern = DailyRecurrence(interval=recurrence.interval)
    elif recurrence.frequency is Frequency.WEEKLY:
        pattern = WeeklyRecurrence(interval=recurrence.interval, days_of_week=days)
    elif recurrence.frequency is Frequency.MONTHLY:
        if recurrence.day_of_month is not None:
            pattern = AbsoluteMonthlyRecurrence(
                interval=recurrence.interval, day_of_month=recurrence.day_of_month
            )
        else:
            assert recurrence.week_of_month is not None
            pattern = RelativeMonthlyRecurrence(
                interval=recurrence.interval,
                days_of_week=days[0],
                day_of_week_index=_WEEKS[recurrence.week_of_month],
            )
    else:
        assert recurrence.month is not None
        month = _MONTHS[recurrence.month - 1]
        if recurrence.day_of_month is not None:
            pattern = AbsoluteYearlyRecurrence(
                day_of_month=recurrence.day_of_month, month=month
            )
        else:
            assert recurrence.week_of_month is not None
            pattern = RelativeYearlyRecurrence(
                days_of_week=days[0],
                day_of_week_index=_WEEKS[recurrence.week_of_month],
                month=month,
            )

    range_: Any
    if recurrence.end_date is not None:
        range_ = EndDateRecurrence(
            start_date=recurrence.start_date, end_date=recurrence.end_date
        )
    elif recurrence.count is not None:
        range_ = NumberedRecurrence(
            start_date=recurrence.start_date, number_of_occurrences=recurrence.count
        )
    else:
        range_ = NoEndRecurrence(start_date=recurrence.start_date)
    return EWSRecurrence(pattern=pattern, range=range_)


def recurrence_from_ews(recurrence: EWSRecurrence | None) -> Recurrence | None:
    """The neutral recurrence for an EWS one."""
    if recurrence is None:
        return None
    pattern = recurrence.pattern
    values: dict[str, Any] = {"start_date": recurrence.range.start_date}
    if isinstance(recurrence.range, EndDateRecurrence):
        values["end_date"] = recurrence.range.end_date
    elif isinstance(recurrence.range, NumberedRecurrence):
        values["count"] = recurrence.range.number_of_occurrences

    def weekday(day: DayOfWeek) -> Weekday:
        if day not in _WEEKDAYS_BACK:
            # Limitation: the grouped days EWS allows in relative patterns
            # ("Weekday", "WeekendDay", "Day") have no neutral equivalent;
            # such series sync as their first concrete day.  Outlook rarely
            # creates them; edit the series in Outlook to a concrete day.
            return (
                Weekday.MONDAY if day is not DayOfWeek.WEEKEND_DAY else Weekday.SATURDAY
            )
        return _WEEKDAYS_BACK[day]

    if isinstance(pattern, DailyRecurrence):
        values.update(frequency=Frequency.DAILY, interval=pattern.interval)
    elif isinstance(pattern, WeeklyRecurrence):
        values.update(
            frequency=Frequency.WEEKLY,
            interval=pattern.interval,
            days_of_week=tuple(weekday(day) for day in pattern.days_of_week),
        )
    elif isinstance(pattern, AbsoluteMonthlyRecurrence):
        values.update(
            frequency=Frequency.MONTHLY,
            interval=pattern.interval,
            day_of_month=pattern.day_of_month,
        )
    elif isinstance(pattern, RelativeMonthlyRecurrence):
        values.update(
            frequency=Frequency.MONTHLY,
            interval=pattern.interval,
            days_of_week=(weekday(pattern.days_of_week),),
            week_of_month=_WEEKS_BACK[pattern.day_of_week_index],
        )
    elif isinstance(pattern, AbsoluteYearlyRecurrence):
        values.update(
            frequency=Frequency.YEARLY,
            day_of_month=pattern.day_of_month,
            month=_MONTHS.index(pattern.month) + 1,
        )
    else:
        values.update(
            frequency=Frequency.YEARLY,
            days_of_week=(weekday(pattern.days_of_week),),
            week_of_month=_WEEKS_BACK[pattern.day_of_week_index],
            month=_MONTHS.index(pattern.month) + 1,
        )
    return Recurrence(**values)


#: IANA names of plain UTC that CLDR's "UTC" Windows zone may come back as.
_UTC_ALIASES: Final = frozenset(
    {"Etc/UTC", "Etc/GMT", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Zulu"}
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _appointment_times() -> FieldMap:
    def to_ews(record: Appointment) -> dict[str, Any]:
        zone = _zone(record.time_zone)
        return {
            "start": record.start.astimezone(zone),
            "end": record.end.astimezone(zone),
            "is_all_day_event": record.is_all_day,
        }

    def from_ews(item: CalendarItem) -> dict[str, Any]:
        start = item.start or datetime.now(UTC)
        end = item.end or start
        zone_name = getattr(start.tzinfo, "key", None) or "UTC"
        if zone_name in _UTC_ALIASES:
            zone_name = "UTC"
        return {
            "start": start,
            "end": end,
            "is_all_day": bool(item.is_all_day_event),
            "time_zone": zone_name,
        }

    return FieldMap(
        ews_fields=("start", "end", "is_all_day_event"),
        to_ews=to_ews,
        from_ews=from_ews,
    )


def _appointment_fields() -> dict[str, FieldMap]:
    return {
        "subject": _simple("subject", "subject"),
        "body": _body_map(),
        "location": _simple("location", "location"),
        "times": _appointment_times(),
        "recurrence": FieldMap(
            ews_fields=("recurrence",),
            to_ews=lambda record: {"recurrence": recurrence_to_ews(record.recurrence)},
            from_ews=lambda item: recurrence_from_ews(item.recurrence),
        ),
        "categories": _categories_map(),
        "reminder_minutes": FieldMap(
            ews_fields=("reminder_is_set", "reminder_minutes_before_start"),
            to_ews=lambda record: {
                "reminder_is_set": record.reminder_minutes is not None,
                "reminder_minutes_before_start": record.reminder_minutes,
            },
            from_ews=lambda item: (
                item.reminder_minutes_before_start if item.reminder_is_set else None
            ),
        ),
        "is_private": FieldMap(
            ews_fields=("sensitivity",),
            to_ews=lambda record: {
                "sensitivity": Sensitivity.PRIVATE
                if record.is_private
                else Sensitivity.NORMAL
            },
            from_ews=lambda item: (
                item.sensitivity in (Sensitivity.PRIVATE, Sensitivity.CONFIDENTIAL)
            ),
        ),
        "show_as": FieldMap(
            ews_fields=("legacy_free_busy_status",),
            to_ews=lambda record: {"legacy_free_busy_status": _SHOW_AS[record.show_as]},
            from_ews=lambda item: _SHOW_AS_BACK.get(
                item.legacy_free_busy_status, ShowAs.BUSY
            ),
        ),
        "attendee_emails": FieldMap(
            ews_fields=("required_attendees",),
            to_ews=lambda record: {
                "required_attendees": tuple(
                    Attendee(mailbox=Mailbox(email_address=address))
                    for address in record.attendee_emails
                )
            },
            from_ews=lambda item: tuple(
                attendee.mailbox.email_address
                for attendee in (*item.required_attendees, *item.optional_attendees)
                if attendee.mailbox.email_address
            ),
        ),
        # Read only: Exchange sets the organizer; the CRM learns it.
        "organizer_email": FieldMap(
            ews_fields=(),
            to_ews=lambda record: {},
            from_ews=lambda item: (
                item.organizer.email_address if item.organizer else None
            ),
        ),
    }


# -- contacts -----------------------------------------------------------------

_PHONES: Final = {
    PhoneKind.ASSISTANT: PhoneNumberKey.ASSISTANT_PHONE,
    PhoneKind.BUSINESS: PhoneNumberKey.BUSINESS_PHONE,
    PhoneKind.BUSINESS2: PhoneNumberKey.BUSINESS_PHONE_2,
    PhoneKind.BUSINESS_FAX: PhoneNumberKey.BUSINESS_FAX,
    PhoneKind.CAR: PhoneNumberKey.CAR_PHONE,
    PhoneKind.COMPANY_MAIN: PhoneNumberKey.COMPANY_MAIN_PHONE,
    PhoneKind.HOME: PhoneNumberKey.HOME_PHONE,
    PhoneKind.HOME2: PhoneNumberKey.HOME_PHONE_2,
    PhoneKind.HOME_FAX: PhoneNumberKey.HOME_FAX,
    PhoneKind.MOBILE: PhoneNumberKey.MOBILE_PHONE,
    PhoneKind.OTHER: PhoneNumberKey.OTHER_TELEPHONE,
    PhoneKind.OTHER_FAX: PhoneNumberKey.OTHER_FAX,
    PhoneKind.PAGER: PhoneNumberKey.PAGER,
    PhoneKind.PRIMARY: PhoneNumberKey.PRIMARY_PHONE,
}
_PHONES_BACK: Final = {value: key for key, value in _PHONES.items()}
_ADDRESSES: Final = {
    AddressKind.BUSINESS: PhysicalAddressKey.BUSINESS,
    AddressKind.HOME: PhysicalAddressKey.HOME,
    AddressKind.OTHER: PhysicalAddressKey.OTHER,
}
_ADDRESSES_BACK: Final = {value: key for key, value in _ADDRESSES.items()}
_EMAIL_KEYS: Final = tuple(EmailAddressKey)


def _display_name(record: Contact) -> str | None:
    """The display name, composed from the names when the CRM has none.

    Exchange derives one itself when none is sent; sending the same
    composition keeps both sides equal.
    """
    if record.display_name:
        return record.display_name
    parts = (record.given_name, record.middle_name, record.surname)
    composed = " ".join(part for part in parts if part)
    return composed or _text(
        record.email_addresses[0] if record.email_addresses else ""
    )


def _contact_fields() -> dict[str, FieldMap]:
    return {
        "given_name": _simple("given_name", "given_name"),
        "middle_name": _simple("middle_name", "middle_name"),
        "surname": _simple("surname", "surname"),
        "display_name": FieldMap(
            ews_fields=("display_name",),
            to_ews=lambda record: {"display_name": _display_name(record)},
            from_ews=lambda item: item.display_name or "",
        ),
        "company": _simple("company", "company_name"),
        "job_title": _simple("job_title", "job_title"),
        "department": _simple("department", "department"),
        "email_addresses": FieldMap(
            ews_fields=("email_addresses",),
            to_ews=lambda record: {
                "email_addresses": tuple(
                    EmailAddress(key=key, address=address)
                    for key, address in zip(
                        _EMAIL_KEYS, record.email_addresses, strict=False
                    )
                )
            },
            from_ews=lambda item: tuple(
                entry.address
                for entry in sorted(
                    item.email_addresses, key=lambda e: _EMAIL_KEYS.index(e.key)
                )
            ),
        ),
        "phones": FieldMap(
            ews_fields=("phone_numbers",),
            to_ews=lambda record: {
                "phone_numbers": tuple(
                    PhoneNumber(key=_PHONES[kind], number=number)
                    for kind, number in sorted(record.phones.items())
                )
            },
            from_ews=lambda item: {
                _PHONES_BACK[entry.key]: entry.number
                for entry in item.phone_numbers
                if entry.key in _PHONES_BACK
            },
        ),
        "addresses": FieldMap(
            ews_fields=("physical_addresses",),
            to_ews=lambda record: {
                "physical_addresses": tuple(
                    PhysicalAddress(
                        key=_ADDRESSES[kind],
                        street=_text(address.street),
                        city=_text(address.city),
                        state=_text(address.state),
                        postal_code=_text(address.postal_code),
                        country_or_region=_text(address.country),
                    )
                    for kind, address in sorted(record.addresses.items())
                )
            },
            from_ews=lambda item: {
                _ADDRESSES_BACK[entry.key]: PostalAddress(
                    street=entry.street or "",
                    city=entry.city or "",
                    state=entry.state or "",
                    postal_code=entry.postal_code or "",
                    country=entry.country_or_region or "",
                )
                for entry in item.physical_addresses
            },
        ),
        "notes": _body_map(),
        "categories": _categories_map(),
        "birthday": FieldMap(
            ews_fields=("birthday",),
            to_ews=lambda record: {"birthday": record.birthday},
            from_ews=lambda item: item.birthday,
        ),
    }


# -- tasks ----------------------------------------------------------------------

_STATUS: Final = {
    TaskStatus.NOT_STARTED: EWSTaskStatus.NOT_STARTED,
    TaskStatus.IN_PROGRESS: EWSTaskStatus.IN_PROGRESS,
    TaskStatus.COMPLETED: EWSTaskStatus.COMPLETED,
    TaskStatus.WAITING_ON_OTHERS: EWSTaskStatus.WAITING_ON_OTHERS,
    TaskStatus.DEFERRED: EWSTaskStatus.DEFERRED,
}
_STATUS_BACK: Final = {value: key for key, value in _STATUS.items()}
_IMPORTANCE: Final = {
    Importance.LOW: EWSImportance.LOW,
    Importance.NORMAL: EWSImportance.NORMAL,
    Importance.HIGH: EWSImportance.HIGH,
}
_IMPORTANCE_BACK: Final = {value: key for key, value in _IMPORTANCE.items()}


def _day_to_ews(day: date | None) -> datetime | None:
    # Limitation: task dates are sent as midnight UTC.  Exchange shows them
    # in the mailbox's zone, so a user far west of UTC may see the previous
    # day in Outlook.  Reading back rounds to the nearest day, so the CRM
    # keeps its date either way.
    return datetime.combine(day, time.min, tzinfo=UTC) if day is not None else None


def _day_from_ews(value: datetime | None) -> date | None:
    if value is None:
        return None
    utc = value.astimezone(UTC)
    return (utc + timedelta(hours=12)).date()


def _task_date(neutral: str, ews: str) -> FieldMap:
    return FieldMap(
        ews_fields=(ews,),
        to_ews=lambda record: {ews: _day_to_ews(getattr(record, neutral))},
        from_ews=lambda item: _day_from_ews(getattr(item, ews)),
    )


def _task_fields() -> dict[str, FieldMap]:
    return {
        "subject": _simple("subject", "subject"),
        "body": _body_map(),
        "start_date": _task_date("start_date", "start_date"),
        "due_date": _task_date("due_date", "due_date"),
        "complete_date": _task_date("complete_date", "complete_date"),
        "status": FieldMap(
            ews_fields=("status",),
            to_ews=lambda record: {"status": _STATUS[record.status]},
            from_ews=lambda item: _STATUS_BACK.get(item.status, TaskStatus.NOT_STARTED),
        ),
        "percent_complete": FieldMap(
            ews_fields=("percent_complete",),
            to_ews=lambda record: {"percent_complete": float(record.percent_complete)},
            from_ews=lambda item: round(item.percent_complete or 0),
        ),
        "importance": FieldMap(
            ews_fields=("importance",),
            to_ews=lambda record: {"importance": _IMPORTANCE[record.importance]},
            from_ews=lambda item: _IMPORTANCE_BACK.get(
                item.importance, Importance.NORMAL
            ),
        ),
        "reminder_at": FieldMap(
            ews_fields=("reminder_is_set", "reminder_due_by"),
            to_ews=lambda record: {
                "reminder_is_set": record.reminder_at is not None,
                "reminder_due_by": record.reminder_at,
            },
            from_ews=lambda item: (
                item.reminder_due_by if item.reminder_is_set else None
            ),
        ),
        "categories": _categories_map(),
    }


@dataclass(frozen=True, slots=True)
class EntityMapping:
    """The whole mapping of one entity: a table of :class:`FieldMap` entries.

    Args:
        entity: The entity type.
        record_type: The neutral record class.
        item_type: The EWS item class.
        fields: Neutral field name -> mapping entry.  An entry may fill
            several neutral fields by returning a dict (``times`` does).
        extra_fields: CRM ``extra`` keys carried in extended properties.
    """

    entity: EntityType
    record_type: type[CRMRecord]
    item_type: type[Item]
    fields: Mapping[str, FieldMap]
    extra_fields: tuple[str, ...] = ()
    _keys: tuple[ExtendedPropertyKey, ...] = field(default=(), repr=False)

    def with_overrides(
        self,
        overrides: Mapping[str, FieldMap | None] | None = None,
        *,
        extra_fields: Iterable[str] = (),
    ) -> EntityMapping:
        """A copy with some entries replaced (``None`` removes one).

        Args:
            overrides: Neutral field name -> new entry, or ``None`` to stop
                syncing that field.
            extra_fields: ``extra`` keys to carry in extended properties.
        """
        table = dict(self.fields)
        for name, entry in (overrides or {}).items():
            if entry is None:
                table.pop(name, None)
            else:
                table[name] = entry
        return replace(
            self,
            fields=table,
            extra_fields=tuple(dict.fromkeys((*self.extra_fields, *extra_fields))),
        )

    @property
    def extended_keys(self) -> tuple[ExtendedPropertyKey, ...]:
        """The extended properties to request: correlation id and extras."""
        return (
            CORRELATION_PROPERTY,
            *(extra_property(name) for name in self.extra_fields),
        )

    @property
    def ews_fields(self) -> tuple[str, ...]:
        """Every EWS field the mapping writes, for UpdateItem."""
        names: dict[str, None] = {}
        for entry in self.fields.values():
            names.update(dict.fromkeys(entry.ews_fields))
        return tuple(names)

    def to_item(self, record: CRMRecord, *, correlation_id: str | None = None) -> Item:
        """The EWS item for a record, stamped with ``correlation_id``."""
        values = self.to_ews_values(record)
        properties = list(self._extra_properties(record))
        if correlation_id is not None:
            properties.append(
                ExtendedProperty(key=CORRELATION_PROPERTY, value=correlation_id)
            )
        values["extended_properties"] = tuple(properties)
        return self.item_type(**{k: v for k, v in values.items() if v is not None})

    def to_ews_values(self, record: CRMRecord) -> dict[str, Any]:
        """EWS field -> value for every mapped field (``None`` clears)."""
        values: dict[str, Any] = {}
        for entry in self.fields.values():
            values.update(entry.to_ews(record))
        return values

    def extra_properties(self, record: CRMRecord) -> tuple[ExtendedProperty, ...]:
        """The extended properties carrying the record's mapped extras."""
        return tuple(self._extra_properties(record))

    def _extra_properties(self, record: CRMRecord) -> Iterable[ExtendedProperty]:
        for name in self.extra_fields:
            value = record.extra.get(name)
            if value:
                yield ExtendedProperty(key=extra_property(name), value=value)

    def to_record(self, item: Item) -> CRMRecord:
        """The neutral record for an EWS item (no id or version)."""
        values: dict[str, Any] = {}
        for name, entry in self.fields.items():
            value = entry.from_ews(item)
            if isinstance(value, dict) and name not in self.record_type.model_fields:
                values.update(value)
            else:
                values[name] = value
        extras = {}
        by_key = {prop.key: prop.value for prop in item.extended_properties}
        for name in self.extra_fields:
            value = by_key.get(extra_property(name))
            if isinstance(value, str) and value:
                extras[name] = value
        if extras:
            values["extra"] = extras
        return self.record_type(**values)

    def correlation_id(self, item: Item) -> str | None:
        """The correlation id stamped on an item, if any."""
        for prop in item.extended_properties:
            if prop.key == CORRELATION_PROPERTY and isinstance(prop.value, str):
                return prop.value
        return None


def default_mappings() -> dict[EntityType, EntityMapping]:
    """The built-in mapping of each entity."""
    return {
        EntityType.APPOINTMENT: EntityMapping(
            EntityType.APPOINTMENT, Appointment, CalendarItem, _appointment_fields()
        ),
        EntityType.CONTACT: EntityMapping(
            EntityType.CONTACT, Contact, EWSContact, _contact_fields()
        ),
        EntityType.TASK: EntityMapping(EntityType.TASK, Task, EWSTask, _task_fields()),
    }
