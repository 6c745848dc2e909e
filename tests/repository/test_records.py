"""Validation and canonical sync fields of the neutral records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_ews.repository import (
    AddressKind,
    Appointment,
    Contact,
    EntityType,
    Frequency,
    PhoneKind,
    PostalAddress,
    Recurrence,
    Task,
    TaskStatus,
    Weekday,
    WeekOfMonth,
    projection_hash,
    record_type,
)

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2030, 5, 6, 9, 0, tzinfo=BERLIN)


def _appointment(**changes: object) -> Appointment:
    fields: dict[str, object] = {
        "subject": "Review",
        "start": START,
        "end": START + timedelta(hours=1),
        "time_zone": "Europe/Berlin",
    }
    fields.update(changes)
    return Appointment.model_validate(fields)


def test_naive_start_is_rejected() -> None:
    """A naive start datetime raises ValueError naming the field."""
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        _appointment(start=datetime(2030, 5, 6, 9, 0))


def test_end_before_start_is_rejected() -> None:
    """An appointment may not end before it starts."""
    with pytest.raises(ValueError, match="end is before start"):
        _appointment(end=START - timedelta(minutes=1))


def test_unknown_time_zone_is_rejected() -> None:
    """time_zone must name an IANA zone."""
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        _appointment(time_zone="Mars/Olympus_Mons")


def test_all_day_needs_midnights_in_its_zone() -> None:
    """An all-day appointment whose bounds are not local midnights is refused."""
    with pytest.raises(ValueError, match="midnight"):
        _appointment(is_all_day=True)


def test_all_day_accepts_local_midnights() -> None:
    """Local midnights given in another offset are accepted as all-day bounds."""
    start = datetime(2030, 5, 6, tzinfo=BERLIN).astimezone(UTC)

    appointment = _appointment(
        is_all_day=True, start=start, end=start + timedelta(days=1)
    )

    assert appointment.is_all_day is True


def test_all_day_must_last_a_day() -> None:
    """An all-day appointment with equal bounds is refused."""
    midnight = datetime(2030, 5, 6, tzinfo=BERLIN)
    with pytest.raises(ValueError, match="at least one day"):
        _appointment(is_all_day=True, start=midnight, end=midnight)


def test_records_are_frozen() -> None:
    """Assigning to a record field raises."""
    appointment = _appointment()
    with pytest.raises(ValueError, match="frozen"):
        appointment.subject = "other"  # type: ignore[misc]


def test_unknown_fields_are_rejected() -> None:
    """A misspelt field name raises instead of being dropped."""
    with pytest.raises(ValueError, match="subjekt"):
        _appointment(subjekt="typo")


def test_invalid_attendee_address_is_rejected() -> None:
    """Attendee addresses must look like e-mail addresses."""
    with pytest.raises(ValueError, match="not an e-mail address"):
        _appointment(attendee_emails=("not an address",))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"frequency": Frequency.WEEKLY}, "needs days_of_week"),
        (
            {"frequency": Frequency.DAILY, "days_of_week": (Weekday.MONDAY,)},
            "daily pattern takes no",
        ),
        ({"frequency": Frequency.MONTHLY}, "either day_of_month or week_of_month"),
        (
            {
                "frequency": Frequency.MONTHLY,
                "day_of_month": 3,
                "week_of_month": WeekOfMonth.FIRST,
                "days_of_week": (Weekday.MONDAY,),
            },
            "either day_of_month or week_of_month",
        ),
        (
            {"frequency": Frequency.MONTHLY, "week_of_month": WeekOfMonth.LAST},
            "week_of_month needs days_of_week",
        ),
        (
            {
                "frequency": Frequency.MONTHLY,
                "day_of_month": 3,
                "days_of_week": (Weekday.MONDAY,),
            },
            "cannot be combined",
        ),
        (
            {"frequency": Frequency.MONTHLY, "day_of_month": 3, "month": 4},
            "monthly pattern takes no month",
        ),
        ({"frequency": Frequency.YEARLY, "day_of_month": 3}, "needs month"),
        (
            {
                "frequency": Frequency.YEARLY,
                "day_of_month": 3,
                "month": 4,
                "interval": 2,
            },
            "interval must be 1",
        ),
        (
            {
                "frequency": Frequency.WEEKLY,
                "days_of_week": (Weekday.MONDAY,),
                "month": 2,
            },
            "weekly pattern takes no",
        ),
        (
            {
                "frequency": Frequency.DAILY,
                "end_date": date(2030, 6, 1),
                "count": 3,
            },
            "not both",
        ),
        ({"frequency": Frequency.DAILY, "end_date": date(2030, 1, 1)}, "before"),
        ({"frequency": Frequency.DAILY, "interval": 0}, "greater than or equal"),
        (
            {
                "frequency": Frequency.WEEKLY,
                "days_of_week": (Weekday.MONDAY, Weekday.MONDAY),
            },
            "must not repeat",
        ),
    ],
)
def test_recurrence_rejects_contradictory_patterns(
    fields: dict[str, object], message: str
) -> None:
    """Each malformed recurrence raises ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=message):
        Recurrence.model_validate({"start_date": date(2030, 5, 6), **fields})


