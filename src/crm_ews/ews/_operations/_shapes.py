"""Argument checks, response shapes and item decoding shared by the operations.

Every operation asks for ``BaseShape`` ``IdOnly`` plus the explicit paths of
the model it decodes, never ``AllProperties``: the reply then holds exactly
what the model maps, and nothing the CRM has no use for crosses the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TypeVar

from lxml import etree

from crm_ews._soap import t
from crm_ews.ews._models._extended import ExtendedPropertyKey
from crm_ews.ews._models._ids import DistinguishedFolderId, FolderId, ItemId
from crm_ews.ews._models._item import Item, item_from_xml
from crm_ews.ews._operations._xml import DecodeContext, sub

__all__ = [
    "check_enum",
    "check_extended_keys",
    "check_folder_id",
    "check_item_ids",
    "check_item_type",
    "check_sequence",
    "check_sync_state",
    "item_shape",
    "matching_item",
    "read_items",
]

logger = logging.getLogger(__name__)

ItemT = TypeVar("ItemT", bound=Item)
_E = TypeVar("_E", bound=StrEnum)


def check_enum(value: object, enum: type[_E], name: str) -> _E:
    """An enum member, also accepted as its wire string.

    Raises:
        TypeError: ``value`` is not a string.
        ValueError: ``value`` is not one of the enum's values.
    """
    if isinstance(value, enum):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a {enum.__name__}, not {type(value).__name__}")
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}") from None


def check_folder_id(value: object, name: str) -> None:
    """Refuse anything that is not a folder id model.

    Raises:
        TypeError: ``value`` is neither a ``FolderId`` nor a
            ``DistinguishedFolderId``.
    """
    if not isinstance(value, FolderId | DistinguishedFolderId):
        raise TypeError(
            f"{name} must be a FolderId or DistinguishedFolderId, "
            f"not {type(value).__name__}"
        )


def check_item_type(item_type: object) -> None:
    """Refuse anything that is not an item model class.

    Raises:
        TypeError: ``item_type`` is not a subclass of ``Item``.
    """
    if not isinstance(item_type, type) or not issubclass(item_type, Item):
        raise TypeError(
            f"item_type must be an Item subclass such as Contact, not {item_type!r}"
        )


def check_sequence(values: object, name: str) -> tuple[object, ...]:
    """A non-empty list or tuple, as a tuple.

    A bare string or a single model is refused rather than iterated, which
    is the mistake ``get_items(item_id)`` instead of ``get_items([item_id])``
    would otherwise turn into a confusing error.

    Raises:
        TypeError: ``values`` is not a list or tuple.
        ValueError: ``values`` is empty.
    """
    if not isinstance(values, list | tuple):
        raise TypeError(f"{name} must be a list or tuple, not {type(values).__name__}")
    if not values:
        raise ValueError(f"{name} must not be empty")
    # Limitation: batches are sent as given, however large.  Exchange's
    # throttling policy may refuse or slow a request with thousands of items
    # (ErrorServerBusy, or a timeout on the HTTP side); the caller sees a
    # ThrottledError or TransportError for the whole batch.  Callers split
    # large batches themselves (a few hundred items per call is safe).
    return tuple(values)


def check_item_ids(
    values: object, name: str, *, need_change_key: bool = False
) -> tuple[ItemId, ...]:
    """A non-empty batch of ``ItemId`` models.

    Raises:
        TypeError: ``values`` is not a list/tuple of ``ItemId``.
        ValueError: ``values`` is empty, or a change key is required and
            missing.
    """
    ids = check_sequence(values, name)
    for index, item_id in enumerate(ids):
        if not isinstance(item_id, ItemId):
            raise TypeError(
                f"{name}[{index}] must be an ItemId, not {type(item_id).__name__}"
            )
        if need_change_key and not item_id.change_key:
            raise ValueError(f"{name}[{index}] has no change_key")
    return ids  # type: ignore[return-value]  # every element was checked above


def check_extended_keys(values: Iterable[object]) -> tuple[ExtendedPropertyKey, ...]:
    """The extended properties to request in a shape, checked.

    Raises:
        TypeError: An entry is not an ``ExtendedPropertyKey``, or a bare
            string was passed.
    """
    if isinstance(values, str | bytes):
        raise TypeError("extended_properties must be an iterable of keys, not a str")
    keys = tuple(values)
    for key in keys:
        if not isinstance(key, ExtendedPropertyKey):
            raise TypeError(
                "extended_properties must hold ExtendedPropertyKey values, "
                f"not {type(key).__name__}"
            )
    return keys  # type: ignore[return-value]  # every element was checked above


def item_shape(
    parent: etree._Element, tag: str, paths: Sequence[etree._Element]
) -> None:
    """Append an ``ItemResponseShapeType`` element: ``IdOnly`` plus ``paths``."""
    shape = sub(parent, tag)
    sub(shape, t("BaseShape"), "IdOnly")
    if paths:
        additional = sub(shape, t("AdditionalProperties"))
        for path in paths:
            additional.append(path)


def matching_item(
    element: etree._Element, item_type: type[ItemT], context: DecodeContext
) -> ItemT | None:
    """Decode one item element; ``None`` when it is another kind of item.

    A contacts folder also holds distribution lists and a calendar may hold
    stray messages; a caller that asked for ``Contact`` must not receive a
    half-filled ``Contact`` made from a distribution list.
    """
    item = item_from_xml(element)
    if isinstance(item, item_type):
        return item

    # Limitation: FindItem and SyncFolderItems leave out items of another
    # kind than the one asked for (distribution lists in a contacts folder,
    # messages in a calendar).  A CRM syncing contacts never sees its users'
    # distribution lists; ids it does not know (their deletes) it ignores.
    logger.debug(
        "ews item of another kind skipped",
        extra={"operation": context.operation, "mailbox": context.mailbox},
    )
    return None


def read_items(
    container: etree._Element, item_type: type[ItemT], context: DecodeContext
) -> list[ItemT]:
    """Every item of ``item_type`` in an ``ArrayOfRealItemsType`` element."""
    items: list[ItemT] = []
    for element in context.children(container):
        item = matching_item(element, item_type, context)
        if item is not None:
            items.append(item)
    return items


def check_sync_state(sync_state: object) -> str | None:
    """A sync state as given back by the server, or ``None`` to start over.

    Raises:
        TypeError: ``sync_state`` is not a string.
        ValueError: ``sync_state`` is empty (pass ``None`` to start over).
    """
    if sync_state is None:
        return None
    if not isinstance(sync_state, str):
        raise TypeError(f"sync_state must be a str, not {type(sync_state).__name__}")
    if not sync_state:
        raise ValueError("sync_state must not be empty; pass None to start over")
    return sync_state
