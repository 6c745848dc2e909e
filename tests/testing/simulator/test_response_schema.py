"""Every response the simulator writes validates against Microsoft's schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from crm_ews._soap import parse_xml, soap, t
from crm_ews.testing import ExchangeSimulator, FaultInjection, calendar_item
from tests.testing.simulator._ews import (
    ALICE,
    SOAPClient,
    folder_ref,
    item_ids,
    request,
)

pytestmark = pytest.mark.schema

START = datetime(2030, 1, 7, 9, tzinfo=UTC)
CRM_ID = (
    '<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" '
    'PropertyName="CrmId" PropertyType="String"/>'
)


def _bodies(ews: SOAPClient, sim: ExchangeSimulator) -> list[bytes]:
    """Run one of each operation, good and bad; return the raw responses."""
    out: list[bytes] = []

    def send(body: etree._Element, mailbox: str | None = ALICE) -> bytes:
        content = ews.send(body, mailbox=mailbox).content
        out.append(content)
        return content

    master = sim.add_item(
        ALICE,
        calendar_item(
            "Series",
            START,
            START + timedelta(hours=1),
            weekly_on=("Monday",),
            body="<b>hi</b>",
        ),
    )
    item_shape = (
        "<m:ItemShape><t:BaseShape>AllProperties</t:BaseShape>"
        "<t:BodyType>Text</t:BodyType>"
        f"<t:AdditionalProperties>{CRM_ID}</t:AdditionalProperties></m:ItemShape>"
    )
    folder_shape = (
        "<m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape>"
    )
    contact = (
        f"<t:Contact><t:ExtendedProperty>{CRM_ID}<t:Value>c</t:Value>"
        "</t:ExtendedProperty>"
        "<t:FileAs>L, A</t:FileAs><t:GivenName>A</t:GivenName>"
        '<t:EmailAddresses><t:Entry Key="EmailAddress1">a@x.example</t:Entry>'
        "</t:EmailAddresses>"
        '<t:PhysicalAddresses><t:Entry Key="Home"><t:City>Oslo</t:City></t:Entry>'
        "</t:PhysicalAddresses>"
        "<t:Surname>L</t:Surname></t:Contact>"
    )
    created = send(
        request(
            "CreateItem",
            f"<m:Items>{contact}<t:Task><t:Subject>t</t:Subject></t:Task></m:Items>",
        )
    )
    contact_id = item_ids(parse_xml(created))[0][0]
    send(
        request(
            "CreateItem",
            f"<m:SavedItemFolderId>{folder_ref('calendar')}</m:SavedItemFolderId>"
            f"<m:Items>{contact}</m:Items>",
        )
    )
    send(
        request(
            "GetItem",
            f'{item_shape}<m:ItemIds><t:ItemId Id="{contact_id}"/>'
            f'<t:ItemId Id="{master}"/><t:ItemId Id="bad"/></m:ItemIds>',
        )
    )
    view = (
        '<m:CalendarView StartDate="2030-01-01T00:00:00Z" '
        'EndDate="2030-02-01T00:00:00Z"/>'
    )
    found = send(
        request(
            "FindItem",
            f"{item_shape}{view}<m:ParentFolderIds>{folder_ref('calendar')}</m:ParentFolderIds>",
            Traversal="Shallow",
        )
    )
    occurrence = item_ids(parse_xml(found))[1][0]
    send(
        request(
            "GetItem",
            f'{item_shape}<m:ItemIds><t:ItemId Id="{occurrence}"/></m:ItemIds>',
        )
    )
    paging = (
        '<m:IndexedPageItemView MaxEntriesReturned="1" Offset="0" '
        'BasePoint="Beginning"/>'
    )
    send(
        request(
            "FindItem",
            f"{item_shape}{paging}<m:ParentFolderIds>{folder_ref('contacts')}{folder_ref('journal')}</m:ParentFolderIds>",
            Traversal="Shallow",
        )
    )
    update = (
        '<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem>'
        "<t:Start>2030-01-14T12:00:00Z</t:Start>"
        "</t:CalendarItem></t:SetItemField>"
    )
    send(
        request(
            "UpdateItem",
            f'<m:ItemChanges><t:ItemChange><t:ItemId Id="{occurrence}"/>'
            f"<t:Updates>{update}</t:Updates></t:ItemChange></m:ItemChanges>",
            ConflictResolution="AlwaysOverwrite",
            SendMeetingInvitationsOrCancellations="SendToNone",
        )
    )
    send(
        request(
            "UpdateItem",
            "<m:ItemChanges><t:ItemChange>"
            f'<t:ItemId Id="{contact_id}" '
            'ChangeKey="DwAAABYAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"/>'
            f"<t:Updates>{update}</t:Updates></t:ItemChange></m:ItemChanges>",
            ConflictResolution="NeverOverwrite",
        )
    )
    send(
        request(
            "GetItem", f'{item_shape}<m:ItemIds><t:ItemId Id="{master}"/></m:ItemIds>'
        )
    )
    sync = send(
        request(
            "SyncFolderItems",
            f"{item_shape}<m:SyncFolderId>{folder_ref('contacts')}</m:SyncFolderId>"
            "<m:MaxChangesReturned>1</m:MaxChangesReturned>",
        )
    )
    state = parse_xml(sync).findtext(".//{*}SyncState")
    send(
        request(
            "DeleteItem",
            f'<m:ItemIds><t:ItemId Id="{contact_id}"/><t:ItemId Id="{occurrence}"/>'
            "</m:ItemIds>",
            DeleteType="MoveToDeletedItems",
            SendMeetingCancellations="SendToNone",
            AffectedTaskOccurrences="AllOccurrences",
        )
    )
    send(
        request(
            "SyncFolderItems",
            f"{item_shape}<m:SyncFolderId>{folder_ref('contacts')}</m:SyncFolderId>"
            f"<m:SyncState>{state}</m:SyncState>"
            "<m:MaxChangesReturned>10</m:MaxChangesReturned>",
        )
    )
    send(
        request(
            "SyncFolderItems",
            f"{item_shape}<m:SyncFolderId>{folder_ref('contacts')}</m:SyncFolderId>"
            "<m:SyncState>junk</m:SyncState>"
            "<m:MaxChangesReturned>10</m:MaxChangesReturned>",
        )
    )
    send(
        request(
            "GetFolder",
            f"{folder_shape}<m:FolderIds>{folder_ref('calendar')}{folder_ref('tasks')}{folder_ref('root')}{folder_ref('journal')}</m:FolderIds>",
        )
    )
    send(
        request(
            "FindFolder",
            f"{folder_shape}<m:ParentFolderIds>{folder_ref('root')}</m:ParentFolderIds>",
            Traversal="Deep",
        )
    )
    send(
        request(
            "CreateFolder",
            f"<m:ParentFolderId>{folder_ref('inbox')}</m:ParentFolderId><m:Folders>"
            "<t:ContactsFolder><t:DisplayName>X</t:DisplayName></t:ContactsFolder>"
            "<t:Folder><t:DisplayName>X</t:DisplayName></t:Folder></m:Folders>",
        )
    )
    hierarchy = send(request("SyncFolderHierarchy", folder_shape))
    send(
        request(
            "SyncFolderHierarchy",
            f"{folder_shape}<m:SyncState>{parse_xml(hierarchy).findtext('.//{*}SyncState')}</m:SyncState>",
        )
    )
    send(
        request(
            "MoveItem",
            f"<m:ToFolderId>{folder_ref('tasks')}</m:ToFolderId><m:ItemIds>"
            f'<t:ItemId Id="{master}"/></m:ItemIds>',
        )
    )
    send(
        request(
            "DeleteFolder",
            f"<m:FolderIds>{folder_ref('calendar')}</m:FolderIds>",
            DeleteType="HardDelete",
        )
    )
    return out


def test_responses_validate(
    ews: SOAPClient, ews_simulator: ExchangeSimulator, ews_schema: etree.XMLSchema
) -> None:
    """The body child and header of every response validate against the schema."""
    bodies = _bodies(ews, ews_simulator)
    assert len(bodies) == 20
    for raw in bodies:
        envelope = parse_xml(raw)
        header = envelope.find(soap("Header"))
        assert header is not None
        assert ews_schema.validate(header[0]), ews_schema.error_log
        payload = envelope.find(soap("Body"))[0]
        assert ews_schema.validate(payload), (ews_schema.error_log, raw[:3000])


def test_faults_are_shaped_like_exchange() -> None:
    """A fault has an a:-qualified faultcode, a faultstring and an errors detail."""
    sim = ExchangeSimulator(
        mailboxes=[ALICE], faults=FaultInjection(server_busy_rate=1.0)
    )
    from crm_ews.testing import ServiceAccount
    from crm_ews.testing.pytest_plugin import PASSWORD, SERVICE_ACCOUNT

    sim.add_service_account(ServiceAccount(SERVICE_ACCOUNT, PASSWORD))
    with SOAPClient(sim) as client:
        raw = client.send(
            request(
                "GetFolder",
                "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
                '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds>',
            )
        ).content
    fault = parse_xml(raw).find(f"{soap('Body')}/{soap('Fault')}")
    assert [etree.QName(child).localname for child in fault] == [
        "faultcode",
        "faultstring",
        "detail",
    ]
    code = fault.find("faultcode")
    assert code.text == "a:ErrorServerBusy"
    assert (
        code.nsmap["a"] == "http://schemas.microsoft.com/exchange/services/2006/types"
    )
    detail = [etree.QName(child).text for child in fault.find("detail")]
    errors = "{http://schemas.microsoft.com/exchange/services/2006/errors}"
    assert detail == [f"{errors}ResponseCode", f"{errors}Message", t("MessageXml")]
