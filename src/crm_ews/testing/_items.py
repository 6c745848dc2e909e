"""What the server does to an item: creation defaults, updates, occurrences.

``prepare_new`` turns a client's ``t:CalendarItem``/``t:Contact``... into the
stored element (schema order, server-managed properties filled in).
``apply_updates`` runs one ``ItemChange``'s ``Updates`` on a copy, so a failed
change leaves the item untouched.  ``derive`` recomputes what Exchange
computes after every write (calendar item type, task completion, size).
Recurring masters expand into occurrence elements on demand.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from lxml import etree

from crm_ews._soap import t
from crm_ews.testing._fields import (
    ADDRESS_PARTS,
    SERVER_MANAGED,
    FieldPath,
    ItemType,
    find_values,
    insert_ordered,
    local,
    matches_extended,
    parse_path,
)
from crm_ews.testing._ids import occurrence_id
from crm_ews.testing._recurrence import (
    Recurrence,
    occurrence_dates,
    occurrence_start,
    parse_recurrence,
    zone_for,
)
from crm_ews.testing._store import Mailbox, StoredItem
from crm_ews.testing._wire import ItemError, schema_fault

#: Calendar properties that only a recurring master carries.
_MASTER_ONLY: Final = (
    "Recurrence",
    "ModifiedOccurrences",
    "DeletedOccurrences",
    "FirstOccurrence",
    "LastOccurrence",
)

#: Properties whose text an ``AppendToItemField`` extends instead of replacing.
_TEXT_APPENDABLE: Final = frozenset({"Body"})


def format_datetime(moment: datetime) -> str:
    """``xs:dateTime`` in UTC with a ``Z``, as Exchange writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(raw: str) -> datetime:
    """Parse an ``xs:dateTime``; values without an offset are taken as UTC.

    Raises:
        ItemError: ``ErrorInvalidValueForProperty`` for anything else.
    """
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ItemError(
            "ErrorInvalidValueForProperty", f"{text!r} is not a valid date and time."
        ) from exc
    if moment.tzinfo is None:
        # Limitation: a value without an offset is read as UTC, not in the
        # request's TimeZoneContext; clients that send local wall-clock times
        # see them shifted.  Send UTC or an explicit offset.
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _set(element: etree._Element, item_type: ItemType, name: str, text: str) -> None:
    child = etree.Element(t(name))
    child.text = text
    insert_ordered(element, child, item_type.order)


class _Writes:
    """Server-computed values collected, then merged into the item at once.

    One sort per write instead of one ordered insert per property keeps
    creating and updating items cheap when a mailbox holds thousands.
    """

    def __init__(self, element: etree._Element, item_type: ItemType) -> None:
        self.element = element
        self.item_type = item_type
        self.values: dict[str, str] = {}

    def set(self, name: str, text: str) -> None:
        self.values[name] = text

    def default(self, name: str, text: str) -> None:
        if name not in self.values and self.element.find(t(name)) is None:
            self.values[name] = text

    def apply(self) -> None:
        if not self.values:
            return
        order = self.item_type.order
        last = len(order)
        kept = [child for child in self.element if local(child) not in self.values]
        for name, text in self.values.items():
            child = etree.Element(t(name))
            child.text = text
            kept.append(child)
        # sorted() is stable: repeated ExtendedProperty elements keep their order.
        self.element[:] = sorted(kept, key=lambda child: order.get(local(child), last))
        self.values.clear()


def prepare_new(
    source: etree._Element, item_type: ItemType, owner: Mailbox, now: datetime
) -> etree._Element:
    """The element to store for a client's new item.

    Raises:
        SimulatorFault: ``ErrorSchemaValidation`` for a child the type lacks.
        ItemError: A server-managed property was set.
    """
    children = _children(source)
    for child in children:
        name = local(child)
        if item_type.position(name) is None:
            raise schema_fault(
                f"The element '{etree.QName(child).localname}' is not expected "
                f"in {item_type.tag}."
            )
        if name in SERVER_MANAGED:
            raise ItemError(
                "ErrorInvalidPropertySet", f"The property {name} is read-only."
            )

    element = etree.Element(t(item_type.tag))
    element.append(etree.Element(t("ItemId")))
    element.append(etree.Element(t("ParentFolderId")))
    for child in sorted(children, key=lambda c: item_type.order[local(c)]):
        element.append(copy.deepcopy(child))

    stamp = format_datetime(now)
    writes = _Writes(element, item_type)
    writes.default("ItemClass", item_type.item_class)
    for name in ("DateTimeReceived", "DateTimeCreated", "LastModifiedTime"):
        writes.set(name, stamp)
    writes.set("HasAttachments", "false")
    writes.set("IsAssociated", "false")
    if item_type.tag == "CalendarItem":
        writes.default("UID", owner.new_guid().upper())
    writes.apply()
    if item_type.tag == "CalendarItem" and element.find(t("Organizer")) is None:
        insert_ordered(element, _organizer(owner), item_type.order)
    return element


