"""``FindItem``: list the items of one folder, a page or a calendar window at a time.

Two views are offered.  :class:`IndexedPageView` pages through a folder by
offset; :class:`CalendarView` returns the appointments and expanded
occurrences overlapping a time window.  Walking every page or every window is
the job of the pure state objects in :mod:`crm_ews.ews._paging`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ClassVar, Final, Generic, Self, TypeVar

from lxml import etree

from crm_ews._soap import DecodedResponse, m, t
from crm_ews.ews._models._base import format_datetime
from crm_ews.ews._models._calendar import CalendarItem
from crm_ews.ews._models._extended import ExtendedPropertyKey
from crm_ews.ews._models._ids import DistinguishedFolderId, FolderId
from crm_ews.ews._models._item import Item
from crm_ews.ews._operations._base import new_request, single_message
from crm_ews.ews._operations._restriction import IsEqualTo
from crm_ews.ews._operations._shapes import (
    check_extended_keys,
    check_folder_id,
    check_item_type,
    item_shape,
    read_items,
)
from crm_ews.ews._operations._xml import require_aware, sub

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_CALENDAR_VIEW_SPAN",
    "MAX_ENTRIES_RETURNED",
    "CalendarView",
    "FindItem",
    "FindItemPage",
    "IndexedPageView",
]

ItemT = TypeVar("ItemT", bound=Item)

#: Items per ``FindItem`` page unless the caller asks otherwise.
DEFAULT_PAGE_SIZE: Final = 100

#: Exchange's default ``EWSFindCountLimit``: one FindItem returns at most this
#: many items whatever ``MaxEntriesReturned`` says.
MAX_ENTRIES_RETURNED: Final = 1000

#: The longest ``CalendarView`` window Exchange accepts (two years); longer
#: ranges fail with ``ErrorCalendarViewRangeTooBig``.
MAX_CALENDAR_VIEW_SPAN: Final = timedelta(days=730)


def _check_count(value: object, name: str, *, low: int, high: int) -> int:
    """An ``int`` within ``[low, high]``; ``bool`` is refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class IndexedPageView:
    """One page of a folder by position: ``max_entries`` items from ``offset``.

    Raises:
        TypeError: An argument is not an ``int``.
        ValueError: ``offset`` is negative or ``max_entries`` is outside
            ``1..1000``.
    """

    offset: int = 0
    max_entries: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        _check_count(self.offset, "offset", low=0, high=2**31 - 1)
        _check_count(self.max_entries, "max_entries", low=1, high=MAX_ENTRIES_RETURNED)

    def to_xml(self, parent: etree._Element) -> None:
        """Append ``m:IndexedPageItemView`` (counted from the beginning)."""
        sub(
            parent,
            m("IndexedPageItemView"),
            MaxEntriesReturned=str(self.max_entries),
            Offset=str(self.offset),
            BasePoint="Beginning",
        )


@dataclass(frozen=True, slots=True)
class CalendarView:
    """Appointments and occurrences overlapping ``[start, end)``.

    The server returns single appointments, occurrences and exceptions of
    recurring series (never the series master) that end after ``start`` and
    begin before ``end``, up to ``max_entries`` of them.

    Raises:
        TypeError: ``start``/``end`` are not datetimes or ``max_entries`` is
            not an ``int``.
        ValueError: A datetime is naive, ``end`` is not after ``start``, the
            window is longer than :data:`MAX_CALENDAR_VIEW_SPAN`, or
            ``max_entries`` is outside ``1..1000``.
    """

    start: datetime
    end: datetime
    max_entries: int = MAX_ENTRIES_RETURNED

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        require_aware(self.end, "end")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_CALENDAR_VIEW_SPAN:
            raise ValueError(
                f"a CalendarView spans at most {MAX_CALENDAR_VIEW_SPAN.days} days"
            )
        _check_count(self.max_entries, "max_entries", low=1, high=MAX_ENTRIES_RETURNED)

    def to_xml(self, parent: etree._Element) -> None:
        """Append ``m:CalendarView``."""
        sub(
            parent,
            m("CalendarView"),
            MaxEntriesReturned=str(self.max_entries),
            StartDate=format_datetime(self.start),
            EndDate=format_datetime(self.end),
        )


