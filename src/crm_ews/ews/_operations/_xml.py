"""Small XML helpers the operations share: building elements, reading replies.

Reading helpers raise :class:`~crm_ews.errors.ResponseDecodeError` with the
operation and mailbox attached, so a malformed reply never leaks a
``KeyError`` or ``AttributeError`` from parsing code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from lxml import etree

from crm_ews.errors import ResponseDecodeError

__all__ = [
    "DecodeContext",
    "require_aware",
    "sub",
]


def sub(
    parent: etree._Element,
    tag: str,
    text: str | None = None,
    **attributes: str,
) -> etree._Element:
    """Append a child element with optional text and attributes.

    Children inherit the ``m:``/``t:`` prefixes the operation element declares.
    """
    child = etree.SubElement(parent, tag, attributes)
    if text is not None:
        child.text = text
    return child


def require_aware(value: object, name: str) -> datetime:
    """Check that ``value`` is a timezone-aware datetime.

    Raises:
        TypeError: ``value`` is not a datetime.
        ValueError: ``value`` carries no timezone.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (naive datetimes are refused)")
    return value


class DecodeContext:
    """Reads one reply and names the operation and mailbox in every error."""

    def __init__(self, *, operation: str, mailbox: str | None) -> None:
        self.operation = operation
        self.mailbox = mailbox

    def error(self, message: str) -> ResponseDecodeError:
        """A decode error carrying this reply's context."""
        return ResponseDecodeError(
            message, operation=self.operation, mailbox=self.mailbox
        )

    @contextmanager
    def filling(self) -> Iterator[None]:
        """Attach this reply's operation and mailbox to decode errors raised inside.

        The model decoders raise :class:`ResponseDecodeError` without knowing
        which call they serve; this fills the gap on the way out.
        """
        try:
            yield
        except ResponseDecodeError as exc:
            if exc.operation is None:
                exc.operation = self.operation
            if exc.mailbox is None:
                exc.mailbox = self.mailbox
            raise

    def child(self, parent: etree._Element, tag: str) -> etree._Element:
        """The required child ``tag`` of ``parent``."""
        found = parent.find(tag)
        if found is None:
            raise self.error(f"{etree.QName(tag).localname} is missing")
        return found

    def children(self, parent: etree._Element) -> Iterator[etree._Element]:
        """Element children only (comments and processing instructions skipped)."""
        return (child for child in parent if isinstance(child.tag, str))

    def boolean(
        self, raw: str | None, name: str, *, default: bool | None = None
    ) -> bool:
        """An ``xs:boolean`` value; ``default`` when absent (else an error)."""
        if raw is None:
            if default is None:
                raise self.error(f"{name} is missing")
            return default
        text = raw.strip()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise self.error(f"{name} is not a boolean")

    def integer(self, raw: str | None, name: str) -> int | None:
        """An ``xs:int`` value, or ``None`` when absent."""
        if raw is None:
            return None
        try:
            return int(raw.strip())
        except ValueError:
            raise self.error(f"{name} is not an integer") from None

    def text(self, parent: etree._Element, tag: str) -> str:
        """The text of the required child ``tag`` (empty text allowed)."""
        return self.child(parent, tag).text or ""