def test_recurrence_sorts_days_of_week() -> None:
    """days_of_week is kept in Monday-first order whatever the input order."""
    recurrence = Recurrence(
        frequency=Frequency.WEEKLY,
        days_of_week=(Weekday.FRIDAY, Weekday.MONDAY),
        start_date=date(2030, 5, 6),
    )

    assert recurrence.days_of_week == (Weekday.MONDAY, Weekday.FRIDAY)


def test_relative_yearly_pattern_is_accepted() -> None:
    """The last Thursday of November every year is a valid pattern."""
    recurrence = Recurrence(
        frequency=Frequency.YEARLY,
        month=11,
        week_of_month=WeekOfMonth.LAST,
        days_of_week=(Weekday.THURSDAY,),
        start_date=date(2030, 11, 28),
    )

    assert recurrence.end_date is None
    assert recurrence.count is None


def test_contact_allows_three_addresses_at_most() -> None:
    """A fourth e-mail address is refused."""
    addresses = tuple(f"p{index}@example.com" for index in range(4))
    with pytest.raises(ValueError, match="at most 3"):
        Contact(email_addresses=addresses)


def test_contact_rejects_empty_phone() -> None:
    """An empty phone number must be left out rather than stored."""
    with pytest.raises(ValueError, match="empty"):
        Contact(phones={PhoneKind.MOBILE: "  "})


def test_task_completion_must_be_consistent() -> None:
    """A completed task is 100 % done, and a 100 % task is completed."""
    with pytest.raises(ValueError, match="percent_complete"):
        Task(status=TaskStatus.COMPLETED, percent_complete=50)
    with pytest.raises(ValueError, match="percent_complete"):
        Task(status=TaskStatus.IN_PROGRESS, percent_complete=100)


def test_task_complete_date_needs_completion() -> None:
    """complete_date on an unfinished task is refused."""
    with pytest.raises(ValueError, match="complete_date"):
        Task(complete_date=date(2030, 1, 1))


def test_task_due_before_start_is_rejected() -> None:
    """A due date before the start date is refused."""
    with pytest.raises(ValueError, match="due_date"):
        Task(start_date=date(2030, 1, 2), due_date=date(2030, 1, 1))


def test_task_reminder_must_be_aware() -> None:
    """A naive reminder time raises ValueError."""
    with pytest.raises(ValueError, match="reminder_at"):
        Task(reminder_at=datetime(2030, 1, 1, 9, 0))


def test_sync_fields_leave_out_identity() -> None:
    """id and version never reach the sync fields or the hash."""
    plain = _appointment()
    stored = plain.with_identity("crm-1", "7")

    assert "id" not in stored.sync_fields()
    assert "version" not in stored.sync_fields()
    assert projection_hash(stored) == projection_hash(plain)


def test_sync_fields_are_canonical() -> None:
    """Zone, line endings, blanks and unordered lists do not change the hash."""
    first = _appointment(
        body="one\r\ntwo  ",
        categories=("b", "a", "a"),
        attendee_emails=("X@example.com", "y@example.com"),
    )
    second = _appointment(
        start=START.astimezone(UTC),
        end=(START + timedelta(hours=1)).astimezone(UTC),
        body="one\ntwo",
        categories=("a", "b"),
        attendee_emails=("y@example.com", "x@example.com"),
    )

    assert first.sync_fields() == second.sync_fields()
    assert projection_hash(first) == projection_hash(second)
    assert first.sync_fields()["start"] == "2030-05-06T07:00:00+00:00"


def test_hash_changes_with_content() -> None:
    """A real change to a syncing field changes the projection hash."""
    assert projection_hash(_appointment()) != projection_hash(
        _appointment(location="Room 2")
    )


def test_contact_email_order_is_kept() -> None:
    """Contact address slots are ordered, so their order is part of the hash."""
    one = Contact(email_addresses=("a@example.com", "b@example.com"))
    two = Contact(email_addresses=("b@example.com", "a@example.com"))

    assert projection_hash(one) != projection_hash(two)


def test_contact_dictionaries_are_canonical() -> None:
    """Phone and address maps dump with sorted string keys."""
    contact = Contact(
        phones={PhoneKind.MOBILE: "1", PhoneKind.BUSINESS: "2"},
        addresses={AddressKind.HOME: PostalAddress(city="Lyon")},
    )

    fields = contact.sync_fields()

    assert list(fields["phones"]) == ["business", "mobile"]  # type: ignore[call-overload]
    assert fields["addresses"] == {
        "home": {
            "city": "Lyon",
            "country": "",
            "postal_code": "",
            "state": "",
            "street": "",
        }
    }


def test_with_identity_requires_both_values() -> None:
    """with_identity refuses an empty id or version."""
    with pytest.raises(ValueError, match="non-empty"):
        _appointment().with_identity("", "1")


@pytest.mark.parametrize("entity", list(EntityType))
def test_record_type_matches_entity(entity: EntityType) -> None:
    """record_type returns the class whose entity is the one asked for."""
    assert record_type(entity).entity is entity
    assert record_type(entity.value) is record_type(entity)
