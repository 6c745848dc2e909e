"""The asyncio connection slots bound requests in flight and reuse warm slots."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from crm_ews._soap import Impersonation
from crm_ews._transport import AsyncTransport
from crm_ews._transport._slots import ConnectionSlots
from crm_ews.testing import SimulatorServer
from crm_ews.testing.pytest_plugin import PASSWORD, SERVICE_ACCOUNT
from tests.testing.simulator._ews import ALICE, request
from tests.transport._support import URL

_GET_CALENDAR = (
    "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds>'
)


class FakeSlot(httpx.AsyncBaseTransport):
    """Answers after ``hold`` is set; counts what it handled and what overlapped."""

    def __init__(self, limits: httpx.Limits, meter: dict[str, int]) -> None:
        self.limits = limits
        self.meter = meter
        self.handled = 0
        self.hold = asyncio.Event()
        self.hold.set()
        self.fail = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.meter["in_flight"] += 1
        self.meter["peak"] = max(self.meter["peak"], self.meter["in_flight"])
        try:
            await asyncio.sleep(0.001)  # let other requests start meanwhile
            await self.hold.wait()
            if self.fail:
                raise httpx.ReadError("connection reset", request=request)
        finally:
            self.meter["in_flight"] -= 1
        self.handled += 1
        return httpx.Response(200, content=b"<ok/>")


def _slots(
    max_connections: int, keepalive: int | None = None
) -> tuple[ConnectionSlots, list[FakeSlot], dict[str, int]]:
    meter = {"in_flight": 0, "peak": 0}
    made: list[FakeSlot] = []

    def factory(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
        made.append(FakeSlot(limits, meter))
        return made[-1]

    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=keepalive,
        keepalive_expiry=42.0,
    )
    return ConnectionSlots(limits, slot_factory=factory), made, meter


def test_slots_bound_requests_in_flight() -> None:
    """Ten concurrent requests over three slots never have more than three out."""
    slots, made, meter = _slots(3)

    async def run() -> list[int]:
        async with httpx.AsyncClient(transport=slots) as client:
            responses = await asyncio.gather(
                *(client.get("http://ews.test/") for _ in range(10))
            )
        return [response.status_code for response in responses]

    assert asyncio.run(run()) == [200] * 10
    assert meter["peak"] == 3
    assert sum(slot.handled for slot in made) == 10
    assert slots.free == slots.size == 3


def test_sequential_requests_reuse_one_warm_slot() -> None:
    """Calls one after another all go through the same slot (its connection)."""
    slots, made, _meter = _slots(27)

    async def run() -> None:
        async with httpx.AsyncClient(transport=slots) as client:
            for _ in range(5):
                await client.get("http://ews.test/")

    asyncio.run(run())
    assert sorted(slot.handled for slot in made) == [0] * 26 + [5]


def test_slot_is_held_until_the_body_is_closed() -> None:
    """A streamed response keeps its slot until the stream closes."""
    slots, _made, _meter = _slots(2)

    async def run() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=slots) as client:
            async with client.stream("GET", "http://ews.test/") as response:
                during = slots.free
                await response.aread()
            return during, slots.free

    assert asyncio.run(run()) == (1, 2)


def test_failed_request_gives_its_slot_back() -> None:
    """A request that raises frees its slot for the next one."""
    slots, made, _meter = _slots(1)
    made[0].fail = True

    async def run() -> int:
        async with httpx.AsyncClient(transport=slots) as client:
            with pytest.raises(httpx.ReadError):
                await client.get("http://ews.test/")
            made[0].fail = False
            response = await client.get("http://ews.test/")
        return response.status_code

    assert asyncio.run(run()) == 200
    assert slots.free == 1


def test_waiting_past_the_pool_timeout_raises_pool_timeout() -> None:
    """With every slot busy, a request gives up after its pool timeout."""
    slots, made, _meter = _slots(1)

    async def run() -> None:
        made[0].hold.clear()
        async with httpx.AsyncClient(
            transport=slots, timeout=httpx.Timeout(5.0, pool=0.05)
        ) as client:
            first = asyncio.create_task(client.get("http://ews.test/"))
            await asyncio.sleep(0)
            with pytest.raises(httpx.PoolTimeout):
                await client.get("http://ews.test/")
            made[0].hold.set()
            assert (await first).status_code == 200

    asyncio.run(run())
    assert slots.free == 1


def test_keepalive_limit_and_expiry_reach_the_slots() -> None:
    """Only max_keepalive_connections slots keep a connection; expiry passes on."""
    _pool, made, _meter = _slots(4, keepalive=1)

    assert [slot.limits.max_connections for slot in made] == [1, 1, 1, 1]
    assert [slot.limits.max_keepalive_connections for slot in made] == [1, 0, 0, 0]
    assert {slot.limits.keepalive_expiry for slot in made} == {42.0}


def test_slots_refuse_an_unbounded_pool() -> None:
    """Slots need a number; an unbounded pool is httpx's own business."""
    with pytest.raises(ValueError, match="max_connections"):
        ConnectionSlots(httpx.Limits(max_connections=None))


