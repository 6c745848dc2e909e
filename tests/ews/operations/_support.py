"""Helpers for the operation tests: schema checks, canned replies, fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from lxml import etree

from crm_ews._soap import (
    DecodedResponse,
    Impersonation,
    ServerVersion,
    build_envelope,
    decode_envelope,
    parse_xml,
    soap,
)
from crm_ews.ews import (
    DistinguishedFolderId,
    DistinguishedFolderName,
    ExtendedPropertyKey,
    FolderId,
    ItemId,
    MapiPropertyType,
)

FIXTURES: Final = Path(__file__).parents[2] / "fixtures" / "soap"
MAILBOX: Final = "alice@example.com"

TYPES_NS: Final = "http://schemas.microsoft.com/exchange/services/2006/types"
MESSAGES_NS: Final = "http://schemas.microsoft.com/exchange/services/2006/messages"


def schema_errors(schema: etree.XMLSchema, body: etree._Element) -> list[str]:
    """Wrap ``body`` in a full envelope and validate body and header children.

    The envelope is serialized and parsed again, so what is validated is
    exactly the bytes a server would receive.
    """
    data = build_envelope(
        body,
        impersonation=Impersonation(MAILBOX),
        server_version=ServerVersion.EXCHANGE2016,
        time_zone_id="W. Europe Standard Time",
    )
    envelope = parse_xml(data)
    targets = [*envelope.find(soap("Header")), envelope.find(soap("Body"))[0]]

    errors: list[str] = []
    for element in targets:
        if not schema.validate(element):
            errors.extend(str(error) for error in schema.error_log)
    return errors


def reply_bytes(operation: str, body: str) -> bytes:
    """A canned ``m:<operation>Response`` envelope whose messages are ``body``."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f'<m:{operation}Response xmlns:m="{MESSAGES_NS}" xmlns:t="{TYPES_NS}">'
        f"<m:ResponseMessages>{body}</m:ResponseMessages>"
        f"</m:{operation}Response></s:Body></s:Envelope>"
    ).encode()


def reply(operation: str, body: str) -> DecodedResponse:
    """Decode the envelope :func:`reply_bytes` builds."""
    return decode_envelope(
        reply_bytes(operation, body), operation=operation, mailbox=MAILBOX
    )


def fixture_reply(operation: str, case: str) -> DecodedResponse:
    """Decode a recorded response fixture."""
    path = FIXTURES / operation / f"{case}.response.xml"
    return decode_envelope(path.read_bytes(), operation=operation, mailbox=MAILBOX)


def fixture_bytes(operation: str, case: str) -> bytes:
    """The raw bytes of a recorded response fixture."""
    return (FIXTURES / operation / f"{case}.response.xml").read_bytes()


def error_message(operation: str, code: str, text: str = "refused") -> str:
    """One error response message for ``operation``."""
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Error">'
        f"<m:MessageText>{text}</m:MessageText>"
        f"<m:ResponseCode>{code}</m:ResponseCode>"
        "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
        f"</m:{operation}ResponseMessage>"
    )


def success_message(operation: str, inner: str = "", *, warning: str = "") -> str:
    """One success (or warning, when ``warning`` names a code) message."""
    response_class = "Warning" if warning else "Success"
    code = warning or "NoError"
    return (
        f'<m:{operation}ResponseMessage ResponseClass="{response_class}">'
        f"<m:ResponseCode>{code}</m:ResponseCode>{inner}"
        f"</m:{operation}ResponseMessage>"
    )


ITEM_ID: Final = ItemId(id="AAMkAGI2item1", change_key="CQAAABYAAAck1")
OTHER_ITEM_ID: Final = ItemId(id="AAMkAGI2item2", change_key="CQAAABYAAAck2")
FOLDER_ID: Final = FolderId(id="AAMkAGI2folder1", change_key="AQAAABYAAAfk1")
CALENDAR: Final = DistinguishedFolderId(id=DistinguishedFolderName.CALENDAR)
CONTACTS: Final = DistinguishedFolderId(id=DistinguishedFolderName.CONTACTS)
CRM_KEY: Final = ExtendedPropertyKey(
    property_set_id="c11ff724-aa03-4555-9952-8fa248a11c3e",
    property_name="CrmRecordId",
    property_type=MapiPropertyType.STRING,
)
