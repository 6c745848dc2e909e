"""SyncFolderItems: change pages, sync states and argument checks."""

from __future__ import annotations

import pytest

from crm_ews.errors import InvalidSyncStateError, ResponseDecodeError
from crm_ews.ews import (
    MAX_SYNC_CHANGES,
    CalendarItem,
    Contact,
    ItemCreated,
    ItemDeleted,
    ItemReadFlagChanged,
    ItemUpdated,
    SyncFolderItems,
)
from tests.ews.operations._support import (
    CALENDAR,
    CONTACTS,
    ITEM_ID,
    MAILBOX,
    fixture_reply,
    reply,
    success_message,
)


def test_all_four_change_kinds_in_server_order() -> None:
    """Create, Update, Delete and ReadFlagChange keep the server's order."""
    page = SyncFolderItems(CALENDAR, CalendarItem).parse(
        fixture_reply("SyncFolderItems", "changes"), mailbox=MAILBOX
    )

    assert [type(change) for change in page.changes] == [
        ItemCreated,
        ItemUpdated,
        ItemDeleted,
        ItemReadFlagChanged,
    ]
    assert page.creates[0].subject == "Site visit"
    assert page.updates[0].extended_properties[0].value == "crm-appointment-000150"
    assert len(page.deletes) == 1
    assert page.read_flag_changes[0].is_read is True
    assert page.sync_state.startswith("H4sI")
    assert page.includes_last_item_in_range


def test_each_page_hands_back_its_sync_state() -> None:
    """The first of two pages says more is waiting and carries a new state."""
    first = SyncFolderItems(CONTACTS, Contact).parse(
        fixture_reply("SyncFolderItems", "two_pages_1"), mailbox=MAILBOX
    )
    second = SyncFolderItems(CONTACTS, Contact, sync_state=first.sync_state).parse(
        fixture_reply("SyncFolderItems", "two_pages_2"), mailbox=MAILBOX
    )

    assert not first.includes_last_item_in_range
    assert len(first.creates) == 2
    assert second.includes_last_item_in_range
    assert second.sync_state != first.sync_state


def test_invalid_sync_state_raises_its_own_error() -> None:
    """ErrorInvalidSyncStateData becomes InvalidSyncStateError."""
    with pytest.raises(InvalidSyncStateError) as caught:
        SyncFolderItems(CALENDAR, CalendarItem, sync_state="stale").parse(
            fixture_reply("SyncFolderItems", "invalid_sync_state"), mailbox=MAILBOX
        )

    assert caught.value.operation == "SyncFolderItems"


def test_items_of_another_kind_are_left_out() -> None:
    """A distribution list created in a contacts folder is not a Contact change."""
    inner = (
        "<m:SyncState>s</m:SyncState>"
        "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange><m:Changes>"
        '<t:Create><t:DistributionList><t:ItemId Id="dl"/></t:DistributionList>'
        "</t:Create>"
        '<t:Create><t:Contact><t:ItemId Id="c"/></t:Contact></t:Create>'
        "</m:Changes>"
    )
    page = SyncFolderItems(CONTACTS, Contact).parse(
        reply("SyncFolderItems", success_message("SyncFolderItems", inner)),
        mailbox=MAILBOX,
    )

    assert len(page.changes) == 1
    assert isinstance(page.creates[0], Contact)


@pytest.mark.parametrize(
    "inner",
    [
        "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
        "<m:SyncState></m:SyncState>"
        "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
        "<m:SyncState>s</m:SyncState>",
        "<m:SyncState>s</m:SyncState>"
        "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
        "<m:Changes><t:Create/></m:Changes>",
        "<m:SyncState>s</m:SyncState>"
        "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
        "<m:Changes><t:Delete/></m:Changes>",
        "<m:SyncState>s</m:SyncState>"
        "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
        '<m:Changes><t:ReadFlagChange><t:ItemId Id="a"/></t:ReadFlagChange>'
        "</m:Changes>",
        "<m:SyncState>s</m:SyncState>"
        "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
        "<m:Changes><t:Moved/></m:Changes>",
    ],
)
def test_malformed_pages_are_decode_errors(inner: str) -> None:
    """A page without state, flag or well-formed changes is refused."""
    with pytest.raises(ResponseDecodeError) as caught:
        SyncFolderItems(CALENDAR, CalendarItem).parse(
            reply("SyncFolderItems", success_message("SyncFolderItems", inner)),
            mailbox=MAILBOX,
        )

    assert caught.value.mailbox == MAILBOX


def test_request_carries_state_ignore_and_page_size() -> None:
    """The sync state, ignored ids and MaxChangesReturned go out in order."""
    request = SyncFolderItems(
        CALENDAR,
        CalendarItem,
        sync_state="abc",
        max_changes_returned=10,
        ignore=[ITEM_ID],
    ).build()

    names = [child.tag.rpartition("}")[2] for child in request]
    assert names == [
        "ItemShape",
        "SyncFolderId",
        "SyncState",
        "Ignore",
        "MaxChangesReturned",
    ]
    assert request.findtext("{*}MaxChangesReturned") == "10"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_changes_returned": 0}, ValueError),
        ({"max_changes_returned": 600}, ValueError),
        ({"max_changes_returned": MAX_SYNC_CHANGES + 1}, ValueError),
        ({"max_changes_returned": "512"}, TypeError),
        ({"max_changes_returned": True}, TypeError),
        ({"sync_state": ""}, ValueError),
        ({"sync_state": 1}, TypeError),
        ({"ignore": ITEM_ID}, TypeError),
        ({"ignore": ["id"]}, TypeError),
        ({"extended_properties": ["CrmRecordId"]}, TypeError),
    ],
)
def test_bad_arguments_fail_before_sending(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    """Misuse raises ValueError/TypeError from the constructor."""
    with pytest.raises(error):
        SyncFolderItems(CALENDAR, CalendarItem, **kwargs)  # type: ignore[arg-type]


def test_page_size_bounds_are_accepted() -> None:
    """1 and 512 are both valid page sizes."""
    for size in (1, MAX_SYNC_CHANGES):
        request = SyncFolderItems(CALENDAR, CalendarItem, max_changes_returned=size)
        assert request.build().findtext("{*}MaxChangesReturned") == str(size)


def test_sync_is_idempotent() -> None:
    """SyncFolderItems may be resent: it changes nothing on the server."""
    assert SyncFolderItems.is_idempotent
