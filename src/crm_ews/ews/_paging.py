"""Pure state machines that walk multi-call results: pages, windows, sync pages.

None of them sends anything.  Each hands out the next operation with
``next_operation()`` (``None`` when finished) and takes that operation's
parsed result with ``feed()``, so the synchronous and asyncio clients drive
them with the same three-line loop::

    while (operation := walker.next_operation()) is not None:
        walker.feed(send(operation))
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final, Generic, Protocol, Self, TypeVar

from crm_ews._soap import error_from_code
from crm_ews.errors import ResponseDecodeError
from crm_ews.ews._models._calendar import CalendarItem
from crm_ews.ews._models._extended import ExtendedPropertyKey
from crm_ews.ews._models._ids import DistinguishedFolderId, FolderId, ItemId
from crm_ews.ews._models._item import Item
from crm_ews.ews._operations._find_item import (
    MAX_CALENDAR_VIEW_SPAN,
    MAX_ENTRIES_RETURNED,
    CalendarView,
    FindItem,
    FindItemPage,
)
from crm_ews.ews._operations._sync_items import SyncFolderItems, SyncItemsPage
from crm_ews.ews._operations._xml import require_aware

__all__ = [
    "DEFAULT_CALENDAR_WINDOW",
    "MIN_CALENDAR_WINDOW",
    "CalendarViewSplitter",
    "IndexedPager",
    "SyncFolderItemsPager",
]

ItemT = TypeVar("ItemT", bound=Item)
PageT = TypeVar("PageT", bound="_IndexedPage")
OpT = TypeVar("OpT", bound="_OffsetOperation")

#: Width of the windows a calendar range is first cut into.  A quarter keeps
#: even busy calendars under the 1000-item cap, so halving is rare.
DEFAULT_CALENDAR_WINDOW: Final = timedelta(days=90)

#: Below this a truncated window is not halved again: the items overlapping
#: it are too many to list with CalendarView at all.
MIN_CALENDAR_WINDOW: Final = timedelta(minutes=1)


class _IndexedPage(Protocol):
    @property
    def includes_last_item_in_range(self) -> bool: ...

    @property
    def next_offset(self) -> int | None: ...

    @property
    def entry_count(self) -> int: ...


class _OffsetOperation(Protocol):
    @property
    def view(self) -> object: ...

    def with_offset(self, offset: int) -> Self: ...


class IndexedPager(Generic[OpT, PageT]):
    """Walks an indexed view (``FindItem``, ``FindFolder``) page by page.

    Starts with ``first`` and asks for the next offset until a page says it
    includes the last item.  The next offset is the server's
    ``IndexedPagingOffset`` when given, else the old offset plus the page
    length.

    Args:
        first: The operation for the first page; its view sets the page size.
        mailbox: The mailbox, for error context only.

    Warning:
        Offsets shift when items are added or deleted while paging, so an
        item can be skipped or seen twice.  For a consistent picture of a
        folder that changes, use ``SyncFolderItems``.
    """

    def __init__(
        self,
        first: OpT,
        *,
        mailbox: str | None = None,
    ) -> None:
        self._next: OpT | None = first
        self._mailbox = mailbox
        self.pages = 0

    @property
    def is_done(self) -> bool:
        """Whether the last page has been fed."""
        return self._next is None

    def next_operation(self) -> OpT | None:
        """The operation for the next page, or ``None`` when finished."""
        return self._next

    def feed(self, page: PageT) -> None:
        """Take the result of the operation :meth:`next_operation` returned.

        Raises:
            RuntimeError: The pager is already finished.
            ResponseDecodeError: The server's next offset would not advance,
                which would page forever.
        """
        current = self._next
        if current is None:
            raise RuntimeError("the pager is finished; no page was requested")
        self.pages += 1
        # Limitation: offset paging is not a snapshot.  An item created or
        # deleted in the folder between two pages shifts the later pages, so
        # one item may be missed or returned twice; callers listing a busy
        # folder see it as a stray duplicate or a gap.  Meanwhile, use
        # SyncFolderItems for anything that must be complete.
        if page.includes_last_item_in_range:
            self._next = None
            return

        offset = _offset_of(current)
        following = page.next_offset
        if following is None:
            following = offset + page.entry_count
        if following <= offset:
            raise ResponseDecodeError(
                "paging made no progress: the server repeated the offset",
                operation=type(current).__name__,
                mailbox=self._mailbox,
            )
        self._next = current.with_offset(following)


def _offset_of(operation: _OffsetOperation) -> int:
    offset = getattr(operation.view, "offset", None)
    if not isinstance(offset, int):
        raise TypeError("the operation's view has no offset")
    return offset


class CalendarViewSplitter:
    """Lists the calendar of ``[start, end)`` under Exchange's CalendarView limits.

    Exchange refuses windows longer than two years and returns at most
    ``max_entries`` (1000) items per call, flagging a cut-off result with
    ``IncludesLastItemInRange=false``.  The range is cut into windows of
    ``window`` width; a window that comes back cut off is dropped and
    replaced by its two halves, until every window fits.

    An appointment overlapping two windows is returned by both; it is
    handed out once, the first time (by item id).

    Args:
        folder: The calendar folder.
        start: Start of the range (timezone-aware).
        end: End of the range (timezone-aware, after ``start``).
        window: Initial window width, at most two years.
        max_entries: ``MaxEntriesReturned`` per call, ``1..1000``.
        extended_properties: Extended properties to return with each item.
        mailbox: The mailbox, for error context only.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: A naive datetime, ``end`` not after ``start``, or a
            window outside ``MIN_CALENDAR_WINDOW..MAX_CALENDAR_VIEW_SPAN``.
    """

    def __init__(
        self,
        folder: FolderId | DistinguishedFolderId,
        start: datetime,
        end: datetime,
        *,
        window: timedelta = DEFAULT_CALENDAR_WINDOW,
        max_entries: int = MAX_ENTRIES_RETURNED,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
        mailbox: str | None = None,
    ) -> None:
        require_aware(start, "start")
        require_aware(end, "end")
        if end <= start:
            raise ValueError("end must be after start")
        if not isinstance(window, timedelta):
            raise TypeError(f"window must be a timedelta, not {type(window).__name__}")
        if not MIN_CALENDAR_WINDOW <= window <= MAX_CALENDAR_VIEW_SPAN:
            raise ValueError(
                f"window must be between {MIN_CALENDAR_WINDOW} and "
                f"{MAX_CALENDAR_VIEW_SPAN.days} days"
            )

        # Building the first operation validates folder, max_entries and keys.
        self._template = FindItem(
            folder,
            CalendarItem,
            view=CalendarView(start, min(end, start + window), max_entries),
            extended_properties=extended_properties,
        )
        self._max_entries = max_entries
        self._mailbox = mailbox
        self._seen: set[str] = set()
        # Pending windows, latest first, so pop() yields them in time order.
        self._windows = list(reversed(_cut(start, end, window)))
        self.calls = 0

    @property
    def is_done(self) -> bool:
        """Whether every window has been listed completely."""
        return not self._windows

    def next_operation(self) -> FindItem[CalendarItem] | None:
        """The ``FindItem`` for the earliest window not yet listed."""
        if not self._windows:
            return None
        start, end = self._windows[-1]
        return self._template.with_view(CalendarView(start, end, self._max_entries))

    def feed(self, page: FindItemPage[CalendarItem]) -> list[CalendarItem]:
        """Take the result for the current window.

        Returns:
            The items of the window not handed out before, in server order;
            empty when the window was cut off and has been split.

        Raises:
            RuntimeError: Every window is listed already.
            InvalidRequestError: A window narrower than
                :data:`MIN_CALENDAR_WINDOW` is still cut off
                (``ErrorExceededFindCountLimit``).
        """
        if not self._windows:
            raise RuntimeError("the splitter is finished; no window was requested")
        self.calls += 1
        start, end = self._windows.pop()

        if not page.includes_last_item_in_range:
            # Limitation: when more than max_entries appointments overlap one
            # minute (items spanning the whole window appear in every half),
            # no split helps; the call fails with ErrorExceededFindCountLimit
            # and the caller gets no partial list.  Such calendars are read
            # with SyncFolderItems instead.
            if end - start < 2 * MIN_CALENDAR_WINDOW:
                raise error_from_code(
                    "ErrorExceededFindCountLimit",
                    message_text=(
                        f"more than {self._max_entries} calendar items overlap "
                        "a one-minute window; CalendarView cannot list them"
                    ),
                    details={},
                    operation="FindItem",
                    mailbox=self._mailbox,
                )
            middle = _midpoint(start, end)
            self._windows.append((middle, end))
            self._windows.append((start, middle))
            return []

        fresh: list[CalendarItem] = []
        for item in page.items:
            key = _identity(item.item_id)
            if key is not None:
                if key in self._seen:
                    continue
                self._seen.add(key)
            fresh.append(item)

        return fresh


def _identity(item_id: ItemId | None) -> str | None:
    return item_id.id if item_id is not None else None


def _cut(
    start: datetime, end: datetime, window: timedelta
) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into windows of ``window`` width (the last shorter)."""
    windows: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        following = min(cursor + window, end)
        windows.append((cursor, following))
        cursor = following
    return windows


