"""Helpers for the model tests: wrapping elements into requests, reparsing."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from lxml import etree

from crm_ews._soap import NSMAP, m, parse_xml


def reparse(element: etree._Element) -> etree._Element:
    """Serialize and parse again with the hardened parser, as a reply would be."""
    return parse_xml(etree.tostring(element))


def create_item_request(elements: Iterable[etree._Element]) -> etree._Element:
    """``m:CreateItem`` holding the given item elements."""
    request = etree.Element(
        m("CreateItem"), {"SendMeetingInvitations": "SendToNone"}, nsmap=NSMAP
    )
    items = etree.SubElement(request, m("Items"))
    for element in elements:
        items.append(element)
    return request


def update_item_request(elements: Iterable[etree._Element]) -> etree._Element:
    """``m:UpdateItem`` holding the given ``t:ItemChange`` elements."""
    request = etree.Element(
        m("UpdateItem"),
        {
            "ConflictResolution": "NeverOverwrite",
            "SendMeetingInvitationsOrCancellations": "SendToNone",
        },
        nsmap=NSMAP,
    )
    changes = etree.SubElement(request, m("ItemChanges"))
    for element in elements:
        changes.append(element)
    return request


@pytest.fixture(scope="session")
def assert_valid(
    ews_schema: etree.XMLSchema,
) -> Callable[[etree._Element], None]:
    """Validate an element against the EWS schema, showing errors on failure."""

    def check(element: etree._Element) -> None:
        document = reparse(element)
        if not ews_schema.validate(document):
            errors = "\n".join(str(error) for error in ews_schema.error_log)
            raise AssertionError(
                f"schema rejected:\n{errors}\n{etree.tostring(document).decode()}"
            )

    return check
