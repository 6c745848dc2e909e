"""Item reads and writes by id: GetItem, CreateItem, UpdateItem, DeleteItem.

All four are batched: one request carries many items and the reply holds one
result per item, in request order, with refused items as exception
instances in the list.  Writes never mail attendees unless asked to, because
a sync acts on the user's behalf without the user pressing "send".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from lxml import etree

from crm_ews._soap import DecodedResponse, m, t
from crm_ews.errors import EWSError, ItemNotFoundError
from crm_ews.ews._models._changes import ItemChange
from crm_ews.ews._models._extended import ExtendedPropertyKey
from crm_ews.ews._models._ids import (
    DistinguishedFolderId,
    FolderId,
    ItemId,
    OccurrenceItemId,
)
from crm_ews.ews._models._item import Item, item_from_xml
from crm_ews.ews._operations._base import batch_results, new_request
from crm_ews.ews._operations._options import (
    AffectedTaskOccurrences,
    ConflictResolution,
    DeleteType,
    SendMeetingInvitations,
    SendMeetingUpdates,
)
from crm_ews.ews._operations._shapes import (
    check_enum,
    check_extended_keys,
    check_folder_id,
    check_item_type,
    check_sequence,
    item_shape,
)
from crm_ews.ews._operations._xml import DecodeContext, sub

__all__ = [
    "CreateItem",
    "DeleteItem",
    "GetItem",
    "UpdateItem",
    "UpdateResult",
]

logger = logging.getLogger(__name__)

ItemT = TypeVar("ItemT", bound=Item)


def _first_item(message: etree._Element, context: DecodeContext) -> etree._Element:
    """The one item element inside a response message's ``m:Items``."""
    items = context.child(message, m("Items"))
    for element in context.children(items):
        return element
    raise context.error("Items holds no item")


def _item_id_of(item: etree._Element, context: DecodeContext) -> ItemId:
    """The ``t:ItemId`` of a returned item element."""
    return ItemId.from_xml(context.child(item, t("ItemId")))


class GetItem(Generic[ItemT]):
    """Read items by id, with every property their model maps.

    The shape is ``IdOnly`` plus the paths of ``item_type`` (and the given
    extended properties), never ``AllProperties``.

    Args:
        ids: The items to read; an :class:`OccurrenceItemId` reads one
            occurrence of a recurring series.
        item_type: The model to decode as, e.g. ``CalendarItem``.
        extended_properties: Extended properties to fetch as well, such as
            the CRM link property.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``ids`` is empty.

    The per-item result is the item, or the server's error for that id.  An
    id that names another kind of item (a distribution list when ``Contact``
    was asked for) gives an :class:`~crm_ews.errors.ItemNotFoundError`.
    """

    name: ClassVar[str] = "GetItem"
    is_idempotent: ClassVar[bool] = True

    def __init__(
        self,
        ids: Sequence[ItemId | OccurrenceItemId],
        item_type: type[ItemT],
        *,
        extended_properties: Iterable[ExtendedPropertyKey] = (),
    ) -> None:
        checked = check_sequence(ids, "ids")
        for index, item_id in enumerate(checked):
            if not isinstance(item_id, ItemId | OccurrenceItemId):
                raise TypeError(
                    f"ids[{index}] must be an ItemId or OccurrenceItemId, "
                    f"not {type(item_id).__name__}"
                )
        check_item_type(item_type)

        self.ids: tuple[ItemId | OccurrenceItemId, ...] = checked  # type: ignore[assignment]  # checked above
        self.item_type = item_type
        self.extended_properties = check_extended_keys(extended_properties)

    def build(self) -> etree._Element:
        """The ``m:GetItem`` element."""
        request = new_request(self.name)
        item_shape(
            request,
            m("ItemShape"),
            self.item_type.shape_elements(extended_properties=self.extended_properties),
        )
        ids = sub(request, m("ItemIds"))
        for item_id in self.ids:
            ids.append(item_id.to_xml())

        return request

    def parse(
        self, response: DecodedResponse, *, mailbox: str
    ) -> list[ItemT | EWSError]:
        """One item or error per requested id, in request order.

        Raises:
            ResponseDecodeError: The reply does not match the request.
        """
        return batch_results(
            response,
            operation=self.name,
            mailbox=mailbox,
            expected=len(self.ids),
            parse_one=self._parse_one,
        )

    def _parse_one(
        self, message: etree._Element, context: DecodeContext
    ) -> ItemT | EWSError:
        element = _first_item(message, context)
        item = item_from_xml(element)
        if isinstance(item, self.item_type):
            return item

        return ItemNotFoundError(
            f"the item is a {etree.QName(element).localname}, "
            f"not a {self.item_type.element_tag}",
            response_code="ErrorItemNotFound",
            operation=context.operation,
            mailbox=context.mailbox,
        )


