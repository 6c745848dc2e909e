"""How the synchronous transport reads answers and turns failures into errors."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from datetime import UTC, datetime

import httpx
import pytest

from crm_ews._retry import RetryPolicy
from crm_ews._soap import m
from crm_ews._transport import Transport
from crm_ews._transport._core import interpret_response, translate_http_error
from crm_ews.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    ItemNotFoundError,
    ResponseDecodeError,
    ThrottledError,
    TransportError,
)
from tests.transport._support import (
    ALICE,
    FakeClock,
    body_element,
    fault_envelope,
    gzip_response,
    make_transport,
    ok_envelope,
    xml_response,
)

NO_RETRY = RetryPolicy(attempts=1)


def send_once(handler: object, **options: object) -> object:
    """Send one GetItem for alice through a no-retry transport."""
    with make_transport(handler, FakeClock(), retry=NO_RETRY, **options) as transport:  # type: ignore[arg-type]  # handler is callable
        return transport.send(
            operation="GetItem",
            body=body_element("GetItem"),
            impersonation=ALICE,
            is_idempotent=True,
        )


def test_success_returns_the_operation_response() -> None:
    """HTTP 200 with a SOAP body returns m:GetItemResponse."""
    result = send_once(lambda request: xml_response(200, ok_envelope("GetItem")))

    assert result.element.tag == m("GetItemResponse")  # type: ignore[attr-defined]


def test_in_memory_mock_responses_are_accepted() -> None:
    """A handler that builds the response with content= works too."""
    result = send_once(
        lambda request: httpx.Response(200, content=ok_envelope("GetItem"))
    )

    assert result.element.tag == m("GetItemResponse")  # type: ignore[attr-defined]


def test_soap_fault_with_500_raises_the_typed_error() -> None:
    """HTTP 500 carrying a fault raises the class its ResponseCode maps to."""
    with pytest.raises(ItemNotFoundError) as info:
        send_once(
            lambda request: xml_response(500, fault_envelope("ErrorItemNotFound"))
        )

    assert info.value.response_code == "ErrorItemNotFound"
    assert info.value.operation == "GetItem"
    assert info.value.mailbox == "alice@example.com"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_statuses_raise_authentication_error_without_body(status: int) -> None:
    """401/403 raise AuthenticationError whose text holds no body content."""
    page = b"<html>secret-page-content</html>"

    with pytest.raises(AuthenticationError) as info:
        send_once(lambda request: xml_response(status, page))

    assert info.value.status_code == status
    assert "secret-page-content" not in str(info.value)


def test_503_without_soap_raises_transport_error_with_retry_after() -> None:
    """A bare 503 raises TransportError with status and Retry-After seconds."""
    with pytest.raises(TransportError) as info:
        send_once(
            lambda request: xml_response(
                503, b"Service Unavailable", headers={"Retry-After": "7"}
            )
        )

    assert info.value.status_code == 503
    assert info.value.retry_after == 7.0
    assert info.value.request_sent is True


def test_html_on_200_raises_response_decode_error() -> None:
    """A proxy's HTML page with HTTP 200 is not SOAP: ResponseDecodeError."""
    with pytest.raises(ResponseDecodeError):
        send_once(
            lambda request: xml_response(200, b"<html><body>Sign in<br></body></html>")
        )


def test_html_on_502_raises_transport_error() -> None:
    """A gateway's HTML error page raises TransportError(status_code=502)."""
    with pytest.raises(TransportError) as info:
        send_once(lambda request: xml_response(502, b"<html>Bad gateway</html>"))

    assert info.value.status_code == 502
    assert "Bad gateway" not in str(info.value)