def _organizer(owner: Mailbox) -> etree._Element:
    organizer = etree.Element(t("Organizer"))
    mailbox = etree.SubElement(organizer, t("Mailbox"))
    etree.SubElement(mailbox, t("Name")).text = owner.display_name
    etree.SubElement(mailbox, t("EmailAddress")).text = owner.address
    etree.SubElement(mailbox, t("RoutingType")).text = "SMTP"
    etree.SubElement(mailbox, t("MailboxType")).text = "Mailbox"
    return organizer


@dataclass(frozen=True, slots=True)
class Derived:
    """Values the simulator caches next to a stored calendar item."""

    start: datetime | None = None
    end: datetime | None = None
    recurrence: Recurrence | None = None
    zone: tzinfo | None = None


def adopt(item: StoredItem, derived: Derived) -> None:
    """Cache freshly derived calendar values on the stored item."""
    item.start, item.end = derived.start, derived.end
    item.recurrence, item.zone = derived.recurrence, derived.zone


def derive(element: etree._Element, item_type: ItemType, now: datetime) -> Derived:
    """Recompute server-computed properties after a write.

    Raises:
        ItemError: Calendar times or recurrence are invalid.
    """
    writes = _Writes(element, item_type)
    writes.set("LastModifiedTime", format_datetime(now))
    derived = Derived()
    if item_type.tag == "CalendarItem":
        derived = _derive_calendar(writes, now)
    elif item_type.tag == "Task":
        _derive_task(writes, now)
    elif item_type.tag == "Contact":
        _derive_contact(writes)
    writes.apply()
    _set(element, item_type, "Size", str(len(etree.tostring(element)) + 200))
    return derived


def _derive_calendar(writes: _Writes, now: datetime) -> Derived:
    element = writes.element
    start_el, end_el = element.find(t("Start")), element.find(t("End"))
    if start_el is None:
        # Exchange opens a new appointment at the next half hour.
        base = now.replace(second=0, microsecond=0)
        start = base + timedelta(minutes=30 - base.minute % 30)
    else:
        start = parse_datetime(start_el.text or "")
    end = parse_datetime(end_el.text or "") if end_el is not None else None
    if end is None:
        end = start + timedelta(minutes=30)
    if end < start:
        raise ItemError(
            "ErrorCalendarEndDateIsEarlierThanStartDate",
            "EndDate is earlier than StartDate",
        )
    writes.set("Start", format_datetime(start))
    writes.set("End", format_datetime(end))

    recurrence_el = element.find(t("Recurrence"))
    recurrence = parse_recurrence(recurrence_el) if recurrence_el is not None else None
    writes.set("CalendarItemType", "RecurringMaster" if recurrence else "Single")
    # Exchange reports IsRecurring=false on the master itself; only
    # occurrences and exceptions say true.
    writes.set("IsRecurring", "false")
    attendees = any(
        element.find(t(name)) is not None
        for name in ("RequiredAttendees", "OptionalAttendees", "Resources")
    )
    writes.set("IsMeeting", "true" if attendees else "false")
    writes.default("IsCancelled", "false")
    writes.set("MyResponseType", "Organizer")
    writes.default("LegacyFreeBusyStatus", "Busy")
    zone = zone_for(element.find(t("StartTimeZone")))
    return Derived(start=start, end=end, recurrence=recurrence, zone=zone)


def _derive_task(writes: _Writes, now: datetime) -> None:
    element = writes.element
    writes.default("Status", "NotStarted")
    status = (element.findtext(t("Status")) or "NotStarted").strip()
    percent = (element.findtext(t("PercentComplete")) or "").strip()
    if status == "Completed" or percent in ("100", "100.0"):
        status = "Completed"
        writes.set("Status", status)
        writes.set("PercentComplete", "100")
        writes.default("CompleteDate", format_datetime(now))
    else:
        writes.default("PercentComplete", "0")
    writes.set("IsComplete", "true" if status == "Completed" else "false")
    recurring = element.find(t("Recurrence")) is not None
    writes.set("IsRecurring", "true" if recurring else "false")


def _derive_contact(writes: _Writes) -> None:
    element = writes.element
    if element.find(t("DisplayName")) is not None:
        return
    parts = [
        (element.findtext(t(name)) or "").strip() for name in ("GivenName", "Surname")
    ]
    display = (
        " ".join(part for part in parts if part)
        or (element.findtext(t("CompanyName")) or "").strip()
    )
    if display:
        writes.set("DisplayName", display)


