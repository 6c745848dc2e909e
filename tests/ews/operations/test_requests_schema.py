"""Every request every operation builds is valid against Microsoft's EWS schema."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from crm_ews.ews import (
    AffectedTaskOccurrences,
    Body,
    BodyType,
    CalendarItem,
    CalendarView,
    ConflictResolution,
    Contact,
    CreateFolder,
    CreateItem,
    DeleteItem,
    DeleteType,
    ExtendedProperty,
    FindFolder,
    FindItem,
    Folder,
    FolderTraversal,
    GetFolder,
    GetItem,
    IndexedPageView,
    IsEqualTo,
    ItemChange,
    OccurrenceItemId,
    SendMeetingInvitations,
    SendMeetingUpdates,
    SyncFolderHierarchy,
    SyncFolderItems,
    Task,
    UpdateItem,
)
from tests.ews.operations._support import (
    CALENDAR,
    CONTACTS,
    CRM_KEY,
    FOLDER_ID,
    ITEM_ID,
    OTHER_ITEM_ID,
    schema_errors,
)

pytestmark = pytest.mark.schema

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

BUILDERS: dict[str, Callable[[], etree._Element]] = {
    "GetFolder": lambda: GetFolder([CALENDAR, FOLDER_ID]).build(),
    "FindFolder shallow": lambda: FindFolder(CALENDAR).build(),
    "FindFolder deep page": lambda: FindFolder(
        FOLDER_ID,
        traversal=FolderTraversal.DEEP,
        view=IndexedPageView(offset=20, max_entries=10),
    ).build(),
    "CreateFolder calendar": lambda: CreateFolder(
        CALENDAR,
        [Folder(display_name="CRM", folder_class="IPF.Appointment")],
    ).build(),
    "CreateFolder plain": lambda: CreateFolder(
        FOLDER_ID, [Folder(display_name="Notes")]
    ).build(),
    "SyncFolderHierarchy initial": lambda: SyncFolderHierarchy().build(),
    "SyncFolderHierarchy resumed": lambda: SyncFolderHierarchy(
        sync_state="H4sIAAAAstate", folder_id=FOLDER_ID
    ).build(),
    "FindItem contacts page": lambda: FindItem(CONTACTS, Contact).build(),
    "FindItem tasks offset": lambda: FindItem(
        FOLDER_ID, Task, view=IndexedPageView(offset=100, max_entries=50)
    ).build(),
    "FindItem restriction": lambda: FindItem(
        CALENDAR,
        CalendarItem,
        restriction=IsEqualTo(CRM_KEY, "crm-42"),
        extended_properties=[CRM_KEY],
    ).build(),
    "FindItem calendar view": lambda: FindItem(
        CALENDAR,
        CalendarItem,
        view=CalendarView(START, START + timedelta(days=30), max_entries=250),
    ).build(),
    "GetItem calendar": lambda: GetItem(
        [ITEM_ID, OccurrenceItemId(recurring_master_id="AAMkmaster", instance_index=2)],
        CalendarItem,
        extended_properties=[CRM_KEY],
    ).build(),
    "GetItem contact": lambda: GetItem([ITEM_ID], Contact).build(),
    "GetItem task": lambda: GetItem([ITEM_ID, OTHER_ITEM_ID], Task).build(),
    "CreateItem mixed": lambda: CreateItem(
        [
            CalendarItem(
                subject="Site visit",
                body=Body(content="<p>Agenda</p>", body_type=BodyType.HTML),
                start=START,
                end=START + timedelta(hours=1),
                extended_properties=(ExtendedProperty(key=CRM_KEY, value="crm-1"),),
            ),
            Contact(given_name="Ada", surname="Example"),
            Task(subject="Call back"),
        ],
        saved_item_folder_id=FOLDER_ID,
        send_meeting_invitations=SendMeetingInvitations.SEND_ONLY_TO_ALL,
    ).build(),
    "CreateItem default folder": lambda: CreateItem([Task(subject="x")]).build(),
    "UpdateItem": lambda: UpdateItem(
        [
            ItemChange(
                item_id=ITEM_ID,
                item_type=CalendarItem,
                updates={"subject": "Moved", "location": None},
                extended_properties=(ExtendedProperty(key=CRM_KEY, value="crm-1"),),
            ),
            ItemChange(
                item_id=OTHER_ITEM_ID,
                item_type=Contact,
                updates={"given_name": "Ada"},
            ),
        ],
        conflict_resolution=ConflictResolution.AUTO_RESOLVE,
        send_meeting_invitations_or_cancellations=SendMeetingUpdates.SEND_ONLY_TO_CHANGED,
    ).build(),
    "DeleteItem default": lambda: DeleteItem([ITEM_ID]).build(),
    "DeleteItem options": lambda: DeleteItem(
        [ITEM_ID, OTHER_ITEM_ID],
        delete_type=DeleteType.HARD_DELETE,
        send_meeting_cancellations=SendMeetingInvitations.SEND_TO_ALL_AND_SAVE_COPY,
        affected_task_occurrences=AffectedTaskOccurrences.SPECIFIED_OCCURRENCE_ONLY,
    ).build(),
    "SyncFolderItems initial": lambda: SyncFolderItems(CALENDAR, CalendarItem).build(),
    "SyncFolderItems resumed": lambda: SyncFolderItems(
        FOLDER_ID,
        Contact,
        sync_state="H4sIAAAAstate",
        max_changes_returned=1,
        ignore=[ITEM_ID, OTHER_ITEM_ID],
        extended_properties=[CRM_KEY],
    ).build(),
}


@pytest.mark.parametrize("case", sorted(BUILDERS))
def test_request_is_schema_valid(ews_schema: etree.XMLSchema, case: str) -> None:
    """The request element and the envelope headers around it validate."""
    assert schema_errors(ews_schema, BUILDERS[case]()) == []


@pytest.mark.parametrize("case", sorted(BUILDERS))
def test_build_returns_a_fresh_element(case: str) -> None:
    """Building twice gives two equal, independent elements (build consumes none)."""
    first = BUILDERS[case]()
    second = BUILDERS[case]()

    assert first is not second
    assert etree.tostring(first) == etree.tostring(second)


def test_an_invalid_request_is_caught(ews_schema: etree.XMLSchema) -> None:
    """The schema check itself fails on a request the schema forbids."""
    request = SyncFolderItems(CALENDAR, CalendarItem).build()
    max_changes = request[-1]
    max_changes.text = "600"

    assert schema_errors(ews_schema, request) != []
