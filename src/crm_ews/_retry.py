"""When a failed EWS call is sent again, and how long to wait first.

:class:`RetryPolicy` is the user-facing configuration.  :func:`decide` is the
whole rule book as one pure function of (error, is the operation idempotent,
policy); :func:`backoff_delay` and :func:`wait_seconds` turn a decision into a
wait.  The rules, in the order they are checked:

=================================================  ===========  ===============
Outcome                                            idempotent   not idempotent
=================================================  ===========  ===============
server-named wait above ``max_server_back_off``    raise        raise
connect failed (``ConnectTimeoutError``)           retry        retry
fault ``ErrorServerBusy``, ``ErrorExceeded...``    retry        retry
HTTP 429                                           retry        retry
other ``RetryLaterError`` (transient faults)       retry        raise
read timeout, dropped connection                   retry        raise
HTTP 502 / 503 / 504                               retry        raise
anything else                                      raise        raise
=================================================  ===========  ===============

(``ErrorExceeded...`` is ``ErrorExceededConnectionCount``; other throttling
codes count as transient faults.)  Calls the server refused before doing any
work can always be repeated; the rest only when repeating cannot create a
second item.  Before a retry the transport waits exactly what the server
named (``BackOffMilliseconds``, ``Retry-After``); when it named nothing, an
exponential wait with jitter, capped at ``wait_max``.  Retrying stops after
``attempts`` tries or once the next wait would end after ``timeout`` seconds.

:func:`sync_retrying` and :func:`async_retrying` build the tenacity loops from
a policy; tenacity types stay inside this module and the transport.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

import tenacity

from crm_ews.errors import (
    ConnectTimeoutError,
    RetryLaterError,
    ThrottledError,
    TransportError,
)

__all__ = [
    "REFUSED_BEFORE_PROCESSING",
    "RetryDecision",
    "RetryHook",
    "RetryPolicy",
    "async_retrying",
    "backoff_delay",
    "decide",
    "parse_retry_after",
    "requested_back_off",
    "sync_retrying",
    "wait_seconds",
]

#: Fault codes that mean the server turned the request away unprocessed.
REFUSED_BEFORE_PROCESSING: Final = frozenset(
    {"ErrorServerBusy", "ErrorExceededConnectionCount"}
)

#: Gateway statuses after which an idempotent call may be sent again.
_RETRYABLE_STATUSES: Final = frozenset({502, 503, 504})

#: Too Many Requests: refused before processing, like ErrorServerBusy.
_RATE_LIMITED: Final = 429


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How persistently the transport repeats a failed call.

    Args:
        attempts: Tries in total, the first included; ``1`` disables retries.
        timeout: Seconds from the first try after which no new try starts
            (waits included); ``None`` for no limit.
        wait_initial: Wait after the first failure, before jitter.
        wait_max: Cap on any computed (not server-named) wait.
        wait_jitter: Up to this many seconds are added at random to each
            computed wait, so many workers do not retry in step.
        max_server_back_off: Longest server-named wait honoured.  When the
            server asks for more, the call fails at once with the
            :class:`~crm_ews.errors.ThrottledError` (or ``TransportError``)
            carrying the requested ``back_off``/``retry_after``.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A field is out of range.
    """

    attempts: int = 5
    timeout: float | None = 300.0
    wait_initial: float = 1.0
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    max_server_back_off: float = 60.0

    def __post_init__(self) -> None:
        attempts: object = self.attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int):
            raise TypeError("attempts must be an int")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.timeout is not None:
            _check_seconds("timeout", self.timeout, allow_zero=False)
        _check_seconds("wait_initial", self.wait_initial)
        _check_seconds("wait_max", self.wait_max)
        _check_seconds("wait_jitter", self.wait_jitter)
        _check_seconds("max_server_back_off", self.max_server_back_off)
        if self.wait_max < self.wait_initial:
            raise ValueError("wait_max must not be below wait_initial")


def _check_seconds(name: str, value: object, *, allow_zero: bool = True) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite, non-negative number of seconds")
    if value == 0 and not allow_zero:
        raise ValueError(f"{name} must be above zero")


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """The verdict on one failed attempt.

    Attributes:
        retry: Whether to send the call again.
        server_back_off: The wait the server asked for, in seconds, if any.
        reason: A short fixed phrase for logs and tests.
    """

    retry: bool
    server_back_off: float | None
    reason: str


def requested_back_off(error: BaseException) -> float | None:
    """The wait the server asked for with this error, in seconds."""
    if isinstance(error, ThrottledError):
        return error.back_off
    if isinstance(error, TransportError):
        return error.retry_after
    return None


