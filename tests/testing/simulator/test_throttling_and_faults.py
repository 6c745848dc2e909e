"""Throttling budgets and fault injection, all without real sleeping."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from crm_ews._soap import decode_envelope
from crm_ews.errors import ResponseDecodeError, ThrottledError
from crm_ews.testing import (
    ExchangeSimulator,
    FaultInjection,
    FaultKind,
    ServiceAccount,
    ThrottlingPolicy,
)
from crm_ews.testing.pytest_plugin import PASSWORD, SERVICE_ACCOUNT
from tests.testing.simulator._ews import ALICE, BOB, SOAPClient, request

_GET = (
    "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds>'
)
_SYNC = (
    "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
    '<m:SyncFolderId><t:DistinguishedFolderId Id="tasks"/></m:SyncFolderId>'
    "<m:MaxChangesReturned>10</m:MaxChangesReturned>"
)


class Gate:
    """A fake sleep that parks callers until released (no real waiting)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived = 0
        self.lock = threading.Lock()
        self.all_in = threading.Event()
        self.release = threading.Event()

    def __call__(self, seconds: float) -> None:
        with self.lock:
            self.arrived += 1
            parks = self.arrived <= self.expected
            if self.arrived == self.expected:
                self.all_in.set()
        if parks:
            self.release.wait(timeout=30)