def test_redirects_are_not_followed() -> None:
    """A 302 raises TransportError instead of following the Location."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(
            302, headers={"Location": "https://mail.example.com/owa/auth/errorFE.aspx"}
        )

    with pytest.raises(TransportError) as info:
        send_once(handler)

    assert info.value.status_code == 302
    assert len(seen) == 1


def test_gzip_body_is_inflated() -> None:
    """A gzip-encoded response is inflated before decoding."""
    result = send_once(lambda request: gzip_response(ok_envelope("GetItem")))

    assert result.element.tag == m("GetItemResponse")  # type: ignore[attr-defined]


def test_deflate_body_is_inflated() -> None:
    """A deflate-encoded response is inflated before decoding."""
    result = send_once(
        lambda request: xml_response(
            200,
            zlib.compress(ok_envelope("GetItem")),
            headers={"Content-Encoding": "deflate"},
        )
    )

    assert result.element.tag == m("GetItemResponse")  # type: ignore[attr-defined]


def test_gzip_bomb_stops_at_the_cap_with_bounded_memory() -> None:
    """100 MB of compressed zeros stop at max_body_bytes, never held whole."""
    bomb = gzip.compress(b"\0" * (100 * 1024 * 1024), compresslevel=9)
    cap = 1024 * 1024

    tracemalloc.start()
    try:
        with pytest.raises(ResponseDecodeError, match="exceeds"):
            send_once(
                lambda request: xml_response(
                    200, bomb, headers={"Content-Encoding": "gzip"}
                ),
                max_body_bytes=cap,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 16 * cap


def test_unknown_content_encoding_raises_response_decode_error() -> None:
    """A Content-Encoding we cannot inflate is refused, not passed through."""
    with pytest.raises(ResponseDecodeError):
        send_once(
            lambda request: xml_response(
                200, b"\x00\x01", headers={"Content-Encoding": "br"}
            )
        )


@pytest.mark.parametrize(
    ("raised", "expected", "request_sent"),
    [
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            ConnectTimeoutError,
            False,
        ),
        (httpx.ConnectTimeout("timed out"), ConnectTimeoutError, False),
        (httpx.PoolTimeout("no connection free"), ConnectTimeoutError, False),
        (httpx.ReadTimeout("timed out"), TransportError, True),
        (httpx.WriteTimeout("timed out"), TransportError, True),
        (httpx.RemoteProtocolError("peer closed"), TransportError, True),
        (httpx.ReadError("reset by peer"), TransportError, True),
        (httpx.LocalProtocolError("bad header"), TransportError, False),
    ],
)
def test_httpx_errors_are_translated_and_chained(
    raised: httpx.HTTPError, expected: type[TransportError], request_sent: bool
) -> None:
    """Each httpx failure becomes our TransportError family, chained with from."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    with pytest.raises(TransportError) as info:
        send_once(handler)

    assert type(info.value) is expected
    assert info.value.request_sent is request_sent
    assert info.value.__cause__ is raised
    assert info.value.operation == "GetItem"


def test_translate_keeps_messages_short() -> None:
    """Only the first line of the httpx message, capped, reaches ours."""
    error = translate_http_error(
        httpx.ReadError("line one\n" + "x" * 1000), operation="GetItem", mailbox=None
    )

    assert "line one" in error.message
    assert "xxx" not in error.message


def test_interpret_parses_an_http_date_retry_after() -> None:
    """Retry-After given as an HTTP-date becomes seconds from now."""
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)

    with pytest.raises(TransportError) as info:
        interpret_response(
            503,
            httpx.Headers({"Retry-After": "Wed, 01 Jan 2025 12:00:30 GMT"}),
            b"",
            operation="GetItem",
            mailbox=None,
            now=now,
        )

    assert info.value.retry_after == 30.0


def test_interpret_prefers_a_soap_fault_over_the_status() -> None:
    """A 503 whose body is an ErrorServerBusy fault raises ThrottledError."""
    with pytest.raises(ThrottledError) as info:
        interpret_response(
            503,
            httpx.Headers(),
            fault_envelope("ErrorServerBusy", back_off_ms=1500),
            operation="GetItem",
            mailbox="alice@example.com",
            now=datetime.now(UTC),
        )

    assert info.value.back_off == 1.5


def test_success_summary_code_reaches_the_debug_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The DEBUG line names the first error code among the response messages."""
    caplog.set_level("DEBUG", logger="crm_ews")

    send_once(
        lambda request: xml_response(200, ok_envelope("GetItem", "ErrorItemNotFound"))
    )

    (line,) = [r for r in caplog.records if r.getMessage() == "ews call finished"]
    assert line.response_code == "ErrorItemNotFound"  # type: ignore[attr-defined]
    assert line.status == 200  # type: ignore[attr-defined]
    assert line.attempt == 1  # type: ignore[attr-defined]
    assert line.mailbox == "alice@example.com"  # type: ignore[attr-defined]
    assert line.operation == "GetItem"  # type: ignore[attr-defined]
    assert isinstance(line.duration_ms, int)  # type: ignore[attr-defined]


def test_transport_has_no_cookie_memory() -> None:
    """A Set-Cookie from one answer is not replayed on the next call."""
    cookies: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("Cookie"))
        return xml_response(
            200,
            ok_envelope("GetItem"),
            headers={"Set-Cookie": "X-BackEndCookie=alice-affinity; path=/"},
        )

    with make_transport(handler, FakeClock(), retry=NO_RETRY) as transport:
        assert isinstance(transport, Transport)
        for _ in range(2):
            transport.send(
                operation="GetItem",
                body=body_element("GetItem"),
                impersonation=ALICE,
                is_idempotent=True,
            )

    assert cookies == [None, None]
