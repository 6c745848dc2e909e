"""Argument checks the reference repositories share, so both reject alike."""

from __future__ import annotations

from crm_ews.repository._records import CRMRecord, EntityType, record_type

#: Prefix of the continuation token inside a full listing.
FULL_LISTING_PREFIX = "listing:"


def check_mailbox(mailbox: str) -> str:
    """Reject a mailbox that cannot name an owner."""
    if not isinstance(mailbox, str):
        msg = f"mailbox must be a string, got {type(mailbox).__name__}"
        raise TypeError(msg)
    if not mailbox.strip():
        msg = "mailbox must be a non-empty string"
        raise ValueError(msg)
    return mailbox


def check_record(entity: EntityType, record: CRMRecord) -> None:
    """Reject a record of another entity type than the repository's."""
    expected = record_type(entity)
    if not isinstance(record, expected):
        msg = f"expected a {expected.__name__}, got {type(record).__name__}"
        raise TypeError(msg)


def check_key(idempotency_key: str) -> str:
    """Reject an idempotency key that could not tell two creates apart."""
    if not isinstance(idempotency_key, str):
        msg = f"idempotency_key must be a string, got {type(idempotency_key).__name__}"
        raise TypeError(msg)
    if not idempotency_key:
        msg = "idempotency_key must be a non-empty string"
        raise ValueError(msg)
    return idempotency_key


def parse_sequence_cursor(cursor: str | None) -> int:
    """Turn a change cursor into the sequence number it stands for."""
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 19:
        msg = f"not a cursor this repository issued: {cursor!r}"
        raise ValueError(msg)
    return int(cursor)


def parse_listing_cursor(cursor: str | None) -> str | None:
    """Turn a full-listing continuation token into the last id it covered.

    A cursor that is not a continuation token (``None`` or a leftover change
    cursor) starts the listing from the beginning.
    """
    if cursor is None or not cursor.startswith(FULL_LISTING_PREFIX):
        return None
    return cursor.removeprefix(FULL_LISTING_PREFIX)
