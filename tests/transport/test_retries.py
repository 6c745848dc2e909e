"""Retries, server back-off and per-mailbox throttling state (synchronous)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from crm_ews._retry import RetryPolicy
from crm_ews._soap import Impersonation
from crm_ews._transport import Transport
from crm_ews.errors import (
    ConnectTimeoutError,
    EditConflictError,
    RetryLaterError,
    ThrottledError,
    TransportError,
)
from tests.transport._support import (
    ALICE,
    BOB,
    FAST_RETRY,
    FakeClock,
    body_element,
    fault_envelope,
    impersonated_mailbox,
    make_transport,
    ok_envelope,
    xml_response,
)

Step = Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers requests from a list of steps, then success; counts calls."""

    def __init__(self, operation: str, *steps: Step) -> None:
        self.operation = operation
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.steps:
            return self.steps.pop(0)(request)
        return xml_response(200, ok_envelope(self.operation))


def read_timeout(request: httpx.Request) -> httpx.Response:
    """The server took the request and never answered."""
    raise httpx.ReadTimeout("timed out", request=request)


def connect_refused(request: httpx.Request) -> httpx.Response:
    """Nothing listened: the request never left."""
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def server_busy(back_off_ms: int | None) -> Step:
    """An ErrorServerBusy fault, optionally with BackOffMilliseconds."""
    return lambda request: xml_response(
        500, fault_envelope("ErrorServerBusy", back_off_ms=back_off_ms)
    )


def unavailable(retry_after: str | None = None) -> Step:
    """A bare 503, optionally with Retry-After."""
    headers = {"Retry-After": retry_after} if retry_after else {}
    return lambda request: xml_response(503, b"busy", headers=headers)


def send(
    transport: Transport,
    operation: str,
    *,
    idempotent: bool,
    who: Impersonation = ALICE,
) -> object:
    """One call of ``operation`` for ``who``."""
    return transport.send(
        operation=operation,
        body=body_element(operation),
        impersonation=who,
        is_idempotent=idempotent,
    )


def test_timed_out_create_item_is_not_resent() -> None:
    """A CreateItem whose answer timed out raises TransportError, sent once."""
    script = Script("CreateItem", read_timeout)
    clock = FakeClock()

    with (
        make_transport(script, clock) as transport,
        pytest.raises(TransportError) as info,
    ):
        send(transport, "CreateItem", idempotent=False)

    assert len(script.requests) == 1
    assert info.value.request_sent is True
    assert clock.sleeps == []


def test_timed_out_sync_folder_items_is_resent() -> None:
    """A SyncFolderItems whose answer timed out is sent again and succeeds."""
    script = Script("SyncFolderItems", read_timeout)
    clock = FakeClock()

    with make_transport(script, clock) as transport:
        send(transport, "SyncFolderItems", idempotent=True)

    assert len(script.requests) == 2
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize("operation", ["CreateItem", "UpdateItem", "DeleteItem"])
def test_connect_failure_is_retried_even_for_writes(operation: str) -> None:
    """A request that never left may be sent again, whatever it does."""
    script = Script(operation, connect_refused, connect_refused)
    clock = FakeClock()

    with make_transport(script, clock) as transport:
        send(transport, operation, idempotent=False)

    assert len(script.requests) == 3
    assert clock.sleeps == [1.0, 2.0]


def test_server_busy_back_off_is_honoured_exactly() -> None:
    """ErrorServerBusy with BackOffMilliseconds sleeps that long, then resends."""
    script = Script("CreateItem", server_busy(2500))
    clock = FakeClock()

    with make_transport(script, clock) as transport:
        send(transport, "CreateItem", idempotent=False)

    assert len(script.requests) == 2
    assert clock.sleeps == [2.5]


def test_back_off_above_the_ceiling_raises_at_once() -> None:
    """A back-off over max_server_back_off raises ThrottledError, no sleep."""
    script = Script("GetItem", server_busy(120_000))
    clock = FakeClock()

    with (
        make_transport(script, clock) as transport,
        pytest.raises(ThrottledError) as info,
    ):
        send(transport, "GetItem", idempotent=True)

    assert info.value.back_off == 120.0
    assert len(script.requests) == 1
    assert clock.sleeps == []