class CreateItem:
    """Create items, returning their new ids.

    Args:
        items: The items to create; read-only fields are not sent.
        saved_item_folder_id: Where to save them; ``None`` lets the server
            pick the default folder of each item's kind.
        send_meeting_invitations: Whether a new meeting mails its attendees.
            Defaults to :attr:`SendMeetingInvitations.SEND_TO_NONE`.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``items`` is empty or an option is not a known value.
    """

    name: ClassVar[str] = "CreateItem"
    is_idempotent: ClassVar[bool] = False

    def __init__(
        self,
        items: Sequence[Item],
        *,
        saved_item_folder_id: FolderId | DistinguishedFolderId | None = None,
        send_meeting_invitations: SendMeetingInvitations = (
            SendMeetingInvitations.SEND_TO_NONE
        ),
    ) -> None:
        checked = check_sequence(items, "items")
        for index, item in enumerate(checked):
            if not isinstance(item, Item):
                raise TypeError(
                    f"items[{index}] must be an Item model, not {type(item).__name__}"
                )
        if saved_item_folder_id is not None:
            check_folder_id(saved_item_folder_id, "saved_item_folder_id")

        self.items: tuple[Item, ...] = checked  # type: ignore[assignment]  # checked above
        self.saved_item_folder_id = saved_item_folder_id
        self.send_meeting_invitations = check_enum(
            send_meeting_invitations, SendMeetingInvitations, "send_meeting_invitations"
        )

    def build(self) -> etree._Element:
        """The ``m:CreateItem`` element."""
        # Exchange insists on SendMeetingInvitations as soon as one calendar
        # item is in the batch; sending it always is harmless for the others.
        request = new_request(
            self.name, SendMeetingInvitations=self.send_meeting_invitations.value
        )
        if self.saved_item_folder_id is not None:
            target = sub(request, m("SavedItemFolderId"))
            target.append(self.saved_item_folder_id.to_xml())
        items = sub(request, m("Items"))
        for item in self.items:
            items.append(item.to_xml())

        return request

    def parse(
        self, response: DecodedResponse, *, mailbox: str
    ) -> list[ItemId | EWSError]:
        """The new id (with change key) or the error, per item in order.

        Raises:
            ResponseDecodeError: The reply does not match the request.
        """
        return batch_results(
            response,
            operation=self.name,
            mailbox=mailbox,
            expected=len(self.items),
            parse_one=lambda message, context: _item_id_of(
                _first_item(message, context), context
            ),
        )


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """One item's outcome of ``UpdateItem``.

    Attributes:
        item_id: The item's id with its new change key.
        conflict_count: How many property conflicts the server resolved
            (``ConflictResults``); non-zero only under ``AutoResolve``.
    """

    item_id: ItemId
    conflict_count: int = 0


