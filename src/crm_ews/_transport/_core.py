"""What the synchronous and asyncio transports share: everything but the I/O.

:class:`TransportCore` validates the configuration, prepares each call (the
envelope once, fresh headers per try), waits out per-mailbox back-off,
turns each HTTP outcome into a result or a typed error, translates httpx's
exceptions at one place, and logs.  :class:`~crm_ews._transport.Transport`
and :class:`~crm_ews._transport.AsyncTransport` only open the stream, read
it, and sleep, each in its own style.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookiejar import Cookie, CookieJar, CookiePolicy
from importlib import metadata
from typing import Final
from urllib.request import Request as URLLibRequest

import httpx
from lxml import etree

from crm_ews._logging import install_httpcore_redaction
from crm_ews._retry import RetryDecision, RetryPolicy, parse_retry_after
from crm_ews._soap import (
    DEFAULT_MAX_BODY_BYTES,
    BoundedInflater,
    DecodedResponse,
    Impersonation,
    ServerVersion,
    build_envelope,
    decode_envelope,
    m,
)
from crm_ews._soap._redact import redact_envelope
from crm_ews._transport._backoff import MailboxBackOff
from crm_ews.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    CRMEWSError,
    EWSError,
    ResponseDecodeError,
    ThrottledError,
    TransportError,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "TransportCore",
    "interpret_response",
    "no_cookie_jar",
    "summary_response_code",
    "translate_http_error",
]

logger = logging.getLogger(__name__)
wire_logger = logging.getLogger("crm_ews.wire")

#: Seconds a call may wait for each network step, unless the caller says.
DEFAULT_TIMEOUT: Final = 30.0

#: Connecting gets at most this long out of a plain-number timeout: a server
#: that takes longer to accept a connection is down, and a connect failure is
#: always safe to retry.
DEFAULT_MAX_CONNECT_TIMEOUT: Final = 10.0

#: Pool limits.  Exchange charges impersonated calls to the target mailbox's
#: EWSMaxConcurrency budget, 27 concurrent connections by default (10 on
#: Exchange 2010); at most 27 open connections keep even a burst for one
#: mailbox inside it.  Idle connections live 60 s, under IIS's 120 s idle
#: timeout, so the server rarely closes one just as it is reused.
DEFAULT_LIMITS: Final = httpx.Limits(
    max_connections=27, max_keepalive_connections=27, keepalive_expiry=60.0
)


def _user_agent() -> str:
    try:
        return f"crm-ews/{metadata.version('crm-ews')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "crm-ews"


#: Sent on every request so Exchange's IIS logs show who called.
USER_AGENT: Final = _user_agent()

_OPERATION_NAME: Final = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_NO_BODY_STATUSES: Final = frozenset({401, 403})


class _NoCookies(CookiePolicy):
    """Accept and send no cookies.

    Exchange's affinity cookies belong to one mailbox; replaying them on calls
    for other mailboxes would route those calls by the wrong anchor.  Routing
    by ``X-AnchorMailbox`` alone is what Exchange documents.
    """

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: Cookie, request: URLLibRequest) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: URLLibRequest) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: URLLibRequest) -> bool:
        return False

    def path_return_ok(self, path: str, request: URLLibRequest) -> bool:
        return False


def no_cookie_jar() -> CookieJar:
    """A cookie jar that stays empty."""
    return CookieJar(policy=_NoCookies())


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """One ``send`` after validation: the envelope and its routing."""

    operation: str
    impersonation: Impersonation | None
    is_idempotent: bool
    content: bytes

    @property
    def mailbox(self) -> str | None:
        """The impersonated mailbox, for errors and log fields."""
        return None if self.impersonation is None else self.impersonation.mailbox

    @property
    def back_off_key(self) -> str:
        """Key of this call's mailbox in the back-off map (addresses ignore case)."""
        return "" if self.impersonation is None else self.impersonation.mailbox.lower()


class AttemptRecord:
    """What one try saw, for its log line and its result."""

    __slots__ = ("error", "number", "request_id", "response_code", "status")

    def __init__(self, number: int) -> None:
        self.number = number
        self.request_id = str(uuid.uuid4())
        self.status: int | None = None
        self.response_code: str | None = None
        self.error: BaseException | None = None


