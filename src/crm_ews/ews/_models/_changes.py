"""One item's update for UpdateItem: which fields change to what.

An :class:`ItemChange` is checked when it is built (the change key is there,
every field exists, is writable and gets a value of its type), so a bad
update fails before anything is sent.  Its XML has one ``t:SetItemField`` or
``t:DeleteItemField`` per property path, as the schema demands: exactly one
path and, for a set, an item element holding exactly that one property.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any, Self

from lxml import etree
from pydantic import (
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from crm_ews.ews._models._base import EWSModel, new_element, sub_element
from crm_ews.ews._models._extended import ExtendedProperty, ExtendedPropertyKey
from crm_ews.ews._models._ids import ItemId
from crm_ews.ews._models._item import Item

__all__ = ["ItemChange"]


@functools.cache
def _adapter(item_type: type[Item], name: str) -> TypeAdapter[Any]:
    """A validator for one field's type, constraints included (cached)."""
    info = item_type.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


class ItemChange(EWSModel):
    """The changes to one item in an UpdateItem request.

    Args:
        item_id: The item, with the change key of the version the changes are
            based on; Exchange refuses them if the item changed since.
        item_type: The item's model class (:class:`CalendarItem`...).
        updates: Python field name to new value; ``None`` (or an empty tuple)
            deletes the property.  Dictionary fields of contacts replace the
            whole dictionary.  For calendar items, a ``start``/``end`` in a
            :class:`zoneinfo.ZoneInfo` zone also sets the matching time zone
            field unless ``updates`` names it.
        extended_properties: Extended property values to set.
        deleted_extended_properties: Extended properties to delete.

    Raises:
        ValueError: No change key; an unknown, read-only or badly typed
            field; or nothing to change.
    """

    item_id: ItemId
    item_type: type[Item]
    updates: Mapping[str, object] = Field(default_factory=dict)
    extended_properties: tuple[ExtendedProperty, ...] = ()
    deleted_extended_properties: tuple[ExtendedPropertyKey, ...] = ()

    @field_validator("item_id")
    @classmethod
    def _require_change_key(cls, value: ItemId) -> ItemId:
        if not value.change_key:
            raise ValueError("an update needs the item's change key")
        return value

    @field_validator("updates")
    @classmethod
    def _check_updates(
        cls, value: Mapping[str, object], info: Any
    ) -> dict[str, object]:
        item_type: type[Item] | None = info.data.get("item_type")
        if item_type is None:
            # item_type itself failed validation and is reported already.
            return dict(value)

        checked: dict[str, object] = {}
        for name, new_value in item_type.complete_updates(value).items():
            spec = item_type.field_spec(name)
            if spec.wire.read_only:
                raise ValueError(f"{item_type.__name__}.{name} is read-only")
            if spec.wire.codec.repeated:
                raise ValueError(
                    "set extended properties through extended_properties, not updates"
                )
            checked[name] = _validated(item_type, name, new_value)

        # Schema order keeps requests stable and diffable.
        order = {spec.name: spec.index for spec in item_type.specs()}
        return dict(sorted(checked.items(), key=lambda pair: order[pair[0]]))

    @model_validator(mode="after")
    def _require_something(self) -> Self:
        if not (
            self.updates or self.extended_properties or self.deleted_extended_properties
        ):
            raise ValueError("an ItemChange must change at least one property")
        return self

    def to_xml(self) -> etree._Element:
        """Build ``t:ItemChange`` with ``t:ItemId`` and ``t:Updates``."""
        element = new_element("ItemChange")
        element.append(self.item_id.to_xml())
        updates = sub_element(element, "Updates")
        item_tag = self.item_type.element_tag

        for name, value in self.updates.items():
            spec = self.item_type.field_spec(name)
            codec = spec.wire.codec
            for path, part in codec.changes(spec.wire.uri, value):
                if part is None:
                    sub_element(updates, "DeleteItemField").append(path)
                    continue
                set_field = sub_element(updates, "SetItemField")
                set_field.append(path)
                codec.append(
                    sub_element(set_field, item_tag), spec.tag, part, full=False
                )

        for prop in self.extended_properties:
            set_field = sub_element(updates, "SetItemField")
            set_field.append(prop.key.to_xml())
            prop.fill(sub_element(sub_element(set_field, item_tag), "ExtendedProperty"))

        for key in self.deleted_extended_properties:
            sub_element(updates, "DeleteItemField").append(key.to_xml())

        return element


def _validated(item_type: type[Item], name: str, value: object) -> object:
    """Check a new value against the field's type; ``None`` always deletes."""
    if value is None:
        return None
    try:
        return _adapter(item_type, name).validate_python(value)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        raise ValueError(f"{item_type.__name__}.{name}: {reason}") from None
