"""Configuration values of the Exchange simulator.

Plain frozen dataclasses: who may log in and impersonate whom
(:class:`ServiceAccount`), which Exchange build is answering
(:class:`ServerProfile`), how hard the server throttles
(:class:`ThrottlingPolicy`) and which failures it injects
(:class:`FaultInjection`).  They hold no state; the simulator owns all state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

__all__ = [
    "FaultInjection",
    "ServerProfile",
    "ServiceAccount",
    "ThrottlingPolicy",
]

#: Exchange's default ``EWSMaxConcurrency`` throttling budget.
DEFAULT_MAX_CONCURRENCY: Final = 27


def _normalize_address(address: str, *, what: str) -> str:
    if not isinstance(address, str):
        raise TypeError(f"{what} must be a str, not {type(address).__name__}")
    address = address.strip().lower()
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(ch.isspace() for ch in address):
        raise ValueError(f"{what} must be an address like user@example.com")
    return address


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """An account that logs in with HTTP Basic auth and acts on mailboxes.

    Args:
        name: The login name, an address like ``svc-crm@example.com``.
        password: The Basic auth password; never shown in ``repr``.
        can_impersonate: Whether the account holds the ApplicationImpersonation
            role at all.
        scope: The management scope: the mailboxes it may impersonate.
            ``None`` means every mailbox of the organisation.

    Raises:
        TypeError: ``name`` or ``password`` is not a string.
        ValueError: ``name`` is not an address, or ``password`` is empty.
    """

    name: str
    password: str = field(repr=False)
    can_impersonate: bool = True
    scope: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "name", _normalize_address(self.name, what="account name")
        )
        if not isinstance(self.password, str):
            raise TypeError("password must be a str")
        if not self.password:
            raise ValueError("password must not be empty")
        if self.scope is not None:
            scope = frozenset(
                _normalize_address(address, what="scope entry")
                for address in self.scope
            )
            object.__setattr__(self, "scope", scope)

    def may_impersonate(self, mailbox: str) -> bool:
        """Whether the role and scope let this account act as ``mailbox``."""
        if not self.can_impersonate:
            return False
        return self.scope is None or mailbox.lower() in self.scope


class ServerProfile(Enum):
    """The Exchange build the simulator claims to be.

    Each value is ``(major, minor, build, revision, version)`` as sent in the
    ``ServerVersionInfo`` response header.  On-premises servers report the
    ``V2017_07_11`` schema for requests made with ``Exchange2016``.
    """

    EXCHANGE_2016 = (15, 1, 2507, 6, "V2017_07_11")
    EXCHANGE_2019 = (15, 2, 1258, 12, "V2017_07_11")
    EXCHANGE_SE = (15, 2, 2562, 17, "V2017_07_11")

    @property
    def major(self) -> int:
        """``MajorVersion``: 15 for every supported build."""
        return int(self.value[0])

    @property
    def minor(self) -> int:
        """``MinorVersion``: 1 for 2016, 2 for 2019 and SE."""
        return int(self.value[1])

    @property
    def build(self) -> int:
        """``MajorBuildNumber``."""
        return int(self.value[2])

    @property
    def revision(self) -> int:
        """``MinorBuildNumber``."""
        return int(self.value[3])

    @property
    def schema_version(self) -> str:
        """The ``Version`` attribute."""
        return str(self.value[4])


@dataclass(frozen=True, slots=True)
class ThrottlingPolicy:
    """Concurrency budgets, enforced the way Exchange enforces them.

    Args:
        max_concurrency_per_account: Requests one service account may have in
            flight; more get ``ErrorExceededConnectionCount``.
        max_concurrency_per_mailbox: Requests in flight against one target
            mailbox; more get ``ErrorServerBusy`` with a back-off.
        max_concurrent_sync_calls: ``SyncFolderItems``/``SyncFolderHierarchy``
            calls in flight per account; more get ``ErrorServerBusy``.
        back_off_ms: The ``BackOffMilliseconds`` sent with ``ErrorServerBusy``.

    Raises:
        ValueError: A limit is below 1 or the back-off is negative.
    """

    max_concurrency_per_account: int = DEFAULT_MAX_CONCURRENCY
    max_concurrency_per_mailbox: int = DEFAULT_MAX_CONCURRENCY
    max_concurrent_sync_calls: int = 10
    back_off_ms: int = 500

    def __post_init__(self) -> None:
        for name in (
            "max_concurrency_per_account",
            "max_concurrency_per_mailbox",
            "max_concurrent_sync_calls",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.back_off_ms < 0:
            raise ValueError("back_off_ms must not be negative")


def _check_rate(name: str, value: object) -> None:
    if not isinstance(value, int | float) or math.isnan(value):
        raise TypeError(f"{name} must be a number")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class FaultInjection:
    """Failures and delays the simulator injects, reproducibly.

    Every random decision comes from one RNG seeded with ``seed``, so the same
    sequence of calls meets the same faults.  Rates are probabilities per call.

    Args:
        latency_ms: Fixed delay added to every call.
        latency_jitter_ms: Upper bound of an extra uniform random delay.
        http_503_rate: Answer HTTP 503 with ``Retry-After`` before running.
        retry_after_seconds: The ``Retry-After`` value sent with a 503.
        server_busy_rate: Answer an ``ErrorServerBusy`` fault before running.
        drop_rate: Close the connection without answering, before running.
        truncate_rate: Run the call, then send only part of the body.
        create_commit_then_drop_rate: For ``CreateItem``: store the items, then
            close the connection without answering.
        seed: Seed of the fault RNG.

    Raises:
        TypeError: A rate is not a number.
        ValueError: A rate is outside 0..1 or a delay is negative.
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    http_503_rate: float = 0.0
    retry_after_seconds: int = 1
    server_busy_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    create_commit_then_drop_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latencies must not be negative")
        if self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must not be negative")
        for name in (
            "http_503_rate",
            "server_busy_rate",
            "drop_rate",
            "truncate_rate",
            "create_commit_then_drop_rate",
        ):
            _check_rate(name, getattr(self, name))

    @property
    def is_active(self) -> bool:
        """Whether any delay or failure is configured."""
        return any(
            (
                self.latency_ms,
                self.latency_jitter_ms,
                self.http_503_rate,
                self.server_busy_rate,
                self.drop_rate,
                self.truncate_rate,
                self.create_commit_then_drop_rate,
            )
        )