class UpdateItem:
    """Change properties of existing items.

    Args:
        changes: One :class:`ItemChange` per item.  Each id must carry the
            change key it was read with (unless ``conflict_resolution`` is
            ``ALWAYS_OVERWRITE``), so a concurrent edit is detected instead
            of overwritten.
        conflict_resolution: What to do about a stale change key; the default
            :attr:`ConflictResolution.NEVER_OVERWRITE` makes the item's
            result an :class:`~crm_ews.errors.EditConflictError`.
        send_meeting_invitations_or_cancellations: Whether a changed meeting
            mails its attendees; defaults to ``SEND_TO_NONE``.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``changes`` is empty, an id lacks its change key, or an
            option is not a known value.
    """

    name: ClassVar[str] = "UpdateItem"
    is_idempotent: ClassVar[bool] = False

    def __init__(
        self,
        changes: Sequence[ItemChange],
        *,
        conflict_resolution: ConflictResolution = ConflictResolution.NEVER_OVERWRITE,
        send_meeting_invitations_or_cancellations: SendMeetingUpdates = (
            SendMeetingUpdates.SEND_TO_NONE
        ),
    ) -> None:
        checked = check_sequence(changes, "changes")
        self.conflict_resolution = check_enum(
            conflict_resolution, ConflictResolution, "conflict_resolution"
        )
        self.send_meeting_invitations_or_cancellations = check_enum(
            send_meeting_invitations_or_cancellations,
            SendMeetingUpdates,
            "send_meeting_invitations_or_cancellations",
        )
        need_change_key = (
            self.conflict_resolution is not ConflictResolution.ALWAYS_OVERWRITE
        )
        for index, change in enumerate(checked):
            if not isinstance(change, ItemChange):
                raise TypeError(
                    f"changes[{index}] must be an ItemChange, "
                    f"not {type(change).__name__}"
                )
            if need_change_key and not change.item_id.change_key:
                raise ValueError(
                    f"changes[{index}].item_id has no change_key; read the item "
                    "first or use ConflictResolution.ALWAYS_OVERWRITE"
                )

        self.changes: tuple[ItemChange, ...] = checked  # type: ignore[assignment]  # checked above

    def build(self) -> etree._Element:
        """The ``m:UpdateItem`` element."""
        request = new_request(
            self.name,
            ConflictResolution=self.conflict_resolution.value,
            SendMeetingInvitationsOrCancellations=(
                self.send_meeting_invitations_or_cancellations.value
            ),
        )
        changes = sub(request, m("ItemChanges"))
        for change in self.changes:
            changes.append(change.to_xml())

        return request

    def parse(
        self, response: DecodedResponse, *, mailbox: str
    ) -> list[ItemId | EWSError]:
        """The new id (with change key) or the error, per change in order.

        Raises:
            ResponseDecodeError: The reply does not match the request.
        """
        return [
            result if isinstance(result, EWSError) else result.item_id
            for result in self.parse_results(response, mailbox=mailbox)
        ]

    def parse_results(
        self, response: DecodedResponse, *, mailbox: str
    ) -> list[UpdateResult | EWSError]:
        """Like :meth:`parse`, keeping each item's ``ConflictResults`` count.

        Raises:
            ResponseDecodeError: The reply does not match the request.
        """
        return batch_results(
            response,
            operation=self.name,
            mailbox=mailbox,
            expected=len(self.changes),
            parse_one=self._parse_one,
        )

    def _parse_one(
        self, message: etree._Element, context: DecodeContext
    ) -> UpdateResult:
        item_id = _item_id_of(_first_item(message, context), context)
        conflicts = message.find(m("ConflictResults"))
        count = 0
        if conflicts is not None:
            count = context.integer(context.text(conflicts, t("Count")), "Count") or 0
        if count:
            # A conflict the server resolved by policy is worth a line: the
            # item now holds a merge nobody reviewed.
            logger.warning(
                "ews update conflicts resolved by the server",
                extra={"operation": context.operation, "mailbox": context.mailbox},
            )

        return UpdateResult(item_id=item_id, conflict_count=count)


class DeleteItem:
    """Delete items by id.

    Args:
        ids: The items to delete (an :class:`OccurrenceItemId` deletes one
            occurrence).
        delete_type: Where the items go; defaults to Deleted Items, as a
            user's own delete would.
        send_meeting_cancellations: Whether deleting a meeting mails its
            attendees; defaults to ``SEND_TO_NONE``.
        affected_task_occurrences: For recurring tasks, which occurrences go.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``ids`` is empty or an option is not a known value.
    """

    name: ClassVar[str] = "DeleteItem"
    is_idempotent: ClassVar[bool] = False

    def __init__(
        self,
        ids: Sequence[ItemId | OccurrenceItemId],
        *,
        delete_type: DeleteType = DeleteType.MOVE_TO_DELETED_ITEMS,
        send_meeting_cancellations: SendMeetingInvitations = (
            SendMeetingInvitations.SEND_TO_NONE
        ),
        affected_task_occurrences: AffectedTaskOccurrences = (
            AffectedTaskOccurrences.ALL_OCCURRENCES
        ),
    ) -> None:
        checked = check_sequence(ids, "ids")
        for index, item_id in enumerate(checked):
            if not isinstance(item_id, ItemId | OccurrenceItemId):
                raise TypeError(
                    f"ids[{index}] must be an ItemId or OccurrenceItemId, "
                    f"not {type(item_id).__name__}"
                )

        self.ids: tuple[ItemId | OccurrenceItemId, ...] = checked  # type: ignore[assignment]  # checked above
        self.delete_type = check_enum(delete_type, DeleteType, "delete_type")
        self.send_meeting_cancellations = check_enum(
            send_meeting_cancellations,
            SendMeetingInvitations,
            "send_meeting_cancellations",
        )
        self.affected_task_occurrences = check_enum(
            affected_task_occurrences,
            AffectedTaskOccurrences,
            "affected_task_occurrences",
        )

    def build(self) -> etree._Element:
        """The ``m:DeleteItem`` element."""
        request = new_request(
            self.name,
            DeleteType=self.delete_type.value,
            SendMeetingCancellations=self.send_meeting_cancellations.value,
            AffectedTaskOccurrences=self.affected_task_occurrences.value,
        )
        ids = sub(request, m("ItemIds"))
        for item_id in self.ids:
            ids.append(item_id.to_xml())

        return request

    def parse(
        self, response: DecodedResponse, *, mailbox: str
    ) -> list[EWSError | None]:
        """``None`` for each deleted item, or its error, in request order.

        Raises:
            ResponseDecodeError: The reply does not match the request.
        """
        return batch_results(
            response,
            operation=self.name,
            mailbox=mailbox,
            expected=len(self.ids),
            parse_one=lambda message, context: None,
        )
