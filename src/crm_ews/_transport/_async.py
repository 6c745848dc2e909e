"""The asyncio transport: one httpx.AsyncClient, awaited sleeps."""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import httpx
from lxml import etree

from crm_ews._retry import RetryPolicy, async_retrying
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
from crm_ews._transport._slots import ConnectionSlots

__all__ = ["AsyncTransport"]


def _environment_proxy_applies(url: str) -> bool:
    """Whether httpx would route ``url`` through a proxy from the environment.

    httpx honours ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
    ``NO_PROXY`` (either case) only for a client without its own transport.
    """
    target = httpx.URL(url)
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(target.scheme) or proxies.get("all")):
        return False
    # typeshed leaves this documented-by-docstring helper out.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return not bypass(target.host, proxies)


class AsyncTransport(TransportCore):
    """The asyncio twin of :class:`~crm_ews._transport.Transport`.

    Same arguments and behaviour; ``send`` is awaited, ``http_transport`` is
    an ``httpx.AsyncBaseTransport`` and ``sleep`` a coroutine function.

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
            network (``httpx.MockTransport``, ``httpx.ASGITransport``); it is
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
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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
            http_transport, httpx.AsyncBaseTransport
        ):
            raise TypeError("http_transport must be an httpx.AsyncBaseTransport")
        self._sleep = sleep
        if (
            http_transport is None
            and self._limits.max_connections is not None
            and not _environment_proxy_applies(self.url)
        ):
            # httpcore's own pool costs more CPU per call than the call's
            # XML once many connections are open; see _slots.py.
            # Limitation: a proxy named by HTTP(S)_PROXY/ALL_PROXY keeps
            # httpx's own pool (httpx mounts environment proxies only on it),
            # so a proxied client pays the pool's per-call scan again.  Who
            # syncs many mailboxes through a proxy sees more client CPU; list
            # the Exchange host in NO_PROXY where the network allows it.
            http_transport = ConnectionSlots(self._limits, verify=verify)
        self._client = httpx.AsyncClient(
            auth=auth,
            verify=verify,
            limits=self._limits,
            transport=http_transport,
            timeout=self._timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            cookies=no_cookie_jar(),
        )

    async def send(
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

        retrying = async_retrying(
            self._retry,
            is_idempotent=call.is_idempotent,
            clock=self._clock,
            sleep=self._sleep,
            on_retry=self._retry_hook(call),
        )
        async for attempt in retrying:
            with attempt:
                result = await self._attempt(call, attempt.retry_state.attempt_number)

        return result

    async def _attempt(self, call: PreparedCall, number: int) -> DecodedResponse:
        delay = self._mailbox_delay(call)
        if delay > 0:
            await self._sleep(delay)

        with self._attempt_scope(call, number) as attempt:
            self._log_request(call, attempt)
            body = b""
            async with self._client.stream(
                "POST",
                self._url,
                content=call.content,
                headers=self._headers(call, attempt),
            ) as response:
                reader = self._begin_body(attempt, response)
                if reader is not None:
                    if not response.is_stream_consumed:
                        async for chunk in response.aiter_raw():
                            reader.feed(chunk)
                    body = reader.finish()

            return self._finish(call, attempt, response, body)

    async def aclose(self) -> None:
        """Close the connection pool; later ``send`` calls raise RuntimeError."""
        self._closed = True
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
