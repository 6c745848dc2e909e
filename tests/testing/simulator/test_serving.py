"""WSGI, async transport, the loopback HTTP server, determinism and seeding."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import httpx
import pytest

from crm_ews._soap import Impersonation, build_envelope, decode_envelope
from crm_ews.testing import (
    EWS_PATH,
    AsyncSimulatorTransport,
    ExchangeSimulator,
    FaultInjection,
    FaultKind,
    ServiceAccount,
    SimulatorServer,
)
from crm_ews.testing.pytest_plugin import PASSWORD, SERVICE_ACCOUNT
from tests.testing.simulator._ews import ALICE, SOAPClient, item_ids, request

_GET = (
    "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds>'
)
_AUTH = (SERVICE_ACCOUNT, PASSWORD)


def _envelope() -> bytes:
    return build_envelope(
        request("GetFolder", _GET), impersonation=Impersonation(ALICE)
    )


def test_wsgi_app_works_with_httpx_wsgi_transport(
    ews_simulator: ExchangeSimulator,
) -> None:
    """The simulator is a WSGI app usable through httpx.WSGITransport."""
    transport = httpx.WSGITransport(app=ews_simulator)
    with httpx.Client(transport=transport, base_url="http://sim", auth=_AUTH) as client:
        response = client.post(
            EWS_PATH, content=_envelope(), headers={"X-AnchorMailbox": ALICE}
        )
    decoded = decode_envelope(response.content, operation="GetFolder", mailbox=ALICE)
    assert decoded.server_version is not None
    assert ews_simulator.calls[-1].anchor_mailbox == ALICE


def test_wsgi_drop_raises_remote_protocol_error(
    ews_simulator: ExchangeSimulator,
) -> None:
    """Through WSGI a dropped call still surfaces as RemoteProtocolError."""
    ews_simulator.schedule_fault(FaultKind.DROP)
    transport = httpx.WSGITransport(app=ews_simulator)
    with (
        httpx.Client(transport=transport, base_url="http://sim", auth=_AUTH) as client,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        client.post(EWS_PATH, content=_envelope())


@pytest.mark.parametrize("threaded", [True, False])
def test_async_transport_serves_concurrent_requests(
    ews_simulator: ExchangeSimulator, threaded: bool
) -> None:
    """The asyncio transport answers many overlapping requests."""

    async def main() -> list[int]:
        transport = AsyncSimulatorTransport(ews_simulator, threaded=threaded)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sim", auth=_AUTH
        ) as client:
            responses = await asyncio.gather(
                *(client.post(EWS_PATH, content=_envelope()) for _ in range(10))
            )
        return [response.status_code for response in responses]

    assert asyncio.run(main()) == [200] * 10


def test_async_transport_drop(ews_simulator: ExchangeSimulator) -> None:
    """The asyncio transport raises RemoteProtocolError on a drop."""
    ews_simulator.schedule_fault(FaultKind.DROP)

    async def main() -> None:
        transport = AsyncSimulatorTransport(ews_simulator)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sim", auth=_AUTH
        ) as client:
            await client.post(EWS_PATH, content=_envelope())

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(main())


@pytest.mark.network
def test_http_server_serves_concurrent_clients(
    ews_simulator_server: SimulatorServer,
) -> None:
    """Over loopback HTTP, parallel clients with keep-alive all succeed."""
    assert ews_simulator_server.url.startswith("http://127.0.0.1:")
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(auth=_AUTH) as client:
            for _ in range(5):
                status = client.post(
                    ews_simulator_server.url, content=_envelope()
                ).status_code
                with lock:
                    results.append(status)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 30


@pytest.mark.network
def test_http_server_drops_and_truncates_for_real(
    ews_simulator_server: SimulatorServer,
) -> None:
    """Real sockets close unanswered on drops and mid-body on truncation."""
    simulator = ews_simulator_server.simulator
    simulator.schedule_fault(FaultKind.DROP)
    with httpx.Client(auth=_AUTH) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(ews_simulator_server.url, content=_envelope())
        simulator.faults = FaultInjection(truncate_rate=1.0)
        response = client.post(ews_simulator_server.url, content=_envelope())
        assert response.status_code == 200
        assert not response.content.rstrip().endswith(b"</s:Envelope>")
        simulator.faults = FaultInjection()
        response = client.post(ews_simulator_server.url, content=_envelope())
        assert response.status_code == 200
        assert response.headers["Server"] == "Microsoft-IIS/10.0"


@pytest.mark.network
def test_server_rejects_second_start_and_stops_cleanly() -> None:
    """A running server cannot start twice; stop releases the port."""
    server = SimulatorServer(ExchangeSimulator()).start()
    with pytest.raises(RuntimeError, match="already running"):
        server.start()
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port
    server.stop()


def _run(seed: int) -> list[tuple[str, str]]:
    sim = ExchangeSimulator(
        service_accounts=[ServiceAccount(SERVICE_ACCOUNT, PASSWORD)],
        mailboxes=[ALICE],
        seed=seed,
        clock=lambda: datetime(2030, 1, 1, tzinfo=UTC),
    )
    with SOAPClient(sim) as client:
        return client.create("<t:Task><t:Subject>a</t:Subject></t:Task>") + item_ids(
            client.call(request("GetFolder", _GET))
        )


def test_same_seed_same_ids() -> None:
    """Ids and change keys depend only on the seed and the calls."""
    assert _run(5) == _run(5)
    assert _run(5) != _run(6)


def test_seed_items_are_deterministic() -> None:
    """Seeding fills calendar, contacts and tasks with equal data for equal seeds."""

    def subjects(seed: int) -> list[str | None]:
        sim = ExchangeSimulator(
            mailboxes=[ALICE], seed=seed, clock=lambda: datetime(2030, 1, 1, tzinfo=UTC)
        )
        assert sim.seed_items(4) == 12
        return [
            item.subject
            for folder in ("calendar", "tasks")
            for item in sim.items(ALICE, folder)
        ]

    first = subjects(1)
    assert first == subjects(1)
    assert len(first) == 8
    with pytest.raises(ValueError, match="negative"):
        ExchangeSimulator().seed_items(-1)


def test_setup_api_validates_addresses() -> None:
    """Malformed or duplicate mailboxes are refused."""
    sim = ExchangeSimulator(mailboxes=[ALICE])
    with pytest.raises(ValueError, match="already exists"):
        sim.add_mailbox("Alice@Example.com")
    with pytest.raises(ValueError, match="address"):
        sim.add_mailbox("not an address")
    sim.add_service_account(ServiceAccount("svc@example.com", "pw"))
    with pytest.raises(ValueError, match="already exists"):
        sim.add_service_account(ServiceAccount("svc@example.com", "pw2"))
