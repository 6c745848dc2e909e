"""crm_ews: central Exchange Web Services sync for CRM backends.

One service account holding the ApplicationImpersonation role acts on each
integration user's mailbox; every call names its target mailbox.
"""

from __future__ import annotations

import logging

from crm_ews._retry import RetryPolicy
from crm_ews._soap import ConnectingSIDKind, Impersonation, ServerVersion
from crm_ews._transport import AsyncTransport, Transport
from crm_ews.auth import Secret
from crm_ews.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConnectTimeoutError,
    CRMEWSError,
    EditConflictError,
    EWSError,
    InvalidRequestError,
    InvalidSyncStateError,
    ItemNotFoundError,
    MailboxNotFoundError,
    MassDeletionError,
    RecordNotFoundError,
    RecordVersionConflictError,
    RepositoryError,
    ResponseDecodeError,
    RetryLaterError,
    SyncError,
    ThrottledError,
    TransportError,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AccessDeniedError",
    "AsyncTransport",
    "AuthenticationError",
    "CRMEWSError",
    "ConnectTimeoutError",
    "ConnectingSIDKind",
    "EWSError",
    "EditConflictError",
    "Impersonation",
    "InvalidRequestError",
    "InvalidSyncStateError",
    "ItemNotFoundError",
    "MailboxNotFoundError",
    "MassDeletionError",
    "RecordNotFoundError",
    "RecordVersionConflictError",
    "RepositoryError",
    "ResponseDecodeError",
    "RetryLaterError",
    "RetryPolicy",
    "Secret",
    "ServerVersion",
    "SyncError",
    "ThrottledError",
    "Transport",
    "TransportError",
    "__version__",
]

# Libraries configure no logging; the embedding application decides.
logging.getLogger(__name__).addHandler(logging.NullHandler())
