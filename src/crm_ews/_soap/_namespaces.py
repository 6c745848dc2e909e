"""XML namespaces and qualified names of the EWS SOAP dialect.

Servers choose their own prefixes (``s:``/``soap:``, ``m:``, ``t:``, default
namespaces), so everything here is matched by namespace URI, never by prefix.
"""

from __future__ import annotations

from typing import Final

#: SOAP 1.1 envelope namespace; EWS speaks SOAP 1.1 only.
SOAP_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
#: EWS shared types (``t:``): items, ids, header elements.
TYPES_NS: Final = "http://schemas.microsoft.com/exchange/services/2006/types"
#: EWS operation messages (``m:``): requests, responses, response messages.
MESSAGES_NS: Final = "http://schemas.microsoft.com/exchange/services/2006/messages"
#: Namespace of ``ResponseCode`` and ``Message`` inside a SOAP fault's detail.
ERRORS_NS: Final = "http://schemas.microsoft.com/exchange/services/2006/errors"
#: XML Schema instance namespace (``xsi:type`` on some response elements).
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"

#: Prefixes we write; servers may use any others.
NSMAP: Final = {"soap": SOAP_NS, "t": TYPES_NS, "m": MESSAGES_NS}


def t(local: str) -> str:
    """Clark-notation name of an element in the types namespace."""
    return f"{{{TYPES_NS}}}{local}"


def m(local: str) -> str:
    """Clark-notation name of an element in the messages namespace."""
    return f"{{{MESSAGES_NS}}}{local}"


def soap(local: str) -> str:
    """Clark-notation name of an element in the SOAP envelope namespace."""
    return f"{{{SOAP_NS}}}{local}"
