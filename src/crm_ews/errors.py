"""The exceptions crm_ews raises, grouped by what the caller does next.

::

    CRMEWSError
    ├── TransportError            network failure or timeout; wraps the httpx error
    │   └── ConnectTimeoutError   the server was never reached: always safe to resend
    ├── AuthenticationError       HTTP 401/403 before EWS ran: fix the credentials
    ├── EWSError                  fault or error ResponseCode from the server
    │   ├── RetryLaterError       transient server trouble: try again later
    │   │   └── ThrottledError    .back_off seconds, when the server gives one
    │   ├── AccessDeniedError     impersonation refused, mailbox missing: fix rights
    │   │   └── MailboxNotFoundError
    │   ├── ItemNotFoundError     the item or folder is gone
    │   ├── EditConflictError     stale ChangeKey: re-read, then decide
    │   ├── InvalidSyncStateError the SyncState is unusable: start a full resync
    │   └── InvalidRequestError   schema or validation fault: our bug or bad input
    ├── ResponseDecodeError       not SOAP, hostile XML, or required elements missing
    └── SyncError                 raised by the sync engine (crm_ews.sync)
        ├── UnresolvedConflictError
        ├── MassDeletionError     refused to mirror a side that suddenly emptied
        ├── MailboxNotEnrolledError
        ├── LeaseHeldError        another worker is syncing the mailbox
        ├── StateStoreError
        └── RepositoryError       what adapters raise, or wrap their errors into
            ├── RecordNotFoundError
            └── RecordVersionConflictError  the record changed since it was read

API misuse (an empty mailbox, a naive datetime, a closed client) raises the
builtins ``ValueError``, ``TypeError`` and ``RuntimeError`` instead, before
anything is sent.

Messages are short and never carry headers, bodies or credentials; the details
live in attributes (``operation``, ``mailbox``, ``response_code``,
``back_off``) so nobody has to parse text.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "CRMEWSError",
    "ConnectTimeoutError",
    "EWSError",
    "EditConflictError",
    "InvalidRequestError",
    "InvalidSyncStateError",
    "ItemNotFoundError",
    "LeaseHeldError",
    "MailboxNotEnrolledError",
    "MailboxNotFoundError",
    "MassDeletionError",
    "RecordNotFoundError",
    "RecordVersionConflictError",
    "RepositoryError",
    "ResponseDecodeError",
    "RetryLaterError",
    "StateStoreError",
    "SyncError",
    "ThrottledError",
    "TransportError",
    "UnresolvedConflictError",
]


class CRMEWSError(Exception):
    """Base class of every error crm_ews raises on purpose.

    Args:
        message: A short human-readable text with no secrets in it.
        operation: The EWS operation (``"GetItem"``) or sync step involved.
        mailbox: The impersonated mailbox the call was made for.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        mailbox: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.mailbox = mailbox

    def __str__(self) -> str:
        context = ", ".join(
            f"{name}={value}"
            for name, value in (
                ("operation", self.operation),
                ("mailbox", self.mailbox),
            )
            if value
        )
        return f"{self.message} ({context})" if context else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class TransportError(CRMEWSError):
    """The HTTP exchange failed: connection refused or dropped, timeout, bad TLS.

    ``request_sent`` tells whether the server may have seen the request; when it
    is ``False`` a resend can never duplicate anything.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        mailbox: str | None = None,
        request_sent: bool = True,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, operation=operation, mailbox=mailbox)
        self.request_sent = request_sent
        self.status_code = status_code
        self.retry_after = retry_after


class ConnectTimeoutError(TransportError):
    """Connecting to the server failed, so the request was never sent."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        mailbox: str | None = None,
    ) -> None:
        super().__init__(
            message, operation=operation, mailbox=mailbox, request_sent=False
        )


