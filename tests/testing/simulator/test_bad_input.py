"""Hostile and malformed requests get Exchange-style faults, never tracebacks."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from crm_ews._soap import decode_envelope, parse_xml
from crm_ews.errors import InvalidRequestError
from crm_ews.testing import ExchangeSimulator
from tests.testing.simulator._ews import SOAPClient, request

_ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"


def _fault(response_body: bytes) -> tuple[str, str]:
    root = parse_xml(response_body)
    fault = root.find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault is not None
    return fault.findtext("faultcode") or "", root.findtext(
        f".//{{{_ERRORS_NS}}}ResponseCode"
    ) or ""


def _assert_clean(body: bytes) -> None:
    assert b"Traceback" not in body
    assert b'File "' not in body


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"\x00\xff\xfe garbage",
        b"<unclosed",
        b"<root/>",
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>',
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<s:Body><a/><b/></s:Body></s:Envelope>",
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
    ],
    ids=[
        "empty",
        "text",
        "binary",
        "unclosed",
        "not-soap",
        "no-body",
        "two-children",
        "soap12",
    ],
)
def test_garbage_gets_schema_validation_fault(ews: SOAPClient, body: bytes) -> None:
    """Anything that is not a SOAP 1.1 envelope faults with ErrorSchemaValidation."""
    response = ews.post(body)
    assert response.status_code == 500
    assert _fault(response.content) == (
        "a:ErrorSchemaValidation",
        "ErrorSchemaValidation",
    )
    _assert_clean(response.content)


def test_doctype_bomb_is_refused_quickly(ews: SOAPClient) -> None:
    """An entity-expansion bomb is refused before any entity is expanded."""
    entities = "".join(
        f'<!ENTITY e{i} "&e{i - 1};&e{i - 1};&e{i - 1};&e{i - 1};">'
        for i in range(1, 12)
    )
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY e0 "boom">{entities}]>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        "<s:Body>&e11;</s:Body></s:Envelope>"
    ).encode()
    response = ews.post(bomb)
    assert response.status_code == 500
    assert _fault(response.content)[1] == "ErrorSchemaValidation"
    assert len(response.content) < 2000


def test_unknown_operation_is_an_invalid_request(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """An operation the server does not offer faults instead of crashing."""
    response = ews.send(request("Frobnicate"))
    assert response.status_code == 500
    code = _fault(response.content)[1]
    expected = (
        "ErrorSchemaValidation"
        if ews_simulator.validates_schema
        else "ErrorInvalidRequest"
    )
    assert code == expected
    with pytest.raises(InvalidRequestError):
        decode_envelope(response.content, operation="Frobnicate", mailbox=None)


def test_foreign_namespace_body_is_schema_invalid(ews: SOAPClient) -> None:
    """A body element outside the messages namespace is not an operation."""
    response = ews.send(parse_xml(b'<GetFolder xmlns="urn:other"/>'))
    assert _fault(response.content)[1] == "ErrorSchemaValidation"


def test_missing_required_element_is_schema_invalid(ews: SOAPClient) -> None:
    """A GetItem without ItemShape is refused as a schema violation."""
    response = ews.send(request("GetItem", '<m:ItemIds><t:ItemId Id="x"/></m:ItemIds>'))
    assert _fault(response.content)[1] == "ErrorSchemaValidation"


def test_wrong_path_and_method(ews: SOAPClient) -> None:
    """Other paths are 404 and other methods 405, as IIS answers."""
    assert ews.http.post("/owa/", content=b"x").status_code == 404
    assert ews.http.get("/EWS/Exchange.asmx").status_code == 405


def test_handler_crash_becomes_internal_server_error(
    ews: SOAPClient, ews_simulator: ExchangeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception is answered as ErrorInternalServerError, no traceback."""
    from crm_ews.testing import _simulator

    def explode(context: object) -> etree._Element:
        raise RuntimeError("secret internal detail")

    monkeypatch.setitem(_simulator._OPERATIONS, "GetFolder", explode)
    response = ews.send(
        request(
            "GetFolder",
            "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
            '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds>',
        )
    )
    assert response.status_code == 500
    assert _fault(response.content)[1] == "ErrorInternalServerError"
    assert b"secret internal detail" not in response.content
    _assert_clean(response.content)
    assert ews_simulator.counters["fault.ErrorInternalServerError"] == 1


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=st.binary(max_size=300))
def test_fuzzed_bodies_always_get_a_fault(ews: SOAPClient, payload: bytes) -> None:
    """Arbitrary bytes never crash the simulator: the answer is a SOAP fault."""
    response = ews.post(payload)
    assert response.status_code == 500
    assert _fault(response.content)[0].startswith("a:Error")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(inner=st.text(alphabet="<>/=\"' amtI:dFolerShapBs", max_size=80))
def test_fuzzed_operation_content_never_crashes(ews: SOAPClient, inner: str) -> None:
    """Mangled operation content gets a fault or error message, never a crash."""
    body = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        f"<s:Body><m:GetFolder>{inner}</m:GetFolder></s:Body></s:Envelope>"
    ).encode()
    response = ews.post(body)
    assert response.status_code in (200, 500)
    root = parse_xml(response.content)
    assert root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    if response.status_code == 500:
        assert _fault(response.content)[1] != "ErrorInternalServerError"