def field_key(path: FieldPath) -> str:
    """A stable name for the property ``path`` addresses (conflict tracking)."""
    if path.extended is not None:
        return f"ExtendedProperty:{path.extended}"
    if path.index is not None:
        return f"{path.element}:{path.index}:{path.part or ''}"
    return path.element or path.uri


def apply_updates(
    element: etree._Element, item_type: ItemType, updates: etree._Element
) -> set[str]:
    """Run ``t:Updates`` on ``element`` in place; return the changed field keys.

    Callers pass a copy and keep it only when this returns.

    Raises:
        ItemError: A change is invalid (read-only property, wrong count...).
        SimulatorFault: The change description is malformed.
    """
    changed: set[str] = set()
    for change in _children(updates):
        kind = local(change)
        parts = _children(change)
        if kind not in ("SetItemField", "AppendToItemField", "DeleteItemField"):
            raise schema_fault(
                f"The element '{etree.QName(change).localname}' is not expected."
            )
        expected = 1 if kind == "DeleteItemField" else 2
        if len(parts) != expected:
            raise schema_fault(f"'{kind}' has {len(parts)} children, not {expected}.")

        path = parse_path(parts[0])
        if not path.applies_to(item_type) or path.element in SERVER_MANAGED:
            raise ItemError(
                "ErrorInvalidPropertySet",
                f"The property {path.uri} cannot be set on this item.",
            )
        if kind == "DeleteItemField":
            _delete(element, path, item_type)
        else:
            value = _single_value(parts[1], path, item_type)
            if kind == "SetItemField":
                _set_value(element, path, value, item_type)
            else:
                _append_value(element, path, value, item_type)
        changed.add(field_key(path))
    return changed


def _single_value(
    wrapper: etree._Element, path: FieldPath, item_type: ItemType
) -> etree._Element:
    if local(wrapper) not in (item_type.tag, "Item"):
        raise ItemError(
            "ErrorInvalidPropertySet",
            f"A {local(wrapper) or 'foreign'} change cannot apply to "
            f"a {item_type.tag}.",
        )
    values = _children(wrapper)
    wanted = "ExtendedProperty" if path.extended is not None else path.element
    if len(values) != 1 or local(values[0]) != wanted:
        raise ItemError(
            "ErrorIncorrectUpdatePropertyCount",
            "An object within a change description must contain one and only one "
            "property to modify.",
        )
    value = values[0]
    if path.extended is not None and not matches_extended(value, path.extended):
        raise ItemError(
            "ErrorIncorrectUpdatePropertyCount",
            "The extended property does not match its path.",
        )
    if path.index is not None:
        entries = [e for e in value if isinstance(e.tag, str)]
        if len(entries) != 1 or entries[0].get("Key") != path.index:
            raise ItemError(
                "ErrorIncorrectUpdatePropertyCount",
                "An indexed change must carry exactly the entry it names.",
            )
    return value


def _set_value(
    element: etree._Element,
    path: FieldPath,
    value: etree._Element,
    item_type: ItemType,
) -> None:
    if path.extended is not None:
        for existing in find_values(element, path):
            element.remove(existing)
        insert_ordered(element, copy.deepcopy(value), item_type.order)
        return
    if path.index is None:
        insert_ordered(element, copy.deepcopy(value), item_type.order)
        return

    given_entry = value[0]
    container = element.find(t(path.element or ""))
    if container is None:
        container = etree.Element(t(path.element or ""))
        insert_ordered(element, container, item_type.order)
    entry = _entry(container, path.index)
    if path.part is None:
        new = copy.deepcopy(given_entry)
        if entry is None:
            container.append(new)
        else:
            container.replace(entry, new)
        return

    if entry is None:
        entry = etree.SubElement(container, t("Entry"), Key=path.index)
    for part in given_entry:
        if local(part) == path.part:
            _set_part(entry, copy.deepcopy(part))


def _set_part(entry: etree._Element, part: etree._Element) -> None:
    order = {name: index for index, name in enumerate(ADDRESS_PARTS)}
    insert_ordered(entry, part, order)


def _entry(container: etree._Element, key: str | None) -> etree._Element | None:
    for entry in container.iterchildren(t("Entry")):
        if entry.get("Key") == key:
            return entry
    return None


def _append_value(
    element: etree._Element,
    path: FieldPath,
    value: etree._Element,
    item_type: ItemType,
) -> None:
    existing = element.find(t(path.element or "")) if path.index is None else None
    if existing is None or path.extended is not None:
        _set_value(element, path, value, item_type)
        return
    if local(existing) in _TEXT_APPENDABLE:
        existing.text = (existing.text or "") + (value.text or "")
        return
    for child in value:
        existing.append(copy.deepcopy(child))


