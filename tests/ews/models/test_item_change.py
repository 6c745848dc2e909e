"""ItemChange: validation at construction and schema-valid UpdateItem XML."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from crm_ews._soap import t
from crm_ews.ews._models import (
    Attendee,
    Body,
    CalendarItem,
    Contact,
    DailyRecurrence,
    EmailAddress,
    EmailAddressKey,
    ExtendedProperty,
    ExtendedPropertyKey,
    Item,
    ItemChange,
    ItemId,
    Mailbox,
    NoEndRecurrence,
    PhoneNumber,
    PhoneNumberKey,
    PhysicalAddress,
    PhysicalAddressKey,
    Recurrence,
    Task,
    TaskStatus,
)

from ._strategies import calendar_items, contacts, extended_properties, tasks
from .conftest import update_item_request

ITEM_ID = ItemId(id="AAMkAD=", change_key="CQAAAB")
CRM_KEY = ExtendedPropertyKey(
    distinguished_property_set_id="PublicStrings",
    property_name="crm_id",
    property_type="String",
)


def _writable_updates(item: Item) -> dict[str, object]:
    """Every writable field of ``item``, as an update setting (or deleting) it."""
    return {
        spec.name: getattr(item, spec.name)
        for spec in type(item).specs()
        if not spec.wire.read_only and not spec.wire.codec.repeated
    }


def _updates(change: etree._Element) -> list[etree._Element]:
    updates = change.find(t("Updates"))
    assert updates is not None
    return list(updates)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        calendar_items(read_only=False),
        contacts(read_only=False),
        tasks(read_only=False),
    ),
    st.lists(extended_properties(), max_size=2),
)
def test_update_of_every_field_validates(
    assert_valid: Callable[[etree._Element], None],
    item: Item,
    props: list[ExtendedProperty],
) -> None:
    """Setting or deleting every writable field gives a schema-valid UpdateItem."""
    change = ItemChange(
        item_id=ITEM_ID,
        item_type=type(item),
        updates=_writable_updates(item),
        extended_properties=tuple(props),
        deleted_extended_properties=(CRM_KEY,),
    )

    assert_valid(update_item_request([change.to_xml()]))


def test_set_and_delete_elements() -> None:
    """A value becomes SetItemField with one field; None becomes DeleteItemField."""
    change = ItemChange(
        item_id=ITEM_ID, item_type=Task, updates={"subject": "Call", "due_date": None}
    )

    element = change.to_xml()
    set_field, delete_field = _updates(element)

    item_id = element.find(t("ItemId"))
    assert item_id is not None
    assert dict(item_id.attrib) == {"Id": "AAMkAD=", "ChangeKey": "CQAAAB"}
    assert set_field.tag == t("SetItemField")
    assert set_field[0].get("FieldURI") == "item:Subject"
    assert [child.tag for child in set_field[1]] == [t("Subject")]
    assert set_field[1].tag == t("Task")
    assert delete_field.tag == t("DeleteItemField")
    assert delete_field[0].get("FieldURI") == "task:DueDate"


def test_updates_are_emitted_in_schema_order() -> None:
    """Fields are sent in the schema's order, whatever order the mapping had."""
    change = ItemChange(
        item_id=ITEM_ID,
        item_type=Task,
        updates={
            "status": TaskStatus.COMPLETED,
            "subject": "x",
            "percent_complete": 100,
        },
    )

    uris = [update[0].get("FieldURI") for update in _updates(change.to_xml())]

    assert uris == ["item:Subject", "task:PercentComplete", "task:Status"]


def test_indexed_field_sets_each_present_key_and_deletes_the_rest() -> None:
    """Contact e-mail slots: one SetItemField per entry, deletes for empty slots."""
    change = ItemChange(
        item_id=ITEM_ID,
        item_type=Contact,
        updates={
            "email_addresses": (
                EmailAddress(
                    key=EmailAddressKey.EMAIL_ADDRESS_2, address="a@example.com"
                ),
            )
        },
    )

    updates = _updates(change.to_xml())

    assert [(u.tag, u[0].get("FieldIndex")) for u in updates] == [
        (t("DeleteItemField"), "EmailAddress1"),
        (t("SetItemField"), "EmailAddress2"),
        (t("DeleteItemField"), "EmailAddress3"),
    ]
    entry = updates[1].find(f"{t('Contact')}/{t('EmailAddresses')}/{t('Entry')}")
    assert entry is not None
    assert entry.get("Key") == "EmailAddress2"
    assert entry.text == "a@example.com"


