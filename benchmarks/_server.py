"""The Exchange simulator in a child process, metered and remote-controlled.

The client under measurement must not share a process (nor a GIL) with the
server, or the server's XML rendering would count against the client.  So
:class:`SimulatorProcess` spawns a fresh interpreter that builds an
:class:`~crm_ews.testing.ExchangeSimulator`, serves it on 127.0.0.1 with
:class:`~crm_ews.testing.SimulatorServer`, and then obeys commands sent over
a pipe: seed and materialise mailboxes, change items, reset and read the
meters, report its own CPU time.

The meters count requests, request bytes and response bytes per operation,
taken from the bytes that actually crossed the socket, so they are the same
for every client.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import re
import resource
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from crm_ews.testing import (
    ExchangeSimulator,
    FaultInjection,
    ServiceAccount,
    SimulatedResponse,
    SimulatorServer,
    ThrottlingPolicy,
)

__all__ = [
    "PASSWORD",
    "SERVICE_ACCOUNT",
    "ServerMeters",
    "ServerSpec",
    "SimulatorProcess",
    "mailbox_addresses",
]

#: The benchmark service account (the simulator's own, not a real secret).
SERVICE_ACCOUNT: Final = "svc-bench@example.com"
#: Its password.
PASSWORD: Final = "bench-only-password"

#: Exchange's default concurrency budget per service account.
ACCOUNT_CONCURRENCY: Final = 27

#: The operation is the first element inside ``<soap:Body>``, whatever the
#: prefixes; both clients put the body right after the header.
_OPERATION = re.compile(rb"<(?:[A-Za-z0-9_]+:)?Body[^>]*>\s*<(?:[A-Za-z0-9_]+:)?(\w+)")


def mailbox_addresses(count: int, *, prefix: str = "user") -> list[str]:
    """``count`` deterministic mailbox addresses."""
    return [f"{prefix}{n:05d}@example.com" for n in range(1, count + 1)]


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """How to build the simulator in the child process.

    Args:
        mailboxes: Mailbox addresses to create.
        seed_items: Sample items per folder (calendar, contacts, tasks).
        latency_ms: Fixed delay the simulator adds to every call.
        sync_concurrency: Concurrent SyncFolderItems calls allowed per account.
            Exchange's budget is 27 connections per account; the simulator's
            own default of 10 concurrent sync calls is raised to the account
            budget so the round-trip floor is the same for every operation.
        seed: The simulator seed.
    """

    mailboxes: tuple[str, ...]
    seed_items: int = 0
    latency_ms: float = 20.0
    sync_concurrency: int = ACCOUNT_CONCURRENCY
    seed: int = 2026


@dataclass(slots=True)
class ServerMeters:
    """What the server saw between two resets."""

    requests: dict[str, int] = field(default_factory=dict)
    request_bytes: dict[str, int] = field(default_factory=dict)
    response_bytes: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def total_requests(self) -> int:
        """Every request, whatever its operation."""
        return sum(self.requests.values())

    @property
    def total_request_bytes(self) -> int:
        """Request bytes over every operation."""
        return sum(self.request_bytes.values())

    @property
    def total_response_bytes(self) -> int:
        """Response bytes over every operation."""
        return sum(self.response_bytes.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "requests": dict(sorted(self.requests.items())),
            "request_bytes": dict(sorted(self.request_bytes.items())),
            "response_bytes": dict(sorted(self.response_bytes.items())),
            "total_requests": self.total_requests,
            "total_request_bytes": self.total_request_bytes,
            "total_response_bytes": self.total_response_bytes,
            "server_cpu_seconds": round(self.cpu_seconds, 3),
            "errors": dict(sorted(self.errors.items())),
        }


class _MeteredSimulator(ExchangeSimulator):
    """The simulator, counting requests and bytes per operation."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._meter_lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.request_bytes: Counter[str] = Counter()
        self.response_bytes: Counter[str] = Counter()

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> SimulatedResponse:
        response = super().handle(method, path, headers, body)
        found = _OPERATION.search(body[:4096])
        operation = found.group(1).decode("ascii") if found else f"HTTP-{method}"
        with self._meter_lock:
            self.requests[operation] += 1
            self.request_bytes[operation] += len(body) + _header_bytes(headers)
            self.response_bytes[operation] += len(response.sent_body)
        return response

    def reset_meters(self) -> None:
        with self._meter_lock:
            self.requests.clear()
            self.request_bytes.clear()
            self.response_bytes.clear()
        self.reset_calls()


