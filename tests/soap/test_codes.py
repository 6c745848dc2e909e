"""The ResponseCode -> exception table and the back-off hint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from crm_ews._soap import ERROR_CLASSES, back_off_seconds, error_from_code
from crm_ews.errors import (
    AccessDeniedError,
    EditConflictError,
    EWSError,
    InvalidRequestError,
    InvalidSyncStateError,
    ItemNotFoundError,
    MailboxNotFoundError,
    RetryLaterError,
    ThrottledError,
)

XS = "{http://www.w3.org/2001/XMLSchema}"


@pytest.fixture(scope="module")
def schema_response_codes() -> frozenset[str]:
    """The ResponseCodeType enumeration from messages.xsd (skips when unset)."""
    folder = os.environ.get("CRM_EWS_SCHEMA_DIR")
    if not folder:
        pytest.skip("CRM_EWS_SCHEMA_DIR is not set: ResponseCodeType check skipped")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    tree = etree.parse(str(Path(folder) / "messages.xsd"), parser)
    (code_type,) = (
        node
        for node in tree.iter(f"{XS}simpleType")
        if node.get("name") == "ResponseCodeType"
    )
    return frozenset(
        value
        for node in code_type.iter(f"{XS}enumeration")
        if (value := node.get("value")) is not None
    )


@pytest.mark.schema
def test_every_mapped_code_is_a_schema_response_code(
    schema_response_codes: frozenset[str],
) -> None:
    """No typo or invented code: each key is in ResponseCodeType."""
    unknown = sorted(set(ERROR_CLASSES) - schema_response_codes)

    assert len(schema_response_codes) > 400
    assert unknown == []


def test_success_code_is_never_mapped() -> None:
    """NoError must not turn into an exception."""
    assert "NoError" not in ERROR_CLASSES


def test_every_class_is_an_ews_error_subclass() -> None:
    """The table only names EWSError subclasses, never EWSError itself."""
    for code, cls in ERROR_CLASSES.items():
        assert issubclass(cls, EWSError), code
        assert cls is not EWSError, code


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("ErrorServerBusy", ThrottledError),
        ("ErrorExceededConnectionCount", ThrottledError),
        ("ErrorTooManyObjectsOpened", ThrottledError),
        ("ErrorInternalServerTransientError", RetryLaterError),
        ("ErrorMailboxStoreUnavailable", RetryLaterError),
        ("ErrorMailboxMoveInProgress", RetryLaterError),
        ("ErrorTimeoutExpired", RetryLaterError),
        ("ErrorImpersonateUserDenied", AccessDeniedError),
        ("ErrorImpersonationFailed", AccessDeniedError),
        ("ErrorAccessDenied", AccessDeniedError),
        ("ErrorNonExistentMailbox", MailboxNotFoundError),
        ("ErrorInvalidMailbox", MailboxNotFoundError),
        ("ErrorItemNotFound", ItemNotFoundError),
        ("ErrorFolderNotFound", ItemNotFoundError),
        ("ErrorCalendarOccurrenceIsDeletedFromRecurrence", ItemNotFoundError),
        ("ErrorIrresolvableConflict", EditConflictError),
        ("ErrorStaleObject", EditConflictError),
        ("ErrorInvalidSyncStateData", InvalidSyncStateError),
        ("ErrorSchemaValidation", InvalidRequestError),
        ("ErrorInvalidServerVersion", InvalidRequestError),
        ("ErrorInvalidExchangeImpersonationHeaderData", InvalidRequestError),
        ("ErrorNonPrimarySmtpAddress", InvalidRequestError),
        ("ErrorInvalidIdMalformed", InvalidRequestError),
        ("ErrorInvalidChangeKey", InvalidRequestError),
        ("ErrorCalendarInvalidRecurrence", InvalidRequestError),
    ],
)
def test_key_codes_map_where_meant(code: str, cls: type[EWSError]) -> None:
    """Each important code maps to exactly the class its caller acts on."""
    error = error_from_code(
        code, message_text="text", details={}, operation="GetItem", mailbox="a@b.c"
    )

    assert ERROR_CLASSES[code] is cls
    assert type(error) is cls
    assert error.response_code == code


def test_unknown_code_builds_plain_ews_error() -> None:
    """Codes missing from the table still raise, as EWSError with the code."""
    error = error_from_code(
        "ErrorBrandNew", message_text=None, details={}, operation=None, mailbox=None
    )

    assert type(error) is EWSError
    assert error.response_code == "ErrorBrandNew"
    assert error.message == "the server reported an error"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One line.", "One line."),
        ("  padded  ", "padded"),
        ("first\nsecond\nthird", "first"),
        ("", "the server reported an error"),
        ("   \n  ", "the server reported an error"),
        ("y" * 500, "y" * 300),
    ],
)
def test_message_is_one_trimmed_line(text: str, expected: str) -> None:
    """The exception message is the first line of MessageText, at most 300."""
    error = error_from_code(
        "ErrorItemNotFound",
        message_text=text,
        details={},
        operation=None,
        mailbox=None,
    )

    assert error.message == expected
    assert error.message_text == text


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("1500", 1.5),
        (" 250 ", 0.25),
        ("0", 0.0),
        ("-5", 0.0),
        ("abc", None),
        ("12.5", None),
        ("", None),
    ],
)
def test_back_off_seconds(raw: str, seconds: float | None) -> None:
    """BackOffMilliseconds parses to seconds; garbage gives None, never raises."""
    assert back_off_seconds({"BackOffMilliseconds": raw}) == seconds


def test_back_off_seconds_without_hint() -> None:
    """No BackOffMilliseconds key means no back-off."""
    assert back_off_seconds({"Policy": "MaxConcurrency"}) is None


def test_throttled_error_from_code_carries_back_off() -> None:
    """error_from_code computes back_off for ThrottledError codes."""
    error = error_from_code(
        "ErrorServerBusy",
        message_text=None,
        details={"BackOffMilliseconds": "3000"},
        operation="SyncFolderItems",
        mailbox="alice@example.com",
    )

    assert isinstance(error, ThrottledError)
    assert error.back_off == 3.0
    assert error.details == {"BackOffMilliseconds": "3000"}
