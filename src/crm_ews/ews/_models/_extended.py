"""MAPI extended properties: the key that names one and a value of it.

The CRM link lives in a named property of its own (for instance a
``PublicStrings`` string called ``crm_id``), so a property key must be exact:
the server treats two keys that differ in any attribute as two properties.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Self
from uuid import UUID

from lxml import etree
from pydantic import Field, model_validator

from crm_ews._soap import t
from crm_ews.ews._models._base import (
    EWSModel,
    decode_error,
    new_element,
    parse_enum,
    parse_int,
    sub_element,
)

__all__ = [
    "DistinguishedPropertySet",
    "ExtendedProperty",
    "ExtendedPropertyKey",
    "MapiPropertyType",
]


class DistinguishedPropertySet(StrEnum):
    """Property sets with a schema name (``DistinguishedPropertySetType``)."""

    MEETING = "Meeting"
    APPOINTMENT = "Appointment"
    COMMON = "Common"
    PUBLIC_STRINGS = "PublicStrings"
    ADDRESS = "Address"
    INTERNET_HEADERS = "InternetHeaders"
    CALENDAR_ASSISTANT = "CalendarAssistant"
    UNIFIED_MESSAGING = "UnifiedMessaging"
    TASK = "Task"
    SHARING = "Sharing"


class MapiPropertyType(StrEnum):
    """The MAPI type of an extended property (``MapiPropertyTypeType``)."""

    APPLICATION_TIME = "ApplicationTime"
    APPLICATION_TIME_ARRAY = "ApplicationTimeArray"
    BINARY = "Binary"
    BINARY_ARRAY = "BinaryArray"
    BOOLEAN = "Boolean"
    CLSID = "CLSID"
    CLSID_ARRAY = "CLSIDArray"
    CURRENCY = "Currency"
    CURRENCY_ARRAY = "CurrencyArray"
    DOUBLE = "Double"
    DOUBLE_ARRAY = "DoubleArray"
    ERROR = "Error"
    FLOAT = "Float"
    FLOAT_ARRAY = "FloatArray"
    INTEGER = "Integer"
    INTEGER_ARRAY = "IntegerArray"
    LONG = "Long"
    LONG_ARRAY = "LongArray"
    NULL = "Null"
    OBJECT = "Object"
    OBJECT_ARRAY = "ObjectArray"
    SHORT = "Short"
    SHORT_ARRAY = "ShortArray"
    SYSTEM_TIME = "SystemTime"
    SYSTEM_TIME_ARRAY = "SystemTimeArray"
    STRING = "String"
    STRING_ARRAY = "StringArray"

    @property
    def is_array(self) -> bool:
        """Whether values of this type are lists (sent as ``t:Values``)."""
        return self.value.endswith("Array")


class ExtendedPropertyKey(EWSModel):
    """Names one extended property (``t:ExtendedFieldURI``).

    A named property has exactly one property set (``property_set_id`` or
    ``distinguished_property_set_id``) and exactly one of ``property_name``
    and ``property_id``.  A tagged property has ``property_tag`` alone.

    Example::

        ExtendedPropertyKey(
            distinguished_property_set_id="PublicStrings",
            property_name="crm_id",
            property_type="String",
        )

    Raises:
        ValueError: The attribute combination is not one the schema allows.
    """

    property_set_id: Annotated[UUID | None, Field(alias="PropertySetId")] = None
    distinguished_property_set_id: Annotated[
        DistinguishedPropertySet | None, Field(alias="DistinguishedPropertySetId")
    ] = None
    property_name: Annotated[str | None, Field(alias="PropertyName", min_length=1)] = (
        None
    )
    property_id: Annotated[int | None, Field(alias="PropertyId")] = None
    property_tag: Annotated[int | None, Field(alias="PropertyTag", ge=0, le=0xFFFF)] = (
        None
    )
    property_type: Annotated[MapiPropertyType, Field(alias="PropertyType")]

    @model_validator(mode="after")
    def _check_combination(self) -> Self:
        has_set = self.property_set_id is not None
        has_distinguished = self.distinguished_property_set_id is not None
        has_name = self.property_name is not None
        has_id = self.property_id is not None
        if self.property_tag is not None:
            if has_set or has_distinguished or has_name or has_id:
                raise ValueError("a tagged property takes property_tag alone")
            return self
        if has_set == has_distinguished:
            raise ValueError(
                "give exactly one of property_set_id and distinguished_property_set_id"
            )
        if has_name == has_id:
            raise ValueError("give exactly one of property_name and property_id")
        return self

    def to_xml(self) -> etree._Element:
        """Build ``t:ExtendedFieldURI`` with this key's attributes."""
        element = new_element("ExtendedFieldURI")
        self._fill(element)
        return element

    def _fill(self, element: etree._Element) -> None:
        # Attribute order is irrelevant to the schema; keep it stable for diffs.
        if self.distinguished_property_set_id is not None:
            element.set(
                "DistinguishedPropertySetId", self.distinguished_property_set_id.value
            )
        if self.property_set_id is not None:
            element.set("PropertySetId", str(self.property_set_id))
        if self.property_tag is not None:
            element.set("PropertyTag", f"0x{self.property_tag:04x}")
        if self.property_name is not None:
            element.set("PropertyName", self.property_name)
        if self.property_id is not None:
            element.set("PropertyId", str(self.property_id))
        element.set("PropertyType", self.property_type.value)

    @classmethod
    def from_xml(cls, element: etree._Element) -> ExtendedPropertyKey:
        """Read ``t:ExtendedFieldURI``.

        Raises:
            ResponseDecodeError: An attribute is malformed or the combination
                is not one the schema allows.
        """
        property_type = parse_enum(
            MapiPropertyType, element.get("PropertyType"), "PropertyType"
        )
        raw_set = element.get("PropertySetId")
        raw_distinguished = element.get("DistinguishedPropertySetId")
        raw_tag = element.get("PropertyTag")
        raw_id = element.get("PropertyId")
        try:
            return cls(
                property_set_id=UUID(raw_set) if raw_set else None,
                distinguished_property_set_id=(
                    parse_enum(
                        DistinguishedPropertySet,
                        raw_distinguished,
                        "DistinguishedPropertySetId",
                    )
                    if raw_distinguished
                    else None
                ),
                property_name=element.get("PropertyName"),
                property_id=(
                    parse_int(raw_id, "PropertyId") if raw_id is not None else None
                ),
                property_tag=(_parse_tag(raw_tag) if raw_tag is not None else None),
                property_type=property_type,
            )
        except ValueError as exc:
            # Covers a malformed GUID and pydantic's ValidationError alike.
            raise decode_error(f"ExtendedFieldURI is malformed: {exc}") from None


