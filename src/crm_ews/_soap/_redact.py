"""Redaction of SOAP envelopes for the wire log.

The ``crm_ews.wire`` logger shows the shape of each request and response, never
its content: element names and structure stay, and so do the values that say
what happened (``ResponseCode``, ``ResponseClass``, paging counters, item and
folder ids, server version, the impersonated mailbox).  Every other element
text and attribute value is replaced by :data:`MASK`, so subjects, bodies,
attendees, restriction values and anything a caller put in a string property
never reach a log handler.

``MessageText`` and ``faultstring`` are masked as well: schema-validation
faults quote the offending request value in them.  The exception raised for
the call still carries the server's text in ``message_text``.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from crm_ews._soap._namespaces import TYPES_NS, XSI_NS
from crm_ews._soap._parser import DEFAULT_MAX_BODY_BYTES, parse_xml
from crm_ews.errors import ResponseDecodeError

__all__ = ["MASK", "redact_envelope"]

#: What replaces a masked element text or attribute value.
MASK: Final = "***"

#: Elements (by local name) whose text says what happened, not what an item holds.
_KEPT_TEXT: Final = frozenset(
    {
        "BaseShape",
        "BodyType",
        "DescriptiveLinkKey",
        "IncludesLastItemInRange",
        "ItemClass",
        "MaxChangesReturned",
        "ResponseCode",
        "SyncScope",
        "faultcode",
    }
)

#: Children of ``t:ConnectingSID``: the impersonated mailbox, already a log field.
_MAILBOX_NAMES: Final = frozenset(
    {"PrimarySmtpAddress", "SmtpAddress", "PrincipalName", "SID"}
)

#: ``MessageXml`` values (``t:Value Name="..."``) that carry throttling numbers.
_KEPT_VALUE_NAMES: Final = frozenset(
    {"BackOffMilliseconds", "BudgetType", "MetricType", "MetricValue", "Policy"}
)

#: Attributes that are ids, enums, counters or window bounds.
_KEPT_ATTRIBUTES: Final = frozenset(
    {
        "AffectedTaskOccurrences",
        "BasePoint",
        "BodyType",
        "ChangeKey",
        "ConflictResolution",
        "DeleteType",
        "DistinguishedPropertySetId",
        "EndDate",
        "FieldIndex",
        "FieldURI",
        "Id",
        "IncludesLastItemInRange",
        "IndexedPagingOffset",
        "InstanceIndex",
        "IsTruncated",
        "Key",
        "MajorBuildNumber",
        "MajorVersion",
        "MaxEntriesReturned",
        "MessageDisposition",
        "MinorBuildNumber",
        "MinorVersion",
        "Name",
        "Offset",
        "Order",
        "PropertyId",
        "PropertyName",
        "PropertySetId",
        "PropertyTag",
        "PropertyType",
        "ResponseClass",
        "RootItemChangeKey",
        "RootItemId",
        "SendMeetingCancellations",
        "SendMeetingInvitations",
        "SendMeetingInvitationsOrCancellations",
        "StartDate",
        "TotalItemsInView",
        "Traversal",
        "Version",
    }
)

_CONNECTING_SID: Final = f"{{{TYPES_NS}}}ConnectingSID"


def redact_envelope(data: bytes, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> str:
    """Return a printable copy of an envelope with all item content masked.

    Args:
        data: A request or response body, as sent or received (decompressed).
        max_bytes: Bodies longer than this are not parsed.

    Returns:
        The redacted XML as text, or a one-line placeholder naming the size when
        the body is not XML (an HTML error page is never echoed either).
    """
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except ResponseDecodeError:
        return f"<non-XML body: {len(data)} bytes>"

    for element in root.iter():
        if isinstance(element.tag, str):
            _redact_element(element)
        elif element.tail and element.tail.strip():
            element.tail = MASK

    return etree.tostring(root, encoding="unicode")


def _redact_element(element: etree._Element) -> None:
    if element.text and element.text.strip() and not _keeps_text(element):
        element.text = MASK
    if element.tail and element.tail.strip():
        element.tail = MASK

    for name in list(element.attrib):
        qname = etree.QName(name)
        if qname.namespace == XSI_NS or qname.localname in _KEPT_ATTRIBUTES:
            continue
        element.set(name, MASK)


def _keeps_text(element: etree._Element) -> bool:
    local = etree.QName(element).localname
    if local in _KEPT_TEXT:
        return True
    if local in _MAILBOX_NAMES:
        parent = element.getparent()
        return parent is not None and parent.tag == _CONNECTING_SID
    if local == "Value":
        return element.get("Name") in _KEPT_VALUE_NAMES
    return False
