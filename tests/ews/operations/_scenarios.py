"""One call per client method with canned answers, shared by both client tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crm_ews.errors import EWSError
from crm_ews.ews import (
    CalendarItem,
    Contact,
    Folder,
    FolderId,
    IsEqualTo,
    ItemChange,
    ItemId,
    SyncFolderHierarchyPage,
    SyncItemsPage,
    Task,
)
from tests.ews.operations._support import (
    CALENDAR,
    CONTACTS,
    CRM_KEY,
    FOLDER_ID,
    ITEM_ID,
    OTHER_ITEM_ID,
    fixture_bytes,
    reply_bytes,
    success_message,
)

START = datetime(2026, 3, 2, tzinfo=UTC)

ONE_FOLDER = reply_bytes(
    "GetFolder",
    success_message(
        "GetFolder",
        '<m:Folders><t:CalendarFolder><t:FolderId Id="f" ChangeKey="k"/>'
        "<t:DisplayName>Calendar</t:DisplayName></t:CalendarFolder></m:Folders>",
    ),
)


@dataclass(frozen=True)
class Scenario:
    """A client method, its arguments, what the server says, what comes back."""

    method: str
    args: tuple[object, ...]
    kwargs: dict[str, object]
    operation: str
    answer: bytes
    check: Callable[[object], bool]


def _is_list_of(kind: type, length: int) -> Callable[[object], bool]:
    return lambda result: (
        isinstance(result, list)
        and len(result) == length
        and any(isinstance(entry, kind) for entry in result)
    )


SCENARIOS = [
    Scenario(
        "get_folder",
        (CALENDAR,),
        {},
        "GetFolder",
        ONE_FOLDER,
        lambda result: isinstance(result, Folder),
    ),
    Scenario(
        "get_folders",
        ([CALENDAR, CONTACTS, FOLDER_ID],),
        {},
        "GetFolder",
        fixture_bytes("GetFolder", "distinguished_folders"),
        _is_list_of(Folder, 3),
    ),
    Scenario(
        "find_folders",
        (CALENDAR,),
        {},
        "FindFolder",
        fixture_bytes("FindFolder", "calendar_subfolders"),
        _is_list_of(Folder, 2),
    ),
    Scenario(
        "create_folder",
        (CALENDAR, "CRM Appointments"),
        {"folder_class": "IPF.Appointment"},
        "CreateFolder",
        fixture_bytes("CreateFolder", "calendar_subfolder"),
        lambda result: isinstance(result, FolderId),
    ),
    Scenario(
        "sync_folder_hierarchy",
        (),
        {},
        "SyncFolderHierarchy",
        fixture_bytes("SyncFolderHierarchy", "initial"),
        lambda result: isinstance(result, SyncFolderHierarchyPage),
    ),
    Scenario(
        "find_items",
        (CONTACTS, Contact),
        {"restriction": IsEqualTo(CRM_KEY, "crm-contact-000150")},
        "FindItem",
        fixture_bytes("FindItem", "extended_property_restriction"),
        _is_list_of(Contact, 1),
    ),
    Scenario(
        "calendar_view",
        (CALENDAR, START, START + timedelta(days=7)),
        {},
        "FindItem",
        fixture_bytes("FindItem", "calendar_view"),
        _is_list_of(CalendarItem, 3),
    ),
    Scenario(
        "get_items",
        ([ITEM_ID], Contact),
        {"extended_properties": [CRM_KEY]},
        "GetItem",
        fixture_bytes("GetItem", "contact"),
        _is_list_of(Contact, 1),
    ),
    Scenario(
        "create_items",
        (
            [
                CalendarItem(
                    subject=str(n), start=START, end=START + timedelta(hours=1)
                )
                for n in range(3)
            ],
        ),
        {"saved_item_folder_id": CALENDAR},
        "CreateItem",
        fixture_bytes("CreateItem", "batch_one_error"),
        lambda result: (
            _is_list_of(ItemId, 3)(result) and _is_list_of(EWSError, 3)(result)
        ),
    ),
    Scenario(
        "update_items",
        (
            [
                ItemChange(
                    item_id=ITEM_ID, item_type=CalendarItem, updates={"subject": "x"}
                )
            ],
        ),
        {},
        "UpdateItem",
        fixture_bytes("UpdateItem", "success_new_changekey"),
        _is_list_of(ItemId, 1),
    ),
    Scenario(
        "delete_items",
        ([ITEM_ID, OTHER_ITEM_ID],),
        {},
        "DeleteItem",
        fixture_bytes("DeleteItem", "move_to_deleted_items"),
        lambda result: result == [None, None],
    ),
    Scenario(
        "sync_folder_items",
        (CALENDAR, CalendarItem),
        {"sync_state": "H4sIAstate", "ignore": [ITEM_ID]},
        "SyncFolderItems",
        fixture_bytes("SyncFolderItems", "changes"),
        lambda result: isinstance(result, SyncItemsPage) and len(result.changes) == 4,
    ),
]

#: Calls that must fail before anything is sent, with the error they raise.
MISUSE: list[tuple[str, tuple[object, ...], dict[str, object], type[Exception]]] = [
    ("get_items", ([ITEM_ID], Contact), {"mailbox": ""}, ValueError),
    ("get_items", ([ITEM_ID], Contact), {"mailbox": "not an address"}, ValueError),
    ("get_items", ([ITEM_ID], Contact), {"mailbox": None}, TypeError),
    ("get_items", ([], Contact), {}, ValueError),
    ("calendar_view", (CALENDAR, START.replace(tzinfo=None), START), {}, ValueError),
    (
        "calendar_view",
        (CALENDAR, START, START + timedelta(1)),
        {"max_entries": 0},
        ValueError,
    ),
    ("sync_folder_items", (CALENDAR, Task), {"max_changes_returned": 0}, ValueError),
    ("sync_folder_items", (CALENDAR, Task), {"max_changes_returned": 600}, ValueError),
    ("sync_folder_items", (CALENDAR, Task), {"sync_state": ""}, ValueError),
    ("update_items", ([],), {}, ValueError),
    ("delete_items", (ITEM_ID,), {}, TypeError),
    ("create_folder", (CALENDAR, ""), {}, ValueError),
    ("find_items", (CONTACTS, Contact), {"page_size": 0}, ValueError),
    ("find_folders", (CALENDAR,), {"traversal": "Flat"}, ValueError),
]


def indexed_pages(total: int) -> Callable[[object], bytes]:
    """A contacts folder of ``total`` items answering indexed FindItem pages."""

    def answer(body: object) -> bytes:
        view = body.find("{*}IndexedPageItemView")  # type: ignore[attr-defined]
        offset = int(view.get("Offset"))
        size = int(view.get("MaxEntriesReturned"))
        numbers = range(offset, min(offset + size, total))
        items = "".join(
            f'<t:Contact><t:ItemId Id="c{n}" ChangeKey="k"/></t:Contact>'
            for n in numbers
        )
        following = offset + len(numbers)
        last = "true" if following >= total else "false"
        inner = (
            f'<m:RootFolder IndexedPagingOffset="{following}" '
            f'TotalItemsInView="{total}" IncludesLastItemInRange="{last}">'
            f"<t:Items>{items}</t:Items></m:RootFolder>"
        )
        return reply_bytes("FindItem", success_message("FindItem", inner))

    return answer


def sync_pages(body: object) -> bytes:
    """The recorded two-page SyncFolderItems conversation, keyed by state."""
    state = body.findtext("{*}SyncState")  # type: ignore[attr-defined]
    case = "two_pages_1" if state is None else "two_pages_2"
    return fixture_bytes("SyncFolderItems", case)
