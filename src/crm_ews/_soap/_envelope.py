"""Request envelopes out, response envelopes in.

Building: :func:`build_envelope` wraps an operation element (``m:GetItem``...)
in a SOAP 1.1 envelope with the ``RequestServerVersion`` header, the
``ExchangeImpersonation`` header for the target mailbox and an optional
``TimeZoneContext``.

Decoding: :func:`decode_envelope` parses with the hardened parser, turns a SOAP
fault into the matching :class:`~crm_ews.errors.EWSError`, and returns the
operation's response element; :func:`response_messages` splits it into one
:class:`ResponseMessage` per request item, in request order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from lxml import etree

from crm_ews._soap._codes import error_from_code
from crm_ews._soap._namespaces import ERRORS_NS, NSMAP, SOAP_NS, m, soap, t
from crm_ews._soap._parser import DEFAULT_MAX_BODY_BYTES, parse_xml
from crm_ews.errors import EWSError, ResponseDecodeError

__all__ = [
    "ConnectingSIDKind",
    "DecodedResponse",
    "Impersonation",
    "ResponseMessage",
    "ServerVersion",
    "ServerVersionInfo",
    "build_envelope",
    "decode_envelope",
    "fault_to_error",
    "response_messages",
]


class ServerVersion(StrEnum):
    """``RequestServerVersion`` values the schema allows.

    There is no ``Exchange2019`` value: Exchange 2019 and Subscription Edition
    accept ``Exchange2016`` and the ``V2017_07_11`` family.
    """

    EXCHANGE2007 = "Exchange2007"
    EXCHANGE2007_SP1 = "Exchange2007_SP1"
    EXCHANGE2010 = "Exchange2010"
    EXCHANGE2010_SP1 = "Exchange2010_SP1"
    EXCHANGE2010_SP2 = "Exchange2010_SP2"
    EXCHANGE2013 = "Exchange2013"
    EXCHANGE2013_SP1 = "Exchange2013_SP1"
    EXCHANGE2016 = "Exchange2016"
    V2015_10_05 = "V2015_10_05"
    V2016_01_06 = "V2016_01_06"
    V2016_04_13 = "V2016_04_13"
    V2016_07_13 = "V2016_07_13"
    V2016_10_10 = "V2016_10_10"
    V2017_01_07 = "V2017_01_07"
    V2017_04_14 = "V2017_04_14"
    V2017_07_11 = "V2017_07_11"
    V2017_10_09 = "V2017_10_09"
    V2018_01_08 = "V2018_01_08"


class ConnectingSIDKind(StrEnum):
    """Which child of ``t:ConnectingSID`` names the impersonated mailbox."""

    PRIMARY_SMTP_ADDRESS = "PrimarySmtpAddress"
    SMTP_ADDRESS = "SmtpAddress"
    PRINCIPAL_NAME = "PrincipalName"
    SID = "SID"


_SID_RE: Final = re.compile(r"^S-1-\d+(-\d+)+$")
_FORBIDDEN_CHARS: Final = re.compile(r"[\s\x00-\x1f\x7f<>\"]")


@dataclass(frozen=True, slots=True)
class Impersonation:
    """The mailbox one call acts on, and how it is named.

    Raises:
        TypeError: ``mailbox`` is not a string.
        ValueError: ``mailbox`` is empty or not shaped like its ``kind``.
    """

    mailbox: str
    kind: ConnectingSIDKind = ConnectingSIDKind.PRIMARY_SMTP_ADDRESS

    def __post_init__(self) -> None:
        if not isinstance(self.mailbox, str):
            raise TypeError(f"mailbox must be a str, not {type(self.mailbox).__name__}")
        if not self.mailbox:
            raise ValueError("mailbox must not be empty")
        if _FORBIDDEN_CHARS.search(self.mailbox):
            raise ValueError(
                "mailbox must not contain whitespace or control characters"
            )
        kind = ConnectingSIDKind(self.kind)
        object.__setattr__(self, "kind", kind)
        if kind is ConnectingSIDKind.SID:
            if not _SID_RE.match(self.mailbox):
                raise ValueError("a SID looks like S-1-5-21-...")
        elif kind is not ConnectingSIDKind.PRINCIPAL_NAME or "@" in self.mailbox:
            local, _, domain = self.mailbox.rpartition("@")
            if not local or not domain:
                raise ValueError(
                    f"{kind.value} must be an address like user@example.com"
                )

    @property
    def anchor(self) -> str:
        """The value for the ``X-AnchorMailbox`` HTTP header."""
        return self.mailbox


def build_envelope(
    body: etree._Element,
    *,
    impersonation: Impersonation | None,
    server_version: ServerVersion = ServerVersion.EXCHANGE2016,
    time_zone_id: str | None = None,
) -> bytes:
    """Serialize one request.

    Args:
        body: The operation element, e.g. ``m:GetItem``; it is moved into the
            envelope.
        impersonation: The mailbox to act as; ``None`` sends no
            ``ExchangeImpersonation`` header (the service account's own mailbox).
        server_version: The ``RequestServerVersion`` to send; never downgraded.
        time_zone_id: A Windows time zone id for ``TimeZoneContext``.

    Returns:
        UTF-8 bytes with an XML declaration.
    """
    envelope = etree.Element(soap("Envelope"), nsmap=NSMAP)
    header = etree.SubElement(envelope, soap("Header"))
    version = etree.SubElement(header, t("RequestServerVersion"))
    version.set("Version", ServerVersion(server_version).value)

    if impersonation is not None:
        exchange_impersonation = etree.SubElement(header, t("ExchangeImpersonation"))
        connecting_sid = etree.SubElement(exchange_impersonation, t("ConnectingSID"))
        who = etree.SubElement(connecting_sid, t(impersonation.kind.value))
        who.text = impersonation.mailbox

    if time_zone_id is not None:
        context = etree.SubElement(header, t("TimeZoneContext"))
        definition = etree.SubElement(context, t("TimeZoneDefinition"))
        definition.set("Id", time_zone_id)

    soap_body = etree.SubElement(envelope, soap("Body"))
    soap_body.append(body)

    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


@dataclass(frozen=True, slots=True)
class ServerVersionInfo:
    """The ``t:ServerVersionInfo`` header a server answers with."""

    major: int | None
    minor: int | None
    build: int | None
    revision: int | None
    version: str | None


@dataclass(frozen=True, slots=True)
class DecodedResponse:
    """A decoded, fault-free response: the operation element and its header."""

    element: etree._Element
    server_version: ServerVersionInfo | None


@dataclass(frozen=True, slots=True)
class ResponseMessage:
    """One ``m:*ResponseMessage``: the outcome for one item of a request."""

    response_class: str
    response_code: str
    message_text: str | None
    details: dict[str, str] = field(default_factory=dict)
    element: etree._Element | None = None

    @property
    def is_error(self) -> bool:
        """Whether the server refused this item."""
        return self.response_class == "Error"

    def to_error(self, *, operation: str | None, mailbox: str | None) -> EWSError:
        """The exception describing this item's error."""
        return error_from_code(
            self.response_code,
            message_text=self.message_text,
            details=self.details,
            operation=operation,
            mailbox=mailbox,
        )


def _int_attr(element: etree._Element, name: str) -> int | None:
    raw = element.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _server_version(header: etree._Element | None) -> ServerVersionInfo | None:
    if header is None:
        return None
    info = header.find(t("ServerVersionInfo"))
    if info is None:
        return None
    return ServerVersionInfo(
        major=_int_attr(info, "MajorVersion"),
        minor=_int_attr(info, "MinorVersion"),
        build=_int_attr(info, "MajorBuildNumber"),
        revision=_int_attr(info, "MinorBuildNumber"),
        version=info.get("Version"),
    )


def _message_xml(container: etree._Element | None) -> dict[str, str]:
    """Flatten ``MessageXml`` into name -> text (``Value Name="..."`` or tag)."""
    details: dict[str, str] = {}
    if container is None:
        return details
    for child in container.iter():
        if child is container or not isinstance(child.tag, str):
            continue
        name = child.get("Name") or etree.QName(child).localname
        if child.text and child.text.strip():
            details[name] = child.text.strip()
    return details


def fault_to_error(
    fault: etree._Element, *, operation: str | None, mailbox: str | None
) -> EWSError:
    """Turn a ``soap:Fault`` element into the matching exception."""
    detail = fault.find("detail")
    code: str | None = None
    message_text: str | None = None
    details: dict[str, str] = {}
    if detail is not None:
        code_el = detail.find(f"{{{ERRORS_NS}}}ResponseCode")
        raw_code = code_el.text.strip() if code_el is not None and code_el.text else ""
        code = raw_code or None
        text_el = detail.find(f"{{{ERRORS_NS}}}Message")
        message_text = text_el.text if text_el is not None else None
        details = _message_xml(detail.find(t("MessageXml")))
        for extra in ("Line", "Position", "Violation"):
            el = detail.find(f"{{{ERRORS_NS}}}{extra}")
            if el is not None and el.text:
                details[extra] = el.text.strip()
    if code is None:
        # Faults without an EWS detail still carry a qualified faultcode.
        faultcode = fault.findtext("faultcode") or ""
        code = faultcode.rpartition(":")[2].strip() or "ErrorUnknownSoapFault"
    if message_text is None:
        message_text = fault.findtext("faultstring")
    return error_from_code(
        code,
        message_text=message_text,
        details=details,
        operation=operation,
        mailbox=mailbox,
    )


def decode_envelope(
    data: bytes,
    *,
    operation: str,
    mailbox: str | None,
    max_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> DecodedResponse:
    """Parse a response envelope and return the operation's response element.

    Args:
        data: The decoded HTTP body.
        operation: The operation that was called, e.g. ``"GetItem"``; the body
            must hold ``m:GetItemResponse``.
        mailbox: The impersonated mailbox, for error context.
        max_bytes: Cap on the body size.

    Raises:
        EWSError: The body is a SOAP fault (subclass chosen by its code).
        ResponseDecodeError: Not a SOAP envelope, or not the expected response.
    """
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != soap("Envelope"):
        raise ResponseDecodeError(
            "response is not a SOAP 1.1 envelope", operation=operation, mailbox=mailbox
        )
    header = root.find(soap("Header"))
    body = root.find(soap("Body"))
    if body is None:
        raise ResponseDecodeError(
            "SOAP envelope has no Body", operation=operation, mailbox=mailbox
        )
    payload = [child for child in body if isinstance(child.tag, str)]
    if len(payload) != 1:
        raise ResponseDecodeError(
            f"SOAP Body holds {len(payload)} elements, expected 1",
            operation=operation,
            mailbox=mailbox,
        )
    element = payload[0]
    if element.tag == f"{{{SOAP_NS}}}Fault":
        raise fault_to_error(element, operation=operation, mailbox=mailbox)
    expected = m(f"{operation}Response")
    if element.tag != expected:
        raise ResponseDecodeError(
            f"expected {operation}Response, got {etree.QName(element).localname}",
            operation=operation,
            mailbox=mailbox,
        )
    return DecodedResponse(element=element, server_version=_server_version(header))


def response_messages(
    response: etree._Element, *, operation: str, mailbox: str | None
) -> list[ResponseMessage]:
    """Split ``m:ResponseMessages`` into one entry per request item, in order.

    Raises:
        ResponseDecodeError: ``ResponseMessages`` or a ``ResponseClass`` is missing.
    """
    container = response.find(m("ResponseMessages"))
    if container is None:
        raise ResponseDecodeError(
            "response has no ResponseMessages", operation=operation, mailbox=mailbox
        )
    messages: list[ResponseMessage] = []
    for child in container:
        if not isinstance(child.tag, str):
            continue
        response_class = child.get("ResponseClass")
        if response_class not in ("Success", "Warning", "Error"):
            raise ResponseDecodeError(
                "response message has no valid ResponseClass",
                operation=operation,
                mailbox=mailbox,
            )
        code = (child.findtext(m("ResponseCode")) or "").strip()
        if not code:
            code = "NoError" if response_class == "Success" else "ErrorUnknown"
        messages.append(
            ResponseMessage(
                response_class=response_class,
                response_code=code,
                message_text=child.findtext(m("MessageText")),
                details=_message_xml(child.find(m("MessageXml"))),
                element=child,
            )
        )
    return messages
