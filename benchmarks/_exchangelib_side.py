"""The exchangelib side of the client scenarios, configured as its docs advise.

exchangelib 5.6.0 is synchronous and thread-safe; its documentation speeds
up work over many accounts with threads, one ``Account`` per mailbox, over
one shared ``Configuration`` whose ``max_connections`` sets the size of the
session pool.  Here: no autodiscover, a pinned server version (so no
version-guessing requests), Basic auth, ``max_connections=27`` (Exchange's
per-account budget) and a pool of 27 threads, one mailbox per task.

``Account`` objects and their folder objects are built in :func:`accounts`
before the timed part starts; the requests that costs are measured and
reported separately as set-up.

exchangelib has no type hints, so its objects are ``Any`` here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Final, TypeVar

from benchmarks._server import ACCOUNT_CONCURRENCY, PASSWORD, SERVICE_ACCOUNT

with warnings.catch_warnings():
    # exchangelib imports modules that warn at import time on new Pythons.
    warnings.simplefilter("ignore")
    import exchangelib
    from exchangelib import (
        BASIC,
        IMPERSONATION,
        Account,
        Configuration,
        Credentials,
        EWSDateTime,
        Version,
    )
    from exchangelib.indexed_properties import EmailAddress
    from exchangelib.items import MOVE_TO_DELETED_ITEMS, NEVER_OVERWRITE, Contact
    from exchangelib.version import EXCHANGE_2016

__all__ = [
    "CALENDAR_FIELDS",
    "CONTACT_FIELDS",
    "SIMPLE_CALENDAR_FIELDS",
    "SIMPLE_CONTACT_FIELDS",
    "VERSION",
    "accounts",
    "bulk_write",
    "close",
    "configuration",
    "read_mailboxes",
    "sweep_prime",
    "sweep_round",
]

T = TypeVar("T")
R = TypeVar("R")

#: exchangelib's version string, recorded with the results.
VERSION: Final = exchangelib.__version__

#: The contact fields crm_ews's FindItem summary shape returns, by their
#: exchangelib names.  Several are "complex" to exchangelib (it will not
#: trust FindItem with them), so asking for them makes it follow FindItem
#: (ids only) with GetItem.
CONTACT_FIELDS: Final = (
    "parent_folder_id", "item_class", "subject", "sensitivity", "categories",
    "importance", "datetime_created", "reminder_due_by", "reminder_is_set",
    "reminder_minutes_before_start", "last_modified_time", "file_as",
    "display_name", "given_name", "initials", "middle_name", "nickname",
    "company_name", "email_addresses", "physical_addresses", "phone_numbers",
    "assistant_name", "birthday", "business_homepage", "companies",
    "department", "generation", "job_title", "manager", "profession",
    "spouse_name", "surname", "wedding_anniversary",
)  # fmt: skip

#: The calendar fields of crm_ews's CalendarView summary shape.
CALENDAR_FIELDS: Final = (
    "parent_folder_id", "item_class", "subject", "sensitivity", "categories",
    "importance", "datetime_created", "reminder_due_by", "reminder_is_set",
    "reminder_minutes_before_start", "last_modified_time", "uid", "start",
    "end", "is_all_day", "legacy_free_busy_status", "location", "is_meeting",
    "is_cancelled", "is_recurring", "type", "my_response_type", "organizer",
)  # fmt: skip

#: Only the fields exchangelib lets FindItem return (no GetItem follows);
#: names, companies, addresses and locations are then missing.
SIMPLE_CONTACT_FIELDS: Final = tuple(
    name
    for name in CONTACT_FIELDS
    if not Contact.get_field_by_fieldname(name).is_complex
)
SIMPLE_CALENDAR_FIELDS: Final = tuple(
    name
    for name in CALENDAR_FIELDS
    if not exchangelib.CalendarItem.get_field_by_fieldname(name).is_complex
)


def configuration(url: str) -> Any:
    """The shared Configuration: no autodiscover, pinned version, 27 sessions."""
    return Configuration(
        service_endpoint=url,
        credentials=Credentials(SERVICE_ACCOUNT, PASSWORD),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
        max_connections=ACCOUNT_CONCURRENCY,
    )


def _threaded(work: Callable[[T], R], inputs: Iterable[T]) -> list[R]:
    with ThreadPoolExecutor(max_workers=ACCOUNT_CONCURRENCY) as pool:
        return list(pool.map(work, inputs))


def accounts(config: Any, mailboxes: Sequence[str], *, folders: bool) -> list[Any]:
    """One impersonating Account per mailbox; with ``folders``, resolve the
    calendar and contacts folders too (exchangelib does that with GetFolder)."""

    def one(mailbox: str) -> Any:
        account = Account(
            primary_smtp_address=mailbox,
            access_type=IMPERSONATION,
            autodiscover=False,
            config=config,
        )
        if folders:
            _ = account.calendar, account.contacts
        return account

    return _threaded(one, mailboxes)


def close() -> None:
    """Close exchangelib's pooled sessions."""
    exchangelib.close_connections()


