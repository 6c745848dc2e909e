"""The transport layer: EWS envelopes over httpx, sync and asyncio.

:class:`Transport` and :class:`AsyncTransport` share one implementation
(:mod:`crm_ews._transport._core`) and differ only in how they do I/O.  The
layers above make a single call, ``send(operation=..., body=...,
impersonation=..., is_idempotent=...)``; the transport builds the envelope,
anchors the call to the impersonated mailbox, applies auth, retries by the
rules in :mod:`crm_ews._retry`, logs, and turns every failure into an
exception from :mod:`crm_ews.errors`.
"""

from __future__ import annotations

from crm_ews._transport._async import AsyncTransport
from crm_ews._transport._core import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    USER_AGENT,
)
from crm_ews._transport._sync import Transport

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "AsyncTransport",
    "Transport",
]
