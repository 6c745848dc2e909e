"""FindItem: paged item queries and calendar views.

Views: ``IndexedPageItemView`` (offset from the beginning or the end),
``FractionalPageItemView``, ``ContactsView`` and ``CalendarView``.  A calendar
view expands recurring masters into their occurrences (each with its own id)
and never returns the master itself.  Without a view, at most
:data:`FIND_COUNT_LIMIT` items come back, as Exchange's default throttling
policy allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from lxml import etree

from crm_ews._soap import m, t
from crm_ews.testing._context import (
    OperationContext,
    children,
    optional,
    required,
    resolve_folder,
)
from crm_ews.testing._fields import FieldPath, ItemType
from crm_ews.testing._items import expand, parse_datetime
from crm_ews.testing._query import (
    Predicate,
    compile_restriction,
    parse_sort,
    sort_key,
    typed,
)
from crm_ews.testing._render import FIND_ITEM_EXCLUDED, Shape, parse_shape, render_item
from crm_ews.testing._store import Folder
from crm_ews.testing._wire import (
    ItemError,
    SimulatorFault,
    add_message,
    new_response,
    schema_fault,
)

#: Exchange's default ``EWSFindCountLimit``: most items one FindItem returns.
FIND_COUNT_LIMIT: Final = 1000

_UNSUPPORTED: Final = ("GroupBy", "DistinguishedGroupBy", "QueryString")


@dataclass(frozen=True, slots=True)
class _Page:
    start: int
    stop: int
    attributes: dict[str, str]


def _int(element: etree._Element, name: str, default: int | None = None) -> int:
    raw = element.get(name)
    if raw is None:
        if default is None:
            raise schema_fault(f"The required attribute '{name}' is missing.")
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise schema_fault(f"The attribute '{name}' is not an integer.") from exc


def _limit(view: etree._Element) -> int:
    limit = _int(view, "MaxEntriesReturned", FIND_COUNT_LIMIT)
    if limit < 1:
        raise ItemError(
            "ErrorInvalidPagingMaxRows", "MaxEntriesReturned must be positive."
        )
    return min(limit, FIND_COUNT_LIMIT)


def _indexed_page(view: etree._Element, total: int) -> _Page:
    offset = _int(view, "Offset")
    if offset < 0:
        raise ItemError(
            "ErrorInvalidIndexedPagingParameters", "The paging offset is negative."
        )
    limit = _limit(view)
    if view.get("BasePoint") == "End":
        stop = max(total - offset, 0)
        start = max(stop - limit, 0)
    else:
        start = min(offset, total)
        stop = min(offset + limit, total)
    shown = stop - start
    return _Page(
        start,
        stop,
        {
            "IndexedPagingOffset": str(offset + shown),
            "TotalItemsInView": str(total),
            "IncludesLastItemInRange": _bool(offset + shown >= total),
        },
    )


def _fractional_page(view: etree._Element, total: int) -> _Page:
    numerator = _int(view, "Numerator")
    denominator = _int(view, "Denominator")
    if denominator < 1 or not 0 <= numerator <= denominator:
        raise ItemError(
            "ErrorInvalidIndexedPagingParameters", "The fractional offset is invalid."
        )
    start = total * numerator // denominator
    stop = min(start + _limit(view), total)
    return _Page(
        start,
        stop,
        {
            "NumeratorOffset": str(stop),
            "AbsoluteDenominator": str(total),
            "TotalItemsInView": str(total),
            "IncludesLastItemInRange": _bool(stop >= total),
        },
    )


def _bool(value: bool) -> str:
    return "true" if value else "false"


def find_item(ctx: OperationContext) -> etree._Element:
    """FindItem over each parent folder: one response message per folder."""
    request = ctx.request
    traversal = request.get("Traversal")
    if traversal not in ("Shallow", "SoftDeleted", "Associated"):
        raise schema_fault("The 'Traversal' attribute is missing or invalid.")
    for name in _UNSUPPORTED:
        if optional(request, name) is not None:
            # Limitation: grouping and AQS query strings are not simulated;
            # such requests fail loudly instead of returning wrong results.
            raise SimulatorFault(
                "ErrorInvalidRequest", f"The simulator does not support {name}."
            )
    shape = parse_shape(required(request, "ItemShape"))
    restriction = optional(request, "Restriction")
    predicate = compile_restriction(restriction) if restriction is not None else None
    orders = parse_sort(optional(request, "SortOrder"))
    calendar_view = optional(request, "CalendarView")
    if calendar_view is not None and (predicate is not None or orders):
        raise SimulatorFault(
            "ErrorInvalidRestriction",
            "Restrictions and sort orders cannot be combined with a CalendarView.",
        )

    response = new_response("FindItem")
    for ref in children(required(request, "ParentFolderIds")):
        try:
            folder = resolve_folder(ctx, ref)
            if traversal != "Shallow":
                entries: list[tuple[etree._Element, ItemType]] = []
                page = _Page(0, 0, _empty_attributes(calendar_view is None))
            elif calendar_view is not None:
                entries, page = _calendar_view(folder, calendar_view)
            else:
                entries, page = _query(ctx, folder, predicate, orders)
        except ItemError as error:
            add_message(response, "FindItem", code=error.code, text=error.text)
            continue
        _add_page(response, shape, entries, page)
    return response


def _empty_attributes(indexed: bool) -> dict[str, str]:
    attributes = {"TotalItemsInView": "0", "IncludesLastItemInRange": "true"}
    if indexed:
        attributes = {"IndexedPagingOffset": "0", **attributes}
    return attributes


def _add_page(
    response: etree._Element,
    shape: Shape,
    entries: list[tuple[etree._Element, ItemType]],
    page: _Page,
) -> None:
    message = add_message(response, "FindItem")
    root = etree.SubElement(message, m("RootFolder"))
    for name, value in page.attributes.items():
        root.set(name, value)
    items = etree.SubElement(root, t("Items"))
    for element, item_type in entries[page.start : page.stop]:
        items.append(
            render_item(element, item_type, shape, excluded=FIND_ITEM_EXCLUDED)
        )


def _query(
    ctx: OperationContext,
    folder: Folder,
    predicate: Predicate | None,
    orders: list[tuple[FieldPath, bool]],
) -> tuple[list[tuple[etree._Element, ItemType]], _Page]:
    entries = [(item.element, item.item_type) for item in folder.items.values()]
    if predicate is not None:
        entries = [(e, kind) for e, kind in entries if predicate(e, kind)]
    for path, descending in reversed(orders):
        entries.sort(
            key=lambda entry: sort_key(entry[0], entry[1], path), reverse=descending
        )

    view = optional(ctx.request, "IndexedPageItemView")
    if view is not None:
        return entries, _indexed_page(view, len(entries))
    view = optional(ctx.request, "FractionalPageItemView")
    if view is not None:
        return entries, _fractional_page(view, len(entries))
    view = optional(ctx.request, "ContactsView")
    if view is not None:
        entries = _contacts_range(entries, view)
        stop = min(len(entries), _limit(view))
    else:
        if optional(ctx.request, "SeekToConditionPageItemView") is not None:
            raise SimulatorFault(
                "ErrorInvalidRequest",
                "The simulator does not support SeekToConditionPageItemView.",
            )
        stop = min(len(entries), FIND_COUNT_LIMIT)
    return entries, _Page(
        0,
        stop,
        {
            "TotalItemsInView": str(len(entries)),
            "IncludesLastItemInRange": _bool(stop >= len(entries)),
        },
    )


def _contacts_range(
    entries: list[tuple[etree._Element, ItemType]], view: etree._Element
) -> list[tuple[etree._Element, ItemType]]:
    """Contacts whose FileAs (or DisplayName) lies between the view's names."""
    low = typed(view.get("InitialName") or "")
    high = typed(view.get("FinalName") or "")

    def name(element: etree._Element) -> str:
        return element.findtext(t("FileAs")) or element.findtext(t("DisplayName")) or ""

    kept = []
    for element, kind in entries:
        key = typed(name(element))
        if view.get("InitialName") is not None and key < low:
            continue
        if view.get("FinalName") is not None and key > high:
            continue
        kept.append((element, kind))
    kept.sort(key=lambda entry: typed(name(entry[0])))
    return kept