class TransportCore:
    """Configuration and behaviour shared by both transports.

    Subclasses create the httpx client and implement ``send``; see
    :class:`~crm_ews._transport.Transport` for the arguments.
    """

    def __init__(
        self,
        url: str,
        *,
        verify: bool | ssl.SSLContext,
        timeout: float | httpx.Timeout,
        limits: httpx.Limits | None,
        retry: RetryPolicy | None,
        server_version: ServerVersion,
        time_zone_id: str | None,
        max_body_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self._url = _check_url(url)
        self._timeout = _check_timeout(timeout)
        self._limits = DEFAULT_LIMITS if limits is None else limits
        if not isinstance(self._limits, httpx.Limits):
            raise TypeError("limits must be an httpx.Limits")
        self._retry = RetryPolicy() if retry is None else retry
        if not isinstance(self._retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        self._server_version = ServerVersion(server_version)
        self._time_zone_id = _check_time_zone_id(time_zone_id)
        self._max_body_bytes = _check_max_body_bytes(max_body_bytes)
        if not isinstance(verify, bool | ssl.SSLContext):
            raise TypeError("verify must be a bool or an ssl.SSLContext")
        self._clock = clock
        self._back_off = MailboxBackOff(clock=clock)
        self._closed = False

        install_httpcore_redaction()
        if verify is False:
            logger.warning("TLS verification disabled")

    @property
    def url(self) -> str:
        """The EWS endpoint, e.g. ``https://mail.example.com/EWS/Exchange.asmx``."""
        return str(self._url)

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy deciding retries for this transport."""
        return self._retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("cannot send: the transport is closed")

    def _prepare(
        self,
        operation: str,
        body: etree._Element,
        impersonation: Impersonation | None,
        is_idempotent: bool,
    ) -> PreparedCall:
        """Validate one ``send`` and build its envelope (consuming ``body``)."""
        operation = _check_operation(operation)
        if not isinstance(body, etree._Element):
            raise TypeError(f"body must be an lxml element, not {type(body).__name__}")
        if impersonation is not None and not isinstance(impersonation, Impersonation):
            raise TypeError("impersonation must be an Impersonation or None")
        if not isinstance(is_idempotent, bool):
            raise TypeError("is_idempotent must be a bool")
        # Limitation: HTTP header values are ASCII, so a mailbox with non-ASCII
        # characters (an internationalized address) cannot be anchored and is
        # refused here.  Name such mailboxes by SID or ASCII UPN instead.
        if impersonation is not None and not impersonation.anchor.isascii():
            raise ValueError("the impersonated mailbox must be ASCII to be anchored")

        content = build_envelope(
            body,
            impersonation=impersonation,
            server_version=self._server_version,
            time_zone_id=self._time_zone_id,
        )

        return PreparedCall(operation, impersonation, is_idempotent, content)

    def _headers(self, call: PreparedCall, attempt: AttemptRecord) -> dict[str, str]:
        # EWS needs no SOAPAction header; the operation is the Body's element.
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "Accept": "text/xml",
            # Only gzip: some IIS versions answer "deflate" with raw RFC 1951
            # data, which the zlib-wrapped reader cannot take.
            "Accept-Encoding": "gzip",
            "client-request-id": attempt.request_id,
            "return-client-request-id": "true",
        }
        if call.impersonation is not None:
            headers["X-AnchorMailbox"] = call.impersonation.anchor
        return headers

    def _mailbox_delay(self, call: PreparedCall) -> float:
        """Seconds to wait before calling this mailbox, or raise if too long."""
        remaining = self._back_off.remaining(call.back_off_key)
        if remaining <= 0:
            return 0.0
        if remaining > self._retry.max_server_back_off:
            raise ThrottledError(
                "the server asked this mailbox to back off",
                response_code="ErrorServerBusy",
                operation=call.operation,
                mailbox=call.mailbox,
                back_off=remaining,
            )
        logger.debug(
            "ews call waiting for mailbox back-off",
            extra={
                "operation": call.operation,
                "mailbox": call.mailbox,
                "wait_ms": round(remaining * 1000),
            },
        )
        return remaining

    @contextlib.contextmanager
    def _attempt_scope(
        self, call: PreparedCall, number: int
    ) -> Iterator[AttemptRecord]:
        """Time one try, translate its errors, note back-off, and log it."""
        attempt = AttemptRecord(number)
        started = self._clock()
        try:
            yield attempt
        except httpx.HTTPError as exc:
            error = translate_http_error(
                exc, operation=call.operation, mailbox=call.mailbox
            )
            attempt.error = error
            raise error from exc
        except CRMEWSError as exc:
            attempt.error = exc
            if isinstance(exc, EWSError):
                attempt.response_code = exc.response_code
            self._note_back_off(call, exc)
            raise
        except BaseException as exc:
            attempt.error = exc
            raise
        finally:
            self._log_attempt(call, attempt, self._clock() - started)

    def _begin_body(
        self, attempt: AttemptRecord, response: httpx.Response
    ) -> BoundedInflater | None:
        """Record the status; return a reader, or ``None`` to skip the body."""
        attempt.status = response.status_code
        if response.status_code in _NO_BODY_STATUSES or response.is_redirect:
            return None
        if response.is_stream_consumed:
            # httpx loads (and decodes) in-memory responses, such as those a
            # MockTransport handler builds with content=, before we see them;
            # network responses always arrive as an unread stream.
            reader = BoundedInflater("identity", max_bytes=self._max_body_bytes)
            reader.feed(response.content)
            return reader
        return BoundedInflater(
            response.headers.get("Content-Encoding", ""),
            max_bytes=self._max_body_bytes,
        )

    def _log_request(self, call: PreparedCall, attempt: AttemptRecord) -> None:
        if wire_logger.isEnabledFor(logging.DEBUG):
            wire_logger.debug(
                "ews request %s",
                redact_envelope(call.content, max_bytes=self._max_body_bytes),
                extra=_wire_fields(call, attempt),
            )

    def _finish(
        self,
        call: PreparedCall,
        attempt: AttemptRecord,
        response: httpx.Response,
        body: bytes,
    ) -> DecodedResponse:
        """Turn the read response into the decoded result or a typed error."""
        if body and wire_logger.isEnabledFor(logging.DEBUG):
            wire_logger.debug(
                "ews response %s",
                redact_envelope(body, max_bytes=self._max_body_bytes),
                extra=_wire_fields(call, attempt),
            )
        decoded = interpret_response(
            response.status_code,
            response.headers,
            body,
            operation=call.operation,
            mailbox=call.mailbox,
            max_body_bytes=self._max_body_bytes,
            now=datetime.now(UTC),
        )
        attempt.response_code = summary_response_code(decoded.element)

        return decoded

    def _note_back_off(self, call: PreparedCall, error: CRMEWSError) -> None:
        if isinstance(error, ThrottledError):
            seconds = error.back_off
        elif isinstance(error, TransportError):
            seconds = error.retry_after
        else:
            return
        if seconds is None or seconds <= 0:
            return

        self._back_off.record(call.back_off_key, seconds)
        # Above the ceiling the call raises with back_off set: log or raise.
        if seconds <= self._retry.max_server_back_off:
            logger.warning(
                "ews server back-off",
                extra={
                    "operation": call.operation,
                    "mailbox": call.mailbox,
                    "wait_ms": round(seconds * 1000),
                    "status": getattr(error, "status_code", None),
                    "response_code": getattr(error, "response_code", None),
                },
            )

    def _log_attempt(
        self, call: PreparedCall, attempt: AttemptRecord, duration: float
    ) -> None:
        logger.debug(
            "ews call finished",
            extra={
                "operation": call.operation,
                "mailbox": call.mailbox,
                "attempt": attempt.number,
                "status": attempt.status,
                "response_code": attempt.response_code,
                "duration_ms": round(duration * 1000),
                "request_id": attempt.request_id,
                "error_type": (
                    None if attempt.error is None else type(attempt.error).__name__
                ),
            },
        )

    def _retry_hook(
        self, call: PreparedCall
    ) -> Callable[[int, float, BaseException, RetryDecision], None]:
        def on_retry(
            number: int, wait: float, error: BaseException, decision: RetryDecision
        ) -> None:
            logger.warning(
                "ews call retry scheduled",
                extra={
                    "operation": call.operation,
                    "mailbox": call.mailbox,
                    "attempt": number,
                    "wait_ms": round(wait * 1000),
                    "status": getattr(error, "status_code", None),
                    "response_code": getattr(error, "response_code", None),
                    "error_type": type(error).__name__,
                    "reason": decision.reason,
                },
            )

        return on_retry


def _wire_fields(call: PreparedCall, attempt: AttemptRecord) -> dict[str, object]:
    return {
        "operation": call.operation,
        "mailbox": call.mailbox,
        "attempt": attempt.number,
        "request_id": attempt.request_id,
    }


def _check_url(url: object) -> httpx.URL:
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError("url is not a valid URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("url must be an absolute http(s) URL")
    if parsed.userinfo:
        raise ValueError("url must not carry credentials; pass auth= instead")
    return parsed


def _check_operation(operation: object) -> str:
    if not isinstance(operation, str):
        raise TypeError("operation must be a str")
    if not _OPERATION_NAME.match(operation):
        raise ValueError("operation must be an EWS operation name like 'GetItem'")
    return operation


def _check_time_zone_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("time_zone_id must be a str or None")
    if not value.strip():
        raise ValueError("time_zone_id must not be empty")
    return value


def _check_max_body_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("max_body_bytes must be an int")
    if value < 1:
        raise ValueError("max_body_bytes must be positive")
    return value


def _check_timeout(timeout: object) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if not isinstance(timeout, int | float) or isinstance(timeout, bool):
        raise TypeError("timeout must be a number of seconds or an httpx.Timeout")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError("timeout must be a positive number of seconds")
    return httpx.Timeout(
        float(timeout), connect=min(float(timeout), DEFAULT_MAX_CONNECT_TIMEOUT)
    )


def summary_response_code(element: etree._Element) -> str | None:
    """``NoError``, or the first error code among the response messages."""
    container = element.find(m("ResponseMessages"))
    if container is None:
        return None
    seen = False
    for child in container:
        code = (child.findtext(m("ResponseCode")) or "").strip()
        if code and code != "NoError":
            return code
        seen = seen or bool(code)
    return "NoError" if seen else None


def interpret_response(
    status: int,
    headers: httpx.Headers,
    body: bytes,
    *,
    operation: str,
    mailbox: str | None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    now: datetime,
) -> DecodedResponse:
    """Map one HTTP response to the decoded result or the matching error.

    Raises:
        AuthenticationError: HTTP 401 or 403.
        EWSError: A SOAP fault, whatever the status (subclass by its code).
        ResponseDecodeError: HTTP 200 with a body that is not the expected SOAP.
        TransportError: Any other status without a SOAP fault, with
            ``status_code`` and the parsed ``Retry-After`` in ``retry_after``.
    """
    if status in _NO_BODY_STATUSES:
        raise AuthenticationError(
            f"the server refused the service account (HTTP {status})",
            operation=operation,
            mailbox=mailbox,
            status_code=status,
        )
    if status == 200:
        return decode_envelope(
            body, operation=operation, mailbox=mailbox, max_bytes=max_body_bytes
        )

    if body and not 300 <= status < 400:
        # Exchange reports faults with HTTP 500; the fault names the cause.
        with contextlib.suppress(ResponseDecodeError):
            decode_envelope(
                body, operation=operation, mailbox=mailbox, max_bytes=max_body_bytes
            )

    raise TransportError(
        _status_message(status),
        operation=operation,
        mailbox=mailbox,
        request_sent=True,
        status_code=status,
        retry_after=parse_retry_after(headers.get("Retry-After"), now=now),
    )


def _status_message(status: int) -> str:
    if 300 <= status < 400:
        return f"the server redirected the request (HTTP {status}); check the URL"
    if status == 429:
        return "the server is rate limiting (HTTP 429)"
    if status >= 500:
        return f"the server failed without a SOAP fault (HTTP {status})"
    return f"the server refused the request (HTTP {status})"


def translate_http_error(
    exc: httpx.HTTPError, *, operation: str, mailbox: str | None
) -> TransportError:
    """The one place where httpx exceptions become ours (chain with ``from``)."""
    detail = _describe(exc)
    # The server never saw the request: the connection, a pool slot, or the
    # proxy tunnel could not be had.
    if isinstance(
        exc,
        httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.PoolTimeout
        | httpx.ProxyError,
    ):
        return ConnectTimeoutError(
            f"could not reach the server: {detail}",
            operation=operation,
            mailbox=mailbox,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return TransportError(
            f"the request could not be sent: {detail}",
            operation=operation,
            mailbox=mailbox,
            request_sent=False,
        )
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(
            f"the server did not answer in time: {detail}",
            operation=operation,
            mailbox=mailbox,
            request_sent=True,
        )
    return TransportError(
        f"the connection failed after the request went out: {detail}",
        operation=operation,
        mailbox=mailbox,
        request_sent=True,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
