"""FindItem: views, the restriction, shapes and parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_ews.errors import InvalidRequestError, ResponseDecodeError
from crm_ews.ews import (
    MAX_CALENDAR_VIEW_SPAN,
    CalendarItem,
    CalendarView,
    Contact,
    ExtendedPropertyKey,
    FindItem,
    IndexedPageView,
    IsEqualTo,
    MapiPropertyType,
    Task,
)
from tests.ews.operations._support import (
    CALENDAR,
    CONTACTS,
    CRM_KEY,
    MAILBOX,
    error_message,
    fixture_reply,
    reply,
    success_message,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_indexed_page_is_parsed_with_paging_attributes() -> None:
    """The recorded first page holds two contacts and points at offset 2."""
    page = FindItem(CONTACTS, Contact, view=IndexedPageView(0, 2)).parse(
        fixture_reply("FindItem", "indexed_page"), mailbox=MAILBOX
    )

    assert len(page.items) == 2
    assert all(isinstance(item, Contact) for item in page.items)
    assert not page.includes_last_item_in_range
    assert page.next_offset == 2
    assert page.total_items_in_view == 5


def test_calendar_view_page_is_parsed() -> None:
    """The recorded calendar view holds three calendar items, complete."""
    operation = FindItem(
        CALENDAR,
        CalendarItem,
        view=CalendarView(START, START + timedelta(days=7)),
    )
    page = operation.parse(fixture_reply("FindItem", "calendar_view"), mailbox=MAILBOX)

    assert len(page.items) == 3
    assert page.includes_last_item_in_range


def test_restriction_reply_is_parsed() -> None:
    """The recorded restriction search finds one contact."""
    operation = FindItem(
        CONTACTS, Contact, restriction=IsEqualTo(CRM_KEY, "crm-contact-000150")
    )
    page = operation.parse(
        fixture_reply("FindItem", "extended_property_restriction"), mailbox=MAILBOX
    )

    assert len(page.items) == 1


def test_restriction_is_is_equal_to_on_the_extended_property() -> None:
    """The request compares the ExtendedFieldURI with a t:Constant value."""
    request = FindItem(
        CONTACTS, Contact, restriction=IsEqualTo(CRM_KEY, "crm-7")
    ).build()

    expression = request.find("{*}Restriction/{*}IsEqualTo")
    assert expression is not None
    assert expression[0].get("PropertyName") == "CrmRecordId"
    assert expression.find("{*}FieldURIOrConstant/{*}Constant").get("Value") == "crm-7"


def test_views_are_written_as_attributes() -> None:
    """Indexed views count from the beginning; calendar views send UTC bounds."""
    indexed = FindItem(CONTACTS, Contact, view=IndexedPageView(40, 20)).build()
    calendar = FindItem(
        CALENDAR, CalendarItem, view=CalendarView(START, START + timedelta(days=1), 5)
    ).build()

    page = indexed.find("{*}IndexedPageItemView")
    assert (page.get("Offset"), page.get("MaxEntriesReturned")) == ("40", "20")
    assert page.get("BasePoint") == "Beginning"
    view = calendar.find("{*}CalendarView")
    assert view.get("StartDate") == "2026-03-02T09:00:00Z"
    assert view.get("EndDate") == "2026-03-03T09:00:00Z"
    assert view.get("MaxEntriesReturned") == "5"


def test_summary_shape_leaves_out_what_find_item_refuses() -> None:
    """FindItem never asks for bodies; the extended keys are requested."""
    request = FindItem(CALENDAR, CalendarItem, extended_properties=[CRM_KEY]).build()

    uris = {path.get("FieldURI") for path in request.iterfind(".//{*}FieldURI")}
    assert "item:Body" not in uris
    assert "calendar:Start" in uris
    assert request.find(".//{*}AdditionalProperties/{*}ExtendedFieldURI") is not None


def test_other_kinds_of_item_are_left_out() -> None:
    """A distribution list in a contacts folder is not handed out as a Contact."""
    inner = (
        '<m:RootFolder IncludesLastItemInRange="true"><t:Items>'
        '<t:DistributionList><t:ItemId Id="dl" ChangeKey="k"/></t:DistributionList>'
        '<t:Contact><t:ItemId Id="c" ChangeKey="k"/></t:Contact>'
        "</t:Items></m:RootFolder>"
    )
    page = FindItem(CONTACTS, Contact).parse(
        reply("FindItem", success_message("FindItem", inner)), mailbox=MAILBOX
    )

    assert [item.item_id.id for item in page.items if item.item_id] == ["c"]


@pytest.mark.parametrize(
    "inner",
    [
        "",
        "<m:RootFolder><t:Items/></m:RootFolder>",
        '<m:RootFolder IncludesLastItemInRange="maybe"><t:Items/></m:RootFolder>',
        '<m:RootFolder IncludesLastItemInRange="true"/>',
        '<m:RootFolder IncludesLastItemInRange="true" IndexedPagingOffset="x">'
        "<t:Items/></m:RootFolder>",
    ],
)
def test_malformed_replies_are_decode_errors(inner: str) -> None:
    """Missing or malformed paging data raises ResponseDecodeError with context."""
    with pytest.raises(ResponseDecodeError) as caught:
        FindItem(CONTACTS, Contact).parse(
            reply("FindItem", success_message("FindItem", inner)), mailbox=MAILBOX
        )

    assert caught.value.operation == "FindItem"
    assert caught.value.mailbox == MAILBOX


def test_a_refused_search_raises() -> None:
    """An error message raises the mapped exception."""
    with pytest.raises(InvalidRequestError):
        FindItem(CONTACTS, Contact).parse(
            reply("FindItem", error_message("FindItem", "ErrorInvalidRestriction")),
            mailbox=MAILBOX,
        )


def test_with_offset_and_with_view() -> None:
    """Derived searches keep folder, type, restriction and keys."""
    base = FindItem(
        CONTACTS,
        Contact,
        restriction=IsEqualTo(CRM_KEY, "1"),
        extended_properties=[CRM_KEY],
    )
    moved = base.with_offset(300)

    assert moved.view == IndexedPageView(300)
    assert moved.restriction == base.restriction
    assert moved.extended_properties == (CRM_KEY,)
    calendar = FindItem(
        CALENDAR, CalendarItem, view=CalendarView(START, START + timedelta(1))
    )
    with pytest.raises(TypeError):
        calendar.with_offset(1)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: IndexedPageView(-1), ValueError),
        (lambda: IndexedPageView(0, 0), ValueError),
        (lambda: IndexedPageView(0, 1001), ValueError),
        (lambda: IndexedPageView(True), TypeError),
        (lambda: CalendarView(START.replace(tzinfo=None), START), ValueError),
        (lambda: CalendarView(START, START), ValueError),
        (
            lambda: CalendarView(START, START + MAX_CALENDAR_VIEW_SPAN + timedelta(1)),
            ValueError,
        ),
        (lambda: CalendarView("2026-01-01", START), TypeError),
        (
            lambda: FindItem(
                CALENDAR, Contact, view=CalendarView(START, START + timedelta(1))
            ),
            ValueError,
        ),
        (
            lambda: FindItem(
                CALENDAR,
                CalendarItem,
                view=CalendarView(START, START + timedelta(1)),
                restriction=IsEqualTo(CRM_KEY, "1"),
            ),
            ValueError,
        ),
        (lambda: FindItem(CALENDAR, Task, view=(0, 10)), TypeError),
        (lambda: FindItem(CALENDAR, Task, restriction="x"), TypeError),
        (lambda: FindItem("calendar", Task), TypeError),
        (lambda: IsEqualTo(CRM_KEY, 42), TypeError),
        (lambda: IsEqualTo("CrmRecordId", "42"), TypeError),
        (
            lambda: IsEqualTo(
                ExtendedPropertyKey(
                    distinguished_property_set_id="PublicStrings",
                    property_name="tags",
                    property_type=MapiPropertyType.STRING_ARRAY,
                ),
                "a",
            ),
            ValueError,
        ),
    ],
)
def test_bad_arguments_fail_before_sending(
    build: object, error: type[Exception]
) -> None:
    """Misuse raises ValueError/TypeError from the constructor."""
    with pytest.raises(error):
        build()  # type: ignore[operator]