def read_mailboxes(
    accounts: Sequence[Any],
    start: datetime,
    end: datetime,
    *,
    contact_fields: Sequence[str] = CONTACT_FIELDS,
    calendar_fields: Sequence[str] = CALENDAR_FIELDS,
) -> int:
    """Read each mailbox's calendar window and all its contacts; items read."""
    window = (EWSDateTime.from_datetime(start), EWSDateTime.from_datetime(end))

    def one(account: Any) -> int:
        events = list(
            account.calendar.view(start=window[0], end=window[1]).only(*calendar_fields)
        )
        contacts = list(account.contacts.all().only(*contact_fields))
        return len(events) + len(contacts)

    return sum(_threaded(one, accounts))


def sweep_prime(accounts: Sequence[Any]) -> dict[str, str]:
    """Sync every mailbox's contacts folder to the end; the sync states."""

    def one(account: Any) -> str:
        folder = account.contacts
        for _change in folder.sync_items(max_changes_returned=512):
            pass
        return str(folder.item_sync_state)

    states = _threaded(one, accounts)
    return {
        account.primary_smtp_address: state
        for account, state in zip(accounts, states, strict=True)
    }


def sweep_round(
    accounts: Sequence[Any], states: dict[str, str]
) -> tuple[int, dict[str, str]]:
    """One incremental SyncFolderItems pass: changes seen and the new states."""

    def one(account: Any) -> tuple[int, str]:
        folder = account.contacts
        seen = 0
        for _change in folder.sync_items(
            sync_state=states[account.primary_smtp_address], max_changes_returned=512
        ):
            seen += 1
        return seen, str(folder.item_sync_state)

    results = _threaded(one, accounts)
    changes = sum(seen for seen, _ in results)
    new_states = {
        account.primary_smtp_address: state
        for account, (_, state) in zip(accounts, results, strict=True)
    }
    return changes, new_states


def bulk_write(accounts: Sequence[Any], per_mailbox: int) -> int:
    """Create, update and delete ``per_mailbox`` contacts in each mailbox.

    ``bulk_create``, ``bulk_update`` and ``bulk_delete``, one call each per
    mailbox, with the same conflict resolution and delete type as crm_ews.
    """

    def one(pair: tuple[int, Any]) -> int:
        position, account = pair
        folder = account.contacts
        contacts = [
            Contact(
                account=account,
                folder=folder,
                display_name=f"Bench Person {position:03d}-{index:04d}",
                given_name="Bench",
                surname=f"Person {position:03d}-{index:04d}",
                file_as=f"Person {position:03d}-{index:04d}, Bench",
                company_name="Contoso",
                email_addresses=[
                    EmailAddress(email=f"bench.{position}.{index}@contoso.example")
                ],
            )
            for index in range(per_mailbox)
        ]
        created = account.bulk_create(folder=folder, items=contacts)
        _raise_any(created)
        changes = [
            (
                Contact(
                    account=account,
                    folder=folder,
                    id=result.id,
                    changekey=result.changekey,
                    job_title="Account manager",
                ),
                ["job_title"],
            )
            for result in created
        ]
        updated = account.bulk_update(
            items=changes, conflict_resolution=NEVER_OVERWRITE
        )
        _raise_any(updated)
        deleted = account.bulk_delete(ids=updated, delete_type=MOVE_TO_DELETED_ITEMS)
        return sum(1 for result in deleted if result is True)

    return sum(_threaded(one, list(enumerate(accounts))))


def _raise_any(results: Sequence[Any]) -> None:
    for result in results:
        if isinstance(result, Exception):
            raise result