def _delete(element: etree._Element, path: FieldPath, item_type: ItemType) -> None:
    if item_type.tag == "CalendarItem" and path.element in ("Start", "End"):
        raise ItemError(
            "ErrorInvalidPropertyDelete", f"The property {path.uri} cannot be deleted."
        )
    for found in find_values(element, path):
        parent = found.getparent()
        if parent is None:
            continue
        parent.remove(found)
        if path.part is not None and len(parent) == 0:
            container = parent.getparent()
            if container is not None:
                container.remove(parent)
                parent = container
        if path.index is not None and len(parent) == 0 and parent is not element:
            grand = parent.getparent()
            if grand is not None:
                grand.remove(parent)


# --- recurring series -----------------------------------------------------


def occurrence_element(item: StoredItem, original: datetime) -> etree._Element:
    """The full element of one occurrence: its exception, or a derived copy."""
    if original in item.exceptions:
        return item.exceptions[original]
    if item.start is None or item.end is None:
        raise ItemError("ErrorItemNotFound", "The item is not a recurring master.")
    element = copy.deepcopy(item.element)
    for name in _MASTER_ONLY:
        found = element.find(t(name))
        if found is not None:
            element.remove(found)
    item_id = element.find(t("ItemId"))
    if item_id is not None:
        item_id.set("Id", occurrence_id(item.item_id, original))
    _set(element, item.item_type, "Start", format_datetime(original))
    _set(
        element,
        item.item_type,
        "End",
        format_datetime(original + (item.end - item.start)),
    )
    _set(element, item.item_type, "OriginalStart", format_datetime(original))
    _set(element, item.item_type, "CalendarItemType", "Occurrence")
    _set(element, item.item_type, "IsRecurring", "true")
    return element


def original_starts(item: StoredItem) -> Iterator[tuple[int, datetime]]:
    """``(instance index, original start)`` of every occurrence, in order."""
    if item.recurrence is None or item.start is None:
        return
    for index, day in occurrence_dates(item.recurrence):
        yield index, occurrence_start(day, item.start, item.zone)


def is_occurrence(item: StoredItem, original: datetime) -> bool:
    """Whether ``original`` is a live (not deleted) occurrence of ``item``."""
    if original in item.deleted_occurrences:
        return False
    for _, start in original_starts(item):
        if start == original:
            return True
        if start > original:
            return False
    return False


def occurrence_at(item: StoredItem, index: int) -> datetime | None:
    """The original start of the 1-based ``index``-th occurrence."""
    for number, start in original_starts(item):
        if number == index:
            return start
        if number > index:
            break
    return None


def expand(
    item: StoredItem, window_start: datetime, window_end: datetime
) -> list[tuple[datetime, etree._Element]]:
    """Occurrences of a recurring master overlapping the window, by start.

    Exceptions are placed by their own (possibly moved) times; deleted
    occurrences are left out.
    """
    if item.start is None or item.end is None:
        return []
    duration = item.end - item.start
    found: list[tuple[datetime, etree._Element]] = []
    for _, original in original_starts(item):
        if original >= window_end:
            break
        if original in item.deleted_occurrences or original in item.exceptions:
            continue
        if original + duration > window_start or (
            duration == timedelta(0) and original >= window_start
        ):
            found.append((original, occurrence_element(item, original)))
    for element in item.exceptions.values():
        start = parse_datetime(element.findtext(t("Start")) or "")
        end = parse_datetime(element.findtext(t("End")) or "")
        if start < window_end and end > window_start:
            found.append((start, element))
    found.sort(key=lambda pair: pair[0])
    return found


def rebuild_occurrence_lists(item: StoredItem) -> None:
    """Rewrite a master's ``ModifiedOccurrences``/``DeletedOccurrences``."""
    element, order = item.element, item.item_type.order
    for name in ("ModifiedOccurrences", "DeletedOccurrences"):
        found = element.find(t(name))
        if found is not None:
            element.remove(found)

    if item.exceptions:
        modified = etree.Element(t("ModifiedOccurrences"))
        for original in sorted(item.exceptions):
            exception = item.exceptions[original]
            occurrence = etree.SubElement(modified, t("Occurrence"))
            exception_id = exception.find(t("ItemId"))
            if exception_id is not None:
                occurrence.append(copy.deepcopy(exception_id))
            for name in ("Start", "End"):
                etree.SubElement(occurrence, t(name)).text = exception.findtext(t(name))
            etree.SubElement(occurrence, t("OriginalStart")).text = format_datetime(
                original
            )
        insert_ordered(element, modified, order)

    if item.deleted_occurrences:
        deleted = etree.Element(t("DeletedOccurrences"))
        for original in sorted(item.deleted_occurrences):
            entry = etree.SubElement(deleted, t("DeletedOccurrence"))
            etree.SubElement(entry, t("Start")).text = format_datetime(original)
        insert_ordered(element, deleted, order)
