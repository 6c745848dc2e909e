"""The model base class and the XML primitives every model codec shares.

Models are frozen pydantic values with snake_case names; the EWS element and
attribute names live only in field aliases and in the codecs here.  Decoding
walks an element's children once and converts text with the small parsers
below, each of which turns bad data into
:class:`~crm_ews.errors.ResponseDecodeError` instead of a ``ValueError``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final, Self, TypeVar, cast

from lxml import etree
from pydantic import BaseModel, ConfigDict

from crm_ews._soap import TYPES_NS, t
from crm_ews.errors import ResponseDecodeError

__all__ = [
    "TYPES_NSMAP",
    "EWSModel",
    "decode_error",
    "format_date",
    "format_datetime",
    "local_name",
    "new_element",
    "parse_bool",
    "parse_date",
    "parse_datetime",
    "parse_enum",
    "parse_float",
    "parse_int",
    "sub_element",
]

#: Prefix map of elements we build; the ``t:`` prefix keeps them readable.
TYPES_NSMAP: Final = {"t": TYPES_NS}

_E = TypeVar("_E", bound=StrEnum)

_TYPES_PREFIX: Final = f"{{{TYPES_NS}}}"


class EWSModel(BaseModel):
    """Base class of every EWS value: frozen, keyword-built, alias-aware.

    Python names are snake_case; each field's alias is its EWS wire name, and
    both are accepted at construction.  Unknown keyword arguments are refused,
    so a typo fails loudly.  Unknown XML elements in responses are a different
    matter: the decoders skip them.
    """

    model_config = ConfigDict(
        frozen=True,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
    )

    @classmethod
    def _trusted(cls, **values: Any) -> Self:
        """Build an instance from values the decoders already checked.

        The same as pydantic's ``model_construct`` for our models (no aliases
        in ``values``, no default factories, no private attributes) at a
        fraction of its cost, which dominates decoding large replies.
        """
        defaults = cls.__dict__.get("_trusted_defaults")
        if defaults is None:
            defaults = {
                name: field.default
                for name, field in cls.model_fields.items()
                if not field.is_required()
            }
            type.__setattr__(cls, "_trusted_defaults", defaults)
        instance = cls.__new__(cls)
        data = dict(defaults)
        data.update(values)
        object.__setattr__(instance, "__dict__", data)
        object.__setattr__(instance, "__pydantic_fields_set__", set(values))
        object.__setattr__(instance, "__pydantic_extra__", None)
        object.__setattr__(instance, "__pydantic_private__", None)
        return instance


def decode_error(message: str) -> ResponseDecodeError:
    """A decode error for data the schema requires but the response lacks."""
    return ResponseDecodeError(message)


def local_name(element: etree._Element) -> str:
    """The element's local name, for error messages."""
    tag = element.tag
    if isinstance(tag, str):
        return tag.rpartition("}")[2]
    return "?"


def new_element(
    local: str, text: str | None = None, attrib: dict[str, str] | None = None
) -> etree._Element:
    """A free-standing ``t:`` element that declares the ``t`` prefix itself."""
    element = etree.Element(t(local), attrib, nsmap=TYPES_NSMAP)
    if text is not None:
        element.text = text
    return element


def sub_element(
    parent: etree._Element,
    local: str,
    text: str | None = None,
    attrib: dict[str, str] | None = None,
) -> etree._Element:
    """Append a ``t:`` child with optional text and attributes."""
    element = etree.SubElement(parent, _TYPES_PREFIX + local, attrib)
    if text is not None:
        element.text = text
    return element


def format_datetime(value: datetime) -> str:
    """An aware datetime as UTC ``xs:dateTime`` text with a trailing ``Z``.

    Microseconds are kept when present, so a value survives a round trip.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetimes sent to Exchange must be timezone-aware")
    # isoformat pads the year to four digits, which strftime("%Y") does not
    # do on every platform, and prints microseconds only when there are any.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def format_date(value: date) -> str:
    """A date as ``xs:date`` text without an offset."""
    return value.isoformat()


def parse_datetime(text: str | None, what: str) -> datetime:
    """Parse an ``xs:dateTime``; ``Z`` and offsets alike, naive means UTC.

    EWS documents its ``xs:dateTime`` values as UTC, and servers answer with a
    ``Z`` or an offset; a value without either is read as UTC rather than as
    the local time of whichever machine runs this code.
    """
    if not text:
        raise decode_error(f"{what} is empty")
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise decode_error(f"{what} is not an xs:dateTime: {text[:40]!r}") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def parse_date(text: str | None, what: str) -> date:
    """Parse an ``xs:date``, ignoring the zone suffix servers sometimes add.

    Exchange writes recurrence dates as ``2024-03-01`` or ``2024-03-01Z`` or
    ``2024-03-01+01:00``; the calendar date is the same in each.
    """
    if not text:
        raise decode_error(f"{what} is empty")
    stripped = text.strip()
    try:
        return date.fromisoformat(stripped[:10])
    except ValueError:
        raise decode_error(f"{what} is not an xs:date: {text[:40]!r}") from None


_BOOLEANS: Final = {"true": True, "1": True, "false": False, "0": False}


def parse_bool(text: str | None, what: str) -> bool:
    """Parse an ``xs:boolean`` (``true``/``false``/``1``/``0``)."""
    value = _BOOLEANS.get((text or "").strip())
    if value is None:
        raise decode_error(f"{what} is not an xs:boolean: {(text or '')[:40]!r}")
    return value


def parse_int(text: str | None, what: str) -> int:
    """Parse an ``xs:int``/``xs:long``."""
    try:
        return int((text or "").strip())
    except ValueError:
        raise decode_error(f"{what} is not an integer: {(text or '')[:40]!r}") from None


def parse_float(text: str | None, what: str) -> float:
    """Parse an ``xs:double``."""
    try:
        return float((text or "").strip())
    except ValueError:
        raise decode_error(f"{what} is not a number: {(text or '')[:40]!r}") from None


def parse_enum(cls: type[_E], text: str | None, what: str) -> _E:
    """Parse an enumeration value the schema defines."""
    value = (text or "").strip()
    # The value map is what ``cls(value)`` consults first; reading it here
    # skips the metaclass call, a tenth of decoding a large FindItem page.
    member = cls._value2member_map_.get(value)
    if member is not None:
        return cast(_E, member)
    try:
        return cls(value)
    except ValueError:
        raise decode_error(
            f"{what} has an unknown value: {(text or '')[:40]!r}"
        ) from None
