"""The pure retry rules, the policy's validation, and Retry-After parsing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_ews._retry import (
    REFUSED_BEFORE_PROCESSING,
    RetryPolicy,
    backoff_delay,
    decide,
    parse_retry_after,
    wait_seconds,
)
from crm_ews._soap import ERROR_CLASSES, error_from_code
from crm_ews.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    CRMEWSError,
    EWSError,
    ResponseDecodeError,
    ThrottledError,
    TransportError,
)

POLICY = RetryPolicy(max_server_back_off=60.0)


def throttled(
    code: str = "ErrorServerBusy", back_off: float | None = None
) -> ThrottledError:
    """A ThrottledError as the codec builds it."""
    return ThrottledError("busy", response_code=code, back_off=back_off)


def status(code: int, retry_after: float | None = None) -> TransportError:
    """A TransportError for an HTTP status without a SOAP fault."""
    return TransportError("http", status_code=code, retry_after=retry_after)


RULES = [
    # (error, retried when idempotent, retried when not)
    (ConnectTimeoutError("refused"), True, True),
    (throttled(), True, True),
    (throttled("ErrorExceededConnectionCount"), True, True),
    (status(429), True, True),
    (throttled("ErrorTooManyObjectsOpened"), True, False),
    (
        error_from_code(
            "ErrorMailboxMoveInProgress",
            message_text=None,
            details={},
            operation=None,
            mailbox=None,
        ),
        True,
        False,
    ),
    (TransportError("read timed out", request_sent=True), True, False),
    (status(502), True, False),
    (status(503), True, False),
    (status(504), True, False),
    (status(500), False, False),
    (status(404), False, False),
    (TransportError("bad header", request_sent=False), False, False),
    (AuthenticationError("no", status_code=401), False, False),
    (ResponseDecodeError("not xml"), False, False),
    (EWSError("x", response_code="ErrorItemNotFound"), False, False),
    (ValueError("a bug"), False, False),
]


@pytest.mark.parametrize(("error", "idempotent", "write"), RULES)
def test_rule_table(error: BaseException, idempotent: bool, write: bool) -> None:
    """Each outcome is retried exactly where the module's table says."""
    assert decide(error, is_idempotent=True, policy=POLICY).retry is idempotent
    assert decide(error, is_idempotent=False, policy=POLICY).retry is write


@pytest.mark.parametrize(
    "error",
    [throttled(back_off=61.0), status(503, retry_after=3600.0), status(429, 90.0)],
)
def test_back_off_above_ceiling_is_never_retried(error: CRMEWSError) -> None:
    """A server-named wait over the ceiling stops retrying, whatever the kind."""
    decision = decide(error, is_idempotent=True, policy=POLICY)

    assert decision.retry is False
    assert decision.server_back_off is not None
    assert decision.server_back_off > 60


def test_server_back_off_is_the_wait() -> None:
    """A server-named wait within the ceiling is used as is."""
    decision = decide(throttled(back_off=2.5), is_idempotent=False, policy=POLICY)

    assert wait_seconds(decision, POLICY, 1, jitter=0.9) == 2.5


def test_every_throttling_code_is_in_the_codec_table() -> None:
    """Codes treated as refused map to ThrottledError in the codec."""
    for code in REFUSED_BEFORE_PROCESSING:
        assert ERROR_CLASSES[code] is ThrottledError


transport_errors = st.builds(
    TransportError,
    st.just("failure"),
    request_sent=st.booleans(),
    status_code=st.one_of(st.none(), st.integers(300, 599)),
    retry_after=st.one_of(st.none(), st.floats(0, 1e6)),
)
ews_errors = st.builds(
    lambda code, back_off: error_from_code(
        code,
        message_text=None,
        details={} if back_off is None else {"BackOffMilliseconds": str(back_off)},
        operation=None,
        mailbox=None,
    ),
    st.sampled_from([*sorted(ERROR_CLASSES), "ErrorSomethingNew"]),
    st.one_of(st.none(), st.integers(0, 10**7)),
)
policies = st.builds(
    RetryPolicy,
    attempts=st.integers(1, 20),
    timeout=st.one_of(st.none(), st.floats(0.1, 1e5)),
    wait_initial=st.floats(0, 10),
    wait_max=st.floats(10, 300),
    wait_jitter=st.floats(0, 5),
    max_server_back_off=st.floats(0, 600),
)


