"""Credentials and item content never reach any logger, at any level."""

from __future__ import annotations

import base64
import gzip
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from crm_ews._logging import SensitiveHeaderFilter
from crm_ews._retry import RetryPolicy
from crm_ews._transport import Transport
from crm_ews.auth import BasicAuth, OAuth2ClientCredentials
from crm_ews.errors import AuthenticationError, CRMEWSError
from tests.transport._support import (
    ALICE,
    FAST_RETRY,
    FakeClock,
    body_element,
    make_transport,
    ok_envelope,
    xml_response,
)

PASSWORD = "Hunter2-Basic-Password-XYZ"
CLIENT_SECRET = "OAuth-Client-Secret-QRS"
ACCESS_TOKEN = "eyJ0eXAi.access-token-value.ABC"
SUBJECT = "Quarterly layoffs plan - confidential"
COOKIE = "X-BackEndCookie=affinity-cookie-value-789"
TOKEN_URL = "https://login.example.com/tenant/oauth2/v2.0/token"


def forbidden_strings() -> list[str]:
    """Every form in which a credential or item content could leak."""
    basic = base64.b64encode(f"svc@example.com:{PASSWORD}".encode()).decode()
    return [
        PASSWORD,
        CLIENT_SECRET,
        ACCESS_TOKEN,
        basic,
        f"Bearer {ACCESS_TOKEN}",
        SUBJECT,
        "affinity-cookie-value-789",
    ]


def everything_logged(records: list[logging.LogRecord]) -> str:
    """Messages, extras and formatted tracebacks of all records, as text."""
    formatter = logging.Formatter()
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.append(repr(vars(record)))
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
    return "\n".join(parts)


def assert_nothing_leaked(text: str) -> None:
    """None of the forbidden strings occurs in ``text``."""
    for secret in forbidden_strings():
        assert secret not in text, f"leaked: {secret[:6]}..."


class Exchange:
    """Token endpoint plus an EWS endpoint with a retry, a cookie and an item."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            return httpx.Response(
                200,
                json={
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "access_token": ACCESS_TOKEN,
                },
            )
        self.calls += 1
        if self.calls == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        if self.calls == 2:
            return httpx.Response(401, headers={"WWW-Authenticate": "Bearer"})
        return xml_response(
            200,
            gzip.compress(ok_envelope("GetItem", subject=SUBJECT)),
            headers={"Content-Encoding": "gzip", "Set-Cookie": COOKIE},
        )


def test_no_credential_or_subject_in_any_debug_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Retries, a 401 refresh and a success with content leak nothing."""
    caplog.set_level(logging.DEBUG)
    auth = OAuth2ClientCredentials(TOKEN_URL, "app-id", CLIENT_SECRET)

    with make_transport(Exchange(), FakeClock(), auth=auth) as transport:
        result = transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=ALICE,
            is_idempotent=True,
        )

    assert result.element is not None
    messages = [r.getMessage() for r in caplog.records]
    assert "ews call retry scheduled" in messages
    assert any(m.startswith("ews response ") for m in messages)
    assert_nothing_leaked(everything_logged(caplog.records))


def test_errors_and_reprs_carry_no_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused Basic login: the error text, repr and logs hold no password."""
    caplog.set_level(logging.DEBUG)
    auth = BasicAuth("svc@example.com", PASSWORD)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401,
            headers={"WWW-Authenticate": 'Basic realm="mail"', "Set-Cookie": COOKIE},
            content=f"<html>{request.headers['Authorization']}</html>".encode(),
        )

    with make_transport(handler, FakeClock(), auth=auth) as transport:
        with pytest.raises(AuthenticationError) as info:
            transport.send(
                operation="GetItem",
                body=body_element("GetItem"),
                impersonation=ALICE,
                is_idempotent=True,
            )
        texts = [str(info.value), repr(info.value), repr(auth), repr(transport)]

    assert_nothing_leaked("\n".join(texts))
    assert_nothing_leaked(everything_logged(caplog.records))


def test_sensitive_header_filter_masks_httpcore_header_lists() -> None:
    """The filter rewrites Set-Cookie and auth header values in httpcore text."""
    record = logging.LogRecord(
        "httpcore.http11",
        logging.DEBUG,
        __file__,
        1,
        "receive_response_headers.complete return_value=%s",
        (
            "(b'HTTP/1.1', 200, b'OK', [(b'Set-Cookie', b'sid=abc123'), "
            "(b'WWW-Authenticate', b\"NTLM TlRMTVNT'UA==\"), "
            "(b'Content-Type', b'text/xml')])",
        ),
        None,
    )

    SensitiveHeaderFilter().filter(record)

    text = record.getMessage()
    assert "abc123" not in text
    assert "TlRMTVNT" not in text
    assert "b'text/xml'" in text
    assert text.count("[redacted]") == 2


class _EWSHandler(BaseHTTPRequestHandler):
    """Answers every POST with a cookie and a SOAP success."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        body = ok_envelope("GetItem", subject=SUBJECT)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Set-Cookie", COOKIE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test server quiet."""


@pytest.fixture
def loopback_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1; yields its EWS URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EWSHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/EWS/Exchange.asmx"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.network
def test_httpx_and_httpcore_debug_logs_leak_nothing(
    loopback_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Over a real socket, httpx/httpcore DEBUG output holds no credential."""
    caplog.set_level(logging.DEBUG)
    auth = BasicAuth("svc@example.com", PASSWORD)

    with Transport(
        loopback_server, auth=auth, retry=RetryPolicy(attempts=1)
    ) as transport:
        transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=ALICE,
            is_idempotent=True,
        )

    httpcore_lines = [r for r in caplog.records if r.name.startswith("httpcore")]
    assert any("receive_response_headers" in r.getMessage() for r in httpcore_lines)
    assert_nothing_leaked(everything_logged(caplog.records))


def test_exception_messages_never_hold_the_request() -> None:
    """TransportError text after a timeout does not include the envelope."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with (
        make_transport(handler, FakeClock(), retry=FAST_RETRY) as transport,
        pytest.raises(CRMEWSError) as info,
    ):
        transport.send(
            operation="CreateItem",
            body=body_element("CreateItem"),
            impersonation=ALICE,
            is_idempotent=False,
        )

    assert "Envelope" not in str(info.value)
    assert "alice@example.com" in str(info.value)