def test_server_busy_without_back_off_uses_exponential_wait() -> None:
    """ErrorServerBusy without a hint waits the computed backoff."""
    script = Script("GetItem", server_busy(None), server_busy(None))
    clock = FakeClock()

    with make_transport(script, clock) as transport:
        send(transport, "GetItem", idempotent=True)

    assert clock.sleeps == [1.0, 2.0]


def test_503_retry_after_is_honoured_for_idempotent_calls() -> None:
    """A 503 with Retry-After: 4 sleeps 4 s and resends a GetItem."""
    script = Script("GetItem", unavailable("4"))
    clock = FakeClock()

    with make_transport(script, clock) as transport:
        send(transport, "GetItem", idempotent=True)

    assert len(script.requests) == 2
    assert clock.sleeps == [4.0]


def test_503_is_not_retried_for_writes() -> None:
    """A 503 on CreateItem raises: the gateway may have passed it on."""
    script = Script("CreateItem", unavailable("1"))

    with (
        make_transport(script, FakeClock()) as transport,
        pytest.raises(TransportError) as info,
    ):
        send(transport, "CreateItem", idempotent=False)

    assert info.value.status_code == 503
    assert len(script.requests) == 1


def test_429_is_retried_even_for_writes() -> None:
    """HTTP 429 means refused unprocessed, so a write is sent again."""
    script = Script(
        "CreateItem",
        lambda request: xml_response(429, b"", headers={"Retry-After": "3"}),
    )
    clock = FakeClock()

    with make_transport(script, clock) as transport:
        send(transport, "CreateItem", idempotent=False)

    assert clock.sleeps == [3.0]


def test_transient_fault_retried_only_when_idempotent() -> None:
    """ErrorMailboxMoveInProgress is retried for reads, raised for writes."""

    def move(request: httpx.Request) -> httpx.Response:
        return xml_response(500, fault_envelope("ErrorMailboxMoveInProgress"))

    reads = Script("GetItem", move)
    writes = Script("UpdateItem", move)

    with make_transport(reads, FakeClock()) as transport:
        send(transport, "GetItem", idempotent=True)
    with (
        make_transport(writes, FakeClock()) as transport,
        pytest.raises(RetryLaterError),
    ):
        send(transport, "UpdateItem", idempotent=False)

    assert (len(reads.requests), len(writes.requests)) == (2, 1)


def test_permanent_fault_is_never_retried() -> None:
    """ErrorIrresolvableConflict raises at once, even for idempotent calls."""
    script = Script(
        "GetItem",
        lambda request: xml_response(500, fault_envelope("ErrorIrresolvableConflict")),
    )

    with (
        make_transport(script, FakeClock()) as transport,
        pytest.raises(EditConflictError),
    ):
        send(transport, "GetItem", idempotent=True)

    assert len(script.requests) == 1


def test_attempts_are_bounded() -> None:
    """After `attempts` tries the last error is raised unchanged."""
    script = Script("GetItem", *[connect_refused] * 10)
    clock = FakeClock()

    with make_transport(script, clock) as transport, pytest.raises(ConnectTimeoutError):
        send(transport, "GetItem", idempotent=True)

    assert len(script.requests) == FAST_RETRY.attempts
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_total_timeout_stops_before_a_wait_that_would_pass_it() -> None:
    """No wait starts that would end after the policy's timeout."""
    policy = RetryPolicy(
        attempts=10, timeout=5.0, wait_initial=2.0, wait_max=60.0, wait_jitter=0.0
    )
    script = Script("GetItem", *[connect_refused] * 10)
    clock = FakeClock()

    with (
        make_transport(script, clock, retry=policy) as transport,
        pytest.raises(ConnectTimeoutError),
    ):
        send(transport, "GetItem", idempotent=True)

    assert clock.sleeps == [2.0]
    assert len(script.requests) == 2