@given(error=st.one_of(transport_errors, ews_errors), policy=policies)
def test_writes_are_resent_only_when_the_server_cannot_have_acted(
    error: CRMEWSError, policy: RetryPolicy
) -> None:
    """A non-idempotent call is retried only for refusals and connect failures."""
    decision = decide(error, is_idempotent=False, policy=policy)

    if decision.retry:
        refused = (
            isinstance(error, ConnectTimeoutError)
            or (
                isinstance(error, ThrottledError)
                and error.response_code in REFUSED_BEFORE_PROCESSING
            )
            or (isinstance(error, TransportError) and error.status_code == 429)
        )
        assert refused


@given(error=st.one_of(transport_errors, ews_errors), policy=policies)
def test_retry_never_waits_beyond_the_ceiling(
    error: CRMEWSError, policy: RetryPolicy
) -> None:
    """Whenever a retry is decided, its server-named wait is within the ceiling."""
    for idempotent in (True, False):
        decision = decide(error, is_idempotent=idempotent, policy=policy)
        if decision.retry and decision.server_back_off is not None:
            assert decision.server_back_off <= policy.max_server_back_off


@given(error=st.one_of(transport_errors, ews_errors), policy=policies)
def test_idempotent_retries_include_write_retries(
    error: CRMEWSError, policy: RetryPolicy
) -> None:
    """Anything retried for a write is also retried for a read."""
    if decide(error, is_idempotent=False, policy=policy).retry:
        assert decide(error, is_idempotent=True, policy=policy).retry


@given(
    policy=policies,
    failures=st.integers(1, 10_000),
    jitter=st.floats(0, 1, exclude_max=True),
)
def test_backoff_is_capped_and_non_negative(
    policy: RetryPolicy, failures: int, jitter: float
) -> None:
    """The computed wait stays within [0, wait_max] for any attempt count."""
    delay = backoff_delay(policy, failures, jitter=jitter)

    assert 0 <= delay <= policy.wait_max
    assert math.isfinite(delay)


@given(policy=policies, failures=st.integers(1, 60))
def test_backoff_grows_with_failures(policy: RetryPolicy, failures: int) -> None:
    """Without jitter the wait never shrinks as failures accumulate."""
    assert backoff_delay(policy, failures, jitter=0) <= backoff_delay(
        policy, failures + 1, jitter=0
    )


def test_backoff_doubles_from_wait_initial() -> None:
    """1, 2, 4, 8 then the cap."""
    policy = RetryPolicy(wait_initial=1.0, wait_max=10.0, wait_jitter=0.0)

    assert [backoff_delay(policy, n, jitter=0.5) for n in range(1, 6)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        10.0,
    ]


def test_jitter_adds_at_most_wait_jitter() -> None:
    """A jitter sample scales wait_jitter onto the exponential wait."""
    policy = RetryPolicy(wait_initial=1.0, wait_max=30.0, wait_jitter=2.0)

    assert backoff_delay(policy, 1, jitter=0.5) == 2.0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"attempts": 0}, ValueError),
        ({"attempts": 1.5}, TypeError),
        ({"attempts": True}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"timeout": math.inf}, ValueError),
        ({"wait_initial": -1}, ValueError),
        ({"wait_jitter": math.nan}, ValueError),
        ({"wait_max": 0.5, "wait_initial": 1.0}, ValueError),
        ({"max_server_back_off": "60"}, TypeError),
    ],
)
def test_policy_rejects_bad_values(
    options: dict[str, object], error: type[Exception]
) -> None:
    """RetryPolicy validates every field when built."""
    with pytest.raises(error):
        RetryPolicy(**options)  # type: ignore[arg-type]  # misuse on purpose


def test_policy_is_frozen_and_rejects_unknown_fields() -> None:
    """The policy is immutable and refuses unknown options."""
    policy = RetryPolicy()

    with pytest.raises(AttributeError):
        policy.attempts = 3  # type: ignore[misc]  # frozen on purpose
    with pytest.raises(TypeError):
        RetryPolicy(retries=3)  # type: ignore[call-arg]  # unknown on purpose


NOW = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("Sat, 01 Mar 2025 08:01:00 GMT", 60.0),
        ("Sat, 01 Mar 2025 07:00:00 GMT", 0.0),
        ("soon", None),
        ("-3", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    """Delta-seconds and HTTP-dates parse; junk and negatives give None."""
    assert parse_retry_after(header, now=NOW) == seconds


@given(delta=st.integers(0, 10**6))
def test_retry_after_date_round_trips(delta: int) -> None:
    """An HTTP-date `delta` seconds ahead parses back to `delta`."""
    when = NOW + timedelta(seconds=delta)
    header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")

    assert parse_retry_after(header, now=NOW) == float(delta)
