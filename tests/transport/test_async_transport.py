"""The asyncio transport shares the synchronous one's behaviour."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import httpx
import pytest

from crm_ews._retry import RetryPolicy
from crm_ews._soap import DecodedResponse, Impersonation, m
from crm_ews._transport import AsyncTransport
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
    BOB,
    URL,
    FakeClock,
    body_element,
    fault_envelope,
    impersonated_mailbox,
    make_async_transport,
    ok_envelope,
    xml_response,
)

AsyncStep = Callable[[httpx.Request], Awaitable[httpx.Response]]


class AsyncScript:
    """Answers from a list of async steps, then success; records requests."""

    def __init__(self, operation: str, *steps: AsyncStep) -> None:
        self.operation = operation
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.steps:
            return await self.steps.pop(0)(request)
        return xml_response(200, ok_envelope(self.operation))


async def read_timeout(request: httpx.Request) -> httpx.Response:
    """The server took the request and never answered."""
    raise httpx.ReadTimeout("timed out", request=request)


async def connect_refused(request: httpx.Request) -> httpx.Response:
    """Nothing listened."""
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def answer(status: int, content: bytes, **headers: str) -> AsyncStep:
    """A fixed streamed answer."""

    async def step(request: httpx.Request) -> httpx.Response:
        return xml_response(status, content, headers=headers)

    return step


async def send(
    transport: AsyncTransport,
    operation: str,
    *,
    idempotent: bool,
    who: Impersonation | None = ALICE,
) -> DecodedResponse:
    """One awaited call."""
    return await transport.send(
        operation=operation,
        body=body_element(operation),
        impersonation=who,
        is_idempotent=idempotent,
    )


def test_async_success_with_anchor_and_impersonation() -> None:
    """The async call sends matching SOAP and anchor headers and decodes."""
    script = AsyncScript("GetItem")

    async def main() -> DecodedResponse:
        async with make_async_transport(script, FakeClock()) as transport:
            return await send(transport, "GetItem", idempotent=True)

    result = asyncio.run(main())

    (request,) = script.requests
    assert result.element.tag == m("GetItemResponse")
    assert impersonated_mailbox(request) == "alice@example.com"
    assert request.headers["X-AnchorMailbox"] == "alice@example.com"


def test_async_without_impersonation_sends_no_anchor() -> None:
    """No impersonation means no X-AnchorMailbox on the async path either."""
    script = AsyncScript("GetItem")

    async def main() -> None:
        async with make_async_transport(script, FakeClock()) as transport:
            await send(transport, "GetItem", idempotent=True, who=None)

    asyncio.run(main())

    assert "X-AnchorMailbox" not in script.requests[0].headers


def test_async_timed_out_create_item_is_not_resent() -> None:
    """An async CreateItem whose answer timed out raises, sent once."""
    script = AsyncScript("CreateItem", read_timeout)
    clock = FakeClock()

    async def main() -> None:
        async with make_async_transport(script, clock) as transport:
            await send(transport, "CreateItem", idempotent=False)

    with pytest.raises(TransportError) as info:
        asyncio.run(main())

    assert info.value.request_sent is True
    assert len(script.requests) == 1
    assert clock.sleeps == []


def test_async_timed_out_sync_folder_items_is_resent() -> None:
    """An async SyncFolderItems is resent after a read timeout."""
    script = AsyncScript("SyncFolderItems", read_timeout)
    clock = FakeClock()

    async def main() -> None:
        async with make_async_transport(script, clock) as transport:
            await send(transport, "SyncFolderItems", idempotent=True)

    asyncio.run(main())

    assert len(script.requests) == 2
    assert clock.sleeps == [1.0]


def test_async_server_busy_back_off_is_awaited() -> None:
    """BackOffMilliseconds is slept through the injected async sleep."""
    script = AsyncScript(
        "UpdateItem", answer(500, fault_envelope("ErrorServerBusy", back_off_ms=750))
    )
    clock = FakeClock()

    async def main() -> None:
        async with make_async_transport(script, clock) as transport:
            await send(transport, "UpdateItem", idempotent=False)

    asyncio.run(main())

    assert clock.sleeps == [0.75]
    assert len(script.requests) == 2


def test_async_back_off_above_ceiling_raises() -> None:
    """A back-off over the ceiling raises ThrottledError without sleeping."""
    script = AsyncScript(
        "GetItem", answer(500, fault_envelope("ErrorServerBusy", back_off_ms=90_000))
    )
    clock = FakeClock()

    async def main() -> None:
        async with make_async_transport(script, clock) as transport:
            await send(transport, "GetItem", idempotent=True)

    with pytest.raises(ThrottledError):
        asyncio.run(main())

    assert clock.sleeps == []


def test_async_503_retry_after_is_honoured() -> None:
    """A 503 with Retry-After is awaited and the read resent."""
    script = AsyncScript("GetItem", answer(503, b"", **{"Retry-After": "2"}))
    clock = FakeClock()

    async def main() -> None:
        async with make_async_transport(script, clock) as transport:
            await send(transport, "GetItem", idempotent=True)

    asyncio.run(main())

    assert clock.sleeps == [2.0]


def test_async_back_off_is_per_mailbox() -> None:
    """Alice's back-off delays her next call only, also on the async path."""
    script = AsyncScript(
        "GetItem", answer(500, fault_envelope("ErrorServerBusy", back_off_ms=4000))
    )
    clock = FakeClock()

    async def main() -> list[float]:
        async with make_async_transport(
            script, clock, retry=RetryPolicy(attempts=1)
        ) as transport:
            with pytest.raises(ThrottledError):
                await send(transport, "GetItem", idempotent=True)
            await send(transport, "GetItem", idempotent=True, who=BOB)
            after_bob = list(clock.sleeps)
            await send(transport, "GetItem", idempotent=True)
            return after_bob

    after_bob = asyncio.run(main())

    assert after_bob == []
    assert clock.sleeps == [4.0]


