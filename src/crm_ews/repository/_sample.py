"""Deterministic sample records for demos, seeding and contract tests.

The same seed and anchor day always give the same records, so a demo database
can be re-seeded without duplicates and a test can name what it expects.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm_ews.repository._records import (
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
)

_GIVEN = ("Ada", "Bruno", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hiro")
_SURNAMES = ("Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn")
_COMPANIES = ("Northwind Traders", "Fabrikam", "Contoso", "Tailspin Toys")
_CITIES = (("Berlin", "DE"), ("Lyon", "FR"), ("Osaka", "JP"), ("Leeds", "GB"))
_TOPICS = ("Quarterly review", "Onboarding call", "Site visit", "Contract renewal")
_ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")


def sample_appointments(n: int, *, seed: int, anchor: date) -> list[Appointment]:
    """Return ``n`` appointments: a weekly series, an all-day one, then singles.

    Args:
        n: How many to make.
        seed: Seed for the pseudo-random choices.
        anchor: The day the schedule is built around.

    Returns:
        Records without id or version.
    """
    rng = random.Random(seed)
    records: list[Appointment] = []
    for index in range(n):
        zone_name = rng.choice(_ZONES)
        zone = ZoneInfo(zone_name)
        day = anchor + timedelta(days=rng.randrange(0, 28))
        topic = rng.choice(_TOPICS)
        if index == 1:
            start = datetime.combine(day, time(0, 0), zone)
            records.append(
                Appointment(
                    subject=f"Trade fair ({index})",
                    start=start,
                    end=datetime.combine(day + timedelta(days=2), time(0, 0), zone),
                    is_all_day=True,
                    time_zone=zone_name,
                    show_as=ShowAs.OOF,
                    categories=("Travel",),
                )
            )
            continue

        start = datetime.combine(day, time(rng.randrange(8, 17), 0), zone)
        recurrence = None
        if index == 0:
            recurrence = Recurrence(
                frequency=Frequency.WEEKLY,
                days_of_week=(list(Weekday)[start.weekday()],),
                start_date=day,
                count=10,
            )
        records.append(
            Appointment(
                subject=f"{topic} ({index})",
                body=f"Agenda item {rng.randrange(1, 100)}\nBring the numbers.",
                location=rng.choice(_CITIES)[0],
                start=start,
                end=start + timedelta(minutes=rng.choice((30, 45, 60, 90))),
                time_zone=zone_name,
                recurrence=recurrence,
                categories=("CRM",),
                reminder_minutes=rng.choice((None, 10, 15)),
                attendee_emails=(f"guest{index}@example.com",),
            )
        )

    return records


def sample_contacts(n: int, *, seed: int) -> list[Contact]:
    """Return ``n`` contacts with names, company, phones and an address.

    Args:
        n: How many to make.
        seed: Seed for the pseudo-random choices.

    Returns:
        Records without id or version.
    """
    rng = random.Random(seed)
    records: list[Contact] = []
    for index in range(n):
        given, surname = rng.choice(_GIVEN), rng.choice(_SURNAMES)
        city, country = rng.choice(_CITIES)
        records.append(
            Contact(
                given_name=given,
                surname=surname,
                display_name=f"{given} {surname}",
                company=rng.choice(_COMPANIES),
                job_title=rng.choice(("Buyer", "CTO", "Account manager")),
                email_addresses=(f"{given.lower()}.{index}@example.com",),
                phones={
                    PhoneKind.BUSINESS: f"+49 30 {rng.randrange(1_000_000, 9_999_999)}",
                    PhoneKind.MOBILE: f"+49 170 {rng.randrange(1_000_000, 9_999_999)}",
                },
                addresses={
                    AddressKind.BUSINESS: PostalAddress(
                        street=f"{rng.randrange(1, 200)} Market Street",
                        city=city,
                        postal_code=f"{rng.randrange(10_000, 99_999)}",
                        country=country,
                    )
                },
                birthday=date(1960 + rng.randrange(40), rng.randrange(1, 13), 1),
            )
        )

    return records


def sample_tasks(n: int, *, seed: int, anchor: date) -> list[Task]:
    """Return ``n`` tasks with a mix of statuses and due dates.

    Args:
        n: How many to make.
        seed: Seed for the pseudo-random choices.
        anchor: The day due dates are counted from.

    Returns:
        Records without id or version.
    """
    rng = random.Random(seed)
    records: list[Task] = []
    for index in range(n):
        status = rng.choice(list(TaskStatus))
        is_completed = status is TaskStatus.COMPLETED
        start = anchor + timedelta(days=rng.randrange(0, 7))
        records.append(
            Task(
                subject=f"Follow up {rng.choice(_COMPANIES)} ({index})",
                body="Call back about the offer.",
                start_date=start,
                due_date=start + timedelta(days=rng.randrange(0, 14)),
                complete_date=start if is_completed else None,
                status=status,
                percent_complete=100 if is_completed else rng.choice((0, 25, 50)),
                importance=rng.choice(list(Importance)),
            )
        )

    return records


def sample_records(
    entity: EntityType, n: int, *, seed: int, anchor: date
) -> list[CRMRecord]:
    """Return ``n`` sample records of one entity type (see the functions above)."""
    if entity is EntityType.APPOINTMENT:
        return list(sample_appointments(n, seed=seed, anchor=anchor))
    if entity is EntityType.CONTACT:
        return list(sample_contacts(n, seed=seed))

    return list(sample_tasks(n, seed=seed, anchor=anchor))
