"""SyncFolderItems and SyncFolderHierarchy: states, paging, change kinds."""

from __future__ import annotations

import pytest
from lxml import etree

from crm_ews._soap import m, t
from crm_ews.testing import ExchangeSimulator, ServiceAccount, contact, task
from crm_ews.testing.pytest_plugin import PASSWORD, SERVICE_ACCOUNT
from tests.testing.simulator._ews import ALICE, BOB, SOAPClient, code, messages, request


def _changes(message: etree._Element) -> list[tuple[str, str]]:
    changes = message.find(m("Changes"))
    assert changes is not None, etree.tostring(message)
    result = []
    for change in changes:
        kind = etree.QName(change).localname
        item_id = change.find(f".//{t('ItemId')}")
        result.append((kind, item_id.get("Id") if item_id is not None else ""))
    return result


def _state(message: etree._Element) -> str:
    return message.findtext(m("SyncState")) or ""


def _last(message: etree._Element) -> str:
    return message.findtext(m("IncludesLastItemInRange")) or ""


def test_full_then_incremental_sync(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """A full sync reports creates; later rounds report update and delete."""
    first = ews_simulator.add_item(ALICE, task("one"))
    second = ews_simulator.add_item(ALICE, task("two"))
    message = ews.sync("tasks")
    assert _changes(message) == [("Create", first), ("Create", second)]
    assert _last(message) == "true"
    state = _state(message)
    assert state.startswith("H4sI")

    ews_simulator.modify_item(ALICE, first, Subject="one!")
    ews_simulator.remove_item(ALICE, second)
    third = ews_simulator.add_item(ALICE, task("three"))
    message = ews.sync("tasks", state)
    assert _changes(message) == [
        ("Update", first),
        ("Delete", second),
        ("Create", third),
    ]

    assert _changes(ews.sync("tasks", _state(message))) == []


def test_pages_of_max_changes(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """MaxChangesReturned pages the changes; the last page says so."""
    created = [ews_simulator.add_item(ALICE, task(f"t{i}")) for i in range(5)]
    state, seen, flags = None, [], []
    for _ in range(3):
        message = ews.sync("tasks", state, limit=2)
        seen += [item_id for _, item_id in _changes(message)]
        flags.append(_last(message))
        state = _state(message)
    assert seen == created
    assert flags == ["false", "false", "true"]


def test_item_created_and_deleted_between_rounds_is_not_reported(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """An item the client never saw does not come back as a delete."""
    state = _state(ews.sync("tasks"))
    fleeting = ews_simulator.add_item(ALICE, task("gone soon"))
    ews_simulator.remove_item(ALICE, fleeting)
    assert _changes(ews.sync("tasks", state)) == []


def test_ignore_list_skips_items(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """Items named in Ignore are left out."""
    skipped = ews_simulator.add_item(ALICE, task("skip"))
    kept = ews_simulator.add_item(ALICE, task("keep"))
    message = ews.sync("tasks", ignore=f'<t:ItemId Id="{skipped}"/>')
    assert _changes(message) == [("Create", kept)]


@pytest.mark.parametrize("state", ["garbage", "H4sIAAAAAAAA", "QUJD", "x" * 400])
def test_garbage_state_is_invalid_with_empty_state(ews: SOAPClient, state: str) -> None:
    """A state that is not ours fails with ErrorInvalidSyncStateData."""
    message = ews.sync("tasks", state)
    assert code(message) == "ErrorInvalidSyncStateData"
    assert message.get("ResponseClass") == "Error"
    assert message.find(m("SyncState")) is not None
    assert _state(message) == ""


def test_state_is_bound_to_its_folder(ews: SOAPClient) -> None:
    """A valid state for one folder is refused for another."""
    state = _state(ews.sync("tasks"))
    assert code(ews.sync("contacts", state)) == "ErrorInvalidSyncStateData"
    assert code(ews.sync("tasks", state, mailbox=BOB)) == "ErrorInvalidSyncStateData"


def test_state_from_another_simulator_is_refused(ews: SOAPClient) -> None:
    """States are sealed with a per-simulator secret."""
    state = _state(ews.sync("tasks"))
    twin = ExchangeSimulator(
        service_accounts=[ServiceAccount(SERVICE_ACCOUNT, PASSWORD)],
        mailboxes=[ALICE],
        seed=1,
    )
    with SOAPClient(twin) as client:
        assert code(client.sync("tasks", state)) == "ErrorInvalidSyncStateData"


@pytest.mark.parametrize("limit", [0, 513])
def test_max_changes_outside_range_is_schema_invalid(
    ews: SOAPClient, limit: int
) -> None:
    """MaxChangesReturned must lie in 1..512."""
    body = request(
        "SyncFolderItems",
        "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        '<m:SyncFolderId><t:DistinguishedFolderId Id="tasks"/></m:SyncFolderId>'
        f"<m:MaxChangesReturned>{limit}</m:MaxChangesReturned>",
    )
    response = ews.send(body)
    assert response.status_code == 500
    assert b"ErrorSchemaValidation" in response.content


def test_recurring_master_syncs_as_one_item(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """Sync reports a series as its master, not its occurrences."""
    ews_simulator.seed_items(1, mailboxes=[ALICE])
    changes = _changes(ews.sync("calendar"))
    assert len(changes) == 1
    assert ews_simulator.items(ALICE)[0].text("CalendarItemType") == "RecurringMaster"


def test_hierarchy_sync_reports_folder_changes(ews: SOAPClient) -> None:
    """SyncFolderHierarchy reports folders, then only new and deleted ones."""
    shape = "<m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>"
    full = messages(ews.call(request("SyncFolderHierarchy", shape)))[0]
    names = [e.text for e in full.iter(t("DisplayName"))]
    assert {"Calendar", "Contacts", "Tasks", "Inbox"} <= set(names)
    state = full.findtext(m("SyncState"))

    body = request(
        "CreateFolder",
        '<m:ParentFolderId><t:DistinguishedFolderId Id="msgfolderroot"/>'
        "</m:ParentFolderId>"
        "<m:Folders><t:Folder><t:DisplayName>CRM</t:DisplayName></t:Folder>"
        "</m:Folders>",
    )
    folder_id = ews.call(body).find(f".//{t('FolderId')}").get("Id")
    second = messages(
        ews.call(
            request("SyncFolderHierarchy", f"{shape}<m:SyncState>{state}</m:SyncState>")
        )
    )[0]
    assert [etree.QName(c).localname for c in second.find(m("Changes"))] == ["Create"]

    ews.call(
        request(
            "DeleteFolder",
            f'<m:FolderIds><t:FolderId Id="{folder_id}"/></m:FolderIds>',
            DeleteType="HardDelete",
        )
    )
    third = messages(
        ews.call(
            request(
                "SyncFolderHierarchy",
                f"{shape}<m:SyncState>{second.findtext(m('SyncState'))}</m:SyncState>",
            )
        )
    )[0]
    deleted = third.find(f"{m('Changes')}/{t('Delete')}/{t('FolderId')}")
    assert deleted is not None
    assert deleted.get("Id") == folder_id


def test_hierarchy_garbage_state_is_invalid(ews: SOAPClient) -> None:
    """A garbage hierarchy state fails with ErrorInvalidSyncStateData."""
    body = request(
        "SyncFolderHierarchy",
        "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        "<m:SyncState>nope</m:SyncState>",
    )
    assert code(messages(ews.call(body))[0]) == "ErrorInvalidSyncStateData"


def test_sync_reports_contacts_with_requested_shape(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """Changes carry items rendered in the requested shape."""
    ews_simulator.add_item(ALICE, contact("Ada", "Lovelace"))
    message = ews.sync("contacts")
    created = message.find(f"{m('Changes')}/{t('Create')}/{t('Contact')}")
    assert [etree.QName(child).localname for child in created] == ["ItemId"]
