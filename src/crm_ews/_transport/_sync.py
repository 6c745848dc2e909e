"""The synchronous transport: one httpx.Client, blocking sleeps."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import httpx
from lxml import etree

from crm_ews._retry import RetryPolicy, sync_retrying
from crm_ews._soap import (
    DEFAULT_MAX_BODY_BYTES,
    DecodedResponse,
    Impersonation,
    ServerVersion,
)
from crm_ews._transport._core import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    PreparedCall,
    TransportCore,
    no_cookie_jar,
)

__all__ = ["Transport"]


class Transport(TransportCore):
    """Sends EWS calls over HTTP, with retries, back-off and logging.

    Args:
        url: The EWS endpoint, e.g. ``https://mail.example.com/EWS/Exchange.asmx``.
            It must not carry credentials.
        auth: Any ``httpx.Auth``; see :mod:`crm_ews.auth`.  ``None`` sends none.
        verify: TLS verification: ``True`` (default), an ``ssl.SSLContext``
            (own CA, client certificate), or ``False``, which logs one warning.
        timeout: Per-step network timeout.  A number sets read, write and pool
            timeouts; connecting gets at most 10 s of it.
        limits: Connection pool limits; default :data:`DEFAULT_LIMITS`.
        retry: The retry policy; default ``RetryPolicy()``.
        server_version: ``RequestServerVersion`` sent with every call.
        time_zone_id: Windows time zone id for ``TimeZoneContext``.
        max_body_bytes: Cap on a decoded response body.
        http_transport: An httpx transport to send through instead of the
            network (``httpx.MockTransport``, ``httpx.WSGITransport``); it is
            closed with this transport.  ``verify`` and ``limits`` then do not
            apply.
        sleep: Called to wait between tries; injectable for tests.
        clock: Monotonic clock for back-off deadlines and the retry timeout.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is out of range or the URL is unusable.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: httpx.Auth | None = None,
        verify: bool | ssl.SSLContext = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits | None = None,
        retry: RetryPolicy | None = None,
        server_version: ServerVersion = ServerVersion.EXCHANGE2016,
        time_zone_id: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            url,
            verify=verify,
            timeout=timeout,
            limits=limits,
            retry=retry,
            server_version=server_version,
            time_zone_id=time_zone_id,
            max_body_bytes=max_body_bytes,
            clock=clock,
        )
        if auth is not None and not isinstance(auth, httpx.Auth):
            raise TypeError("auth must be an httpx.Auth or None")
        if http_transport is not None and not isinstance(
            http_transport, httpx.BaseTransport
        ):
            raise TypeError("http_transport must be an httpx.BaseTransport")
        self._sleep = sleep
        # Limitation: this client keeps httpcore's own pool, which rescans every
        # pooled connection on each request and response close.  The asyncio
        # transport replaced it with ConnectionSlots because that scan cost more
        # CPU than a small EWS call at 27 connections (docs/performance.md);
        # many threads sharing one Transport pay the same.  For many-mailbox
        # work use AsyncEWSClient.
        self._client = httpx.Client(
            auth=auth,
            verify=verify,
            limits=self._limits,
            transport=http_transport,
            timeout=self._timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            cookies=no_cookie_jar(),
        )

    def send(
        self,
        *,
        operation: str,
        body: etree._Element,
        impersonation: Impersonation | None,
        is_idempotent: bool,
    ) -> DecodedResponse:
        """Send one EWS operation and return its decoded response.

        Args:
            operation: The EWS operation name, e.g. ``"GetItem"``.
            body: The operation element (``m:GetItem``); it is moved into the
                envelope, so do not reuse it.
            impersonation: The mailbox to act on; ``None`` acts as the service
                account itself and sends no ``X-AnchorMailbox``.
            is_idempotent: Whether sending the call twice is harmless.  Only
                idempotent calls are resent after the request may have reached
                the server.

        Returns:
            The ``m:<Operation>Response`` element and the server version.

        Raises:
            RuntimeError: The transport is closed.
            TypeError, ValueError: Bad arguments; nothing was sent.
            AuthenticationError: HTTP 401/403.
            EWSError: A SOAP fault (a subclass chosen by its code), after
                retries where allowed.
            TransportError: The network failed or the server answered an HTTP
                error without a SOAP fault, after retries where allowed.
            ResponseDecodeError: The answer is not the expected SOAP.
        """
        self._check_open()
        call = self._prepare(operation, body, impersonation, is_idempotent)

        retrying = sync_retrying(
            self._retry,
            is_idempotent=call.is_idempotent,
            clock=self._clock,
            sleep=self._sleep,
            on_retry=self._retry_hook(call),
        )
        for attempt in retrying:
            with attempt:
                result = self._attempt(call, attempt.retry_state.attempt_number)

        return result

    def _attempt(self, call: PreparedCall, number: int) -> DecodedResponse:
        delay = self._mailbox_delay(call)
        if delay > 0:
            self._sleep(delay)

        with self._attempt_scope(call, number) as attempt:
            self._log_request(call, attempt)
            body = b""
            with self._client.stream(
                "POST",
                self._url,
                content=call.content,
                headers=self._headers(call, attempt),
            ) as response:
                reader = self._begin_body(attempt, response)
                if reader is not None:
                    if not response.is_stream_consumed:
                        for chunk in response.iter_raw():
                            reader.feed(chunk)
                    body = reader.finish()

            return self._finish(call, attempt, response, body)

    def close(self) -> None:
        """Close the connection pool; later ``send`` calls raise RuntimeError."""
        self._closed = True
        self._client.close()

    def __enter__(self) -> Self:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
