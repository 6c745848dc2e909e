"""The crm_ews side of the client scenarios: asyncio, one client, one pool.

Each function uses an :class:`~crm_ews.ews.AsyncEWSClient` with the default
connection pool (27 connections, Exchange's per-account budget) and bounds
the calls in flight with a semaphore of the same size, so neither the pool
nor the server's budget is ever over-asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from benchmarks._server import ACCOUNT_CONCURRENCY, PASSWORD, SERVICE_ACCOUNT
from crm_ews.auth import BasicAuth
from crm_ews.ews import (
    AsyncEWSClient,
    Contact,
    DeleteType,
    DistinguishedFolderId,
    DistinguishedFolderName,
    EmailAddress,
    EmailAddressKey,
    ItemChange,
    ItemId,
)

__all__ = ["bulk_write", "client", "read_mailboxes", "sweep_prime", "sweep_round"]

A = TypeVar("A")
T = TypeVar("T")

CALENDAR = DistinguishedFolderId(id=DistinguishedFolderName.CALENDAR)
CONTACTS = DistinguishedFolderId(id=DistinguishedFolderName.CONTACTS)


def client(url: str) -> AsyncEWSClient:
    """The service account's client with every default left alone."""
    return AsyncEWSClient(url, auth=BasicAuth(SERVICE_ACCOUNT, PASSWORD))


async def _bounded(
    work: Callable[[A], Awaitable[T]],
    inputs: Sequence[A],
    limit: int = ACCOUNT_CONCURRENCY,
) -> list[T]:
    """``work`` over ``inputs``, at most ``limit`` in flight, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(value: A) -> T:
        async with gate:
            return await work(value)

    return list(await asyncio.gather(*(one(value) for value in inputs)))


async def read_mailboxes(
    ews: AsyncEWSClient, mailboxes: Sequence[str], start: datetime, end: datetime
) -> int:
    """Read each mailbox's calendar window and all its contacts; items read."""

    async def one(mailbox: str) -> int:
        events = await ews.calendar_view(CALENDAR, start, end, mailbox=mailbox)
        contacts = await ews.find_items(CONTACTS, Contact, mailbox=mailbox)
        return len(events) + len(contacts)

    return sum(await _bounded(one, mailboxes))


async def sweep_prime(ews: AsyncEWSClient, mailboxes: Sequence[str]) -> dict[str, str]:
    """Sync every mailbox's contacts folder to the end; the sync states."""

    async def one(mailbox: str) -> str:
        state = ""
        async for page in ews.iter_sync_folder_items(
            CONTACTS, Contact, mailbox=mailbox
        ):
            state = page.sync_state
        return state

    states = await _bounded(one, mailboxes)
    return dict(zip(mailboxes, states, strict=True))


async def sweep_round(
    ews: AsyncEWSClient, states: dict[str, str]
) -> tuple[int, dict[str, str]]:
    """One incremental SyncFolderItems pass: changes seen and the new states."""

    async def one(mailbox: str) -> tuple[int, str]:
        seen = 0
        state = states[mailbox]
        async for page in ews.iter_sync_folder_items(
            CONTACTS, Contact, sync_state=state, mailbox=mailbox
        ):
            seen += len(page.changes)
            state = page.sync_state
        return seen, state

    results = await _bounded(one, list(states))
    changes = sum(seen for seen, _ in results)
    return changes, {m: s for m, (_, s) in zip(states, results, strict=True)}


def _new_contact(position: int, index: int) -> Contact:
    return Contact(
        display_name=f"Bench Person {position:03d}-{index:04d}",
        given_name="Bench",
        surname=f"Person {position:03d}-{index:04d}",
        file_as=f"Person {position:03d}-{index:04d}, Bench",
        company_name="Contoso",
        email_addresses=(
            EmailAddress(
                key=EmailAddressKey.EMAIL_ADDRESS_1,
                address=f"bench.{position}.{index}@contoso.example",
            ),
        ),
    )


async def bulk_write(
    ews: AsyncEWSClient, mailboxes: Sequence[str], per_mailbox: int
) -> int:
    """Create, update and delete ``per_mailbox`` contacts in each mailbox.

    One batched call per step and mailbox.  Returns the items that made it
    through all three steps.
    """

    async def one(pair: tuple[int, str]) -> int:
        position, mailbox = pair
        contacts = [_new_contact(position, i) for i in range(per_mailbox)]
        created = await ews.create_items(
            contacts, saved_item_folder_id=CONTACTS, mailbox=mailbox
        )
        changes = [
            ItemChange(
                item_id=_ok(result),
                item_type=Contact,
                updates={"job_title": "Account manager"},
            )
            for result in created
        ]
        updated = await ews.update_items(changes, mailbox=mailbox)
        deleted = await ews.delete_items(
            [_ok(result) for result in updated],
            delete_type=DeleteType.MOVE_TO_DELETED_ITEMS,
            mailbox=mailbox,
        )
        return sum(1 for result in deleted if result is None)

    done = await _bounded(one, list(enumerate(mailboxes)))
    return sum(done)


def _ok(result: ItemId | Exception) -> ItemId:
    if isinstance(result, Exception):
        raise result
    return result
