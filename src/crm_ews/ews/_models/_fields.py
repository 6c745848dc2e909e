"""How one model field maps to the wire: its FieldURI, element and codec.

Each item field carries a :class:`Wire` marker in its ``Annotated`` type.  The
item base class collects them in declaration order, which is the schema's
sequence order, and uses them for everything field-shaped: building an item
element, decoding one child at a time, property shapes for GetItem and
FindItem, and the ``SetItemField``/``DeleteItemField`` paths of UpdateItem.

A codec turns one field value into child elements of an item and back.  The
default update is one path with the whole value; dictionary-like contact
fields override :meth:`Codec.changes` to address one entry at a time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

from lxml import etree

from crm_ews._soap import t
from crm_ews.ews._models._base import (
    format_datetime,
    new_element,
    parse_bool,
    parse_datetime,
    parse_enum,
    parse_float,
    parse_int,
    sub_element,
)
from crm_ews.ews._models._common import Mailbox, recipient_from_xml

__all__ = [
    "BirthdayCodec",
    "BoolCodec",
    "Codec",
    "DateTimeCodec",
    "EnumCodec",
    "FieldSpec",
    "FloatCodec",
    "IntCodec",
    "ListCodec",
    "ModelCodec",
    "RecipientCodec",
    "StringsCodec",
    "TextCodec",
    "Wire",
    "field_uri",
    "is_empty",
]

_STRING: Final = t("String")


def field_uri(uri: str) -> etree._Element:
    """``t:FieldURI FieldURI=".."``: the path of an unindexed property."""
    return new_element("FieldURI", attrib={"FieldURI": uri})


def is_empty(value: object) -> bool:
    """Whether a field value means "not set": ``None`` or an empty tuple."""
    return value is None or value == ()


class Codec(ABC):
    """Converts one field value to item children and back.

    Attributes:
        repeated: The field is a run of sibling elements without a wrapper
            (``t:ExtendedProperty``), so decoding collects them.
    """

    repeated: bool = False

    @abstractmethod
    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        """Append the element(s) for ``value`` to ``parent``.

        ``full`` asks for server-owned details too (attendee answers), for a
        faithful copy rather than a create request.
        """

    @abstractmethod
    def decode(self, element: etree._Element) -> Any:
        """Read the value from one child element."""

    def paths(self, uri: str) -> list[etree._Element]:
        """Every path element that addresses this field in an update."""
        return [field_uri(uri)]

    def changes(self, uri: str, value: Any) -> list[tuple[etree._Element, Any]]:
        """The (path, value) pairs an update of the field to ``value`` needs.

        A ``None`` value in a pair means "delete what the path names".
        """
        return [(field_uri(uri), None if is_empty(value) else value)]


class TextCodec(Codec):
    """``xs:string`` elements."""

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        sub_element(parent, tag, value)

    def decode(self, element: etree._Element) -> str:
        return element.text or ""


class BoolCodec(Codec):
    """``xs:boolean`` elements."""

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        sub_element(parent, tag, "true" if value else "false")

    def decode(self, element: etree._Element) -> bool:
        return parse_bool(element.text, _local(element))


class IntCodec(Codec):
    """``xs:int`` elements."""

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        sub_element(parent, tag, str(value))

    def decode(self, element: etree._Element) -> int:
        return parse_int(element.text, _local(element))


class FloatCodec(Codec):
    """``xs:double`` elements, written without a needless ``.0``."""

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        number = float(value)
        sub_element(
            parent, tag, str(int(number)) if number.is_integer() else repr(number)
        )

    def decode(self, element: etree._Element) -> float:
        return parse_float(element.text, _local(element))


class DateTimeCodec(Codec):
    """``xs:dateTime`` elements, written in UTC."""

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        sub_element(parent, tag, format_datetime(value))

    def decode(self, element: etree._Element) -> datetime:
        return parse_datetime(element.text, _local(element))


#: Time of day a date-only value is stored at.  Noon-ish UTC keeps the
#: calendar date the same in every zone within twelve hours of UTC.
_DATE_ANCHOR: Final = time(11, 59, tzinfo=UTC)


class BirthdayCodec(Codec):
    """A calendar date the schema stores as an ``xs:dateTime``.

    Clients store such dates at different times of day: Outlook writes local
    midnight, other clients noon UTC.  Decoding rounds to the nearest UTC
    midnight, which recovers the date written from any zone within twelve
    hours of UTC.
    """

    # Limitation: a birthday written at local midnight by a client in a zone
    # more than twelve hours ahead of UTC (Pacific/Kiritimati, UTC+14) reads
    # one day early.  Users there see the CRM show the day before; correcting
    # the date in the CRM writes it back at a safe time of day.

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        sub_element(parent, tag, format_datetime(datetime.combine(value, _DATE_ANCHOR)))

    def decode(self, element: etree._Element) -> date:
        moment = parse_datetime(element.text, _local(element)).astimezone(UTC)
        return (moment + timedelta(hours=12)).date()


class EnumCodec(Codec):
    """Elements whose text is one value of a schema enumeration."""

    def __init__(self, enum: type[StrEnum]) -> None:
        self._enum = enum

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        sub_element(parent, tag, value.value)

    def decode(self, element: etree._Element) -> StrEnum:
        return parse_enum(self._enum, element.text, _local(element))


class StringsCodec(Codec):
    """``ArrayOfStringsType``: a wrapper holding ``t:String`` children."""

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        wrapper = sub_element(parent, tag)
        for text in value:
            sub_element(wrapper, "String", text)

    def decode(self, element: etree._Element) -> tuple[str, ...]:
        return tuple(child.text or "" for child in element if child.tag == _STRING)


class _XMLModel(Protocol):
    def to_xml(self, tag: str) -> etree._Element: ...


class ModelCodec(Codec):
    """A nested model that builds and reads its own element."""

    def __init__(self, decode: Callable[[etree._Element], Any]) -> None:
        self._decode = decode

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        model: _XMLModel = value
        parent.append(model.to_xml(tag))

    def decode(self, element: etree._Element) -> Any:
        return self._decode(element)


class RecipientCodec(Codec):
    """``SingleRecipientType``: one ``t:Mailbox`` inside a wrapper."""

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        mailbox: Mailbox = value
        mailbox.fill(sub_element(sub_element(parent, tag), "Mailbox"))

    def decode(self, element: etree._Element) -> Mailbox:
        return recipient_from_xml(element)


class ListCodec(Codec):
    """A wrapper holding a list of same-named model elements."""

    def __init__(
        self,
        item_tag: str,
        encode: Callable[[Any, str, bool], etree._Element],
        decode: Callable[[etree._Element], Any],
    ) -> None:
        self._item_tag = item_tag
        self._item_clark = t(item_tag)
        self._encode = encode
        self._decode = decode

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        wrapper = sub_element(parent, tag)
        for entry in value:
            wrapper.append(self._encode(entry, self._item_tag, full))

    def decode(self, element: etree._Element) -> tuple[Any, ...]:
        clark = self._item_clark
        decode = self._decode
        return tuple(decode(child) for child in element if child.tag == clark)


@dataclass(frozen=True, slots=True)
class Wire:
    """Marks a model field as an EWS property.

    Attributes:
        uri: The ``FieldURI`` (``"item:Subject"``); the element's local name is
            the part after the last colon unless ``tag`` says otherwise.
        codec: Converts the value to elements and back.
        read_only: The server owns the value: never sent on create or update.
        in_summary: FindItem may return the property (bodies, recipient lists
            and recurrence blobs it refuses).
        tag: The element's local name, when it differs from the URI's.
    """

    uri: str
    codec: Codec
    read_only: bool = False
    in_summary: bool = True
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A model field together with its wire mapping, resolved once per class."""

    name: str
    tag: str
    clark: str
    wire: Wire
    index: int


def collect_specs(
    names_and_metadata: Sequence[tuple[str, Sequence[object]]],
) -> tuple[FieldSpec, ...]:
    """Build the ordered specs from ``(field name, Annotated metadata)`` pairs."""
    specs: list[FieldSpec] = []
    for name, metadata in names_and_metadata:
        wire = next((item for item in metadata if isinstance(item, Wire)), None)
        if wire is None:
            continue
        tag = wire.tag or wire.uri.rpartition(":")[2]
        specs.append(FieldSpec(name, tag, t(tag), wire, len(specs)))
    return tuple(specs)


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else "?"