def _calendar_view(
    folder: Folder, view: etree._Element
) -> tuple[list[tuple[etree._Element, ItemType]], _Page]:
    if not (folder.folder_class or "").startswith("IPF.Appointment"):
        raise ItemError(
            "ErrorCalendarFolderIsInvalidForCalendarView",
            "A CalendarView can only be used on calendar folders.",
        )
    window_start = _view_datetime(view, "StartDate")
    window_end = _view_datetime(view, "EndDate")
    if window_end < window_start:
        raise ItemError(
            "ErrorCalendarEndDateIsEarlierThanStartDate",
            "EndDate is earlier than StartDate",
        )

    found: list[tuple[datetime, etree._Element, ItemType]] = []
    for item in folder.items.values():
        if item.start is None or item.end is None:
            continue
        if item.recurrence is not None:
            found.extend(
                (start, element, item.item_type)
                for start, element in expand(item, window_start, window_end)
            )
        elif item.start < window_end and (
            item.end > window_start or item.start == item.end == window_start
        ):
            found.append((item.start, item.element, item.item_type))
    found.sort(key=lambda entry: entry[0])

    stop = min(len(found), _limit(view))
    entries = [(element, kind) for _, element, kind in found]
    return entries, _Page(
        0,
        stop,
        {
            "TotalItemsInView": str(len(entries)),
            "IncludesLastItemInRange": _bool(stop >= len(entries)),
        },
    )


def _view_datetime(view: etree._Element, name: str) -> datetime:
    raw = view.get(name)
    if raw is None:
        raise schema_fault(f"The required attribute '{name}' is missing.")
    try:
        return parse_datetime(raw)
    except ItemError as exc:
        raise schema_fault(f"The '{name}' attribute is not a valid dateTime.") from exc
