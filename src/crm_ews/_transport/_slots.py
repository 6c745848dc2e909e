"""Connection slots: the asyncio pool, one single-connection pool per slot.

httpcore's connection pool rescans every connection each time a request
starts or a response closes, and asks each idle one whether its socket is
readable; with 27 connections that bookkeeping cost more CPU than the
EWS call itself in a many-mailbox sweep (see docs/performance.md).
:class:`ConnectionSlots` keeps the same bound with a semaphore and a stack
of free slots instead, each slot an httpx transport that holds at most one
connection, so a request touches one connection's state, not all of them.

The stack is last-in, first-out: a burst reuses the connections that are
still warm, and the rest sit idle until their keep-alive expires.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable

import httpx

__all__ = ["ConnectionSlots"]


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that hands its slot back once it is closed."""

    def __init__(
        self, stream: httpx.AsyncByteStream, release: Callable[[], None]
    ) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class ConnectionSlots(httpx.AsyncBaseTransport):
    """At most ``limits.max_connections`` requests in flight, one per slot.

    Args:
        limits: ``max_connections`` is the number of slots (required);
            ``max_keepalive_connections`` of them keep their connection
            between requests; ``keepalive_expiry`` applies to each.
        verify: TLS verification, as for ``httpx.AsyncHTTPTransport``.  One
            SSL context is built and shared by every slot.
        slot_factory: Builds one slot from its limits; by default an
            ``httpx.AsyncHTTPTransport``.  Tests pass their own.

    Raises:
        ValueError: ``limits.max_connections`` is not a positive number.
    """

    def __init__(
        self,
        limits: httpx.Limits,
        *,
        verify: bool | ssl.SSLContext = True,
        slot_factory: Callable[[httpx.Limits], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        size = limits.max_connections
        if size is None or size < 1:
            raise ValueError("connection slots need a positive max_connections")
        keep = limits.max_keepalive_connections
        keep = size if keep is None else min(size, keep)
        if slot_factory is None:
            context = (
                verify
                if isinstance(verify, ssl.SSLContext)
                else httpx.create_ssl_context(verify=verify)
            )

            def slot_factory(slot_limits: httpx.Limits) -> httpx.AsyncBaseTransport:
                return httpx.AsyncHTTPTransport(verify=context, limits=slot_limits)

        self._slots = [
            slot_factory(
                httpx.Limits(
                    max_connections=1,
                    max_keepalive_connections=1 if index < keep else 0,
                    keepalive_expiry=limits.keepalive_expiry,
                )
            )
            for index in range(size)
        ]
        # Pop from the end: the slots that keep connections alive come last,
        # so they are the ones reused first.
        self._free = list(reversed(self._slots))
        self._gate = asyncio.Semaphore(size)

    @property
    def size(self) -> int:
        """How many requests may be in flight at once."""
        return len(self._slots)

    @property
    def free(self) -> int:
        """How many slots are free right now."""
        return len(self._free)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on a free slot, waiting for one up to the pool timeout.

        Raises:
            httpx.PoolTimeout: No slot came free within the request's pool
                timeout.
        """
        timeouts = request.extensions.get("timeout", {})
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._gate.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no connection slot came free in time") from exc
        slot = self._free.pop()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._free.append(slot)
                self._gate.release()

        try:
            response = await slot.handle_async_request(request)
        except BaseException:
            release()
            raise

        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):
            release()
            raise TypeError("a slot returned a response without an async body")
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(stream, release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every slot's connection."""
        for slot in self._slots:
            await slot.aclose()