def _simulator(**kwargs: object) -> ExchangeSimulator:
    return ExchangeSimulator(
        service_accounts=[ServiceAccount(SERVICE_ACCOUNT, PASSWORD)],
        mailboxes=[ALICE, BOB],
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def parked() -> Iterator[list[threading.Thread]]:
    """Threads started by a test; joined at teardown."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=30)


def _park(
    sim: ExchangeSimulator,
    gate: Gate,
    bodies: list[tuple[str, str]],
    threads: list[threading.Thread],
) -> None:
    def run(operation: str, inner: str, mailbox: str) -> None:
        with SOAPClient(sim) as client:
            client.send(request(operation, inner), mailbox=mailbox)

    for index, (operation, inner) in enumerate(bodies):
        mailbox = ALICE if index % 2 == 0 else BOB
        thread = threading.Thread(target=run, args=(operation, inner, mailbox))
        thread.start()
        threads.append(thread)
    assert gate.all_in.wait(timeout=30)


def test_account_concurrency_limit(parked: list[threading.Thread]) -> None:
    """Past the per-account budget, calls get ErrorExceededConnectionCount."""
    gate = Gate(expected=2)
    sim = _simulator(
        throttling=ThrottlingPolicy(max_concurrency_per_account=2),
        faults=FaultInjection(latency_ms=5),
        sleep=gate,
    )
    _park(sim, gate, [("GetFolder", _GET)] * 2, parked)
    with SOAPClient(sim) as client:
        response = client.send(request("GetFolder", _GET))
    gate.release.set()
    with pytest.raises(ThrottledError) as caught:
        decode_envelope(response.content, operation="GetFolder", mailbox=ALICE)
    assert caught.value.response_code == "ErrorExceededConnectionCount"


def test_mailbox_concurrency_limit_sends_back_off(
    parked: list[threading.Thread],
) -> None:
    """Past the per-mailbox budget, calls get ErrorServerBusy with a back-off."""
    gate = Gate(expected=1)
    sim = _simulator(
        throttling=ThrottlingPolicy(max_concurrency_per_mailbox=1, back_off_ms=1500),
        faults=FaultInjection(latency_ms=5),
        sleep=gate,
    )
    _park(sim, gate, [("GetFolder", _GET)], parked)
    with SOAPClient(sim) as client:
        busy = client.send(request("GetFolder", _GET), mailbox=ALICE)
        other = client.send(request("GetFolder", _GET), mailbox=BOB)
    gate.release.set()
    with pytest.raises(ThrottledError) as caught:
        decode_envelope(busy.content, operation="GetFolder", mailbox=ALICE)
    assert caught.value.back_off == 1.5
    assert b'<t:Value Name="BackOffMilliseconds">1500</t:Value>' in busy.content
    assert other.status_code == 200


def test_sync_call_limit(parked: list[threading.Thread]) -> None:
    """Concurrent sync calls beyond the budget are told to back off."""
    gate = Gate(expected=2)
    sim = _simulator(
        throttling=ThrottlingPolicy(max_concurrent_sync_calls=2),
        faults=FaultInjection(latency_ms=5),
        sleep=gate,
    )
    _park(sim, gate, [("SyncFolderItems", _SYNC)] * 2, parked)
    with SOAPClient(sim) as client:
        response = client.send(request("SyncFolderItems", _SYNC))
        plain = client.send(request("GetFolder", _GET), mailbox=BOB)
    gate.release.set()
    assert b"ErrorServerBusy" in response.content
    assert plain.status_code == 200


def test_budgets_are_released_after_calls() -> None:
    """Sequential calls never trip a budget of one."""
    sim = _simulator(
        throttling=ThrottlingPolicy(
            max_concurrency_per_account=1, max_concurrency_per_mailbox=1
        )
    )
    with SOAPClient(sim) as client:
        statuses = [
            client.send(request("GetFolder", _GET)).status_code for _ in range(5)
        ]
    assert statuses == [200] * 5


def test_fixed_latency_goes_to_the_injected_sleep() -> None:
    """latency_ms reaches the sleep function, in seconds."""
    slept: list[float] = []
    sim = _simulator(faults=FaultInjection(latency_ms=250), sleep=slept.append)
    with SOAPClient(sim) as client:
        client.send(request("GetFolder", _GET))
    assert slept == [0.25]


def test_http_503_carries_retry_after() -> None:
    """An injected 503 has Retry-After and runs nothing."""
    sim = _simulator(faults=FaultInjection(http_503_rate=1.0, retry_after_seconds=7))
    with SOAPClient(sim) as client:
        response = client.send(request("GetFolder", _GET))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "7")
    assert sim.counters["injected.http_503"] == 1


def test_server_busy_rate() -> None:
    """An injected ErrorServerBusy is a fault with BackOffMilliseconds."""
    sim = _simulator(faults=FaultInjection(server_busy_rate=1.0))
    with SOAPClient(sim) as client:
        response = client.send(request("GetFolder", _GET))
    with pytest.raises(ThrottledError):
        decode_envelope(response.content, operation="GetFolder", mailbox=ALICE)


def test_dropped_connection_raises_remote_protocol_error() -> None:
    """A drop surfaces in httpx as RemoteProtocolError."""
    sim = _simulator(faults=FaultInjection(drop_rate=1.0))
    with SOAPClient(sim) as client, pytest.raises(httpx.RemoteProtocolError):
        client.send(request("GetFolder", _GET))
    assert sim.calls[-1].operation == "GetFolder"


def test_truncated_body_does_not_decode() -> None:
    """A truncated answer is cut mid-body and fails to decode."""
    sim = _simulator(faults=FaultInjection(truncate_rate=1.0))
    with SOAPClient(sim) as client:
        response = client.send(request("GetFolder", _GET))
    assert response.status_code == 200
    with pytest.raises(ResponseDecodeError):
        decode_envelope(response.content, operation="GetFolder", mailbox=ALICE)


def test_random_faults_are_reproducible() -> None:
    """Equal seeds give equal fault sequences; another seed differs."""

    def statuses(seed: int) -> list[int]:
        sim = _simulator(
            faults=FaultInjection(http_503_rate=0.3, server_busy_rate=0.3, seed=seed)
        )
        with SOAPClient(sim) as client:
            return [
                client.send(request("GetFolder", _GET)).status_code for _ in range(40)
            ]

    assert statuses(3) == statuses(3)
    assert statuses(3) != statuses(4)
    assert {200, 500, 503} == set(statuses(3))


def test_commit_then_drop_stores_the_item() -> None:
    """CREATE is stored although the client never hears back."""
    sim = _simulator()
    sim.schedule_fault(FaultKind.COMMIT_THEN_DROP, operation="CreateItem")
    body = request(
        "CreateItem", "<m:Items><t:Task><t:Subject>ghost</t:Subject></t:Task></m:Items>"
    )
    with SOAPClient(sim) as client, pytest.raises(httpx.RemoteProtocolError):
        client.send(body)
    assert [item.subject for item in sim.items(ALICE, "tasks")] == ["ghost"]


def test_scheduled_fault_hits_only_matching_calls() -> None:
    """schedule_fault targets one operation and mailbox, a set number of times."""
    sim = _simulator()
    sim.schedule_fault(FaultKind.HTTP_503, operation="GetFolder", mailbox=BOB, times=2)
    with SOAPClient(sim) as client:
        codes = [
            client.send(request("GetFolder", _GET), mailbox=mailbox).status_code
            for mailbox in (ALICE, BOB, BOB, BOB)
        ]
    assert codes == [200, 503, 503, 200]


def test_fault_injection_validates_rates() -> None:
    """Rates outside 0..1 and negative delays are refused."""
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultInjection(drop_rate=1.5)
    with pytest.raises(ValueError, match="negative"):
        FaultInjection(latency_ms=-1)
    with pytest.raises(ValueError, match="at least 1"):
        ThrottlingPolicy(max_concurrency_per_account=0)
