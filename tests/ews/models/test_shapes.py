"""Property shapes and field paths derived from the models."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from crm_ews._soap import NSMAP, m, t
from crm_ews.ews._models import (
    CalendarItem,
    Contact,
    ExtendedPropertyKey,
    Folder,
    FolderKind,
    Item,
    ItemId,
    Task,
)

CRM_KEY = ExtendedPropertyKey(
    distinguished_property_set_id="PublicStrings",
    property_name="crm_id",
    property_type="String",
)
ITEM_TYPES = [Item, CalendarItem, Contact, Task]


def _item_shape(parent: etree._Element, paths: list[etree._Element]) -> None:
    shape = etree.SubElement(parent, m("ItemShape"))
    etree.SubElement(shape, t("BaseShape")).text = "IdOnly"
    additional = etree.SubElement(shape, t("AdditionalProperties"))
    additional.extend(paths)


@pytest.mark.parametrize("item_type", ITEM_TYPES)
def test_get_item_shape_validates(
    assert_valid: Callable[[etree._Element], None], item_type: type[Item]
) -> None:
    """The full shape of each item type is a valid GetItem ItemShape."""
    request = etree.Element(m("GetItem"), nsmap=NSMAP)
    _item_shape(request, item_type.shape_elements(extended_properties=[CRM_KEY]))
    etree.SubElement(request, m("ItemIds")).append(ItemId(id="x").to_xml())

    assert_valid(request)


@pytest.mark.parametrize("item_type", ITEM_TYPES)
def test_find_item_shape_validates_and_skips_bodies(
    assert_valid: Callable[[etree._Element], None], item_type: type[Item]
) -> None:
    """The summary shape is a valid FindItem shape without refused properties."""
    paths = item_type.summary_shape_elements(extended_properties=[CRM_KEY])
    request = etree.Element(m("FindItem"), {"Traversal": "Shallow"}, nsmap=NSMAP)
    _item_shape(request, paths)
    folders = etree.SubElement(request, m("ParentFolderIds"))
    etree.SubElement(folders, t("DistinguishedFolderId"), {"Id": "calendar"})

    assert_valid(request)
    uris = {path.get("FieldURI") for path in paths}
    assert "item:Body" not in uris
    assert "calendar:RequiredAttendees" not in uris
    assert paths[-1].tag == t("ExtendedFieldURI")


def test_shapes_name_exactly_the_mapped_fields() -> None:
    """The full shape has one path per mapped field and never AllProperties."""
    paths = CalendarItem.shape_elements()
    uris = [path.get("FieldURI") for path in paths]

    assert uris == [
        spec.wire.uri for spec in CalendarItem.specs() if not spec.wire.codec.repeated
    ]
    assert "calendar:Start" in uris
    assert "calendar:StartTimeZone" in uris
    assert "contacts:EmailAddresses" in [
        p.get("FieldURI") for p in Contact.shape_elements()
    ]


def test_field_uri_elements() -> None:
    """Plain fields give one FieldURI; dictionaries one IndexedFieldURI per slot."""
    (subject,) = Task.field_uri_elements("subject")
    due = Task.field_uri_elements("due_date")
    emails = Contact.field_uri_elements("email_addresses")
    addresses = Contact.field_uri_elements("physical_addresses")

    assert (subject.tag, subject.get("FieldURI")) == (t("FieldURI"), "item:Subject")
    assert due[0].get("FieldURI") == "task:DueDate"
    assert [(e.get("FieldURI"), e.get("FieldIndex")) for e in emails] == [
        ("contacts:EmailAddress", "EmailAddress1"),
        ("contacts:EmailAddress", "EmailAddress2"),
        ("contacts:EmailAddress", "EmailAddress3"),
    ]
    assert len(addresses) == 15
    assert dict(addresses[0].attrib) == {
        "FieldURI": "contacts:PhysicalAddress:Street",
        "FieldIndex": "Home",
    }


def test_field_uri_elements_refuses_unknown_and_extended() -> None:
    """Unknown fields and extended properties raise ValueError."""
    with pytest.raises(ValueError, match="no EWS field"):
        Task.field_uri_elements("location")
    with pytest.raises(ValueError, match="ExtendedPropertyKey"):
        Task.field_uri_elements("extended_properties")


def test_folder_shape_validates(assert_valid: Callable[[etree._Element], None]) -> None:
    """Folder.shape_elements() is a valid GetFolder FolderShape."""
    request = etree.Element(m("GetFolder"), nsmap=NSMAP)
    shape = etree.SubElement(request, m("FolderShape"))
    etree.SubElement(shape, t("BaseShape")).text = "IdOnly"
    etree.SubElement(shape, t("AdditionalProperties")).extend(Folder.shape_elements())
    ids = etree.SubElement(request, m("FolderIds"))
    etree.SubElement(ids, t("DistinguishedFolderId"), {"Id": "calendar"})

    assert_valid(request)


def test_create_folder_validates(
    assert_valid: Callable[[etree._Element], None],
) -> None:
    """Folder.to_xml() fits CreateFolder for every kind."""
    request = etree.Element(m("CreateFolder"), nsmap=NSMAP)
    parent = etree.SubElement(request, m("ParentFolderId"))
    etree.SubElement(parent, t("DistinguishedFolderId"), {"Id": "msgfolderroot"})
    folders = etree.SubElement(request, m("Folders"))
    for kind in FolderKind:
        folders.append(
            Folder(kind=kind, display_name="CRM", folder_class="IPF.Note").to_xml()
        )

    assert_valid(request)