def decide(
    error: BaseException, *, is_idempotent: bool, policy: RetryPolicy
) -> RetryDecision:
    """Decide whether a failed attempt is sent again (pure; see module table)."""
    back_off = requested_back_off(error)
    if back_off is not None and back_off > policy.max_server_back_off:
        return RetryDecision(False, back_off, "server back-off above the ceiling")

    if isinstance(error, ConnectTimeoutError):
        return RetryDecision(True, None, "request never sent")
    if (
        isinstance(error, ThrottledError)
        and error.response_code in REFUSED_BEFORE_PROCESSING
    ):
        return RetryDecision(True, back_off, "server refused before processing")
    if isinstance(error, TransportError) and error.status_code == _RATE_LIMITED:
        return RetryDecision(True, back_off, "rate limited")

    if not is_idempotent:
        return RetryDecision(False, back_off, "request may have been processed")
    if isinstance(error, RetryLaterError):
        return RetryDecision(True, back_off, "transient server error")
    if isinstance(error, TransportError):
        if error.status_code in _RETRYABLE_STATUSES:
            return RetryDecision(True, back_off, "gateway error")
        if error.status_code is None and error.request_sent:
            return RetryDecision(True, None, "connection lost after sending")

    return RetryDecision(False, back_off, "not retryable")


def backoff_delay(policy: RetryPolicy, failures: int, *, jitter: float) -> float:
    """Exponential wait after ``failures`` failed tries, capped.

    Args:
        policy: Supplies ``wait_initial``, ``wait_max`` and ``wait_jitter``.
        failures: How many tries failed so far (1 after the first).
        jitter: A sample in ``[0, 1)`` scaled by ``wait_jitter``.
    """
    exponent = min(max(failures - 1, 0), 64)
    delay = policy.wait_initial * 2.0**exponent + jitter * policy.wait_jitter
    return min(delay, policy.wait_max)


def wait_seconds(
    decision: RetryDecision, policy: RetryPolicy, failures: int, *, jitter: float
) -> float:
    """The wait before the next try: the server's, else exponential."""
    if decision.server_back_off is not None:
        return decision.server_back_off
    return backoff_delay(policy, failures, jitter=jitter)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds named by a ``Retry-After`` header (delta-seconds or HTTP-date).

    Returns ``None`` when the header is missing or unreadable; a date in the
    past gives ``0.0``.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


#: Called before each wait with (failed attempt number, wait, error, decision).
RetryHook = Callable[[int, float, BaseException, RetryDecision], None]


@dataclass(frozen=True, slots=True)
class _TenacityArguments:
    stop: Callable[[tenacity.RetryCallState], bool]
    wait: Callable[[tenacity.RetryCallState], float]
    retry: Callable[[tenacity.RetryCallState], bool]
    before_sleep: Callable[[tenacity.RetryCallState], None]


def _tenacity_arguments(
    policy: RetryPolicy,
    *,
    is_idempotent: bool,
    clock: Callable[[], float],
    on_retry: RetryHook,
    jitter: Callable[[], float],
) -> _TenacityArguments:
    """Turn a policy into tenacity's stop/wait/retry (the only such place)."""
    started = clock()

    def failure(state: tenacity.RetryCallState) -> BaseException | None:
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            return None
        return outcome.exception()

    def verdict(error: BaseException) -> RetryDecision:
        return decide(error, is_idempotent=is_idempotent, policy=policy)

    def retry(state: tenacity.RetryCallState) -> bool:
        error = failure(state)
        return error is not None and verdict(error).retry

    def wait(state: tenacity.RetryCallState) -> float:
        error = failure(state)
        if error is None:
            return 0.0
        return wait_seconds(
            verdict(error), policy, state.attempt_number, jitter=jitter()
        )

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        if policy.timeout is None:
            return False
        return clock() - started + state.upcoming_sleep > policy.timeout

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = failure(state)
        if error is not None:
            on_retry(state.attempt_number, state.upcoming_sleep, error, verdict(error))

    return _TenacityArguments(stop, wait, retry, before_sleep)


def sync_retrying(
    policy: RetryPolicy,
    *,
    is_idempotent: bool,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_retry: RetryHook,
    jitter: Callable[[], float] = random.random,
) -> tenacity.Retrying:
    """A fresh tenacity loop for one synchronous call."""
    arguments = _tenacity_arguments(
        policy,
        is_idempotent=is_idempotent,
        clock=clock,
        on_retry=on_retry,
        jitter=jitter,
    )
    return tenacity.Retrying(
        sleep=sleep,
        stop=arguments.stop,
        wait=arguments.wait,
        retry=arguments.retry,
        before_sleep=arguments.before_sleep,
        reraise=True,
    )


def async_retrying(
    policy: RetryPolicy,
    *,
    is_idempotent: bool,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    on_retry: RetryHook,
    jitter: Callable[[], float] = random.random,
) -> tenacity.AsyncRetrying:
    """A fresh tenacity loop for one asyncio call."""
    arguments = _tenacity_arguments(
        policy,
        is_idempotent=is_idempotent,
        clock=clock,
        on_retry=on_retry,
        jitter=jitter,
    )
    return tenacity.AsyncRetrying(
        sleep=sleep,
        stop=arguments.stop,
        wait=arguments.wait,
        retry=arguments.retry,
        before_sleep=arguments.before_sleep,
        reraise=True,
    )
