"""Round trips model -> XML -> model for items, checked against the schema."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from lxml import etree

from crm_ews.ews._models import (
    Attendee,
    CalendarItem,
    Contact,
    Item,
    Task,
    item_from_xml,
)

from ._strategies import calendar_items, contacts, tasks
from .conftest import create_item_request, reparse

_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _instants(value: Any) -> Any:
    """A model dump with every datetime as its UTC instant.

    Aware datetimes in different zones compare by instant, except that PEP 495
    makes any inter-zone comparison of an ambiguous wall time (the repeated
    hour when DST ends) unequal; comparing UTC values keeps the round trip
    about the instant, which is what the wire carries.
    """
    if isinstance(value, Item) or hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, dict):
        return {key: _instants(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_instants(item) for item in value]
    return value


def _same(decoded: Item, item: Item) -> bool:
    return type(decoded) is type(item) and _instants(decoded) == _instants(item)


def _without_read_only(item: Item) -> Item:
    """The item as a create request can carry it: read-only fields unset."""
    defaults = {
        spec.name: type(item).model_fields[spec.name].default
        for spec in type(item).specs()
        if spec.wire.read_only
    }
    if isinstance(item, CalendarItem):
        # Attendee answers are the server's too.
        for name in ("required_attendees", "optional_attendees"):
            defaults[name] = tuple(
                Attendee(mailbox=attendee.mailbox) for attendee in getattr(item, name)
            )
    return item.model_copy(update=defaults)


@_SETTINGS
@given(calendar_items())
def test_calendar_item_round_trips_with_read_only_fields(item: CalendarItem) -> None:
    """A calendar item decodes to an equal model, read-only fields included."""
    decoded = item_from_xml(reparse(item.to_xml(include_read_only=True)))

    assert isinstance(decoded, CalendarItem)
    assert _same(decoded, item)


@_SETTINGS
@given(contacts())
def test_contact_round_trips_with_read_only_fields(item: Contact) -> None:
    """A contact decodes to an equal model, read-only fields included."""
    assert _same(item_from_xml(reparse(item.to_xml(include_read_only=True))), item)


@_SETTINGS
@given(tasks())
def test_task_round_trips_with_read_only_fields(item: Task) -> None:
    """A task decodes to an equal model, read-only fields included."""
    assert _same(item_from_xml(reparse(item.to_xml(include_read_only=True))), item)


@_SETTINGS
@given(calendar_items(read_only=True))
def test_create_xml_leaves_out_read_only_fields(item: CalendarItem) -> None:
    """to_xml() for create omits every read-only field and keeps the rest."""
    decoded = item_from_xml(reparse(item.to_xml()))

    assert _same(decoded, _without_read_only(item))


@_SETTINGS
@given(
    calendar_items(read_only=False), contacts(read_only=False), tasks(read_only=False)
)
def test_create_item_request_validates(
    assert_valid: Callable[[etree._Element], None],
    calendar_item: CalendarItem,
    contact: Contact,
    task: Task,
) -> None:
    """Items built for CreateItem validate against the EWS schema."""
    assert_valid(
        create_item_request([calendar_item.to_xml(), contact.to_xml(), task.to_xml()])
    )


@_SETTINGS
@given(calendar_items(), contacts(), tasks())
def test_full_items_are_schema_valid(
    ews_schema: etree.XMLSchema,
    calendar_item: CalendarItem,
    contact: Contact,
    task: Task,
) -> None:
    """Even with read-only fields, each element keeps the schema's order."""
    for item in (calendar_item, contact, task):
        # CreateItem's schema accepts every ItemType child, so it can check
        # the order of the server-owned fields as well.
        request = create_item_request([item.to_xml(include_read_only=True)])
        assert ews_schema.validate(reparse(request)), ews_schema.error_log