def test_async_transport_uses_slots_sized_by_its_limits() -> None:
    """The default asyncio pool is slots; a given http_transport is used as is."""

    async def run() -> tuple[object, object]:
        default = AsyncTransport(URL, limits=httpx.Limits(max_connections=5))
        given = httpx.MockTransport(lambda request: httpx.Response(200))
        custom = AsyncTransport(URL, http_transport=given)
        try:
            return default._client._transport, custom._client._transport
        finally:
            await default.aclose()
            await custom.aclose()

    default, custom = asyncio.run(run())
    assert isinstance(default, ConnectionSlots)
    assert default.size == 5
    assert isinstance(custom, httpx.MockTransport)


@pytest.mark.network
def test_async_transport_over_loopback_reuses_connections(
    ews_simulator_server: SimulatorServer,
) -> None:
    """Over real HTTP, 40 calls through 4 slots succeed on at most 4 sockets."""
    connections: set[int] = set()

    async def run() -> list[str]:
        async with AsyncTransport(
            ews_simulator_server.url,
            auth=httpx.BasicAuth(SERVICE_ACCOUNT, PASSWORD),
            limits=httpx.Limits(max_connections=4),
        ) as transport:

            async def one() -> str:
                decoded = await transport.send(
                    operation="GetFolder",
                    body=request("GetFolder", _GET_CALENDAR),
                    impersonation=Impersonation(ALICE),
                    is_idempotent=True,
                )
                return decoded.element.tag

            results = await asyncio.gather(*(one() for _ in range(40)))
            slots = transport._client._transport
            assert isinstance(slots, ConnectionSlots)
            for slot in slots._slots:
                assert isinstance(slot, httpx.AsyncHTTPTransport)
                connections.update(id(c) for c in slot._pool.connections)
            return results

    tags = asyncio.run(run())
    assert len(tags) == 40
    assert 1 <= len(connections) <= 4


@pytest.mark.parametrize(
    ("environment", "slots"),
    [
        ({"HTTPS_PROXY": "http://proxy.example.net:3128"}, False),
        ({"ALL_PROXY": "http://proxy.example.net:3128"}, False),
        (
            {
                "HTTPS_PROXY": "http://proxy.example.net:3128",
                "NO_PROXY": "mail.example.com",
            },
            True,
        ),
        ({"HTTP_PROXY": "http://proxy.example.net:3128"}, True),
    ],
)
def test_an_environment_proxy_keeps_httpx_pool_so_the_proxy_is_used(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], slots: bool
) -> None:
    """Slots would bypass HTTPS_PROXY; a proxied URL keeps httpx's own pool."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    async def run() -> tuple[object, list[str]]:
        transport = AsyncTransport(
            "https://mail.example.com/EWS/Exchange.asmx",
            limits=httpx.Limits(max_connections=5),
        )
        try:
            client = transport._client
            mounted = [str(proxy) for proxy in client._mounts.values() if proxy]
            return client._transport, mounted
        finally:
            await transport.aclose()

    pool, mounted = asyncio.run(run())
    assert isinstance(pool, ConnectionSlots) is slots
    if not slots:
        assert mounted, "httpx mounted no proxy transport"
