"""GetFolder, FindFolder, CreateFolder and DeleteFolder."""

from __future__ import annotations

import base64

from lxml import etree

from crm_ews._soap import m, t
from tests.testing.simulator._ews import SOAPClient, code, messages, request

_SHAPE = "<m:FolderShape><t:BaseShape>{}</t:BaseShape></m:FolderShape>"


def _get(ews: SOAPClient, *names: str, shape: str = "Default") -> list[etree._Element]:
    refs = "".join(f'<t:DistinguishedFolderId Id="{name}"/>' for name in names)
    return messages(
        ews.call(
            request(
                "GetFolder", _SHAPE.format(shape) + f"<m:FolderIds>{refs}</m:FolderIds>"
            )
        )
    )


def _create(
    ews: SOAPClient, name: str, parent: str = "msgfolderroot", tag: str = "Folder"
) -> etree._Element:
    body = request(
        "CreateFolder",
        f'<m:ParentFolderId><t:DistinguishedFolderId Id="{parent}"/></m:ParentFolderId>'
        f"<m:Folders><t:{tag}><t:DisplayName>{name}</t:DisplayName></t:{tag}>"
        "</m:Folders>",
    )
    return messages(ews.call(body))[0]


def test_distinguished_folders_have_their_types(ews: SOAPClient) -> None:
    """calendar, contacts and tasks come back as their folder types."""
    found = _get(
        ews, "calendar", "contacts", "tasks", "inbox", "deleteditems", "msgfolderroot"
    )
    tags = [etree.QName(message.find(m("Folders"))[0]).localname for message in found]
    assert tags == [
        "CalendarFolder",
        "ContactsFolder",
        "TasksFolder",
        "Folder",
        "Folder",
        "Folder",
    ]
    folder_id = found[0].find(f".//{t('FolderId')}").get("Id")
    assert len(folder_id) > 100
    assert base64.b64decode(folder_id)


def test_missing_distinguished_folder_is_not_found(ews: SOAPClient) -> None:
    """A distinguished folder the mailbox lacks gives ErrorFolderNotFound."""
    found = _get(ews, "calendar", "journal")
    assert [code(message) for message in found] == ["NoError", "ErrorFolderNotFound"]


def test_all_properties_shape_includes_class_and_counts(ews: SOAPClient) -> None:
    """AllProperties returns class, parent, counts and rights."""
    folder = _get(ews, "contacts", shape="AllProperties")[0].find(
        f".//{t('ContactsFolder')}"
    )
    names = [etree.QName(child).localname for child in folder]
    assert names == [
        "FolderId",
        "ParentFolderId",
        "FolderClass",
        "DisplayName",
        "TotalCount",
        "ChildFolderCount",
        "EffectiveRights",
    ]
    assert folder.findtext(t("FolderClass")) == "IPF.Contact"


def test_create_folder_and_find_it(ews: SOAPClient) -> None:
    """A created folder shows up in Shallow and Deep FindFolder."""
    assert code(_create(ews, "CRM Calendar", tag="CalendarFolder")) == "NoError"
    assert code(_create(ews, "Nested", parent="inbox")) == "NoError"

    def find(traversal: str, parent: str) -> list[str]:
        body = request(
            "FindFolder",
            _SHAPE.format("Default")
            + f'<m:ParentFolderIds><t:DistinguishedFolderId Id="{parent}"/>'
            "</m:ParentFolderIds>",
            Traversal=traversal,
        )
        return [e.text or "" for e in ews.call(body).iter(t("DisplayName"))]

    shallow = find("Shallow", "msgfolderroot")
    assert "CRM Calendar" in shallow
    assert "Nested" not in shallow
    assert {"CRM Calendar", "Nested", "Top of Information Store"} <= set(
        find("Deep", "root")
    )


def test_duplicate_folder_name_is_refused(ews: SOAPClient) -> None:
    """Two folders of one name under one parent give ErrorFolderExists."""
    _create(ews, "Once")
    assert code(_create(ews, "once")) == "ErrorFolderExists"


def test_items_can_live_in_created_calendar(ews: SOAPClient) -> None:
    """A created calendar folder accepts calendar items."""
    folder_id = (
        _create(ews, "Team", tag="CalendarFolder").find(f".//{t('FolderId')}").get("Id")
    )
    ews.create(
        "<t:CalendarItem><t:Subject>x</t:Subject>"
        "<t:Start>2030-01-01T10:00:00Z</t:Start>"
        "<t:End>2030-01-01T11:00:00Z</t:End></t:CalendarItem>",
        folder=folder_id,
    )
    assert len(ews.simulator.items("alice@example.com", folder_id)) == 1


def test_find_folder_pages(ews: SOAPClient) -> None:
    """IndexedPageFolderView pages the folder list."""
    body = request(
        "FindFolder",
        _SHAPE.format("IdOnly")
        + '<m:IndexedPageFolderView MaxEntriesReturned="2" Offset="0" '
        'BasePoint="Beginning"/>'
        + '<m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot"/>'
        "</m:ParentFolderIds>",
        Traversal="Shallow",
    )
    root = messages(ews.call(body))[0].find(m("RootFolder"))
    assert (root.get("IndexedPagingOffset"), root.get("IncludesLastItemInRange")) == (
        "2",
        "false",
    )
    assert len(root.find(t("Folders"))) == 2


def test_distinguished_folder_cannot_be_deleted(ews: SOAPClient) -> None:
    """DeleteFolder refuses distinguished folders."""
    body = request(
        "DeleteFolder",
        '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds>',
        DeleteType="HardDelete",
    )
    assert code(messages(ews.call(body))[0]) == "ErrorDeleteDistinguishedFolder"


def test_folder_restriction_filters_by_name(ews: SOAPClient) -> None:
    """A FindFolder restriction on folder:DisplayName filters folders."""
    body = request(
        "FindFolder",
        _SHAPE.format("Default")
        + '<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="folder:DisplayName"/>'
        + '<t:FieldURIOrConstant><t:Constant Value="tasks"/></t:FieldURIOrConstant>'
        "</t:IsEqualTo></m:Restriction>"
        + '<m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot"/>'
        "</m:ParentFolderIds>",
        Traversal="Shallow",
    )
    assert [e.text for e in ews.call(body).iter(t("DisplayName"))] == ["Tasks"]
