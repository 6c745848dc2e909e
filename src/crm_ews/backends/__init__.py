"""Mailbox backends for the sync engine.

:class:`EWSMailboxBackend` reaches Exchange Server through
:class:`crm_ews.ews.AsyncEWSClient` and maps neutral CRM records to EWS items
with the declarative tables of :mod:`crm_ews.backends._mapping`.
"""

from __future__ import annotations

from crm_ews.backends._ews import EWSMailboxBackend
from crm_ews.backends._mapping import (
    CORRELATION_PROPERTY,
    CRM_PROPERTY_SET,
    EntityMapping,
    FieldMap,
    default_mappings,
    extra_property,
)

__all__ = [
    "CORRELATION_PROPERTY",
    "CRM_PROPERTY_SET",
    "EWSMailboxBackend",
    "EntityMapping",
    "FieldMap",
    "default_mappings",
    "extra_property",
]
