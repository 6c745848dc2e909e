"""exchangelib 5.6, unchanged, against the simulator over real HTTP.

The proof of fidelity: a client nobody here wrote sets up an impersonating
account, reads calendar views, pages contacts, creates, fetches, updates
(with ChangeKeys), deletes and syncs, and meets the same errors it would meet
on Exchange Server 2016.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_ews.testing import ExchangeSimulator, SimulatorServer, calendar_item
from crm_ews.testing.pytest_plugin import PASSWORD, SERVICE_ACCOUNT

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import exchangelib
    from exchangelib import (
        BASIC,
        IMPERSONATION,
        Account,
        Configuration,
        Credentials,
        EWSDateTime,
        ExtendedProperty,
        Version,
    )
    from exchangelib.errors import ErrorImpersonateUserDenied, ErrorIrresolvableConflict
    from exchangelib.indexed_properties import EmailAddress
    from exchangelib.items import CalendarItem, Contact
    from exchangelib.version import EXCHANGE_2016

pytestmark = [
    pytest.mark.network,
    pytest.mark.ews_simulator(scope=["alice@example.com"]),
]

ALICE = "alice@example.com"
BOB = "bob@example.com"


class CrmId(ExtendedProperty):  # type: ignore[misc]  # exchangelib is untyped
    """A named property in PublicStrings, as a CRM would tag its items."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "CrmId"
    property_type = "String"


@pytest.fixture(scope="module", autouse=True)
def _register_crm_id() -> Iterator[None]:
    CalendarItem.register("crm_id", CrmId)
    yield
    CalendarItem.deregister("crm_id")


@pytest.fixture
def config(ews_simulator_server: SimulatorServer) -> Iterator[Any]:
    """An exchangelib Configuration for the running simulator."""
    configuration = Configuration(
        service_endpoint=ews_simulator_server.url,
        credentials=Credentials(SERVICE_ACCOUNT, PASSWORD),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
    )
    yield configuration
    exchangelib.close_connections()


def _account(config: Any, address: str = ALICE) -> Any:
    return Account(
        address, config=config, access_type=IMPERSONATION, autodiscover=False
    )


def _contact(account: Any, index: int) -> Any:
    return Contact(
        account=account,
        folder=account.contacts,
        display_name=f"Person {index:02d}",
        given_name="Person",
        surname=f"{index:02d}",
        email_addresses=[EmailAddress(email=f"person{index}@example.org")],
    )


def test_calendar_view_lists_occurrences(
    config: Any, ews_simulator: ExchangeSimulator
) -> None:
    """calendar.view() returns singles and expanded occurrences in order."""
    monday = datetime(2030, 1, 7, 9, tzinfo=UTC)
    ews_simulator.add_item(
        ALICE,
        calendar_item(
            "Standup",
            monday,
            monday + timedelta(minutes=15),
            weekly_on=("Monday", "Wednesday"),
        ),
    )
    ews_simulator.add_item(
        ALICE,
        calendar_item(
            "Review", monday + timedelta(days=1), monday + timedelta(days=1, hours=1)
        ),
    )
    account = _account(config)
    view = account.calendar.view(
        start=EWSDateTime.from_datetime(monday),
        end=EWSDateTime.from_datetime(monday + timedelta(days=7)),
    )
    seen = [(item.subject, item.type, item.start) for item in view]
    assert [subject for subject, _, _ in seen] == ["Standup", "Review", "Standup"]
    assert [kind for _, kind, _ in seen] == ["Occurrence", "Single", "Occurrence"]
    assert seen[2][2] == monday + timedelta(days=2)


def test_bulk_create_fetch_and_page_contacts(config: Any) -> None:
    """bulk_create, fetch by id and paging through contacts all work."""
    account = _account(config)
    created = account.bulk_create(
        folder=account.contacts, items=[_contact(account, i) for i in range(7)]
    )
    assert all(result.id and result.changekey for result in created)

    fetched = list(account.fetch(ids=[(r.id, r.changekey) for r in created]))
    assert [contact.surname for contact in fetched] == [f"{i:02d}" for i in range(7)]
    assert fetched[0].email_addresses[0].email == "person0@example.org"

    query = account.contacts.all().order_by("surname")
    query.page_size = 3
    assert [contact.surname for contact in query] == [f"{i:02d}" for i in range(7)]
    assert account.contacts.all().count() == 7


def test_update_with_change_key_and_conflict(
    config: Any, ews_simulator: ExchangeSimulator
) -> None:
    """save() sends the ChangeKey; a stale one is refused as a conflict."""
    account = _account(config)
    start = EWSDateTime.from_datetime(datetime(2030, 2, 1, 10, tzinfo=UTC))
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Kick-off",
        start=start,
        end=start + timedelta(hours=1),
        crm_id="crm-1",
    )
    item.save()
    first_key = item.changekey

    item.subject = "Kick-off (moved)"
    item.save(update_fields=["subject"])
    assert item.changekey != first_key
    assert ews_simulator.item(ALICE, item.id).subject == "Kick-off (moved)"

    stale = CalendarItem(
        account=account,
        folder=account.calendar,
        id=item.id,
        changekey=first_key,
        subject="mine",
    )
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["subject"])

    found = list(account.calendar.filter(crm_id="crm-1"))
    assert [found_item.subject for found_item in found] == ["Kick-off (moved)"]


def test_delete_item(config: Any, ews_simulator: ExchangeSimulator) -> None:
    """delete() removes the item; soft_delete and move_to_trash behave too."""
    account = _account(config)
    created = account.bulk_create(
        folder=account.contacts, items=[_contact(account, i) for i in range(3)]
    )
    items = list(account.fetch(ids=[(r.id, r.changekey) for r in created]))
    items[0].delete()
    items[1].move_to_trash()
    items[2].soft_delete()
    assert ews_simulator.items(ALICE, "contacts") == []
    assert len(ews_simulator.items(ALICE, "deleteditems")) == 1
    assert len(ews_simulator.items(ALICE, "recoverableitemsdeletions")) == 1


def test_sync_items_rounds(config: Any, ews_simulator: ExchangeSimulator) -> None:
    """sync_items reports creates, then updates and deletes, in pages."""
    account = _account(config)
    created = account.bulk_create(
        folder=account.contacts, items=[_contact(account, i) for i in range(5)]
    )
    folder = account.contacts

    first = list(folder.sync_items(max_changes_returned=2))
    assert [kind for kind, _ in first] == ["create"] * 5
    state = folder.item_sync_state

    ews_simulator.modify_item(ALICE, created[0].id, Surname="Renamed")
    ews_simulator.remove_item(ALICE, created[1].id)
    second = list(folder.sync_items(sync_state=state))
    kinds = [(kind, getattr(value, "surname", None)) for kind, value in second]
    assert kinds == [("update", "Renamed"), ("delete", None)]

    assert list(folder.sync_items(sync_state=folder.item_sync_state)) == []


def test_impersonation_outside_scope_is_denied(config: Any) -> None:
    """A mailbox outside the management scope raises ErrorImpersonateUserDenied."""
    with pytest.raises(ErrorImpersonateUserDenied):
        _ = _account(config, BOB).calendar


def test_account_setup_walks_the_folder_tree(config: Any) -> None:
    """exchangelib's folder discovery (GetFolder and FindFolder Deep) succeeds."""
    account = _account(config)
    names = {folder.name for folder in account.root.walk()}
    assert {"Calendar", "Contacts", "Tasks", "Inbox", "Deleted Items"} <= names
