"""Neutral CRM records: appointments, contacts and tasks as the CRM sees them.

These models know nothing about Exchange. The sync engine maps them to and
from EWS items; CRM adapters build them from their own rows. They are frozen
values: change one with ``record.model_copy(update=...)`` (no validation) or
by building a new one (validated).

Each record offers :meth:`CRMRecord.sync_fields`, a canonical dictionary of
everything that syncs, so two records that mean the same thing hash the same
(:func:`projection_hash`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from enum import Enum, StrEnum
from typing import Annotated, ClassVar, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "AddressKind",
    "Appointment",
    "CRMRecord",
    "Contact",
    "EntityType",
    "Frequency",
    "Importance",
    "PhoneKind",
    "PostalAddress",
    "Recurrence",
    "ShowAs",
    "Task",
    "TaskStatus",
    "WeekOfMonth",
    "Weekday",
    "projection_hash",
    "record_type",
]

#: The most e-mail addresses a contact carries (Exchange has three slots).
MAX_CONTACT_EMAILS = 3

# Deliberately loose: one "@", something on both sides, no whitespace. Real
# validation is the mail server's job; this only catches obvious garbage.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class EntityType(StrEnum):
    """The kinds of record that sync."""

    APPOINTMENT = "appointment"
    CONTACT = "contact"
    TASK = "task"


class Frequency(StrEnum):
    """How often a recurring appointment repeats."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


class Weekday(StrEnum):
    """A day of the week; declaration order is the canonical order."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


class WeekOfMonth(StrEnum):
    """Which week of the month a relative monthly or yearly pattern means."""

    FIRST = "first"
    SECOND = "second"
    THIRD = "third"
    FOURTH = "fourth"
    LAST = "last"


class ShowAs(StrEnum):
    """How an appointment shows in the owner's free/busy information."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OOF = "oof"


class TaskStatus(StrEnum):
    """Where a task stands."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    WAITING_ON_OTHERS = "waiting_on_others"
    DEFERRED = "deferred"


class Importance(StrEnum):
    """A task's importance."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class PhoneKind(StrEnum):
    """The slot a contact's phone number fills."""

    ASSISTANT = "assistant"
    BUSINESS = "business"
    BUSINESS2 = "business2"
    BUSINESS_FAX = "business_fax"
    CAR = "car"
    COMPANY_MAIN = "company_main"
    HOME = "home"
    HOME2 = "home2"
    HOME_FAX = "home_fax"
    MOBILE = "mobile"
    OTHER = "other"
    OTHER_FAX = "other_fax"
    PAGER = "pager"
    PRIMARY = "primary"


class AddressKind(StrEnum):
    """The slot a contact's postal address fills."""

    BUSINESS = "business"
    HOME = "home"
    OTHER = "other"


_WEEKDAY_ORDER = {day: index for index, day in enumerate(Weekday)}


def _check_aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        msg = f"{name} must be timezone-aware, got a naive datetime"
        raise ValueError(msg)
    return value


def _check_email(value: str) -> str:
    address = value.strip()
    if len(address) > 320 or not _EMAIL.fullmatch(address):
        msg = f"not an e-mail address: {value!r}"
        raise ValueError(msg)
    return address