def test_physical_address_parts_are_separate_paths() -> None:
    """Each address part is its own indexed path holding only that part."""
    change = ItemChange(
        item_id=ITEM_ID,
        item_type=Contact,
        updates={
            "physical_addresses": (
                PhysicalAddress(key=PhysicalAddressKey.HOME, city="Bonn"),
            )
        },
    )

    sets = [u for u in _updates(change.to_xml()) if u.tag == t("SetItemField")]

    assert len(sets) == 1
    assert dict(sets[0][0].attrib) == {
        "FieldURI": "contacts:PhysicalAddress:City",
        "FieldIndex": "Home",
    }
    entry = sets[0].find(f"{t('Contact')}/{t('PhysicalAddresses')}/{t('Entry')}")
    assert entry is not None
    assert [child.tag for child in entry] == [t("City")]


def test_deleting_a_dictionary_deletes_every_slot() -> None:
    """None for phone_numbers deletes each of the schema's phone slots."""
    change = ItemChange(
        item_id=ITEM_ID, item_type=Contact, updates={"phone_numbers": None}
    )

    updates = _updates(change.to_xml())

    assert {u.tag for u in updates} == {t("DeleteItemField")}
    assert [u[0].get("FieldIndex") for u in updates] == [
        key.value for key in PhoneNumberKey
    ]


def test_extended_properties_use_extended_field_uri() -> None:
    """Extended properties are set and deleted by their ExtendedFieldURI."""
    change = ItemChange(
        item_id=ITEM_ID,
        item_type=CalendarItem,
        extended_properties=(ExtendedProperty(key=CRM_KEY, value="42"),),
        deleted_extended_properties=(CRM_KEY,),
    )

    set_field, delete_field = _updates(change.to_xml())

    assert set_field[0].tag == t("ExtendedFieldURI")
    prop = set_field.find(f"{t('CalendarItem')}/{t('ExtendedProperty')}")
    assert prop is not None
    assert prop.findtext(t("Value")) == "42"
    assert delete_field[0].attrib["PropertyName"] == "crm_id"


def test_zoned_start_also_sets_start_time_zone() -> None:
    """A start in a ZoneInfo zone adds a StartTimeZone update."""
    start = datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"), fold=1)
    change = ItemChange(
        item_id=ITEM_ID, item_type=CalendarItem, updates={"start": start}
    )

    assert change.updates["start_time_zone"] == "W. Europe Standard Time"
    updates = _updates(change.to_xml())
    assert updates[0].findtext(f"{t('CalendarItem')}/{t('Start')}") == (
        "2024-10-27T01:30:00Z"
    )


def test_explicit_time_zone_update_wins() -> None:
    """A start_time_zone named in the update is not overridden."""
    change = ItemChange(
        item_id=ITEM_ID,
        item_type=CalendarItem,
        updates={
            "start": datetime(2024, 1, 1, 9, tzinfo=ZoneInfo("Europe/Berlin")),
            "start_time_zone": "Romance Standard Time",
        },
    )

    assert change.updates["start_time_zone"] == "Romance Standard Time"


def test_values_are_validated_and_normalised() -> None:
    """Update values go through the field's type: lists become tuples."""
    change = ItemChange(
        item_id=ITEM_ID,
        item_type=CalendarItem,
        updates={
            "categories": ["A", "B"],
            "required_attendees": [
                Attendee(mailbox=Mailbox(email_address="b@example.com"))
            ],
            "recurrence": Recurrence(
                pattern=DailyRecurrence(),
                range=NoEndRecurrence(start_date=date(2024, 1, 1)),
            ),
            "body": Body(content="hi"),
        },
    )

    assert change.updates["categories"] == ("A", "B")
    assert isinstance(change.updates["required_attendees"], tuple)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"item_id": ItemId(id="x"), "updates": {"subject": "s"}}, "change key"),
        ({"updates": {"no_such_field": 1}}, "no EWS field"),
        ({"updates": {"item_id": ITEM_ID}}, "read-only"),
        ({"updates": {"last_modified_time": datetime.now(UTC)}}, "read-only"),
        ({"updates": {"percent_complete": 150}}, "percent_complete"),
        ({"updates": {"due_date": datetime(2024, 1, 1)}}, "timezone"),
        ({"updates": {"status": "Finished"}}, "status"),
        ({"updates": {"extended_properties": ()}}, "extended_properties"),
        ({"updates": {}}, "at least one"),
    ],
)
def test_bad_changes_raise_value_error(kwargs: dict[str, object], message: str) -> None:
    """Misuse fails at construction with a ValueError naming the problem."""
    arguments: dict[str, object] = {"item_id": ITEM_ID, "item_type": Task}
    arguments.update(kwargs)

    with pytest.raises(ValueError, match=message):
        ItemChange(**arguments)


def test_phone_numbers_reject_duplicate_keys() -> None:
    """A dictionary update repeating a key is refused."""
    phone = PhoneNumber(key=PhoneNumberKey.MOBILE_PHONE, number="1")

    with pytest.raises(ValueError, match="only once"):
        ItemChange(
            item_id=ITEM_ID,
            item_type=Contact,
            updates={"phone_numbers": (phone, phone)},
        )
