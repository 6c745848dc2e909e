"""AsyncEWSClient over httpx.MockTransport: same behaviour as the blocking client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

import httpx
import pytest

from crm_ews._retry import RetryPolicy
from crm_ews._transport import AsyncTransport
from crm_ews.errors import InvalidSyncStateError
from crm_ews.ews import AsyncEWSClient, CalendarItem, Contact, SyncFolderItems
from tests.ews.operations._scenarios import (
    MISUSE,
    SCENARIOS,
    START,
    Scenario,
    indexed_pages,
    sync_pages,
)
from tests.ews.operations._support import (
    CALENDAR,
    CONTACTS,
    FOLDER_ID,
    ITEM_ID,
    fixture_bytes,
)
from tests.ews.operations._wire import Recorder

URL = "https://mail.example.com/EWS/Exchange.asmx"
MAILBOX = "carol@example.net"

T = TypeVar("T")


def _run(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


def _client(recorder: Recorder) -> AsyncEWSClient:
    return AsyncEWSClient(
        URL,
        http_transport=httpx.MockTransport(recorder),
        retry=RetryPolicy(attempts=1),
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.method)
def test_every_method_impersonates_the_mailbox(scenario: Scenario) -> None:
    """Each coroutine sends its operation as the mailbox, anchored to it."""
    recorder = Recorder({scenario.operation: scenario.answer})

    async def call() -> object:
        async with _client(recorder) as client:
            method = getattr(client, scenario.method)
            return await method(*scenario.args, mailbox=MAILBOX, **scenario.kwargs)

    result = _run(call())

    assert scenario.check(result)
    assert [seen.operation for seen in recorder.seen] == [scenario.operation]
    assert recorder.seen[0].anchor == MAILBOX
    assert recorder.seen[0].impersonated == MAILBOX


@pytest.mark.parametrize(("method", "args", "kwargs", "error"), MISUSE)
def test_misuse_fails_before_anything_is_sent(
    method: str,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    error: type[Exception],
) -> None:
    """Bad arguments raise ValueError/TypeError and no request goes out."""
    recorder = Recorder()

    async def call() -> None:
        async with _client(recorder) as client:
            await getattr(client, method)(*args, **{"mailbox": MAILBOX, **kwargs})

    with pytest.raises(error):
        _run(call())
    assert recorder.seen == []


def test_find_items_walks_every_page() -> None:
    """Five contacts in pages of two take three calls."""
    recorder = Recorder({"FindItem": indexed_pages(5)})

    async def call() -> list[Contact]:
        async with _client(recorder) as client:
            return await client.find_items(
                CONTACTS, Contact, page_size=2, mailbox=MAILBOX
            )

    items = _run(call())

    assert len(items) == 5
    assert len(recorder.seen) == 3


def test_iterators_are_async() -> None:
    """iter_find_items and iter_sync_folder_items are async iterators of pages."""
    recorder = Recorder({"FindItem": indexed_pages(3), "SyncFolderItems": sync_pages})

    async def call() -> tuple[int, list[bool]]:
        async with _client(recorder) as client:
            found = [
                page
                async for page in client.iter_find_items(
                    CONTACTS, Contact, page_size=2, mailbox=MAILBOX
                )
            ]
            synced = [
                page.includes_last_item_in_range
                async for page in client.iter_sync_folder_items(
                    FOLDER_ID, Contact, mailbox=MAILBOX
                )
            ]
        return len(found), synced

    pages, synced = _run(call())

    assert pages == 2
    assert synced == [False, True]
    assert recorder.seen[-1].body.findtext("{*}SyncState")


def test_calendar_view_goes_through_the_splitter() -> None:
    """A seven-day view is one call when the window is complete."""
    recorder = Recorder({"FindItem": fixture_bytes("FindItem", "calendar_view")})

    async def call() -> list[CalendarItem]:
        async with _client(recorder) as client:
            return await client.calendar_view(
                CALENDAR, START, START + timedelta(days=7), mailbox=MAILBOX
            )

    assert len(_run(call())) == 3
    assert len(recorder.seen) == 1


def test_invalid_sync_state_surfaces_as_its_error() -> None:
    """The awaited call raises InvalidSyncStateError."""
    recorder = Recorder(
        {"SyncFolderItems": fixture_bytes("SyncFolderItems", "invalid_sync_state")}
    )

    async def call() -> None:
        async with _client(recorder) as client:
            await client.call(
                SyncFolderItems(CALENDAR, CalendarItem, sync_state="x"), mailbox=MAILBOX
            )

    with pytest.raises(InvalidSyncStateError):
        _run(call())


def test_a_closed_client_refuses_calls() -> None:
    """After aclose, every coroutine raises RuntimeError with a plain message."""
    recorder = Recorder()

    async def call() -> None:
        client = _client(recorder)
        await client.aclose()
        await client.aclose()
        await client.get_items([ITEM_ID], Contact, mailbox=MAILBOX)

    with pytest.raises(RuntimeError, match="closed"):
        _run(call())
    assert recorder.seen == []


def test_a_given_transport_is_used_and_left_open() -> None:
    """transport= sends through it; closing the client does not close it."""
    recorder = Recorder({"GetItem": fixture_bytes("GetItem", "contact")})

    async def call() -> None:
        async with AsyncTransport(
            URL, http_transport=httpx.MockTransport(recorder)
        ) as transport:
            async with AsyncEWSClient(transport=transport) as client:
                await client.get_items([ITEM_ID], Contact, mailbox=MAILBOX)
            async with AsyncEWSClient(transport=transport) as client:
                await client.get_items([ITEM_ID], Contact, mailbox=MAILBOX)

    _run(call())

    assert len(recorder.seen) == 2


def test_constructor_checks_its_arguments() -> None:
    """No url, or a transport of the wrong kind, is misuse."""
    with pytest.raises(ValueError, match="url"):
        AsyncEWSClient()
    with pytest.raises(TypeError):
        AsyncEWSClient(transport=object())  # type: ignore[arg-type]
