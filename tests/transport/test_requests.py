"""What the synchronous transport puts on the wire, and its lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from crm_ews._soap import ConnectingSIDKind, Impersonation, ServerVersion, t
from crm_ews._transport import DEFAULT_LIMITS, USER_AGENT, Transport
from tests.transport._support import (
    ALICE,
    URL,
    FakeClock,
    body_element,
    impersonated_mailbox,
    make_transport,
    ok_envelope,
    operation_of,
    xml_response,
)


class Recorder:
    """A MockTransport handler that answers success and keeps each request."""

    def __init__(self, operation: str = "GetItem") -> None:
        self.operation = operation
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return xml_response(200, ok_envelope(self.operation))


@pytest.fixture
def clock() -> FakeClock:
    """A fake monotonic clock."""
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    """A recording success handler."""
    return Recorder()


@pytest.fixture
def transport(recorder: Recorder, clock: FakeClock) -> Iterator[Transport]:
    """A transport over the recorder, closed afterwards."""
    with make_transport(recorder, clock) as transport:
        yield transport


def test_impersonation_header_and_anchor_name_the_same_mailbox(
    transport: Transport, recorder: Recorder
) -> None:
    """The SOAP ConnectingSID and X-AnchorMailbox both name the target mailbox."""
    transport.send(
        operation="GetItem",
        body=body_element("GetItem"),
        impersonation=ALICE,
        is_idempotent=True,
    )

    (request,) = recorder.requests
    assert impersonated_mailbox(request) == "alice@example.com"
    assert request.headers["X-AnchorMailbox"] == "alice@example.com"
    assert operation_of(request) == "GetItem"


def test_connecting_sid_child_follows_the_impersonation_kind(
    transport: Transport, recorder: Recorder
) -> None:
    """A PrincipalName impersonation is sent as t:PrincipalName."""
    transport.send(
        operation="GetItem",
        body=body_element("GetItem"),
        impersonation=Impersonation(
            "alice@corp.example.com", ConnectingSIDKind.PRINCIPAL_NAME
        ),
        is_idempotent=True,
    )

    root = etree.fromstring(recorder.requests[0].content)
    sid = root.find(f".//{t('ConnectingSID')}")
    assert sid is not None
    assert [child.tag for child in sid] == [t("PrincipalName")]


def test_no_impersonation_sends_neither_header(
    transport: Transport, recorder: Recorder
) -> None:
    """Without impersonation there is no SOAP header and no X-AnchorMailbox."""
    transport.send(
        operation="GetItem",
        body=body_element("GetItem"),
        impersonation=None,
        is_idempotent=True,
    )

    (request,) = recorder.requests
    assert impersonated_mailbox(request) is None
    assert "X-AnchorMailbox" not in request.headers


def test_request_headers(transport: Transport, recorder: Recorder) -> None:
    """POST text/xml utf-8, gzip accepted, no SOAPAction, our User-Agent."""
    transport.send(
        operation="GetItem",
        body=body_element("GetItem"),
        impersonation=ALICE,
        is_idempotent=True,
    )

    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert "gzip" in request.headers["Accept-Encoding"]
    assert "SOAPAction" not in request.headers
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["return-client-request-id"] == "true"
    assert "Cookie" not in request.headers


def test_each_call_gets_its_own_client_request_id(
    transport: Transport, recorder: Recorder
) -> None:
    """client-request-id differs between two calls."""
    for _ in range(2):
        transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=ALICE,
            is_idempotent=True,
        )

    ids = {request.headers["client-request-id"] for request in recorder.requests}
    assert len(ids) == 2


def test_server_version_and_time_zone_reach_the_envelope(
    recorder: Recorder, clock: FakeClock
) -> None:
    """The configured RequestServerVersion and TimeZoneContext are sent."""
    with make_transport(
        recorder,
        clock,
        server_version=ServerVersion.V2017_07_11,
        time_zone_id="W. Europe Standard Time",
    ) as transport:
        transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=ALICE,
            is_idempotent=True,
        )

    root = etree.fromstring(recorder.requests[0].content)
    version = root.find(f".//{t('RequestServerVersion')}")
    zone = root.find(f".//{t('TimeZoneDefinition')}")
    assert version is not None
    assert version.get("Version") == "V2017_07_11"
    assert zone is not None
    assert zone.get("Id") == "W. Europe Standard Time"


@pytest.mark.schema
def test_request_envelope_is_schema_valid(
    transport: Transport, recorder: Recorder, ews_schema: etree.XMLSchema
) -> None:
    """The envelope the transport sends validates against the EWS schema."""
    body = etree.fromstring(
        '<m:GetFolder xmlns:m="http://schemas.microsoft.com/exchange/services/2006/'
        'messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/'
        'types"><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
        '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds>'
        "</m:GetFolder>"
    )
    recorder.operation = "GetFolder"
    transport.send(
        operation="GetFolder", body=body, impersonation=ALICE, is_idempotent=True
    )

    root = etree.fromstring(recorder.requests[0].content)
    soap_body = root[1]
    header = root[0]
    for part in (*header, soap_body[0]):
        document = etree.ElementTree(part)
        assert ews_schema.validate(document), ews_schema.error_log


def test_send_after_close_raises_runtime_error(
    recorder: Recorder, clock: FakeClock
) -> None:
    """A closed transport refuses to send, with a plain message."""
    transport = make_transport(recorder, clock)
    transport.close()

    with pytest.raises(RuntimeError, match="closed"):
        transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=ALICE,
            is_idempotent=True,
        )
    assert recorder.requests == []


def test_context_manager_closes(recorder: Recorder, clock: FakeClock) -> None:
    """Leaving the with block closes the transport."""
    with make_transport(recorder, clock) as transport:
        pass

    with pytest.raises(RuntimeError):
        transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=ALICE,
            is_idempotent=True,
        )


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"operation": "get item"}, ValueError),
        ({"operation": 3}, TypeError),
        ({"body": "<m:GetItem/>"}, TypeError),
        ({"impersonation": "alice@example.com"}, TypeError),
        ({"is_idempotent": "yes"}, TypeError),
    ],
)
def test_bad_send_arguments_raise_before_sending(
    transport: Transport,
    recorder: Recorder,
    arguments: dict[str, object],
    error: type[Exception],
) -> None:
    """Misuse raises ValueError/TypeError and nothing goes out."""
    call: dict[str, object] = {
        "operation": "GetItem",
        "body": body_element("GetItem"),
        "impersonation": ALICE,
        "is_idempotent": True,
    }
    call.update(arguments)

    with pytest.raises(error):
        transport.send(**call)  # type: ignore[arg-type]  # misuse on purpose
    assert recorder.requests == []


def test_non_ascii_mailbox_is_refused(transport: Transport, recorder: Recorder) -> None:
    """A mailbox that cannot be an HTTP header value raises ValueError."""
    with pytest.raises(ValueError, match="ASCII"):
        transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=Impersonation("jürgen@example.com"),
            is_idempotent=True,
        )
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://svc:hunter2@mail.example.com/EWS/Exchange.asmx", ValueError),
        ("ftp://mail.example.com/EWS", ValueError),
        ("/EWS/Exchange.asmx", ValueError),
        (b"https://mail.example.com", TypeError),
    ],
)
def test_unusable_urls_are_refused(url: object, error: type[Exception]) -> None:
    """URLs with credentials, other schemes or no host are refused."""
    with pytest.raises(error) as info:
        Transport(url)  # type: ignore[arg-type]  # misuse on purpose
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"timeout": 0}, ValueError),
        ({"timeout": "30"}, TypeError),
        ({"max_body_bytes": 0}, ValueError),
        ({"limits": {"max_connections": 5}}, TypeError),
        ({"retry": {"attempts": 1}}, TypeError),
        ({"verify": "/etc/ssl/ca.pem"}, TypeError),
        ({"auth": ("user", "pass")}, TypeError),
        ({"time_zone_id": ""}, ValueError),
    ],
)
def test_bad_constructor_options_are_refused(
    options: dict[str, object], error: type[Exception]
) -> None:
    """Every option is checked when the transport is built."""
    with pytest.raises(error):
        Transport(URL, **options)  # type: ignore[arg-type]  # misuse on purpose


def test_defaults_are_explicit() -> None:
    """Pool limits, timeouts and TLS verification have explicit defaults."""
    with Transport(URL) as transport:
        pool = transport._client._transport._pool  # type: ignore[attr-defined]  # httpx internals
        timeout = transport._client.timeout

    assert pool._max_connections == DEFAULT_LIMITS.max_connections == 27
    assert timeout.read == 30.0
    assert timeout.connect == 10.0
    assert pool._ssl_context.verify_mode.name == "CERT_REQUIRED"


def test_verify_false_warns_once_per_transport(
    caplog: pytest.LogCaptureFixture, recorder: Recorder, clock: FakeClock
) -> None:
    """verify=False logs exactly one warning, however many calls follow."""
    caplog.set_level(logging.DEBUG)

    with make_transport(recorder, clock, verify=False) as transport:
        for _ in range(3):
            transport.send(
                operation="GetItem",
                body=body_element("GetItem"),
                impersonation=ALICE,
                is_idempotent=True,
            )

    warnings = [
        r for r in caplog.records if r.getMessage() == "TLS verification disabled"
    ]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_verify_true_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    """The default (verification on) logs no TLS warning."""
    caplog.set_level(logging.DEBUG)

    with Transport(URL):
        pass

    assert not [r for r in caplog.records if "TLS" in r.getMessage()]


def test_repr_names_the_url_only() -> None:
    """repr shows the class and the URL."""
    with Transport(URL) as transport:
        assert repr(transport) == f"Transport(url={URL!r})"


def test_wire_log_is_debug_only_and_redacted(
    caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    """Envelopes reach crm_ews.wire at DEBUG, redacted, and nothing at INFO."""

    def handler(request: httpx.Request) -> httpx.Response:
        return xml_response(200, ok_envelope("GetItem", subject="Board minutes"))

    caplog.set_level(logging.INFO, logger="crm_ews")
    with make_transport(handler, clock) as transport:
        transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=ALICE,
            is_idempotent=True,
        )
        quiet = [r for r in caplog.records if r.name == "crm_ews.wire"]
        caplog.set_level(logging.DEBUG, logger="crm_ews")
        transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=ALICE,
            is_idempotent=True,
        )

    wire = [r for r in caplog.records if r.name == "crm_ews.wire"]
    assert quiet == []
    assert [r.getMessage().split(" ", 2)[1] for r in wire] == ["request", "response"]
    assert all(r.levelno == logging.DEBUG for r in wire)
    assert "Board minutes" not in wire[1].getMessage()
    assert "<t:Subject>***</t:Subject>" in wire[1].getMessage()
