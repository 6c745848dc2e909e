"""EWSClient over httpx.MockTransport: every call impersonates the named mailbox."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from crm_ews._retry import RetryPolicy
from crm_ews._soap import ConnectingSIDKind
from crm_ews._transport import Transport
from crm_ews.errors import InvalidSyncStateError, ItemNotFoundError
from crm_ews.ews import (
    CalendarItem,
    Contact,
    EWSClient,
    GetItem,
    ItemChange,
    ItemId,
    SyncFolderItems,
)
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
    error_message,
    fixture_bytes,
    reply_bytes,
    success_message,
)
from tests.ews.operations._wire import Recorder

URL = "https://mail.example.com/EWS/Exchange.asmx"
MAILBOX = "bob@example.org"


def _client(recorder: Recorder) -> EWSClient:
    return EWSClient(
        URL,
        http_transport=httpx.MockTransport(recorder),
        retry=RetryPolicy(attempts=1),
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.method)
def test_every_method_impersonates_the_mailbox(scenario: Scenario) -> None:
    """Each method sends its operation as the mailbox, anchored to it, and parses."""
    recorder = Recorder({scenario.operation: scenario.answer})

    with _client(recorder) as client:
        result = getattr(client, scenario.method)(
            *scenario.args, mailbox=MAILBOX, **scenario.kwargs
        )

    assert scenario.check(result)
    assert [seen.operation for seen in recorder.seen] == [scenario.operation]
    assert recorder.seen[0].anchor == MAILBOX
    assert recorder.seen[0].impersonated == MAILBOX
    assert recorder.seen[0].sid_kind == "PrimarySmtpAddress"


@pytest.mark.parametrize(("method", "args", "kwargs", "error"), MISUSE)
def test_misuse_fails_before_anything_is_sent(
    method: str,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    error: type[Exception],
) -> None:
    """Bad arguments raise ValueError/TypeError and no request goes out."""
    recorder = Recorder()
    arguments = {"mailbox": MAILBOX, **kwargs}

    with _client(recorder) as client, pytest.raises(error):
        getattr(client, method)(*args, **arguments)

    assert recorder.seen == []


def test_an_update_id_without_change_key_is_refused() -> None:
    """ItemChange refuses an id without change key, so update_items never sends."""
    with pytest.raises(ValueError, match="change key"):
        ItemChange(item_id=ItemId(id="a"), item_type=Contact, updates={"surname": "x"})


def test_mailbox_kind_picks_the_connecting_sid_child() -> None:
    """mailbox_kind=SMTP_ADDRESS sends t:SmtpAddress and still anchors the call."""
    recorder = Recorder({"GetItem": fixture_bytes("GetItem", "contact")})

    with _client(recorder) as client:
        client.get_items(
            [ITEM_ID],
            Contact,
            mailbox=MAILBOX,
            mailbox_kind=ConnectingSIDKind.SMTP_ADDRESS,
        )

    assert recorder.seen[0].sid_kind == "SmtpAddress"
    assert recorder.seen[0].anchor == MAILBOX


def test_find_items_walks_every_page() -> None:
    """Seven contacts in pages of three take three calls at offsets 0, 3, 6."""
    recorder = Recorder({"FindItem": indexed_pages(7)})

    with _client(recorder) as client:
        items = client.find_items(CONTACTS, Contact, page_size=3, mailbox=MAILBOX)

    assert [item.item_id.id for item in items if item.item_id] == [
        f"c{n}" for n in range(7)
    ]
    offsets = [
        seen.body.find("{*}IndexedPageItemView").get("Offset") for seen in recorder.seen
    ]
    assert offsets == ["0", "3", "6"]


def test_iter_find_items_fetches_pages_lazily() -> None:
    """Only the pages consumed are requested."""
    recorder = Recorder({"FindItem": indexed_pages(10)})

    with _client(recorder) as client:
        pages = client.iter_find_items(CONTACTS, Contact, page_size=2, mailbox=MAILBOX)
        first = next(pages)

    assert len(first.items) == 2
    assert len(recorder.seen) == 1


def test_calendar_view_splits_a_cut_off_window() -> None:
    """A window answered as incomplete is asked again in two halves."""
    answers = iter(
        [
            reply_bytes(
                "FindItem",
                success_message(
                    "FindItem",
                    '<m:RootFolder IncludesLastItemInRange="false">'
                    "<t:Items/></m:RootFolder>",
                ),
            ),
            fixture_bytes("FindItem", "calendar_view"),
            reply_bytes(
                "FindItem",
                success_message(
                    "FindItem",
                    '<m:RootFolder IncludesLastItemInRange="true">'
                    "<t:Items/></m:RootFolder>",
                ),
            ),
        ]
    )
    recorder = Recorder({"FindItem": lambda body: next(answers)})

    with _client(recorder) as client:
        items = client.calendar_view(
            CALENDAR, START, START + timedelta(days=8), mailbox=MAILBOX
        )

    windows = [
        (view.get("StartDate"), view.get("EndDate"))
        for view in (seen.body.find("{*}CalendarView") for seen in recorder.seen)
    ]
    assert windows == [
        ("2026-03-02T00:00:00Z", "2026-03-10T00:00:00Z"),
        ("2026-03-02T00:00:00Z", "2026-03-06T00:00:00Z"),
        ("2026-03-06T00:00:00Z", "2026-03-10T00:00:00Z"),
    ]
    assert len(items) == 3
    assert all(isinstance(item, CalendarItem) for item in items)


def test_iter_sync_folder_items_follows_the_sync_state() -> None:
    """The second request sends the state the first page handed back."""
    recorder = Recorder({"SyncFolderItems": sync_pages})

    with _client(recorder) as client:
        pages = list(
            client.iter_sync_folder_items(
                FOLDER_ID, Contact, max_changes_returned=2, mailbox=MAILBOX
            )
        )

    assert [page.includes_last_item_in_range for page in pages] == [False, True]
    assert recorder.seen[0].body.find("{*}SyncState") is None
    assert recorder.seen[1].body.findtext("{*}SyncState") == pages[0].sync_state


def test_invalid_sync_state_surfaces_as_its_error() -> None:
    """The caller sees InvalidSyncStateError and knows to start over."""
    recorder = Recorder(
        {"SyncFolderItems": fixture_bytes("SyncFolderItems", "invalid_sync_state")}
    )

    with _client(recorder) as client, pytest.raises(InvalidSyncStateError) as caught:
        client.sync_folder_items(
            CALENDAR, CalendarItem, sync_state="stale", mailbox=MAILBOX
        )

    assert caught.value.mailbox == MAILBOX


def test_get_folder_raises_the_items_error() -> None:
    """The single-folder shortcut raises what the batch would have returned."""
    recorder = Recorder({"GetFolder": fixture_bytes("GetFolder", "folder_not_found")})

    with _client(recorder) as client, pytest.raises(ItemNotFoundError):
        client.get_folder(FOLDER_ID, mailbox=MAILBOX)


def test_create_folder_raises_the_items_error() -> None:
    """A refused folder creation raises instead of returning an id."""
    recorder = Recorder(
        {
            "CreateFolder": reply_bytes(
                "CreateFolder", error_message("CreateFolder", "ErrorFolderExists")
            )
        }
    )

    with (
        _client(recorder) as client,
        pytest.raises(Exception, match="ErrorFolderExists"),
    ):
        client.create_folder(CALENDAR, "CRM", mailbox=MAILBOX)


def test_call_sends_any_operation() -> None:
    """call() drives an operation object directly with the same headers."""
    recorder = Recorder(
        {"SyncFolderItems": fixture_bytes("SyncFolderItems", "changes")}
    )

    with _client(recorder) as client:
        page = client.call(SyncFolderItems(CALENDAR, CalendarItem), mailbox=MAILBOX)

    assert len(page.changes) == 4
    assert recorder.seen[0].anchor == MAILBOX


def test_a_closed_client_refuses_calls() -> None:
    """After close, every method raises RuntimeError with a plain message."""
    recorder = Recorder()
    client = _client(recorder)
    client.close()
    client.close()

    with pytest.raises(RuntimeError, match="closed"):
        client.get_items([ITEM_ID], Contact, mailbox=MAILBOX)
    with pytest.raises(RuntimeError, match="closed"):
        client.__enter__()
    assert recorder.seen == []


def test_a_given_transport_is_used_and_left_open() -> None:
    """transport= sends through it; closing the client does not close it."""
    recorder = Recorder({"GetItem": fixture_bytes("GetItem", "contact")})
    transport = Transport(URL, http_transport=httpx.MockTransport(recorder))

    with transport:
        with EWSClient(transport=transport) as client:
            client.get_items([ITEM_ID], Contact, mailbox=MAILBOX)
        transport.send(
            operation="GetItem",
            body=GetItem([ITEM_ID], Contact).build(),
            impersonation=None,
            is_idempotent=True,
        )

    assert len(recorder.seen) == 2


def test_constructor_needs_a_url_or_a_transport() -> None:
    """Neither url nor transport is misuse."""
    with pytest.raises(ValueError, match="url"):
        EWSClient()


def test_constructor_refuses_both_url_and_transport() -> None:
    """A url next to a ready transport is ambiguous and refused."""
    with Transport(URL) as transport, pytest.raises(ValueError, match="url"):
        EWSClient(URL, transport=transport)


def test_constructor_refuses_options_a_given_transport_would_ignore() -> None:
    """verify=False next to a ready transport is refused, not silently dropped."""
    with Transport(URL) as transport, pytest.raises(ValueError, match="verify"):
        EWSClient(transport=transport, verify=False)


def test_constructor_checks_the_transport_type() -> None:
    """Anything but a Transport is refused as transport."""
    with pytest.raises(TypeError):
        EWSClient(transport=object())  # type: ignore[arg-type]