def _midpoint(start: datetime, end: datetime) -> datetime:
    """The middle of a window, on a whole second so requests stay readable."""
    half = (end - start) / 2
    middle = start + timedelta(seconds=int(half.total_seconds()))
    return middle if start < middle < end else start + half


class SyncFolderItemsPager(Generic[ItemT]):
    """Walks ``SyncFolderItems`` pages until the folder is fully synced.

    Each fed page's ``sync_state`` becomes the next request's; the caller
    stores every page's state once it has applied that page.

    Args:
        first: The operation for the first page (with the stored state, or
            none to start over).
    """

    def __init__(self, first: SyncFolderItems[ItemT]) -> None:
        if not isinstance(first, SyncFolderItems):
            raise TypeError(
                f"first must be a SyncFolderItems, not {type(first).__name__}"
            )
        self._next: SyncFolderItems[ItemT] | None = first
        self.sync_state = first.sync_state

    @property
    def is_done(self) -> bool:
        """Whether the last page has been fed."""
        return self._next is None

    def next_operation(self) -> SyncFolderItems[ItemT] | None:
        """The operation for the next page, or ``None`` when synced."""
        return self._next

    def feed(self, page: SyncItemsPage[ItemT]) -> None:
        """Take a page's result and move the sync state forward.

        Raises:
            RuntimeError: The pager is already finished.
        """
        current = self._next
        if current is None:
            raise RuntimeError("the pager is finished; no page was requested")
        self.sync_state = page.sync_state
        if page.includes_last_item_in_range:
            self._next = None
            return
        self._next = SyncFolderItems(
            current.folder_id,
            current.item_type,
            sync_state=page.sync_state,
            max_changes_returned=current.max_changes_returned,
            ignore=current.ignore,
            extended_properties=current.extended_properties,
        )
