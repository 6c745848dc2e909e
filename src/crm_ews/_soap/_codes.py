"""Which EWS ``ResponseCode`` becomes which exception class.

The table groups codes by what the caller does next, not one class per code.
Codes not listed become a plain :class:`~crm_ews.errors.EWSError`; the raw
code is always kept in ``response_code``.
"""

from __future__ import annotations

from typing import Final

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

#: ResponseCode -> exception class.  Every key is in the schema's
#: ResponseCodeType enumeration (a test checks this).
ERROR_CLASSES: Final[dict[str, type[EWSError]]] = {
    # Throttling: the server names a back-off or a connection budget was hit.
    "ErrorServerBusy": ThrottledError,
    "ErrorExceededConnectionCount": ThrottledError,
    "ErrorExceededSubscriptionCount": ThrottledError,
    "ErrorTooManyObjectsOpened": ThrottledError,
    # Transient server trouble: the same request may succeed later.
    "ErrorInternalServerTransientError": RetryLaterError,
    "ErrorMailboxStoreUnavailable": RetryLaterError,
    "ErrorMailboxMoveInProgress": RetryLaterError,
    "ErrorMailboxFailover": RetryLaterError,
    "ErrorTimeoutExpired": RetryLaterError,
    "ErrorConnectionFailed": RetryLaterError,
    "ErrorADUnavailable": RetryLaterError,
    "ErrorServiceUnavailable": RetryLaterError,
    "ErrorBatchProcessingStopped": RetryLaterError,
    "ErrorMailboxLogonFailed": RetryLaterError,
    # Rights: the service account may not act on this mailbox or item.
    "ErrorImpersonateUserDenied": AccessDeniedError,
    "ErrorImpersonationDenied": AccessDeniedError,
    "ErrorImpersonationFailed": AccessDeniedError,
    "ErrorAccessDenied": AccessDeniedError,
    "ErrorCreateItemAccessDenied": AccessDeniedError,
    "ErrorAccountDisabled": AccessDeniedError,
    "ErrorInvalidLogonType": AccessDeniedError,
    "ErrorNonExistentMailbox": MailboxNotFoundError,
    "ErrorMailRecipientNotFound": MailboxNotFoundError,
    "ErrorInvalidMailbox": MailboxNotFoundError,
    # Gone.
    "ErrorItemNotFound": ItemNotFoundError,
    "ErrorFolderNotFound": ItemNotFoundError,
    "ErrorParentFolderNotFound": ItemNotFoundError,
    "ErrorSavedItemFolderNotFound": ItemNotFoundError,
    "ErrorToFolderNotFound": ItemNotFoundError,
    "ErrorSyncFolderNotFound": ItemNotFoundError,
    "ErrorCalendarOccurrenceIsDeletedFromRecurrence": ItemNotFoundError,
    # Stale ChangeKey under NeverOverwrite.
    "ErrorIrresolvableConflict": EditConflictError,
    "ErrorStaleObject": EditConflictError,
    # The SyncState cannot be used; start over without one.
    "ErrorInvalidSyncStateData": InvalidSyncStateError,
    # Our request or the caller's data is wrong.
    "ErrorSchemaValidation": InvalidRequestError,
    "ErrorInvalidServerVersion": InvalidRequestError,
    "ErrorIncorrectSchemaVersion": InvalidRequestError,
    "ErrorInvalidRequest": InvalidRequestError,
    "ErrorInvalidExchangeImpersonationHeaderData": InvalidRequestError,
    "ErrorNonPrimarySmtpAddress": InvalidRequestError,
    "ErrorInvalidIdMalformed": InvalidRequestError,
    "ErrorInvalidIdEmpty": InvalidRequestError,
    "ErrorInvalidIdXml": InvalidRequestError,
    "ErrorInvalidChangeKey": InvalidRequestError,
    "ErrorChangeKeyRequired": InvalidRequestError,
    "ErrorChangeKeyRequiredForWriteOperations": InvalidRequestError,
    "ErrorInvalidPropertyRequest": InvalidRequestError,
    "ErrorInvalidPropertySet": InvalidRequestError,
    "ErrorInvalidPropertyForOperation": InvalidRequestError,
    "ErrorInvalidExtendedProperty": InvalidRequestError,
    "ErrorInvalidExtendedPropertyValue": InvalidRequestError,
    "ErrorInvalidValueForProperty": InvalidRequestError,
    "ErrorIncorrectUpdatePropertyCount": InvalidRequestError,
    "ErrorInvalidRestriction": InvalidRequestError,
    "ErrorInvalidPagingMaxRows": InvalidRequestError,
    "ErrorInvalidOperation": InvalidRequestError,
    "ErrorInvalidRecipients": InvalidRequestError,
    "ErrorInvalidSmtpAddress": InvalidRequestError,
    "ErrorCalendarEndDateIsEarlierThanStartDate": InvalidRequestError,
    "ErrorCalendarDurationIsTooLong": InvalidRequestError,
    "ErrorCalendarInvalidRecurrence": InvalidRequestError,
    "ErrorCalendarInvalidDayForTimeChangePattern": InvalidRequestError,
    "ErrorCalendarInvalidDayForWeeklyRecurrence": InvalidRequestError,
    "ErrorCalendarFolderIsInvalidForCalendarView": InvalidRequestError,
    "ErrorCalendarInvalidTimeZone": InvalidRequestError,
    "ErrorExceededFindCountLimit": InvalidRequestError,
    "ErrorDeleteDistinguishedFolder": InvalidRequestError,
    "ErrorFolderExists": InvalidRequestError,
    "ErrorUnsupportedPathForQuery": InvalidRequestError,
    "ErrorUnsupportedPathForSortGroup": InvalidRequestError,
}


def back_off_seconds(details: dict[str, str]) -> float | None:
    """The server's ``BackOffMilliseconds`` hint in seconds, if it sent one."""
    raw = details.get("BackOffMilliseconds")
    if raw is None:
        return None
    try:
        millis = int(raw.strip())
    except ValueError:
        return None
    return max(millis, 0) / 1000.0


def error_from_code(
    response_code: str,
    *,
    message_text: str | None,
    details: dict[str, str],
    operation: str | None,
    mailbox: str | None,
) -> EWSError:
    """Build the exception for one error ResponseCode.

    The message is the server's ``MessageText`` trimmed to one line; it names
    no credentials because servers never echo them.
    """
    cls = ERROR_CLASSES.get(response_code, EWSError)
    message = (message_text or "the server reported an error").strip().splitlines()
    text = message[0][:300] if message else "the server reported an error"
    if cls is ThrottledError:
        return ThrottledError(
            text,
            response_code=response_code,
            operation=operation,
            mailbox=mailbox,
            message_text=message_text,
            details=details,
            back_off=back_off_seconds(details),
        )
    return cls(
        text,
        response_code=response_code,
        operation=operation,
        mailbox=mailbox,
        message_text=message_text,
        details=details,
    )