def test_back_off_is_per_mailbox() -> None:
    """After alice is told to back off, her next call waits; bob's does not."""
    script = Script("GetItem", server_busy(5000))
    clock = FakeClock()
    policy = RetryPolicy(attempts=1, wait_jitter=0.0, max_server_back_off=30.0)

    with make_transport(script, clock, retry=policy) as transport:
        with pytest.raises(ThrottledError):
            send(transport, "GetItem", idempotent=True, who=ALICE)
        send(transport, "GetItem", idempotent=True, who=BOB)
        sleeps_after_bob = list(clock.sleeps)
        send(transport, "GetItem", idempotent=True, who=ALICE)

    assert sleeps_after_bob == []
    assert clock.sleeps == [5.0]
    assert [impersonated_mailbox(r) for r in script.requests] == [
        "alice@example.com",
        "bob@example.com",
        "alice@example.com",
    ]


def test_mailbox_back_off_above_the_ceiling_fails_fast_without_a_request() -> None:
    """While alice's back-off exceeds the ceiling, her calls raise unsent."""
    script = Script("GetItem", server_busy(600_000))
    clock = FakeClock()

    with make_transport(script, clock) as transport:
        with pytest.raises(ThrottledError):
            send(transport, "GetItem", idempotent=True)
        with pytest.raises(ThrottledError) as info:
            send(transport, "GetItem", idempotent=True)
        send(transport, "GetItem", idempotent=True, who=BOB)

    assert len(script.requests) == 2
    assert info.value.back_off == pytest.approx(600.0)
    assert clock.sleeps == []


def test_mailbox_back_off_expires() -> None:
    """Once the deadline passes, alice's calls go out without waiting."""
    script = Script("GetItem", server_busy(3000))
    clock = FakeClock()
    policy = RetryPolicy(attempts=1)

    with make_transport(script, clock, retry=policy) as transport:
        with pytest.raises(ThrottledError):
            send(transport, "GetItem", idempotent=True)
        clock.now += 3.5
        send(transport, "GetItem", idempotent=True)

    assert clock.sleeps == []


def test_retry_warning_carries_fields_not_arguments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The retry WARNING has the fixed fields and never the envelope."""
    caplog.set_level(logging.DEBUG, logger="crm_ews")
    script = Script("SyncFolderItems", read_timeout)

    with make_transport(script, FakeClock()) as transport:
        send(transport, "SyncFolderItems", idempotent=True)

    (warning,) = [
        r for r in caplog.records if r.getMessage() == "ews call retry scheduled"
    ]
    assert warning.levelno == logging.WARNING
    assert warning.operation == "SyncFolderItems"  # type: ignore[attr-defined]
    assert warning.mailbox == "alice@example.com"  # type: ignore[attr-defined]
    assert warning.attempt == 1  # type: ignore[attr-defined]
    assert warning.wait_ms == 1000  # type: ignore[attr-defined]
    assert warning.error_type == "TransportError"  # type: ignore[attr-defined]
    assert warning.args == ()


def test_server_back_off_logs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Honouring a server back-off logs 'ews server back-off' with the wait."""
    caplog.set_level(logging.DEBUG, logger="crm_ews")
    script = Script("GetItem", server_busy(1500))

    with make_transport(script, FakeClock()) as transport:
        send(transport, "GetItem", idempotent=True)

    (warning,) = [r for r in caplog.records if r.getMessage() == "ews server back-off"]
    assert warning.wait_ms == 1500  # type: ignore[attr-defined]
    assert warning.response_code == "ErrorServerBusy"  # type: ignore[attr-defined]


def test_one_debug_line_per_attempt(caplog: pytest.LogCaptureFixture) -> None:
    """Each try logs 'ews call finished' with its attempt number."""
    caplog.set_level(logging.DEBUG, logger="crm_ews")
    script = Script("GetItem", connect_refused, server_busy(100))

    with make_transport(script, FakeClock()) as transport:
        send(transport, "GetItem", idempotent=True)

    lines = [r for r in caplog.records if r.getMessage() == "ews call finished"]
    assert [line.attempt for line in lines] == [1, 2, 3]  # type: ignore[attr-defined]
    assert [line.error_type for line in lines] == [  # type: ignore[attr-defined]
        "ConnectTimeoutError",
        "ThrottledError",
        None,
    ]
    assert [line.status for line in lines] == [None, 500, 200]  # type: ignore[attr-defined]
