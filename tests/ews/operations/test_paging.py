"""The pure pagers: indexed paging, calendar window splitting, sync pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_ews.errors import InvalidRequestError, ResponseDecodeError
from crm_ews.ews import (
    MAX_CALENDAR_VIEW_SPAN,
    MIN_CALENDAR_WINDOW,
    CalendarItem,
    CalendarView,
    CalendarViewSplitter,
    Contact,
    FindFolder,
    FindFolderPage,
    FindItem,
    FindItemPage,
    Folder,
    IndexedPager,
    IndexedPageView,
    ItemId,
    SyncFolderItems,
    SyncFolderItemsPager,
    SyncItemsPage,
)
from tests.ews.operations._support import CALENDAR, CONTACTS

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _contact(number: int) -> Contact:
    return Contact(item_id=ItemId(id=f"c{number}"), given_name=f"n{number}")


def _serve_indexed(
    contacts: list[Contact], operation: FindItem[Contact], *, with_offset: bool
) -> FindItemPage[Contact]:
    """An in-memory folder answering an indexed FindItem."""
    view = operation.view
    assert isinstance(view, IndexedPageView)
    chunk = contacts[view.offset : view.offset + view.max_entries]
    following = view.offset + len(chunk)
    return FindItemPage(
        items=chunk,
        includes_last_item_in_range=following >= len(contacts),
        next_offset=following if with_offset else None,
        total_items_in_view=len(contacts),
    )


@given(
    total=st.integers(min_value=0, max_value=60),
    page_size=st.integers(min_value=1, max_value=25),
    with_offset=st.booleans(),
)
def test_indexed_pager_collects_every_item_once(
    total: int, page_size: int, with_offset: bool
) -> None:
    """All items arrive once, in order, in ceil(total / page_size) calls."""
    contacts = [_contact(number) for number in range(total)]
    pager = IndexedPager(
        FindItem(CONTACTS, Contact, view=IndexedPageView(0, page_size))
    )

    collected: list[Contact] = []
    while (operation := pager.next_operation()) is not None:
        page = _serve_indexed(contacts, operation, with_offset=with_offset)
        pager.feed(page)
        collected.extend(page.items)

    assert collected == contacts
    assert pager.pages == max(1, -(-total // page_size))
    assert pager.is_done


def test_indexed_pager_refuses_an_offset_that_does_not_advance() -> None:
    """A server repeating the offset would page forever; that is a decode error."""
    pager = IndexedPager(FindItem(CONTACTS, Contact), mailbox="alice@example.com")
    stuck = FindItemPage(items=[], includes_last_item_in_range=False, next_offset=0)

    with pytest.raises(ResponseDecodeError) as caught:
        pager.feed(stuck)

    assert caught.value.mailbox == "alice@example.com"


def test_indexed_pager_pages_folders_too() -> None:
    """FindFolder pages through the same pager."""
    pager = IndexedPager(FindFolder(CALENDAR, view=IndexedPageView(0, 1)))
    pager.feed(FindFolderPage(folders=[Folder()], includes_last_item_in_range=False))

    following = pager.next_operation()
    assert following is not None
    assert following.view.offset == 1


def test_feeding_a_finished_pager_is_misuse() -> None:
    """feed() after the last page raises RuntimeError."""
    pager = IndexedPager(FindItem(CONTACTS, Contact))
    pager.feed(FindItemPage(items=[], includes_last_item_in_range=True))

    assert pager.next_operation() is None
    with pytest.raises(RuntimeError):
        pager.feed(FindItemPage(items=[], includes_last_item_in_range=True))


# --- calendar window splitting ----------------------------------------------

Event = tuple[int, int]  # (start minute, duration minutes) from EPOCH


def _events() -> st.SearchStrategy[list[Event]]:
    span = 60 * 24 * 900  # a little over the two-year limit, in minutes
    return st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=span),
            st.integers(min_value=1, max_value=60 * 24 * 40),
        ),
        max_size=40,
    )


def _item(index: int, event: Event) -> CalendarItem:
    start = EPOCH + timedelta(minutes=event[0])
    return CalendarItem(
        item_id=ItemId(id=f"e{index}"),
        start=start,
        end=start + timedelta(minutes=event[1]),
    )


def _overlapping(
    items: list[CalendarItem], start: datetime, end: datetime
) -> list[CalendarItem]:
    return [
        item
        for item in items
        if item.start is not None
        and item.end is not None
        and item.end > start
        and item.start < end
    ]


def _serve_calendar(
    items: list[CalendarItem], operation: FindItem[CalendarItem]
) -> FindItemPage[CalendarItem]:
    """A calendar that caps results at MaxEntriesReturned, as Exchange does."""
    view = operation.view
    assert isinstance(view, CalendarView)
    assert view.end - view.start <= MAX_CALENDAR_VIEW_SPAN
    found = _overlapping(items, view.start, view.end)
    return FindItemPage(
        items=found[: view.max_entries],
        includes_last_item_in_range=len(found) <= view.max_entries,
    )


def _drive(
    splitter: CalendarViewSplitter, items: list[CalendarItem]
) -> tuple[list[CalendarItem], InvalidRequestError | None, object]:
    """Run the splitter against the simulated calendar until done or refused."""
    collected: list[CalendarItem] = []
    while (operation := splitter.next_operation()) is not None:
        try:
            collected.extend(splitter.feed(_serve_calendar(items, operation)))
        except InvalidRequestError as error:
            return collected, error, operation.view
    return collected, None, None


@settings(deadline=None)
@given(
    events=_events(),
    max_entries=st.integers(min_value=1, max_value=8),
    window_days=st.integers(min_value=1, max_value=730),
    range_days=st.integers(min_value=1, max_value=1200),
)
def test_splitter_lists_every_overlapping_item_once(
    events: list[Event], max_entries: int, window_days: int, range_days: int
) -> None:
    """Whatever the density, every item in range is returned exactly once.

    When even a one-minute window holds more than ``max_entries`` items the
    splitter gives up with ErrorExceededFindCountLimit, and only then.
    """
    items = [_item(index, event) for index, event in enumerate(events)]
    start = EPOCH + timedelta(days=30)
    end = start + timedelta(days=range_days)
    splitter = CalendarViewSplitter(
        CALENDAR,
        start,
        end,
        window=timedelta(days=window_days),
        max_entries=max_entries,
    )

    collected, error, last = _drive(splitter, items)

    if error is not None:
        assert isinstance(last, CalendarView)
        assert error.response_code == "ErrorExceededFindCountLimit"
        assert last.end - last.start < 2 * MIN_CALENDAR_WINDOW
        assert len(_overlapping(items, last.start, last.end)) > max_entries
        return

    expected = {id(item) for item in _overlapping(items, start, end)}
    assert sorted(id(item) for item in collected) == sorted(expected)
    assert splitter.is_done


def test_splitter_halves_a_cut_off_window() -> None:
    """A truncated window is replaced by its two halves, earliest first."""
    start = EPOCH
    splitter = CalendarViewSplitter(
        CALENDAR, start, start + timedelta(days=4), window=timedelta(days=4)
    )
    first = splitter.next_operation()
    assert first is not None

    assert (
        splitter.feed(FindItemPage(items=[], includes_last_item_in_range=False)) == []
    )
    following = splitter.next_operation()
    assert following is not None
    assert isinstance(following.view, CalendarView)
    assert (following.view.start, following.view.end) == (
        start,
        start + timedelta(days=2),
    )


def test_splitter_cuts_long_ranges_below_the_server_limit() -> None:
    """A five-year range is asked in windows no longer than the chosen width."""
    splitter = CalendarViewSplitter(
        CALENDAR, EPOCH, EPOCH + timedelta(days=5 * 365), window=MAX_CALENDAR_VIEW_SPAN
    )
    windows = []
    while (operation := splitter.next_operation()) is not None:
        assert isinstance(operation.view, CalendarView)
        windows.append(operation.view.end - operation.view.start)
        splitter.feed(FindItemPage(items=[], includes_last_item_in_range=True))

    assert len(windows) == 3
    assert max(windows) == MAX_CALENDAR_VIEW_SPAN


def test_splitter_hands_out_boundary_items_once() -> None:
    """An appointment across a window boundary is returned by the first window only."""
    meeting = CalendarItem(
        item_id=ItemId(id="m"),
        start=EPOCH + timedelta(days=1, hours=23),
        end=EPOCH + timedelta(days=2, hours=1),
    )
    splitter = CalendarViewSplitter(
        CALENDAR, EPOCH, EPOCH + timedelta(days=4), window=timedelta(days=2)
    )
    page = FindItemPage(items=[meeting], includes_last_item_in_range=True)

    assert splitter.feed(page) == [meeting]
    assert splitter.feed(page) == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"start": EPOCH.replace(tzinfo=None)}, ValueError),
        ({"end": EPOCH}, ValueError),
        ({"window": timedelta(days=731)}, ValueError),
        ({"window": timedelta(seconds=1)}, ValueError),
        ({"window": 30}, TypeError),
        ({"max_entries": 0}, ValueError),
        ({"folder": "calendar"}, TypeError),
    ],
)
def test_splitter_checks_its_arguments(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    """Bad ranges and limits are refused before anything is sent."""
    arguments: dict[str, object] = {
        "folder": CALENDAR,
        "start": EPOCH,
        "end": EPOCH + timedelta(days=1),
    }
    arguments.update(kwargs)
    folder = arguments.pop("folder")
    start = arguments.pop("start")
    end = arguments.pop("end")

    with pytest.raises(error):
        CalendarViewSplitter(folder, start, end, **arguments)  # type: ignore[arg-type]


def test_feeding_a_finished_splitter_is_misuse() -> None:
    """feed() after the last window raises RuntimeError."""
    splitter = CalendarViewSplitter(CALENDAR, EPOCH, EPOCH + timedelta(hours=1))
    splitter.feed(FindItemPage(items=[], includes_last_item_in_range=True))

    with pytest.raises(RuntimeError):
        splitter.feed(FindItemPage(items=[], includes_last_item_in_range=True))


# --- sync pages ------------------------------------------------------------


def test_sync_pager_moves_the_state_forward_until_done() -> None:
    """Each page's state goes into the next request; the last page ends it."""
    pager = SyncFolderItemsPager(
        SyncFolderItems(CONTACTS, Contact, max_changes_returned=2)
    )
    states = []
    answers = iter(
        [
            SyncItemsPage(
                changes=[], sync_state="s1", includes_last_item_in_range=False
            ),
            SyncItemsPage(
                changes=[], sync_state="s2", includes_last_item_in_range=True
            ),
        ]
    )
    while (operation := pager.next_operation()) is not None:
        states.append(operation.sync_state)
        assert operation.max_changes_returned == 2
        pager.feed(next(answers))

    assert states == [None, "s1"]
    assert pager.sync_state == "s2"
    with pytest.raises(RuntimeError):
        pager.feed(
            SyncItemsPage(changes=[], sync_state="s3", includes_last_item_in_range=True)
        )


def test_sync_pager_needs_a_sync_operation() -> None:
    """Anything but a SyncFolderItems is refused."""
    with pytest.raises(TypeError):
        SyncFolderItemsPager(FindItem(CONTACTS, Contact))  # type: ignore[arg-type]
