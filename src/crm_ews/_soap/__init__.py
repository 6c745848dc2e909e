"""The SOAP/XML codec: pure functions, no I/O.

Builds request envelopes with the impersonation headers, parses responses with
one hardened parser, and maps faults and error ResponseCodes to the exception
tree in :mod:`crm_ews.errors`.  Nothing here knows about HTTP or models.
"""

from __future__ import annotations

from crm_ews._soap._codes import ERROR_CLASSES, back_off_seconds, error_from_code
from crm_ews._soap._envelope import (
    ConnectingSIDKind,
    DecodedResponse,
    Impersonation,
    ResponseMessage,
    ServerVersion,
    ServerVersionInfo,
    build_envelope,
    decode_envelope,
    fault_to_error,
    response_messages,
)
from crm_ews._soap._namespaces import (
    ERRORS_NS,
    MESSAGES_NS,
    NSMAP,
    SOAP_NS,
    TYPES_NS,
    m,
    soap,
    t,
)
from crm_ews._soap._parser import DEFAULT_MAX_BODY_BYTES, BoundedInflater, parse_xml

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ERRORS_NS",
    "ERROR_CLASSES",
    "MESSAGES_NS",
    "NSMAP",
    "SOAP_NS",
    "TYPES_NS",
    "BoundedInflater",
    "ConnectingSIDKind",
    "DecodedResponse",
    "Impersonation",
    "ResponseMessage",
    "ServerVersion",
    "ServerVersionInfo",
    "back_off_seconds",
    "build_envelope",
    "decode_envelope",
    "error_from_code",
    "fault_to_error",
    "m",
    "parse_xml",
    "response_messages",
    "soap",
    "t",
]