class AuthenticationError(CRMEWSError):
    """The server refused the service account's credentials (HTTP 401/403)."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        mailbox: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, operation=operation, mailbox=mailbox)
        self.status_code = status_code


class EWSError(CRMEWSError):
    """The server answered with a SOAP fault or an error ``ResponseCode``.

    Attributes:
        response_code: The raw EWS code, e.g. ``"ErrorItemNotFound"``.
        message_text: The server's ``MessageText``, if any.
        details: Key/value pairs from ``MessageXml`` (e.g. ``BackOffMilliseconds``).
    """

    def __init__(
        self,
        message: str,
        *,
        response_code: str,
        operation: str | None = None,
        mailbox: str | None = None,
        message_text: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, operation=operation, mailbox=mailbox)
        self.response_code = response_code
        self.message_text = message_text
        self.details: dict[str, str] = dict(details or {})

    def __str__(self) -> str:
        return f"{self.response_code}: {super().__str__()}"


class RetryLaterError(EWSError):
    """A transient server condition; the same request may succeed later."""


class ThrottledError(RetryLaterError):
    """The server throttled the call.

    ``back_off`` is the wait in seconds the server asked for, or ``None`` when
    it named none.
    """

    def __init__(
        self,
        message: str,
        *,
        response_code: str,
        operation: str | None = None,
        mailbox: str | None = None,
        message_text: str | None = None,
        details: dict[str, str] | None = None,
        back_off: float | None = None,
    ) -> None:
        super().__init__(
            message,
            response_code=response_code,
            operation=operation,
            mailbox=mailbox,
            message_text=message_text,
            details=details,
        )
        self.back_off = back_off


class AccessDeniedError(EWSError):
    """The service account may not act on this mailbox or item: fix its rights."""


class MailboxNotFoundError(AccessDeniedError):
    """The impersonated mailbox does not exist (``ErrorNonExistentMailbox``)."""


class ItemNotFoundError(EWSError):
    """The item or folder does not exist (any more)."""


class EditConflictError(EWSError):
    """The ChangeKey sent is stale: the item changed since it was read."""


class InvalidSyncStateError(EWSError):
    """The SyncState was rejected; the caller must start over without one."""


class InvalidRequestError(EWSError):
    """The server rejected the request as malformed: a bug or bad input."""


class ResponseDecodeError(CRMEWSError):
    """The response was not the SOAP we expect, or was hostile.

    Raised for non-XML bodies, documents with a DOCTYPE, bodies over the size
    cap, and responses missing elements the schema requires.
    """


class SyncError(CRMEWSError):
    """Base class of the sync engine's errors."""


class UnresolvedConflictError(SyncError):
    """Both sides changed and the conflict policy parked the pair for review."""


class MassDeletionError(SyncError):
    """A run would delete more than the guard allows; nothing was deleted.

    Attributes:
        planned: How many deletions the run planned.
        total: How many linked records the side had before the run.
    """

    def __init__(
        self,
        message: str,
        *,
        planned: int,
        total: int,
        operation: str | None = None,
        mailbox: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, mailbox=mailbox)
        self.planned = planned
        self.total = total


class MailboxNotEnrolledError(SyncError):
    """The mailbox is not on the enrolled list; the engine will not touch it."""


class LeaseHeldError(SyncError):
    """Another worker holds the mailbox's lease."""


class StateStoreError(SyncError):
    """The state store failed or holds inconsistent data."""


class RepositoryError(SyncError):
    """A CRM adapter failed.

    ``is_transient`` tells the engine whether retrying later may help.
    """

    def __init__(
        self,
        message: str,
        *,
        is_transient: bool = False,
        operation: str | None = None,
        mailbox: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, mailbox=mailbox)
        self.is_transient = is_transient


class RecordNotFoundError(RepositoryError):
    """The CRM record does not exist (any more)."""


class RecordVersionConflictError(RepositoryError):
    """The CRM record's version is not the one the update was based on.

    ``current_version`` is the version the CRM holds now, when the adapter knows it.
    """

    def __init__(
        self,
        message: str,
        *,
        current_version: str | None = None,
        operation: str | None = None,
        mailbox: str | None = None,
    ) -> None:
        super().__init__(
            message, is_transient=False, operation=operation, mailbox=mailbox
        )
        self.current_version = current_version
