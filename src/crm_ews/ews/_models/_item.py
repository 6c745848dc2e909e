"""The item base class (``ItemType``) and the tag-dispatching decoder.

:class:`Item` holds the properties every Exchange item has.  Subclasses add
their own fields; each field's :class:`~crm_ews.ews._models._fields.Wire`
marker drives building, decoding, property shapes and update paths, so those
four always agree with each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar, Final, Self

from lxml import etree
from pydantic import AwareDatetime, Field

from crm_ews._soap import t
from crm_ews.ews._models._base import (
    EWSModel,
    decode_error,
    local_name,
    new_element,
)
from crm_ews.ews._models._common import Body, Importance, Sensitivity
from crm_ews.ews._models._extended import ExtendedProperty, ExtendedPropertyKey
from crm_ews.ews._models._fields import (
    BoolCodec,
    Codec,
    DateTimeCodec,
    EnumCodec,
    FieldSpec,
    IntCodec,
    ModelCodec,
    StringsCodec,
    TextCodec,
    Wire,
    collect_specs,
    is_empty,
)
from crm_ews.ews._models._ids import FolderId, ItemId

__all__ = ["Item", "item_from_xml"]

#: Largest reminder lead time the schema allows (five years, in minutes).
MAX_REMINDER_MINUTES: Final = 2_629_800


class _ExtendedPropertiesCodec(Codec):
    """``t:ExtendedProperty`` elements repeat directly inside the item."""

    repeated = True

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        for prop in value:
            prop.fill(etree.SubElement(parent, t("ExtendedProperty")))

    def decode(self, element: etree._Element) -> ExtendedProperty:
        return ExtendedProperty.from_xml(element)


_TEXT: Final = TextCodec()
_BOOL: Final = BoolCodec()
_DATETIME: Final = DateTimeCodec()

#: Registry of item classes by element tag, filled as subclasses are defined.
_ITEM_CLASSES: dict[str, type[Item]] = {}


class Item(EWSModel):
    """An Exchange item: the properties ``ItemType`` gives every kind.

    Read-only fields (ids, timestamps) are filled from server responses and
    never sent.  Other item kinds (``t:Message``, ``t:MeetingRequest``...)
    decode as a plain :class:`Item` with these fields.
    """

    #: The element name of this kind in requests and responses.
    element_tag: ClassVar[str] = "Item"

    _specs: ClassVar[tuple[FieldSpec, ...]] = ()
    _by_clark: ClassVar[dict[str, FieldSpec]] = {}
    _by_name: ClassVar[dict[str, FieldSpec]] = {}

    item_id: Annotated[
        ItemId | None,
        Field(alias="ItemId"),
        Wire("item:ItemId", ModelCodec(ItemId.from_xml), read_only=True),
    ] = None
    parent_folder_id: Annotated[
        FolderId | None,
        Field(alias="ParentFolderId"),
        Wire("item:ParentFolderId", ModelCodec(FolderId.from_xml), read_only=True),
    ] = None
    item_class: Annotated[
        str | None, Field(alias="ItemClass"), Wire("item:ItemClass", _TEXT)
    ] = None
    subject: Annotated[
        str | None, Field(alias="Subject"), Wire("item:Subject", _TEXT)
    ] = None
    sensitivity: Annotated[
        Sensitivity | None,
        Field(alias="Sensitivity"),
        Wire("item:Sensitivity", EnumCodec(Sensitivity)),
    ] = None
    body: Annotated[
        Body | None,
        Field(alias="Body"),
        Wire("item:Body", ModelCodec(Body.from_xml), in_summary=False),
    ] = None
    categories: Annotated[
        tuple[str, ...],
        Field(alias="Categories"),
        Wire("item:Categories", StringsCodec()),
    ] = ()
    importance: Annotated[
        Importance | None,
        Field(alias="Importance"),
        Wire("item:Importance", EnumCodec(Importance)),
    ] = None
    date_time_created: Annotated[
        AwareDatetime | None,
        Field(alias="DateTimeCreated"),
        Wire("item:DateTimeCreated", _DATETIME, read_only=True),
    ] = None
    reminder_due_by: Annotated[
        AwareDatetime | None,
        Field(alias="ReminderDueBy"),
        Wire("item:ReminderDueBy", _DATETIME),
    ] = None
    reminder_is_set: Annotated[
        bool | None, Field(alias="ReminderIsSet"), Wire("item:ReminderIsSet", _BOOL)
    ] = None
    reminder_minutes_before_start: Annotated[
        int | None,
        Field(alias="ReminderMinutesBeforeStart", ge=0, le=MAX_REMINDER_MINUTES),
        Wire("item:ReminderMinutesBeforeStart", IntCodec()),
    ] = None
    extended_properties: Annotated[
        tuple[ExtendedProperty, ...],
        Field(alias="ExtendedProperty"),
        Wire("item:ExtendedProperty", _ExtendedPropertiesCodec()),
    ] = ()
    last_modified_time: Annotated[
        AwareDatetime | None,
        Field(alias="LastModifiedTime"),
        Wire("item:LastModifiedTime", _DATETIME, read_only=True),
    ] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._register()

    @classmethod
    def _register(cls) -> None:
        """Resolve the wire specs of this class and file it under its tag."""
        specs = collect_specs(
            [(name, info.metadata) for name, info in cls.model_fields.items()]
        )
        cls._specs = specs
        cls._by_clark = {spec.clark: spec for spec in specs}
        cls._by_name = {spec.name: spec for spec in specs}
        _ITEM_CLASSES[t(cls.element_tag)] = cls

    # -- building ---------------------------------------------------------

    def to_xml(self, *, include_read_only: bool = False) -> etree._Element:
        """Build the item element, its children in the schema's sequence order.

        Fields that are ``None`` or empty are left out, and so are read-only
        fields unless ``include_read_only`` is set (for a faithful copy, as
        test doubles need; a create request must not carry them).

        Returns:
            ``t:CalendarItem``, ``t:Contact``, ``t:Task`` or ``t:Item``.
        """
        element = new_element(self.element_tag)
        values = self.__dict__
        for spec in self._specs:
            if spec.wire.read_only and not include_read_only:
                continue
            value = values[spec.name]
            if is_empty(value):
                continue
            spec.wire.codec.append(element, spec.tag, value, full=include_read_only)
        return element

    # -- decoding ---------------------------------------------------------

    @classmethod
    def from_xml(cls, element: etree._Element) -> Self:
        """Read an item element of this class; unknown children are skipped.

        Raises:
            ResponseDecodeError: A known child is malformed.
        """
        # Limitation: items are built in Python, field by field, so decoding a
        # large page costs six to nine times the lxml parse of its bytes
        # (docs/performance.md: a third of the parse rate is out of reach).
        # A sync that is CPU-bound on decoding notices; ask for fewer fields
        # (a narrower shape) or spread mailboxes over several processes.
        values: dict[str, Any] = {}
        by_clark = cls._by_clark
        for child in element:
            spec = by_clark.get(str(child.tag))
            if spec is None:
                continue
            if spec.wire.codec.repeated:
                values.setdefault(spec.name, []).append(spec.wire.codec.decode(child))
            else:
                values[spec.name] = spec.wire.codec.decode(child)
        for name, value in values.items():
            if isinstance(value, list):
                values[name] = tuple(value)
        return cls._construct(values)

    @classmethod
    def _construct(cls, values: dict[str, Any]) -> Self:
        """Build the instance from decoded values; subclasses may adjust them."""
        return cls._trusted(**values)

    # -- paths and shapes -------------------------------------------------

    @classmethod
    def specs(cls) -> tuple[FieldSpec, ...]:
        """The wire mapping of every EWS field, in schema order."""
        return cls._specs

    @classmethod
    def field_spec(cls, field_name: str) -> FieldSpec:
        """The wire mapping of a field.

        Raises:
            ValueError: The class maps no such field.
        """
        spec = cls._by_name.get(field_name)
        if spec is None:
            raise ValueError(f"{cls.__name__} has no EWS field {field_name!r}")
        return spec

    @classmethod
    def field_uri_elements(cls, field_name: str) -> list[etree._Element]:
        """The path elements that address a field in UpdateItem.

        Plain fields give one ``t:FieldURI``; dictionary fields (contact
        e-mail addresses, phone numbers, postal addresses) give one
        ``t:IndexedFieldURI`` per key (and per part, for addresses).  Extended
        properties are addressed by :meth:`ExtendedPropertyKey.to_xml`.

        Raises:
            ValueError: The field is unknown, or is ``extended_properties``.
        """
        spec = cls.field_spec(field_name)
        if spec.wire.codec.repeated:
            raise ValueError(
                "extended properties are addressed by ExtendedPropertyKey.to_xml()"
            )
        return spec.wire.codec.paths(spec.wire.uri)

    @classmethod
    def shape_elements(
        cls, *, extended_properties: Iterable[ExtendedPropertyKey] = ()
    ) -> list[etree._Element]:
        """Paths for an ``AdditionalProperties`` shape covering every field.

        Meant for GetItem and SyncFolderItems with ``BaseShape`` ``IdOnly``:
        the response then carries exactly what the model maps, never
        ``AllProperties``.  Extended properties are requested by key.
        """
        return cls._shape(extended_properties, summary=False)

    @classmethod
    def summary_shape_elements(
        cls, *, extended_properties: Iterable[ExtendedPropertyKey] = ()
    ) -> list[etree._Element]:
        """Like :meth:`shape_elements`, minus what FindItem refuses to return.

        FindItem answers ``ErrorInvalidPropertyRequest`` for bodies, attendee
        lists and recurrence data; fetch those with GetItem.
        """
        return cls._shape(extended_properties, summary=True)

    @classmethod
    def _shape(
        cls, keys: Iterable[ExtendedPropertyKey], *, summary: bool
    ) -> list[etree._Element]:
        elements = [
            new_element("FieldURI", attrib={"FieldURI": spec.wire.uri})
            for spec in cls._specs
            if not spec.wire.codec.repeated and (spec.wire.in_summary or not summary)
        ]
        elements.extend(key.to_xml() for key in keys)
        return elements

    @classmethod
    def complete_updates(cls, updates: Mapping[str, object]) -> dict[str, object]:
        """Add the fields an update implies; calendar items derive time zones."""
        return dict(updates)


Item._register()


def item_from_xml(element: etree._Element) -> Item:
    """Decode any item element, choosing the model class by its tag.

    ``t:CalendarItem``, ``t:Contact`` and ``t:Task`` give their own classes;
    any other item kind gives a plain :class:`Item` with the common fields.

    Raises:
        ResponseDecodeError: The element is malformed.
    """
    cls = _ITEM_CLASSES.get(str(element.tag))
    if cls is None:
        if not isinstance(element.tag, str):
            raise decode_error(f"{local_name(element)} is not an item")
        cls = Item
    return cls.from_xml(element)