def _canonical(value: object) -> object:
    """Turn a dumped model value into plain, order-stable JSON-ready data."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        # CRMs and Exchange disagree on line endings and trailing blanks;
        # neither is meaningful, so neither may change the hash.
        return value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def _sorted_unique(values: list[object], *, fold: bool) -> list[object]:
    seen = {
        (item.casefold() if fold and isinstance(item, str) else item) for item in values
    }
    return sorted(seen, key=str)


class CRMRecord(BaseModel):
    """Base class of the neutral records: identity plus CRM-only extras.

    Args:
        id: The CRM's identifier, or ``None`` for a record not created yet.
        version: The CRM's opaque version (an ETag, a revision counter), or
            ``None`` before creation. Adapters compare it for optimistic
            concurrency.
        extra: CRM-specific string fields the engine's field mapping may carry
            (for example into EWS extended properties). They take part in
            :meth:`sync_fields`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    entity: ClassVar[EntityType]

    id: str | None = Field(default=None, min_length=1)
    version: str | None = Field(default=None, min_length=1)
    extra: dict[str, str] = Field(default_factory=dict)
    #: When the CRM last changed the record, if it knows; only the
    #: newest-wins conflict policy reads it, and it never syncs.
    modified_at: datetime | None = None

    #: Fields whose order carries no meaning; sync_fields sorts and dedupes them.
    _UNORDERED: ClassVar[frozenset[str]] = frozenset()
    #: Unordered fields compared without regard to case (e-mail addresses).
    _CASE_FOLDED: ClassVar[frozenset[str]] = frozenset()

    @field_validator("modified_at")
    @classmethod
    def _aware_modified(cls, value: datetime | None) -> datetime | None:
        return _check_aware(value, "modified_at")

    def sync_fields(self) -> dict[str, object]:
        """Return every field that syncs, in canonical form.

        ``id`` and ``version`` are left out: they identify the record rather
        than describe it. Strings lose surrounding whitespace and use ``\\n``
        line endings, datetimes become UTC ISO 8601 strings, dates ISO dates,
        enums their values, and fields whose order means nothing (categories,
        attendees) are sorted and de-duplicated. Keys are sorted, so
        ``json.dumps(..., sort_keys=True)`` of the result is stable across
        processes and Python versions.

        Returns:
            A JSON-serialisable dictionary.
        """
        dumped = self.model_dump(exclude={"id", "version", "modified_at"})
        fields: dict[str, object] = {}
        for name in sorted(dumped):
            value = _canonical(dumped[name])
            if name in self._UNORDERED and isinstance(value, list):
                value = _sorted_unique(value, fold=name in self._CASE_FOLDED)
            fields[name] = value

        return fields

    def with_identity(self, id: str, version: str) -> Self:
        """Return a copy carrying the CRM's identifier and version.

        Args:
            id: The CRM identifier.
            version: The CRM version.

        Returns:
            The same record with ``id`` and ``version`` set.
        """
        if not id or not version:
            msg = "id and version must be non-empty strings"
            raise ValueError(msg)

        return self.model_copy(update={"id": id, "version": version})


