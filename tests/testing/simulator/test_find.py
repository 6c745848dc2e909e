"""FindItem: paging, restrictions, sorting, calendar views and occurrences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from crm_ews._soap import m, t
from crm_ews.testing import ExchangeSimulator, calendar_item, contact
from tests.testing.simulator._ews import (
    ALICE,
    SOAPClient,
    code,
    item_ids,
    messages,
    request,
)

MONDAY = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
CRM_ID = (
    '<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" '
    'PropertyName="CrmId" PropertyType="String"/>'
)


def _find(
    ews: SOAPClient,
    folder: str,
    view: str = "",
    extra: str = "",
    shape: str = "IdOnly",
    additional: str = "",
) -> etree._Element:
    props = (
        f"<t:AdditionalProperties>{additional}</t:AdditionalProperties>"
        if additional
        else ""
    )
    body = request(
        "FindItem",
        "<m:ItemShape>"
        f"<t:BaseShape>{shape}</t:BaseShape>{props}</m:ItemShape>{view}{extra}"
        f'<m:ParentFolderIds><t:DistinguishedFolderId Id="{folder}"/>'
        "</m:ParentFolderIds>",
        Traversal="Shallow",
    )
    return messages(ews.call(body))[0]


def _root(message: etree._Element) -> etree._Element:
    root = message.find(m("RootFolder"))
    assert root is not None, etree.tostring(message)
    return root


def _subjects(message: etree._Element) -> list[str]:
    return [element.text or "" for element in message.iter(t("Subject"))]


def _contacts(sim: ExchangeSimulator, count: int) -> list[str]:
    return [sim.add_item(ALICE, contact(f"G{i}", f"S{i:02d}")) for i in range(count)]


def test_indexed_paging_walks_all_items(ews: SOAPClient) -> None:
    """IndexedPageItemView pages with offsets until IncludesLastItemInRange."""
    created = _contacts(ews.simulator, 5)
    seen: list[str] = []
    offset = 0
    while True:
        view = (
            f'<m:IndexedPageItemView MaxEntriesReturned="2" Offset="{offset}" '
            'BasePoint="Beginning"/>'
        )
        root = _root(_find(ews, "contacts", view))
        seen.extend(item_id for item_id, _ in item_ids(root))
        assert root.get("TotalItemsInView") == "5"
        offset = int(root.get("IndexedPagingOffset") or "0")
        if root.get("IncludesLastItemInRange") == "true":
            break
    assert seen == created


def test_paging_from_the_end(ews: SOAPClient) -> None:
    """BasePoint End counts the offset from the last item."""
    created = _contacts(ews.simulator, 5)
    view = '<m:IndexedPageItemView MaxEntriesReturned="2" Offset="0" BasePoint="End"/>'
    assert [i for i, _ in item_ids(_root(_find(ews, "contacts", view)))] == created[3:]


def test_offset_past_the_end_is_empty_and_complete(ews: SOAPClient) -> None:
    """An offset beyond the items gives an empty, complete page."""
    _contacts(ews.simulator, 2)
    view = (
        '<m:IndexedPageItemView MaxEntriesReturned="2" Offset="10" '
        'BasePoint="Beginning"/>'
    )
    root = _root(_find(ews, "contacts", view))
    assert item_ids(root) == []
    assert root.get("IncludesLastItemInRange") == "true"


def test_is_equal_to_on_named_extended_property(ews: SOAPClient) -> None:
    """An IsEqualTo restriction on a named property finds the tagged item."""
    for crm in ("crm-1", "crm-2"):
        ews.create(
            f"<t:Task><t:Subject>{crm}</t:Subject><t:ExtendedProperty>{CRM_ID}"
            f"<t:Value>{crm}</t:Value></t:ExtendedProperty></t:Task>"
        )
    restriction = (
        f"<m:Restriction><t:IsEqualTo>{CRM_ID}<t:FieldURIOrConstant>"
        '<t:Constant Value="crm-2"/></t:FieldURIOrConstant></t:IsEqualTo>'
        "</m:Restriction>"
    )
    message = _find(ews, "tasks", extra=restriction, shape="Default")
    assert _subjects(message) == ["crm-2"]


def test_boolean_restrictions_and_sorting(ews: SOAPClient) -> None:
    """And/Or/Not/Contains filter and SortOrder orders descending."""
    _contacts(ews.simulator, 4)
    restriction = (
        "<m:Restriction><t:And><t:Not><t:IsEqualTo>"
        '<t:FieldURI FieldURI="contacts:Surname"/><t:FieldURIOrConstant>'
        '<t:Constant Value="s01"/></t:FieldURIOrConstant></t:IsEqualTo></t:Not>'
        '<t:Contains ContainmentMode="Prefixed" ContainmentComparison="IgnoreCase">'
        '<t:FieldURI FieldURI="contacts:GivenName"/><t:Constant Value="g"/>'
        "</t:Contains>"
        "</t:And></m:Restriction>"
        '<m:SortOrder><t:FieldOrder Order="Descending">'
        '<t:FieldURI FieldURI="contacts:Surname"/>'
        "</t:FieldOrder></m:SortOrder>"
    )
    additional = '<t:FieldURI FieldURI="contacts:Surname"/>'
    message = _find(ews, "contacts", extra=restriction, additional=additional)
    assert [e.text for e in message.iter(t("Surname"))] == ["S03", "S02", "S00"]


def test_unsupported_filter_is_refused(ews: SOAPClient) -> None:
    """A search expression the simulator lacks faults instead of guessing."""
    restriction = (
        '<m:Restriction><t:Excludes><t:FieldURI FieldURI="item:Subject"/>'
        '<t:Bitmask Value="1"/></t:Excludes></m:Restriction>'
    )
    response = ews.send(
        request(
            "FindItem",
            "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
            f'{restriction}<m:ParentFolderIds><t:DistinguishedFolderId Id="tasks"/>'
            "</m:ParentFolderIds>",
            Traversal="Shallow",
        )
    )
    assert response.status_code == 500
    assert b"ErrorUnsupportedQueryFilter" in response.content


def _view(start: datetime, end: datetime, limit: int | None = None) -> str:
    cap = f' MaxEntriesReturned="{limit}"' if limit else ""
    return (
        f'<m:CalendarView StartDate="{start.strftime("%Y-%m-%dT%H:%M:%SZ")}" '
        f'EndDate="{end.strftime("%Y-%m-%dT%H:%M:%SZ")}"{cap}/>'
    )


def _series(sim: ExchangeSimulator, **kwargs: object) -> str:
    return sim.add_item(
        ALICE,
        calendar_item(
            "Standup",
            MONDAY,
            MONDAY + timedelta(minutes=15),
            weekly_on=("Monday", "Wednesday"),
            **kwargs,
        ),  # type: ignore[arg-type]
    )


def test_calendar_view_expands_series_into_occurrences(ews: SOAPClient) -> None:
    """A weekly master appears as occurrences with distinct ids, never itself."""
    master = _series(ews.simulator)
    ews.simulator.add_item(
        ALICE,
        calendar_item(
            "Lunch", MONDAY + timedelta(hours=3), MONDAY + timedelta(hours=4)
        ),
    )
    ews.simulator.add_item(
        ALICE,
        calendar_item(
            "Later", MONDAY + timedelta(days=30), MONDAY + timedelta(days=30, hours=1)
        ),
    )
    message = _find(
        ews,
        "calendar",
        _view(MONDAY, MONDAY + timedelta(days=14)),
        additional=(
            '<t:FieldURI FieldURI="calendar:Start"/><t:FieldURI '
            'FieldURI="calendar:CalendarItemType"/><t:FieldURI '
            'FieldURI="item:Subject"/>'
        ),
    )
    items = list(_root(message).find(t("Items")))
    kinds = [item.findtext(t("CalendarItemType")) for item in items]
    assert kinds == ["Occurrence", "Single", "Occurrence", "Occurrence", "Occurrence"]
    ids = [item.find(t("ItemId")).get("Id") for item in items]
    assert master not in ids
    assert len(set(ids)) == 5
    assert items[2].findtext(t("Start")) == "2030-01-09T09:00:00Z"


def test_view_caps_entries_and_flags_incomplete(ews: SOAPClient) -> None:
    """MaxEntriesReturned caps the view and IncludesLastItemInRange says so."""
    _series(ews.simulator)
    root = _root(
        _find(ews, "calendar", _view(MONDAY, MONDAY + timedelta(days=28), limit=3))
    )
    assert len(item_ids(root)) == 3
    assert (root.get("TotalItemsInView"), root.get("IncludesLastItemInRange")) == (
        "8",
        "false",
    )


def test_numbered_series_ends(ews: SOAPClient) -> None:
    """A numbered range stops after its count."""
    _series(ews.simulator, occurrences=3)
    root = _root(_find(ews, "calendar", _view(MONDAY, MONDAY + timedelta(days=60))))
    assert len(item_ids(root)) == 3


def test_series_keeps_local_time_across_dst(ews: SOAPClient) -> None:
    """A series in W. Europe time stays at 10:00 local across the DST change."""
    ews.create(
        "<t:CalendarItem><t:Subject>Standup</t:Subject>"
        "<t:Start>2027-03-22T09:00:00Z</t:Start><t:End>2027-03-22T09:15:00Z</t:End>"
        "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>"
        "<t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence>"
        "<t:NumberedRecurrence><t:StartDate>2027-03-22</t:StartDate>"
        "<t:NumberOfOccurrences>3</t:NumberOfOccurrences></t:NumberedRecurrence>"
        '</t:Recurrence><t:StartTimeZone Id="W. Europe Standard Time"/>'
        "</t:CalendarItem>",
        SendMeetingInvitations="SendToNone",
    )
    window = _view(datetime(2027, 3, 21, tzinfo=UTC), datetime(2027, 4, 10, tzinfo=UTC))
    additional = '<t:FieldURI FieldURI="calendar:Start"/>'
    message = _find(ews, "calendar", window, additional=additional)
    starts = [e.text for e in message.iter(t("Start"))]
    assert starts == [
        "2027-03-22T09:00:00Z",
        "2027-03-29T08:00:00Z",
        "2027-04-05T08:00:00Z",
    ]


def test_calendar_view_needs_a_calendar(ews: SOAPClient) -> None:
    """A CalendarView on the contacts folder is refused."""
    message = _find(ews, "contacts", _view(MONDAY, MONDAY + timedelta(days=1)))
    assert code(message) == "ErrorCalendarFolderIsInvalidForCalendarView"


def test_occurrence_get_update_and_delete(ews: SOAPClient) -> None:
    """Occurrences can be read, moved (an exception) and deleted (a gap)."""
    master = _series(ews.simulator)
    additional = '<t:FieldURI FieldURI="calendar:Start"/>'
    window = _view(MONDAY, MONDAY + timedelta(days=7))
    first, second = [i for i, _ in item_ids(_root(_find(ews, "calendar", window)))]

    got = ews.get([first]).find(f".//{t('CalendarItem')}")
    assert got.findtext(t("CalendarItemType")) == "Occurrence"
    assert got.findtext(t("IsRecurring")) == "true"

    moved = MONDAY + timedelta(days=2, hours=5)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    moved_end = (moved + timedelta(minutes=15)).strftime(stamp)
    update = (
        '<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem>'
        f"<t:Start>{moved.strftime('%Y-%m-%dT%H:%M:%SZ')}</t:Start></t:CalendarItem>"
        "</t:SetItemField>"
        '<t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem>'
        f"<t:End>{moved_end}</t:End>"
        "</t:CalendarItem></t:SetItemField>"
    )
    assert code(ews.update(second, None, update)) == "NoError"
    delete = request(
        "DeleteItem",
        f'<m:ItemIds><t:ItemId Id="{first}"/></m:ItemIds>',
        DeleteType="HardDelete",
        SendMeetingCancellations="SendToNone",
    )
    assert code(messages(ews.call(delete))[0]) == "NoError"

    message = _find(ews, "calendar", window, additional=additional)
    starts = [e.text for e in message.iter(t("Start"))]
    assert starts == ["2030-01-09T14:00:00Z"]
    stored = ews.simulator.item(ALICE, master)
    assert stored.element.find(f"{t('DeletedOccurrences')}") is not None
    assert stored.element.find(f"{t('ModifiedOccurrences')}") is not None
    assert stored.text("IsRecurring") == "false"
    assert stored.text("CalendarItemType") == "RecurringMaster"


def test_occurrence_item_id_by_index(ews: SOAPClient) -> None:
    """OccurrenceItemId with an InstanceIndex resolves the nth occurrence."""
    master = _series(ews.simulator)
    body = request(
        "GetItem",
        "<m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>"
        "<m:ItemIds>"
        f'<t:OccurrenceItemId RecurringMasterId="{master}" InstanceIndex="3"/>'
        f'<t:OccurrenceItemId RecurringMasterId="{master}" InstanceIndex="99999"/>'
        "</m:ItemIds>",
    )
    first, second = messages(ews.call(body))
    assert first.findtext(f".//{t('Start')}") == "2030-01-14T09:00:00Z"
    assert code(second) == "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"


def test_find_item_leaves_out_bodies(ews: SOAPClient) -> None:
    """FindItem never returns Body, even with AllProperties."""
    ews.create(
        '<t:Task><t:Subject>s</t:Subject><t:Body BodyType="Text">secret</t:Body>'
        "</t:Task>"
    )
    message = _find(ews, "tasks", shape="AllProperties")
    assert message.find(f".//{t('Body')}") is None
    assert _subjects(message) == ["s"]


@pytest.mark.parametrize("traversal", ["SoftDeleted", "Associated"])
def test_other_traversals_are_empty(ews: SOAPClient, traversal: str) -> None:
    """Soft-deleted and associated views are empty: nothing lives there."""
    ews.create("<t:Task><t:Subject>s</t:Subject></t:Task>")
    body = request(
        "FindItem",
        "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        '<m:ParentFolderIds><t:DistinguishedFolderId Id="tasks"/></m:ParentFolderIds>',
        Traversal=traversal,
    )
    assert item_ids(messages(ews.call(body))[0]) == []
