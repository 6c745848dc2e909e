"""GetFolder, FindFolder, CreateFolder and SyncFolderHierarchy."""

from __future__ import annotations

import pytest

from crm_ews.errors import InvalidSyncStateError, ItemNotFoundError, ResponseDecodeError
from crm_ews.ews import (
    CreateFolder,
    FindFolder,
    Folder,
    FolderCreated,
    FolderDeleted,
    FolderId,
    FolderKind,
    FolderTraversal,
    FolderUpdated,
    GetFolder,
    IndexedPageView,
    SyncFolderHierarchy,
)
from tests.ews.operations._support import (
    CALENDAR,
    CONTACTS,
    FOLDER_ID,
    MAILBOX,
    error_message,
    fixture_reply,
    reply,
    success_message,
)


def test_get_folder_decodes_each_kind() -> None:
    """Three well-known folders come back as calendar, contacts and tasks folders."""
    results = GetFolder([CALENDAR, CONTACTS, FOLDER_ID]).parse(
        fixture_reply("GetFolder", "distinguished_folders"), mailbox=MAILBOX
    )

    kinds = [folder.kind for folder in results if isinstance(folder, Folder)]
    assert kinds == [
        FolderKind.CALENDAR_FOLDER,
        FolderKind.CONTACTS_FOLDER,
        FolderKind.TASKS_FOLDER,
    ]


def test_get_folder_missing_folder_is_returned_as_error() -> None:
    """ErrorFolderNotFound lands in the folder's slot as ItemNotFoundError."""
    results = GetFolder([FOLDER_ID]).parse(
        fixture_reply("GetFolder", "folder_not_found"), mailbox=MAILBOX
    )

    assert isinstance(results[0], ItemNotFoundError)
    assert results[0].response_code == "ErrorFolderNotFound"


def test_find_folder_reads_a_page() -> None:
    """The recorded subfolder listing holds two folders and is the last page."""
    page = FindFolder(CALENDAR).parse(
        fixture_reply("FindFolder", "calendar_subfolders"), mailbox=MAILBOX
    )

    assert [folder.display_name for folder in page.folders] == [
        "CRM Appointments",
        "Holidays",
    ]
    assert page.includes_last_item_in_range
    assert page.next_offset == 2
    assert page.entry_count == 2


def test_find_folder_empty_root_folder_is_an_empty_page() -> None:
    """A RootFolder without t:Folders means no folders, not a decode error."""
    inner = '<m:RootFolder IncludesLastItemInRange="true" TotalItemsInView="0"/>'
    page = FindFolder(CALENDAR).parse(
        reply("FindFolder", success_message("FindFolder", inner)), mailbox=MAILBOX
    )

    assert page.folders == []


def test_find_folder_error_is_raised() -> None:
    """A refused search raises the mapped error with context."""
    with pytest.raises(ItemNotFoundError) as caught:
        FindFolder(FOLDER_ID).parse(
            reply("FindFolder", error_message("FindFolder", "ErrorFolderNotFound")),
            mailbox=MAILBOX,
        )

    assert caught.value.mailbox == MAILBOX


def test_find_folder_with_offset_keeps_the_search() -> None:
    """with_offset changes only the offset."""
    first = FindFolder(FOLDER_ID, traversal=FolderTraversal.DEEP)
    second = first.with_offset(100)

    assert second.view == IndexedPageView(offset=100)
    assert second.traversal is FolderTraversal.DEEP
    assert second.build().get("Traversal") == "Deep"


def test_create_folder_picks_the_element_from_the_class() -> None:
    """An IPF.Appointment folder is sent as t:CalendarFolder."""
    operation = CreateFolder(
        CALENDAR, [Folder(display_name="CRM", folder_class="IPF.Appointment")]
    )
    folder_element = operation.build().find(".//{*}Folders")[0]

    assert folder_element.tag.endswith("}CalendarFolder")