def projection_hash(record: CRMRecord) -> str:
    """Return a stable SHA-256 hex digest of ``record.sync_fields()``.

    Two records with equal sync fields hash equal, whatever their ``id`` or
    ``version``; the engine stores this to notice real changes.

    Args:
        record: Any neutral record.

    Returns:
        64 lowercase hex characters.
    """
    text = json.dumps(
        record.sync_fields(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Recurrence(BaseModel):
    """A neutral recurrence pattern plus its range.

    Patterns:

    - daily: every ``interval`` days; no day fields.
    - weekly: every ``interval`` weeks on ``days_of_week`` (required).
    - monthly: every ``interval`` months, either on ``day_of_month``
      (absolute) or on the ``week_of_month`` occurrence of ``days_of_week``
      (relative, e.g. the last Friday).
    - yearly: every year in ``month``, absolute or relative as for monthly.

    The range starts at ``start_date`` and ends after ``end_date`` or after
    ``count`` occurrences, or never when both are ``None``.

    Raises:
        ValueError: For a pattern whose fields contradict its frequency.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Limitation: a recurrence is the pattern only. Occurrences deleted from
    # or moved within a series have no place here, so a CRM that keeps such
    # exceptions loses them when the series syncs (and Exchange's exceptions
    # do not reach the CRM). Adapters that need them keep them in the CRM and
    # treat the synced series as its master.

    frequency: Frequency
    interval: int = Field(default=1, ge=1, le=999)
    days_of_week: tuple[Weekday, ...] = ()
    day_of_month: int | None = Field(default=None, ge=1, le=31)
    week_of_month: WeekOfMonth | None = None
    month: int | None = Field(default=None, ge=1, le=12)
    start_date: date
    end_date: date | None = None
    count: int | None = Field(default=None, ge=1, le=999)

    @field_validator("days_of_week")
    @classmethod
    def _canonical_days(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if len(set(value)) != len(value):
            msg = "days_of_week must not repeat a day"
            raise ValueError(msg)
        return tuple(sorted(value, key=_WEEKDAY_ORDER.__getitem__))

    @model_validator(mode="after")
    def _check_pattern(self) -> Self:
        frequency = self.frequency
        relative = self.week_of_month is not None
        if frequency is Frequency.DAILY and (
            self.days_of_week or self.day_of_month or relative or self.month
        ):
            msg = (
                "a daily pattern takes no days_of_week, day_of_month, "
                "week_of_month or month"
            )
            raise ValueError(msg)
        if frequency is Frequency.WEEKLY:
            if not self.days_of_week:
                msg = "a weekly pattern needs days_of_week"
                raise ValueError(msg)
            if self.day_of_month or relative or self.month:
                msg = "a weekly pattern takes no day_of_month, week_of_month or month"
                raise ValueError(msg)
        if frequency in (Frequency.MONTHLY, Frequency.YEARLY):
            self._check_day_rule()
        if frequency is Frequency.MONTHLY and self.month is not None:
            msg = "a monthly pattern takes no month"
            raise ValueError(msg)
        if frequency is Frequency.YEARLY:
            if self.month is None:
                msg = "a yearly pattern needs month"
                raise ValueError(msg)
            # Exchange's yearly patterns have no interval; "every two years"
            # cannot be stored there, so it is refused here rather than
            # silently widened to every year.
            if self.interval != 1:
                msg = "a yearly pattern repeats every year: interval must be 1"
                raise ValueError(msg)

        if self.end_date is not None and self.count is not None:
            msg = "give end_date or count, not both"
            raise ValueError(msg)
        if self.end_date is not None and self.end_date < self.start_date:
            msg = "end_date is before start_date"
            raise ValueError(msg)

        return self

    def _check_day_rule(self) -> None:
        relative = self.week_of_month is not None
        if relative == (self.day_of_month is not None):
            msg = (
                f"a {self.frequency} pattern needs either day_of_month or "
                "week_of_month with days_of_week"
            )
            raise ValueError(msg)
        if relative and not self.days_of_week:
            msg = "week_of_month needs days_of_week"
            raise ValueError(msg)
        if not relative and self.days_of_week:
            msg = "day_of_month cannot be combined with days_of_week"
            raise ValueError(msg)


class Appointment(CRMRecord):
    """A calendar appointment or meeting as the CRM holds it.

    Args:
        subject: The title.
        body: Plain-text description.
        location: Free-text location.
        start: Timezone-aware start.
        end: Timezone-aware end, not before ``start``.
        is_all_day: Whether the appointment covers whole days; then ``start``
            and ``end`` must be midnights in ``time_zone`` and ``end`` is the
            exclusive midnight after the last day.
        time_zone: IANA zone name the appointment was planned in.
        recurrence: The pattern for a recurring series, or ``None``.
        categories: Category names.
        reminder_minutes: Minutes before start to remind, or ``None`` for no
            reminder.
        is_private: Whether the appointment is private.
        show_as: Free/busy status.
        organizer_email: The organiser's address, when the CRM knows it.
        attendee_emails: Other attendees' addresses.

    Raises:
        ValueError: For naive datetimes, an unknown zone, an end before the
            start, or all-day bounds that are not midnights.
    """

    entity: ClassVar[EntityType] = EntityType.APPOINTMENT
    _UNORDERED: ClassVar[frozenset[str]] = frozenset({"categories", "attendee_emails"})
    _CASE_FOLDED: ClassVar[frozenset[str]] = frozenset({"attendee_emails"})

    subject: str = ""
    body: str = ""
    location: str = ""
    start: datetime
    end: datetime
    is_all_day: bool = False
    time_zone: str = "UTC"
    recurrence: Recurrence | None = None
    categories: tuple[str, ...] = ()
    reminder_minutes: int | None = Field(default=None, ge=0, le=525_600)
    is_private: bool = False
    show_as: ShowAs = ShowAs.BUSY
    organizer_email: str | None = None
    attendee_emails: tuple[str, ...] = ()

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.utcoffset() is None:
            msg = f"{info.field_name} must be timezone-aware, got a naive datetime"
            raise ValueError(msg)
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown IANA time zone: {value!r}"
            raise ValueError(msg) from exc
        return value

    @field_validator("organizer_email")
    @classmethod
    def _organizer(cls, value: str | None) -> str | None:
        return None if value is None else _check_email(value)

    @field_validator("attendee_emails")
    @classmethod
    def _attendees(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_email(item) for item in value)

    @model_validator(mode="after")
    def _check_span(self) -> Self:
        if self.end < self.start:
            msg = "end is before start"
            raise ValueError(msg)
        if self.is_all_day:
            zone = ZoneInfo(self.time_zone)
            for name, value in (("start", self.start), ("end", self.end)):
                if value.astimezone(zone).time() != time(0, 0):
                    msg = (
                        f"an all-day appointment's {name} must be midnight "
                        f"in {self.time_zone}"
                    )
                    raise ValueError(msg)
            if self.end == self.start:
                msg = "an all-day appointment lasts at least one day"
                raise ValueError(msg)

        return self


class PostalAddress(BaseModel):
    """One postal address of a contact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    street: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""


class Contact(CRMRecord):
    """A person in the CRM's address book.

    Args:
        given_name: First name.
        middle_name: Middle name.
        surname: Last name.
        display_name: The name as shown.
        company: Company name.
        job_title: Job title.
        department: Department.
        email_addresses: Up to three addresses, in slot order (first is
            primary).
        phones: Phone numbers by slot.
        addresses: Postal addresses by slot.
        notes: Plain-text notes.
        categories: Category names.
        birthday: Birthday, if known.

    Raises:
        ValueError: For more than three or malformed e-mail addresses, or an
            empty phone number.
    """

    entity: ClassVar[EntityType] = EntityType.CONTACT
    _UNORDERED: ClassVar[frozenset[str]] = frozenset({"categories"})

    given_name: str = ""
    middle_name: str = ""
    surname: str = ""
    display_name: str = ""
    company: str = ""
    job_title: str = ""
    department: str = ""
    email_addresses: Annotated[
        tuple[str, ...], Field(max_length=MAX_CONTACT_EMAILS)
    ] = ()
    phones: dict[PhoneKind, str] = Field(default_factory=dict)
    addresses: dict[AddressKind, PostalAddress] = Field(default_factory=dict)
    notes: str = ""
    categories: tuple[str, ...] = ()
    birthday: date | None = None

    @field_validator("email_addresses")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_email(item) for item in value)

    @field_validator("phones")
    @classmethod
    def _phones(cls, value: dict[PhoneKind, str]) -> dict[PhoneKind, str]:
        for kind, number in value.items():
            if not number.strip():
                msg = f"phone number {kind} is empty; leave the slot out instead"
                raise ValueError(msg)
        return value


class Task(CRMRecord):
    """A to-do item.

    Args:
        subject: The title.
        body: Plain-text description.
        start_date: The day work starts.
        due_date: The day it is due, not before ``start_date``.
        complete_date: The day it was completed; only for completed tasks.
        status: Where the task stands.
        percent_complete: 0 to 100; exactly 100 when, and only when, the
            status is completed.
        importance: Importance.
        reminder_at: Timezone-aware reminder time, or ``None``.
        categories: Category names.

    Raises:
        ValueError: For inconsistent status, percentage and dates, or a naive
            reminder time.
    """

    entity: ClassVar[EntityType] = EntityType.TASK
    _UNORDERED: ClassVar[frozenset[str]] = frozenset({"categories"})

    subject: str = ""
    body: str = ""
    start_date: date | None = None
    due_date: date | None = None
    complete_date: date | None = None
    status: TaskStatus = TaskStatus.NOT_STARTED
    percent_complete: int = Field(default=0, ge=0, le=100)
    importance: Importance = Importance.NORMAL
    reminder_at: datetime | None = None
    categories: tuple[str, ...] = ()

    @field_validator("reminder_at")
    @classmethod
    def _aware_reminder(cls, value: datetime | None) -> datetime | None:
        return _check_aware(value, "reminder_at")

    @model_validator(mode="after")
    def _check_progress(self) -> Self:
        is_completed = self.status is TaskStatus.COMPLETED
        if is_completed != (self.percent_complete == 100):
            msg = "percent_complete is 100 exactly when status is completed"
            raise ValueError(msg)
        if self.complete_date is not None and not is_completed:
            msg = "complete_date is only for completed tasks"
            raise ValueError(msg)
        if (
            self.start_date is not None
            and self.due_date is not None
            and self.due_date < self.start_date
        ):
            msg = "due_date is before start_date"
            raise ValueError(msg)

        return self


_RECORD_TYPES: dict[EntityType, type[CRMRecord]] = {
    EntityType.APPOINTMENT: Appointment,
    EntityType.CONTACT: Contact,
    EntityType.TASK: Task,
}


def record_type(entity: EntityType | str) -> type[CRMRecord]:
    """Return the record class for an entity type.

    Args:
        entity: An :class:`EntityType` or its value (``"contact"``).

    Returns:
        :class:`Appointment`, :class:`Contact` or :class:`Task`.

    Raises:
        ValueError: For an unknown entity name.
    """
    return _RECORD_TYPES[EntityType(entity)]