@dataclass(frozen=True, slots=True)
class FindItemPage(Generic[ItemT]):
    """What one ``FindItem`` call returned.

    Attributes:
        items: The items, in server order, with the summary properties of
            their type.
        includes_last_item_in_range: Whether this page reaches the end of the
            folder (indexed view) or holds every item of the window
            (calendar view).
        next_offset: Where the next indexed page starts, when the server says.
        total_items_in_view: How many items the whole view holds, when known.
    """

    items: list[ItemT]
    includes_last_item_in_range: bool
    next_offset: int | None = None
    total_items_in_view: int | None = None

    @property
    def entry_count(self) -> int:
        """How many items the page holds."""
        return len(self.items)


class FindItem(Generic[ItemT]):
    """List items of one type in one folder.

    The shape is ``IdOnly`` plus the summary properties of ``item_type``
    (never ``AllProperties``): FindItem cannot return bodies, attendee lists
    or recurrence, so those need a follow-up :class:`GetItem`.

    Args:
        parent: The folder to search (shallow: subfolders are not searched).
        item_type: The model class to decode items as, e.g. ``Contact``.
        view: An :class:`IndexedPageView` (default: the first page) or a
            :class:`CalendarView` (calendar items only).
        restriction: Only items matching this, e.g. :class:`IsEqualTo` on the
            CRM link property.  Exchange refuses restrictions on calendar
            views.
        extended_properties: Extended properties to return with each item.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: A calendar view with a restriction or with an item type
            that is not a calendar item.
    """

    name: ClassVar[str] = "FindItem"
    is_idempotent: ClassVar[bool] = True

    def __init__(
        self,
        parent: FolderId | DistinguishedFolderId,
        item_type: type[ItemT],
        *,
        view: IndexedPageView | CalendarView | None = None,
        restriction: IsEqualTo | None = None,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
    ) -> None:
        check_folder_id(parent, "parent")
        check_item_type(item_type)
        if view is None:
            view = IndexedPageView()
        if not isinstance(view, IndexedPageView | CalendarView):
            raise TypeError(
                "view must be an IndexedPageView or a CalendarView, "
                f"not {type(view).__name__}"
            )
        if restriction is not None and not isinstance(restriction, IsEqualTo):
            raise TypeError(
                f"restriction must be an IsEqualTo, not {type(restriction).__name__}"
            )
        if isinstance(view, CalendarView):
            if not issubclass(item_type, CalendarItem):
                raise ValueError("a CalendarView returns calendar items only")
            if restriction is not None:
                raise ValueError("Exchange refuses restrictions on a CalendarView")

        self.parent = parent
        self.item_type = item_type
        self.view = view
        self.restriction = restriction
        self.extended_properties = check_extended_keys(extended_properties)

    def with_view(self, view: IndexedPageView | CalendarView) -> Self:
        """The same search with another page or window."""
        return type(self)(
            self.parent,
            self.item_type,
            view=view,
            restriction=self.restriction,
            extended_properties=self.extended_properties,
        )

    def with_offset(self, offset: int) -> Self:
        """The same indexed search, starting at another position.

        Raises:
            TypeError: This search uses a calendar view.
        """
        if not isinstance(self.view, IndexedPageView):
            raise TypeError("only an indexed view has an offset")
        return self.with_view(replace(self.view, offset=offset))

    def build(self) -> etree._Element:
        """The ``m:FindItem`` element."""
        request = new_request(self.name, Traversal="Shallow")
        item_shape(
            request,
            m("ItemShape"),
            self.item_type.summary_shape_elements(
                extended_properties=self.extended_properties
            ),
        )
        self.view.to_xml(request)
        if self.restriction is not None:
            self.restriction.to_xml(sub(request, m("Restriction")))
        sub(request, m("ParentFolderIds")).append(self.parent.to_xml())

        return request

    def parse(self, response: DecodedResponse, *, mailbox: str) -> FindItemPage[ItemT]:
        """Read the page of items.

        Raises:
            EWSError: The server refused the search (subclass by its code).
            ResponseDecodeError: ``RootFolder``, ``Items`` or the paging
                attributes are missing or malformed.
        """
        message, context = single_message(
            response, operation=self.name, mailbox=mailbox
        )
        with context.filling():
            root = context.child(message, m("RootFolder"))
            includes_last = context.boolean(
                root.get("IncludesLastItemInRange"), "IncludesLastItemInRange"
            )
            items = read_items(context.child(root, t("Items")), self.item_type, context)

            return FindItemPage(
                items=items,
                includes_last_item_in_range=includes_last,
                next_offset=context.integer(
                    root.get("IndexedPagingOffset"), "IndexedPagingOffset"
                ),
                total_items_in_view=context.integer(
                    root.get("TotalItemsInView"), "TotalItemsInView"
                ),
            )
