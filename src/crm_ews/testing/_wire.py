"""SOAP envelopes as the simulator writes them, shaped like Exchange's.

Success responses carry the ``h:ServerVersionInfo`` header; faults carry
none, a ``faultcode`` qualified with the types namespace (``a:ErrorXxx``), a
``faultstring`` and a ``detail`` with ``e:ResponseCode``, ``e:Message`` and,
where Exchange adds them, ``t:MessageXml`` values such as
``BackOffMilliseconds`` or the schema violation's line and position.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from crm_ews._soap import ERRORS_NS, MESSAGES_NS, SOAP_NS, TYPES_NS, m, soap, t
from crm_ews.testing._config import ServerProfile

_XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
_XSD_NS: Final = "http://www.w3.org/2001/XMLSchema"
_XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"

#: Content type of every SOAP answer.
SOAP_CONTENT_TYPE: Final = "text/xml; charset=utf-8"


class SimulatorFault(Exception):
    """A request-level failure, answered as a SOAP fault with HTTP 500.

    Raised anywhere below the dispatcher; the dispatcher turns it into the
    envelope Exchange would send.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        back_off_ms: int | None = None,
        violation: str | None = None,
        line: int | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.back_off_ms = back_off_ms
        self.violation = violation
        self.line = line
        self.position = position


def schema_fault(violation: str, *, line: int = 1, position: int = 1) -> SimulatorFault:
    """The ``ErrorSchemaValidation`` fault for one violation."""
    return SimulatorFault(
        "ErrorSchemaValidation",
        f"The request failed schema validation: {violation}",
        violation=violation,
        line=line,
        position=position,
    )


def fault_envelope(fault: SimulatorFault) -> bytes:
    """Serialize ``fault`` as a SOAP 1.1 fault envelope."""
    envelope = etree.Element(soap("Envelope"), nsmap={"s": SOAP_NS})
    body = etree.SubElement(envelope, soap("Body"))
    element = etree.SubElement(body, soap("Fault"))

    code = etree.SubElement(element, "faultcode", nsmap={"a": TYPES_NS})
    code.text = f"a:{fault.code}"
    text = etree.SubElement(element, "faultstring")
    text.set(_XML_LANG, "en-US")
    text.text = fault.message

    detail = etree.SubElement(element, "detail")
    errors = {"e": ERRORS_NS}
    response_code = etree.SubElement(
        detail, f"{{{ERRORS_NS}}}ResponseCode", nsmap=errors
    )
    response_code.text = fault.code
    message = etree.SubElement(detail, f"{{{ERRORS_NS}}}Message", nsmap=errors)
    message.text = fault.message

    values = _message_xml_values(fault)
    if values:
        container = etree.SubElement(detail, t("MessageXml"), nsmap={"t": TYPES_NS})
        for name, value in values:
            child = etree.SubElement(container, t(name))
            if name == "Value":
                child.set("Name", "BackOffMilliseconds")
            child.text = value

    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def _message_xml_values(fault: SimulatorFault) -> list[tuple[str, str]]:
    values: list[tuple[str, str]] = []
    if fault.line is not None:
        values.append(("LineNumber", str(fault.line)))
    if fault.position is not None:
        values.append(("LinePosition", str(fault.position)))
    if fault.violation is not None:
        values.append(("Violation", fault.violation))
    if fault.back_off_ms is not None:
        values.append(("Value", str(fault.back_off_ms)))
    return values


def new_response(operation: str) -> etree._Element:
    """An empty ``m:<Operation>Response`` with its ``m:ResponseMessages``."""
    response = etree.Element(
        m(f"{operation}Response"), nsmap={"m": MESSAGES_NS, "t": TYPES_NS}
    )
    etree.SubElement(response, m("ResponseMessages"))
    return response


def add_message(
    response: etree._Element,
    operation: str,
    *,
    code: str = "NoError",
    text: str | None = None,
    response_class: str | None = None,
) -> etree._Element:
    """Append one ``m:<Operation>ResponseMessage`` and return it.

    Error messages carry ``MessageText``, ``ResponseCode`` and
    ``DescriptiveLinkKey`` in that order, as Exchange writes them.
    """
    container = response[0]
    if response_class is None:
        response_class = "Success" if code == "NoError" else "Error"
    message = etree.SubElement(container, m(f"{operation}ResponseMessage"))
    message.set("ResponseClass", response_class)
    if text is not None:
        etree.SubElement(message, m("MessageText")).text = text
    etree.SubElement(message, m("ResponseCode")).text = code
    if code != "NoError":
        etree.SubElement(message, m("DescriptiveLinkKey")).text = "0"
    return message


def response_envelope(payload: etree._Element, profile: ServerProfile) -> bytes:
    """Serialize a success response with the ``ServerVersionInfo`` header."""
    envelope = etree.Element(soap("Envelope"), nsmap={"s": SOAP_NS})
    header = etree.SubElement(envelope, soap("Header"))
    info = etree.SubElement(
        header,
        t("ServerVersionInfo"),
        nsmap={"h": TYPES_NS, "xsi": _XSI_NS, "xsd": _XSD_NS},
    )
    info.set("MajorVersion", str(profile.major))
    info.set("MinorVersion", str(profile.minor))
    info.set("MajorBuildNumber", str(profile.build))
    info.set("MinorBuildNumber", str(profile.revision))
    info.set("Version", profile.schema_version)

    body = etree.SubElement(
        envelope, soap("Body"), nsmap={"xsi": _XSI_NS, "xsd": _XSD_NS}
    )
    body.append(payload)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


class ItemError(Exception):
    """A failure of one request item, answered as an error response message.

    The other items of the same request still run, as on Exchange.
    """

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