def test_async_connect_failure_retried() -> None:
    """Connect failures are retried for writes on the async path."""
    script = AsyncScript("CreateItem", connect_refused)
    clock = FakeClock()

    async def main() -> None:
        async with make_async_transport(script, clock) as transport:
            await send(transport, "CreateItem", idempotent=False)

    asyncio.run(main())

    assert len(script.requests) == 2


def test_async_connect_failure_translated_when_attempts_run_out() -> None:
    """The last connect failure surfaces as ConnectTimeoutError, chained."""
    script = AsyncScript("GetItem", *[connect_refused] * 10)

    async def main() -> None:
        async with make_async_transport(
            script, FakeClock(), retry=RetryPolicy(attempts=2, wait_jitter=0)
        ) as transport:
            await send(transport, "GetItem", idempotent=True)

    with pytest.raises(ConnectTimeoutError) as info:
        asyncio.run(main())

    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.request_sent is False


def test_async_fault_and_auth_errors() -> None:
    """Faults map to typed errors and 401 to AuthenticationError."""
    script = AsyncScript(
        "GetItem",
        answer(500, fault_envelope("ErrorItemNotFound")),
        answer(401, b"<html>nope</html>"),
    )

    async def main() -> list[BaseException]:
        errors: list[BaseException] = []
        async with make_async_transport(script, FakeClock()) as transport:
            for _ in range(2):
                try:
                    await send(transport, "GetItem", idempotent=True)
                except (ItemNotFoundError, AuthenticationError) as exc:
                    errors.append(exc)
        return errors

    errors = asyncio.run(main())

    assert [type(e) for e in errors] == [ItemNotFoundError, AuthenticationError]


def test_async_gzip_and_bomb() -> None:
    """Gzip is inflated; a bomb stops at the cap with ResponseDecodeError."""
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    script = AsyncScript(
        "GetItem",
        answer(
            200, gzip.compress(ok_envelope("GetItem")), **{"Content-Encoding": "gzip"}
        ),
        answer(200, bomb, **{"Content-Encoding": "gzip"}),
    )

    async def main() -> None:
        async with make_async_transport(
            script, FakeClock(), max_body_bytes=256 * 1024
        ) as transport:
            result = await send(transport, "GetItem", idempotent=False)
            assert result.element.tag == m("GetItemResponse")
            await send(transport, "GetItem", idempotent=False)

    with pytest.raises(ResponseDecodeError, match="exceeds"):
        asyncio.run(main())

    assert len(script.requests) == 2


def test_async_send_after_aclose_raises() -> None:
    """aclose() makes later sends raise RuntimeError."""
    script = AsyncScript("GetItem")

    async def main() -> None:
        transport = make_async_transport(script, FakeClock())
        await transport.aclose()
        await send(transport, "GetItem", idempotent=True)

    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(main())

    assert script.requests == []


def test_async_transport_requires_an_async_http_transport() -> None:
    """A sync httpx transport is refused by AsyncTransport."""
    with httpx.HTTPTransport() as sync_transport, pytest.raises(TypeError):
        AsyncTransport(URL, http_transport=sync_transport)  # type: ignore[arg-type]  # misuse on purpose