def _header_bytes(headers: Mapping[str, str]) -> int:
    # The request line is not visible here; headers are what differ per client.
    return sum(len(name) + len(value) + 4 for name, value in headers.items())


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _deepen_listen_backlog() -> None:
    """Let a burst of 27 new connections queue instead of being reset.

    ``SimulatorServer`` keeps socketserver's listen backlog of 5; when a
    client opens its whole pool at once, connections beyond the backlog are
    reset and a non-idempotent call (CreateItem) fails with a read error.
    The benchmark's own server process raises the backlog before binding.
    """
    from crm_ews.testing import _server

    _server._Server.request_queue_size = 128


def _serve(spec: ServerSpec, conn: multiprocessing.connection.Connection) -> None:
    """The child process: build, serve, obey commands until told to stop."""
    _deepen_listen_backlog()
    simulator = _MeteredSimulator(
        service_accounts=[ServiceAccount(SERVICE_ACCOUNT, PASSWORD)],
        mailboxes=spec.mailboxes,
        seed=spec.seed,
        throttling=ThrottlingPolicy(max_concurrent_sync_calls=spec.sync_concurrency),
        call_log_size=1000,
    )
    if spec.seed_items:
        simulator.seed_items(spec.seed_items, mailboxes=spec.mailboxes)
    for address in spec.mailboxes:
        simulator.mailbox_sid(address)  # materialise the seeded items now
    simulator.faults = FaultInjection(latency_ms=spec.latency_ms)

    with SimulatorServer(simulator, host="127.0.0.1") as server:
        conn.send(("ready", server.url))
        cpu_mark = _cpu_seconds()
        while True:
            command, args = conn.recv()
            if command == "stop":
                conn.send(("ok", None))
                return
            if command == "reset":
                simulator.reset_meters()
                cpu_mark = _cpu_seconds()
                conn.send(("ok", None))
            elif command == "meters":
                counters = simulator.counters
                meters = ServerMeters(
                    requests=dict(simulator.requests),
                    request_bytes=dict(simulator.request_bytes),
                    response_bytes=dict(simulator.response_bytes),
                    cpu_seconds=_cpu_seconds() - cpu_mark,
                    errors={
                        name: count
                        for name, count in counters.items()
                        if name.startswith(("fault.", "error.", "status.5"))
                    },
                )
                conn.send(("ok", meters))
            elif command == "touch":
                conn.send(("ok", _touch(simulator, **args)))
            elif command == "add_mailboxes":
                _add_mailboxes(simulator, **args)
                conn.send(("ok", None))
            else:
                conn.send(("error", f"unknown command {command!r}"))


def _touch(
    simulator: ExchangeSimulator, *, mailboxes: list[str], folder: str, per_mailbox: int
) -> int:
    """Change ``per_mailbox`` items of each mailbox, as another client would."""
    changed = 0
    for address in mailboxes:
        for item in simulator.items(address, folder)[:per_mailbox]:
            simulator.modify_item(address, item.item_id, JobTitle=f"Changed {changed}")
            changed += 1
    return changed


def _add_mailboxes(
    simulator: ExchangeSimulator, *, mailboxes: list[str], seed_items: int
) -> None:
    for address in mailboxes:
        simulator.add_mailbox(address)
    simulator.seed_items(seed_items, mailboxes=mailboxes)
    for address in mailboxes:
        simulator.mailbox_sid(address)


class SimulatorProcess:
    """A metered simulator served from a child process; a context manager.

    Args:
        spec: What to build.
        start_timeout: Seconds to wait for seeding and binding.
    """

    def __init__(self, spec: ServerSpec, *, start_timeout: float = 600.0) -> None:
        self.spec = spec
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(spec, child), name="bench-simulator", daemon=True
        )
        self._start_timeout = start_timeout
        self.url = ""

    def __enter__(self) -> SimulatorProcess:
        self._process.start()
        if not self._conn.poll(self._start_timeout):
            self._process.kill()
            raise RuntimeError("the simulator process did not start in time")
        try:
            _status, self.url = self._conn.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(
                f"the simulator process exited ({self._process.exitcode}) "
                "before serving"
            ) from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._process.is_alive():
                self._ask("stop")
        finally:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._conn.close()

    def _ask(self, command: str, **args: Any) -> Any:
        self._conn.send((command, args))
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"simulator process: {value}")
        return value

    def reset(self) -> None:
        """Zero the meters and the CPU mark."""
        self._ask("reset")

    def meters(self) -> ServerMeters:
        """The meters since the last reset."""
        meters: ServerMeters = self._ask("meters")
        return meters

    def touch(self, mailboxes: list[str], *, folder: str, per_mailbox: int) -> int:
        """Change items in ``mailboxes``; returns how many changed."""
        changed: int = self._ask(
            "touch", mailboxes=mailboxes, folder=folder, per_mailbox=per_mailbox
        )
        return changed

    def add_mailboxes(self, mailboxes: list[str], *, seed_items: int) -> None:
        """Create and seed more mailboxes."""
        self._ask("add_mailboxes", mailboxes=mailboxes, seed_items=seed_items)
