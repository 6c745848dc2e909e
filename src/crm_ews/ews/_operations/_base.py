"""What every operation is, and how batched replies become per-item results.

An operation is a sans-IO object: its constructor validates the arguments,
:meth:`~Operation.build` returns the ``m:<Name>`` element, and
:meth:`~Operation.parse` turns the decoded reply into Python values.  Nothing
here sends anything, so the synchronous and asyncio clients share it all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar, Final, Protocol, TypeVar

from lxml import etree

from crm_ews._soap import (
    MESSAGES_NS,
    TYPES_NS,
    DecodedResponse,
    ResponseMessage,
    m,
    response_messages,
)
from crm_ews.errors import EWSError, ResponseDecodeError
from crm_ews.ews._operations._xml import DecodeContext

__all__ = [
    "Operation",
    "batch_results",
    "new_request",
    "single_message",
]

logger = logging.getLogger(__name__)

#: Prefixes an operation element declares; the envelope adds ``soap:``.
_REQUEST_NSMAP: Final = {"m": MESSAGES_NS, "t": TYPES_NS}

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Operation(Protocol[T_co]):
    """One EWS call, without the I/O.

    Attributes:
        name: The EWS operation name, e.g. ``"GetItem"``.
        is_idempotent: Whether resending after the request went out is safe.
    """

    name: ClassVar[str]
    is_idempotent: ClassVar[bool]

    def build(self) -> etree._Element:
        """The ``m:<name>`` request element (a fresh one on every call)."""
        ...

    def parse(self, response: DecodedResponse, *, mailbox: str) -> T_co:
        """Turn the decoded reply into the operation's result."""
        ...


def new_request(name: str, **attributes: str) -> etree._Element:
    """A fresh ``m:<name>`` element declaring the prefixes its children use."""
    return etree.Element(m(name), attributes, nsmap=_REQUEST_NSMAP)


def _log_warning(message: ResponseMessage, *, operation: str, mailbox: str) -> None:
    logger.warning(
        "ews response warning",
        extra={
            "operation": operation,
            "mailbox": mailbox,
            "response_code": message.response_code,
        },
    )


def batch_results(
    response: DecodedResponse,
    *,
    operation: str,
    mailbox: str,
    expected: int,
    parse_one: Callable[[etree._Element, DecodeContext], T],
) -> list[T | EWSError]:
    """One result per request item, in request order.

    Error messages become exception instances in the list (nothing is raised
    for them).  A ``Warning`` whose content is usable is a success and is
    logged; a ``Warning`` without content (``ErrorBatchProcessingStopped``
    after an earlier item failed) becomes that item's error.

    Raises:
        ResponseDecodeError: The reply holds the wrong number of messages, or
            a success message lacks what the schema requires.
    """
    context = DecodeContext(operation=operation, mailbox=mailbox)
    messages = response_messages(response.element, operation=operation, mailbox=mailbox)
    if len(messages) != expected:
        raise context.error(
            f"expected {expected} response messages, got {len(messages)}"
        )

    results: list[T | EWSError] = []
    for message in messages:
        results.append(_one_result(message, context, parse_one))

    return results


def _one_result(
    message: ResponseMessage,
    context: DecodeContext,
    parse_one: Callable[[etree._Element, DecodeContext], T],
) -> T | EWSError:
    """Parse one message; the warning-without-content rule lives here."""
    error = message.to_error(operation=context.operation, mailbox=context.mailbox)
    if message.is_error or message.element is None:
        return error
    try:
        with context.filling():
            result = parse_one(message.element, context)
    except ResponseDecodeError:
        if message.response_class == "Warning":
            return error
        raise
    if message.response_class == "Warning":
        _log_warning(
            message, operation=context.operation, mailbox=context.mailbox or ""
        )
    return result


def single_message(
    response: DecodedResponse, *, operation: str, mailbox: str
) -> tuple[etree._Element, DecodeContext]:
    """The only response message of a one-item request.

    Raises:
        EWSError: The server refused the request (subclass by its code).
        ResponseDecodeError: The reply does not hold exactly one message.
    """
    context = DecodeContext(operation=operation, mailbox=mailbox)
    messages = response_messages(response.element, operation=operation, mailbox=mailbox)
    if len(messages) != 1:
        raise context.error(f"expected 1 response message, got {len(messages)}")

    message = messages[0]
    if message.is_error or message.element is None:
        raise message.to_error(operation=operation, mailbox=mailbox)
    if message.response_class == "Warning":
        _log_warning(message, operation=operation, mailbox=mailbox)

    return message.element, context