def _parse_tag(raw: str) -> int:
    """Read a ``PropertyTag``: hex (``0x3007``) or decimal, as the schema allows."""
    text = raw.strip()
    try:
        return int(text, 16) if text[:2].lower() == "0x" else int(text)
    except ValueError:
        raise decode_error(f"PropertyTag is malformed: {raw[:20]!r}") from None


_EXTENDED_FIELD_URI: Final = t("ExtendedFieldURI")
_VALUE: Final = t("Value")
_VALUES: Final = t("Values")


class ExtendedProperty(EWSModel):
    """One extended property value (``t:ExtendedProperty``).

    ``value`` is a string for scalar types and a tuple of strings for array
    types (``StringArray``...), in the text form EWS uses for the MAPI type
    (``"true"``, ``"42"``, an ``xs:dateTime``, base64 for binary).

    Raises:
        ValueError: The value's shape does not match the key's type.
    """

    key: Annotated[ExtendedPropertyKey, Field(alias="ExtendedFieldURI")]
    value: Annotated[str | tuple[str, ...], Field(alias="Value")]

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        if self.key.property_type.is_array:
            if not isinstance(self.value, tuple) or not self.value:
                raise ValueError(
                    f"a {self.key.property_type.value} property needs a non-empty "
                    "tuple of strings"
                )
        elif not isinstance(self.value, str):
            raise ValueError(
                f"a {self.key.property_type.value} property needs a single string"
            )
        return self

    def to_xml(self) -> etree._Element:
        """Build ``t:ExtendedProperty`` with ``t:Value`` or ``t:Values``."""
        element = new_element("ExtendedProperty")
        self.fill(element)
        return element

    def fill(self, element: etree._Element) -> None:
        """Append the ``t:ExtendedFieldURI`` and value children to ``element``."""
        self.key._fill(sub_element(element, "ExtendedFieldURI"))
        if isinstance(self.value, tuple):
            values = sub_element(element, "Values")
            for item in self.value:
                sub_element(values, "Value", item)
        else:
            sub_element(element, "Value", self.value)

    @classmethod
    def from_xml(cls, element: etree._Element) -> ExtendedProperty:
        """Read ``t:ExtendedProperty``.

        Raises:
            ResponseDecodeError: The key or the value is missing or malformed.
        """
        key: ExtendedPropertyKey | None = None
        value: str | tuple[str, ...] | None = None
        for child in element:
            tag = child.tag
            if tag == _EXTENDED_FIELD_URI:
                key = ExtendedPropertyKey.from_xml(child)
            elif tag == _VALUE:
                value = child.text or ""
            elif tag == _VALUES:
                value = tuple(item.text or "" for item in child if item.tag == _VALUE)
        if key is None:
            raise decode_error("ExtendedProperty has no ExtendedFieldURI")
        if value is None:
            raise decode_error("ExtendedProperty has no Value")
        if key.property_type.is_array != isinstance(value, tuple) or value == ():
            raise decode_error("ExtendedProperty value does not match its type")
        return cls._trusted(key=key, value=value)
