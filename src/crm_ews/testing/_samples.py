"""Sample items: builders for test data and the deterministic seed set.

The builders return the XML a client would send in ``CreateItem``; the
simulator stores them through the same path as a real request.  The seed set
(``seed_elements``) depends only on its arguments, so two simulators seeded
alike hold equal data.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from lxml import etree

from crm_ews._soap import TYPES_NS, t

_GIVEN: Final = (
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken",
    "Margaret", "Niklaus", "Radia", "Tim", "Hedy", "John", "Karen", "Linus",
)  # fmt: skip
_FAMILY: Final = (
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen",
    "Thompson", "Hamilton", "Wirth", "Perlman", "Berners-Lee", "Lamarr",
    "Backus", "Jones", "Torvalds",
)  # fmt: skip
_COMPANIES: Final = ("Contoso", "Fabrikam", "Northwind", "Tailspin", "Litware")
_TOPICS: Final = (
    "Quarterly review", "Contract renewal", "Onboarding call", "Site visit",
    "Pricing workshop", "Support escalation", "Product demo", "Kick-off",
)  # fmt: skip
_TASKS: Final = (
    "Send proposal", "Follow up on invoice", "Prepare slides", "Call back",
    "Update forecast", "Review contract", "Book travel", "Collect feedback",
)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _child(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, t(name))
    element.text = text
    return element


def calendar_item(
    subject: str,
    start: datetime,
    end: datetime,
    *,
    location: str | None = None,
    body: str | None = None,
    categories: Sequence[str] = (),
    weekly_on: Sequence[str] = (),
    occurrences: int | None = None,
) -> etree._Element:
    """A ``t:CalendarItem``; ``weekly_on`` (day names) makes it a series.

    Raises:
        ValueError: ``start``/``end`` are naive, or ``end`` is before ``start``.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end < start:
        raise ValueError("end must not be before start")
    item = etree.Element(t("CalendarItem"), nsmap={"t": TYPES_NS})
    _child(item, "Subject", subject)
    if body is not None:
        _child(item, "Body", body).set("BodyType", "Text")
    if categories:
        container = etree.SubElement(item, t("Categories"))
        for category in categories:
            _child(container, "String", category)
    _child(item, "Start", _iso(start))
    _child(item, "End", _iso(end))
    if location is not None:
        _child(item, "Location", location)
    if weekly_on:
        recurrence = etree.SubElement(item, t("Recurrence"))
        weekly = etree.SubElement(recurrence, t("WeeklyRecurrence"))
        _child(weekly, "Interval", "1")
        _child(weekly, "DaysOfWeek", " ".join(weekly_on))
        if occurrences is None:
            span = etree.SubElement(recurrence, t("NoEndRecurrence"))
            _child(span, "StartDate", start.astimezone(UTC).date().isoformat())
        else:
            span = etree.SubElement(recurrence, t("NumberedRecurrence"))
            _child(span, "StartDate", start.astimezone(UTC).date().isoformat())
            _child(span, "NumberOfOccurrences", str(occurrences))
    return item


def contact(
    given_name: str,
    surname: str,
    *,
    email: str | None = None,
    company: str | None = None,
    phone: str | None = None,
) -> etree._Element:
    """A ``t:Contact`` with the usual CRM fields."""
    item = etree.Element(t("Contact"), nsmap={"t": TYPES_NS})
    _child(item, "FileAs", f"{surname}, {given_name}")
    _child(item, "GivenName", given_name)
    if company is not None:
        _child(item, "CompanyName", company)
    if email is not None:
        addresses = etree.SubElement(item, t("EmailAddresses"))
        _child(addresses, "Entry", email).set("Key", "EmailAddress1")
    if phone is not None:
        phones = etree.SubElement(item, t("PhoneNumbers"))
        _child(phones, "Entry", phone).set("Key", "BusinessPhone")
    _child(item, "Surname", surname)
    return item


def task(
    subject: str,
    *,
    due: datetime | None = None,
    status: str = "NotStarted",
    body: str | None = None,
) -> etree._Element:
    """A ``t:Task``."""
    item = etree.Element(t("Task"), nsmap={"t": TYPES_NS})
    _child(item, "Subject", subject)
    if body is not None:
        _child(item, "Body", body).set("BodyType", "Text")
    if due is not None:
        _child(item, "DueDate", _iso(due))
    _child(item, "Status", status)
    return item


def seed_elements(
    address: str, count: int, *, seed: int, anchor: datetime
) -> Iterable[tuple[str, etree._Element]]:
    """``(folder, element)`` pairs: ``count`` each of events, contacts, tasks.

    The first event of a mailbox is a weekly series (Monday, Wednesday);
    the rest are single appointments spread over the weeks after ``anchor``.
    """
    rng = random.Random(f"{seed}:{address}")
    monday = (anchor - timedelta(days=anchor.weekday())).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    for index in range(count):
        start = monday + timedelta(days=rng.randrange(0, 28), hours=rng.randrange(0, 8))
        end = start + timedelta(minutes=rng.choice((30, 45, 60, 90)))
        topic = _TOPICS[index % len(_TOPICS)]
        company = rng.choice(_COMPANIES)
        if index == 0:
            yield (
                "calendar",
                calendar_item(
                    f"Weekly sync with {company}",
                    monday,
                    monday + timedelta(minutes=30),
                    location="Teams",
                    weekly_on=("Monday", "Wednesday"),
                ),
            )
        else:
            yield (
                "calendar",
                calendar_item(
                    f"{topic} ({company})",
                    start,
                    end,
                    location=f"Room {rng.randrange(1, 40)}",
                ),
            )

    for index in range(count):
        given = _GIVEN[index % len(_GIVEN)]
        family = _FAMILY[(index * 7 + rng.randrange(0, 3)) % len(_FAMILY)]
        company = rng.choice(_COMPANIES)
        yield (
            "contacts",
            contact(
                given,
                family,
                email=f"{given}.{family}.{index}@{company}.example".lower(),
                company=company,
                phone=f"+1 555 {rng.randrange(1000, 9999)}",
            ),
        )

    for index in range(count):
        due = monday + timedelta(days=rng.randrange(1, 30))
        status = "Completed" if index % 5 == 4 else "NotStarted"
        yield "tasks", task(_TASKS[index % len(_TASKS)], due=due, status=status)