def test_create_folder_returns_the_new_id() -> None:
    """The recorded reply yields the created folder's id."""
    results = CreateFolder(CALENDAR, [Folder(display_name="CRM Appointments")]).parse(
        fixture_reply("CreateFolder", "calendar_subfolder"), mailbox=MAILBOX
    )

    assert isinstance(results[0], FolderId)


def test_sync_folder_hierarchy_reads_every_folder_as_created() -> None:
    """An initial hierarchy sync reports each folder as a FolderCreated."""
    page = SyncFolderHierarchy().parse(
        fixture_reply("SyncFolderHierarchy", "initial"), mailbox=MAILBOX
    )

    assert all(isinstance(change, FolderCreated) for change in page.changes)
    assert len(page.changes) == 5
    assert page.sync_state
    assert page.includes_last_folder_in_range


def test_sync_folder_hierarchy_reads_updates_and_deletes() -> None:
    """Update and Delete entries become FolderUpdated and FolderDeleted."""
    inner = (
        "<m:SyncState>state2</m:SyncState>"
        "<m:IncludesLastFolderInRange>false</m:IncludesLastFolderInRange>"
        "<m:Changes>"
        '<t:Update><t:Folder><t:FolderId Id="f1"/><t:DisplayName>A</t:DisplayName>'
        "</t:Folder></t:Update>"
        '<t:Delete><t:FolderId Id="f2" ChangeKey="k"/></t:Delete>'
        "</m:Changes>"
    )
    page = SyncFolderHierarchy(sync_state="state1").parse(
        reply("SyncFolderHierarchy", success_message("SyncFolderHierarchy", inner)),
        mailbox=MAILBOX,
    )

    assert isinstance(page.changes[0], FolderUpdated)
    assert page.changes[1] == FolderDeleted(FolderId(id="f2", change_key="k"))
    assert page.sync_state == "state2"
    assert not page.includes_last_folder_in_range


def test_sync_folder_hierarchy_bad_state_raises() -> None:
    """ErrorInvalidSyncStateData raises InvalidSyncStateError."""
    body = error_message("SyncFolderHierarchy", "ErrorInvalidSyncStateData")

    with pytest.raises(InvalidSyncStateError):
        SyncFolderHierarchy(sync_state="bad").parse(
            reply("SyncFolderHierarchy", body), mailbox=MAILBOX
        )


def test_sync_folder_hierarchy_without_sync_state_is_a_decode_error() -> None:
    """A success without m:SyncState cannot be checkpointed."""
    inner = "<m:IncludesLastFolderInRange>true</m:IncludesLastFolderInRange>"

    with pytest.raises(ResponseDecodeError, match="SyncState"):
        SyncFolderHierarchy().parse(
            reply("SyncFolderHierarchy", success_message("SyncFolderHierarchy", inner)),
            mailbox=MAILBOX,
        )


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: GetFolder([]), ValueError),
        (lambda: GetFolder(["calendar"]), TypeError),
        (lambda: FindFolder("calendar"), TypeError),
        (lambda: FindFolder(CALENDAR, traversal="Flat"), ValueError),
        (lambda: FindFolder(CALENDAR, view=object()), TypeError),
        (lambda: CreateFolder(CALENDAR, []), ValueError),
        (lambda: CreateFolder(CALENDAR, [Folder()]), ValueError),
        (lambda: CreateFolder(CALENDAR, ["CRM"]), TypeError),
        (lambda: SyncFolderHierarchy(sync_state=""), ValueError),
        (lambda: SyncFolderHierarchy(sync_state=b"x"), TypeError),
        (lambda: SyncFolderHierarchy(folder_id="root"), TypeError),
    ],
)
def test_bad_arguments_fail_before_sending(
    build: object, error: type[Exception]
) -> None:
    """Misuse raises ValueError/TypeError from the constructor."""
    with pytest.raises(error):
        build()  # type: ignore[operator]


def test_operation_metadata() -> None:
    """Folder reads are idempotent; creating a folder is not."""
    assert GetFolder.is_idempotent
    assert FindFolder.is_idempotent
    assert SyncFolderHierarchy.is_idempotent
    assert not CreateFolder.is_idempotent
