"""Builders, a fake clock and mock servers for the transport tests."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

import httpx
from lxml import etree

from crm_ews._retry import RetryPolicy
from crm_ews._soap import Impersonation, m, parse_xml, t
from crm_ews._transport import AsyncTransport, Transport

URL = "https://mail.example.com/EWS/Exchange.asmx"
ALICE = Impersonation("alice@example.com")
BOB = Impersonation("bob@example.com")

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"

#: A policy that retries promptly and deterministically.
FAST_RETRY = RetryPolicy(
    attempts=4,
    timeout=600.0,
    wait_initial=1.0,
    wait_max=8.0,
    wait_jitter=0.0,
    max_server_back_off=30.0,
)


def ok_envelope(operation: str, code: str = "NoError", *, subject: str = "") -> bytes:
    """A one-message success (or per-item error) response for ``operation``."""
    response_class = "Success" if code == "NoError" else "Error"
    item = (
        f"<m:Items><t:CalendarItem><t:Subject>{subject}</t:Subject>"
        "</t:CalendarItem></m:Items>"
        if subject
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body>'
        f'<m:{operation}Response xmlns:m="{MESSAGES_NS}" xmlns:t="{TYPES_NS}">'
        f"<m:ResponseMessages>"
        f'<m:{operation}ResponseMessage ResponseClass="{response_class}">'
        f"<m:ResponseCode>{code}</m:ResponseCode>{item}"
        f"</m:{operation}ResponseMessage></m:ResponseMessages>"
        f"</m:{operation}Response></s:Body></s:Envelope>"
    ).encode()


def fault_envelope(code: str, *, back_off_ms: int | None = None) -> bytes:
    """A SOAP fault carrying an EWS ResponseCode (and BackOffMilliseconds)."""
    message_xml = (
        f'<t:MessageXml xmlns:t="{TYPES_NS}">'
        f'<t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value></t:MessageXml>'
        if back_off_ms is not None
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><s:Fault>'
        "<faultcode>a:ErrorServerFault</faultcode>"
        "<faultstring>The server cannot service this request right now.</faultstring>"
        f'<detail><e:ResponseCode xmlns:e="{ERRORS_NS}">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{ERRORS_NS}">Try again later.</e:Message>'
        f"{message_xml}</detail></s:Fault></s:Body></s:Envelope>"
    ).encode()


def body_element(operation: str) -> etree._Element:
    """A minimal operation element; the transport never looks inside it."""
    return etree.Element(m(operation))


def xml_response(
    status: int,
    content: bytes,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A response whose body arrives as an unread stream, as from the network."""
    merged = {"Content-Type": "text/xml; charset=utf-8"}
    merged.update(headers or {})
    return httpx.Response(status, headers=merged, stream=httpx.ByteStream(content))


def gzip_response(content: bytes) -> httpx.Response:
    """A gzip-encoded streamed response."""
    return xml_response(
        200, gzip.compress(content), headers={"Content-Encoding": "gzip"}
    )


def impersonated_mailbox(request: httpx.Request) -> str | None:
    """The mailbox named in the request's ExchangeImpersonation header."""
    root = parse_xml(request.content)
    sid = root.find(f".//{t('ExchangeImpersonation')}/{t('ConnectingSID')}")
    if sid is None:
        return None
    return sid[0].text


def operation_of(request: httpx.Request) -> str:
    """The local name of the request Body's operation element."""
    root = parse_xml(request.content)
    body = root.find(f"{{{SOAP_NS}}}Body")
    assert body is not None
    return etree.QName(body[0]).localname


@dataclass
class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


Handler = Callable[[httpx.Request], httpx.Response]
AsyncHandler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def make_transport(
    handler: Handler,
    clock: FakeClock,
    *,
    retry: RetryPolicy = FAST_RETRY,
    **options: object,
) -> Transport:
    """A Transport over a MockTransport, with the fake clock injected."""
    return Transport(
        URL,
        http_transport=httpx.MockTransport(handler),
        retry=retry,
        sleep=clock.sleep,
        clock=clock,
        **options,  # type: ignore[arg-type]  # test-only pass-through
    )


def make_async_transport(
    handler: AsyncHandler,
    clock: FakeClock,
    *,
    retry: RetryPolicy = FAST_RETRY,
    **options: object,
) -> AsyncTransport:
    """An AsyncTransport over an async MockTransport handler."""
    return AsyncTransport(
        URL,
        http_transport=httpx.MockTransport(handler),
        retry=retry,
        sleep=clock.asleep,
        clock=clock,
        **options,  # type: ignore[arg-type]  # test-only pass-through
    )
